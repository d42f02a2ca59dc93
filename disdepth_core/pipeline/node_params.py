"""The parameters of ``surround_depth_node``, defined in one place (no ROS import here).

:class:`SurroundDepthParams` is a typed config dataclass of the project config system; its
nested sections become dotted ROS parameter names (``engine.backend``, ``sync.slop``...).
:func:`flatten_params` lists them with defaults and descriptions for declaration;
:func:`params_from_flat` validates the values the node received (YAML file, ``-p``
overrides) and raises a ``ConfigError`` naming the parameter. Shipped defaults:
``config/surround_depth.yaml`` (a test keeps it equal to these defaults). The node declares
them in ``disdepth_ros/params.py``; :func:`load_node_params` reads a node params YAML through the
same dataclasses (eval-bag takes its ``sync.*`` from it).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from ..config import ConfigError, cfg_field, from_dict, load_yaml
from ..runtime.engine_config import EngineConfig
from ..runtime.self_check import DEFAULT_TOLERANCE
from .sync_settings import SyncSettings

NUSCENES_CAMERAS = ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]
QOS_INPUT = ("sensor_data", "reliable", "best_effort")
QOS_OUTPUT = ("reliable", "best_effort")


@dataclasses.dataclass
class InputParams:
    """Where the camera images come from. ``{camera}`` in a topic is replaced by the camera name."""

    image_topic: str = cfg_field("/{camera}/image_raw", help="sensor_msgs/Image topic per camera")
    camera_info_topic: str = cfg_field("/{camera}/camera_info", help="sensor_msgs/CameraInfo topic per camera")
    transport: str = cfg_field(
        "raw", choices=("raw", "compressed"),
        help="'raw' Image, or 'compressed' CompressedImage on <image_topic>/compressed (decoded with Pillow)",
    )
    use_camera_info: bool = cfg_field(True, help="take intrinsics from CameraInfo when present (else the rig)")
    qos: str = cfg_field("sensor_data", choices=QOS_INPUT, help="subscription QoS: sensor_data = best effort, depth 5")


@dataclasses.dataclass
class OutputParams:
    """Depth images (REP 118) and their CameraInfo."""

    depth_topic: str = cfg_field("/{camera}/depth/image_raw", help="depth image topic per camera")
    depth_info_topic: str = cfg_field("/{camera}/depth/camera_info", help="CameraInfo of the depth image per camera")
    confidence: bool = cfg_field(
        True, help="publish the per-pixel depth confidence (needs a model with a bin head; else logged once, not published)"
    )
    confidence_topic: str = cfg_field(
        "/{camera}/depth/confidence", help="32FC1 confidence in [0, 1] per camera, same header and size as the depth"
    )
    depth_encoding: str = cfg_field(
        "32FC1", choices=("32FC1", "16UC1"),
        help="32FC1 metres (NaN invalid, +Inf beyond range) or 16UC1 millimetres (0 invalid)",
    )
    resolution: str = cfg_field(
        "model", choices=("model", "camera"), help="depth at the network input size or at the camera image size"
    )
    qos: str = cfg_field("reliable", choices=QOS_OUTPUT, help="publisher reliability (RViz subscribes reliable)")
    qos_depth: int = cfg_field(5, min=1, max=1000, help="publisher history depth")


@dataclasses.dataclass
class CloudParams:
    """The merged point cloud of all cameras (PointCloud2, x y z [rgb])."""

    enabled: bool = cfg_field(True, help="publish the merged cloud")
    topic: str = cfg_field("/surround_depth/points", help="PointCloud2 topic")
    frame_id: str = cfg_field("base_link", help="cloud frame; the rig extrinsics are given in it")
    stride: int = cfg_field(2, min=1, max=64, help="use every stride-th pixel in u and v")
    voxel_size: float = cfg_field(0.0, min=0, help="keep one point per voxel of this edge (m); 0 = off")
    max_range: float = cfg_field(50.0, gt=0, help="drop points with z-depth beyond this (m)")
    rgb: bool = cfg_field(True, help="add the packed rgb field (depth_image_proc layout)")
    min_confidence: float = cfg_field(
        0.0, min=0, max=1, help="drop points whose depth confidence is lower; 0 = keep all (needs a bin-head model)"
    )


@dataclasses.dataclass
class NodeEngineParams(EngineConfig):
    """The engine (``engine.*``) plus what the node does with it at start: the self-check."""

    self_check: bool = cfg_field(
        True, help="at start compare the engine with the PyTorch student on the built-in images; "
                   "above engine.self_check_tolerance the node refuses to start (torch backend: nothing to compare)",
    )
    self_check_tolerance: float = cfg_field(
        DEFAULT_TOLERANCE, gt=0, help="largest allowed p99 relative depth error of the worst built-in image",
    )


@dataclasses.dataclass
class SurroundDepthParams:
    """All parameters of ``surround_depth_node``."""

    rig: str = cfg_field("nuscenes", help="rig file or shipped rig name (extrinsics, fallback intrinsics)")
    cameras: list[str] = cfg_field(default_factory=lambda: list(NUSCENES_CAMERAS), help="cameras to use, rig names")
    engine: NodeEngineParams = cfg_field(default_factory=NodeEngineParams, help="depth engine")
    input: InputParams = cfg_field(default_factory=InputParams, help="camera inputs")
    output: OutputParams = cfg_field(default_factory=OutputParams, help="depth outputs")
    cloud: CloudParams = cfg_field(default_factory=CloudParams, help="merged point cloud")
    sync: SyncSettings = cfg_field(default_factory=SyncSettings, help="camera synchronisation")
    diagnostics_period: float = cfg_field(1.0, gt=0, help="seconds between /diagnostics messages")
    publish_tf_static: bool = cfg_field(True, help="publish rig extrinsics on /tf_static (needs tf2_ros)")
    cpu_threads: int = cfg_field(0, min=0, help="torch intra-op CPU threads for the node (0 = torch's default)")

    def validate(self) -> None:
        if not self.cameras:
            raise ConfigError("at least one camera is needed", key="cameras")
        if len(set(self.cameras)) != len(self.cameras):
            raise ConfigError(f"duplicate camera names in {self.cameras}", key="cameras")
        if self.sync.min_cameras > len(self.cameras):
            raise ConfigError(f"{self.sync.min_cameras} > number of cameras ({len(self.cameras)})", key="sync.min_cameras")
        for key, topic in (("input.image_topic", self.input.image_topic), ("output.depth_topic", self.output.depth_topic),
                           ("output.depth_info_topic", self.output.depth_info_topic),
                           ("output.confidence_topic", self.output.confidence_topic)):
            if len(self.cameras) > 1 and "{camera}" not in topic:
                raise ConfigError(f"{topic!r} must contain '{{camera}}' to name one topic per camera", key=key)


@dataclasses.dataclass
class FlatParam:
    """One ROS parameter: dotted name, default, description (with the allowed values)."""

    name: str
    default: Any
    description: str
    constraints: str


def _constraints(meta: typing.Mapping[str, Any]) -> str:
    parts = []
    if meta.get("choices"):
        parts.append("one of " + ", ".join(str(c) for c in meta["choices"]))
    for k, sym in (("min", ">="), ("gt", ">"), ("max", "<="), ("lt", "<")):
        if meta.get(k) is not None:
            parts.append(f"{sym} {meta[k]}")
    return "; ".join(parts)


def flatten_params(obj: Any = None, prefix: str = "") -> list[FlatParam]:
    """Every leaf field of :class:`SurroundDepthParams` (defaults, or the values of ``obj``)."""
    obj = obj if obj is not None else SurroundDepthParams()
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.extend(flatten_params(value, name + "."))
            continue
        if isinstance(value, tuple):
            value = list(value)
        out.append(FlatParam(name, value, f.metadata.get("help", ""), _constraints(f.metadata)))
    return out


def params_from_flat(values: dict[str, Any], source: str = "ROS parameters") -> SurroundDepthParams:
    """Dotted-name values -> validated :class:`SurroundDepthParams` (errors name the parameter)."""
    nested: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:  # rclpy reads an empty YAML list ([]) as an unset value: keep the default
            continue
        node = nested
        *heads, leaf = name.split(".")
        for h in heads:
            node = node.setdefault(h, {})
        node[leaf] = list(value) if isinstance(value, (tuple, list)) or hasattr(value, "tolist") else value
    return from_dict(SurroundDepthParams, nested, source=source)


ROS_BUILTIN_PARAMS = ("use_sim_time", "start_type_description_service")


def load_node_params(path: str | Path | None = None, node_name: str = "surround_depth_node") -> SurroundDepthParams:
    """A node params YAML (``/**:`` or ``<node_name>:`` -> ``ros__parameters:``) -> validated
    :class:`SurroundDepthParams`; a bad or unknown key raises ``ConfigError`` naming the file and
    the dotted key (``sync.slop``). Default: the shipped ``config/surround_depth.yaml``."""
    from ..paths import config_path

    path = Path(path) if path is not None else config_path("surround_depth.yaml")
    doc = load_yaml(path)
    section = None
    for name in ("/**", node_name, f"/{node_name}"):
        if isinstance(doc, dict) and isinstance(doc.get(name), dict) and "ros__parameters" in doc[name]:
            section = doc[name]["ros__parameters"]
            break
    if not isinstance(section, dict):
        raise ConfigError(f"no '/**:' or '{node_name}:' section with 'ros__parameters:'", source=str(path))
    values = {k: v for k, v in section.items() if k not in ROS_BUILTIN_PARAMS}
    return from_dict(SurroundDepthParams, values, source=str(path))
