"""The parameters of ``synthetic_cameras_node``, declared in one place (no ROS import here).

:class:`SyntheticCamerasParams` is a typed config dataclass of the project config system, in the
style of the surround_depth_node parameters; the node declares one ROS parameter per field (default and
description from here) and :func:`synthetic_params_from_values` validates what it received (YAML
file, ``-p`` overrides), raising a ``ConfigError`` that names the parameter.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from disdepth_core.config import ConfigError, cfg_field, from_dict


@dataclasses.dataclass
class SyntheticCamerasParams:
    """All parameters of ``synthetic_cameras_node``."""

    frames: str = cfg_field("", help="frames .npz (GroundTruthFrames); empty = make the sequence from 'source'")
    source: str = cfg_field("world", choices=("world", "box_room"),
                            help="without frames: world (synthetic street, rendered on start) | box_room (analytic)")
    seed: int = cfg_field(0, min=0, help="world seed")
    save_frames: str = cfg_field("", help="write the made sequence to this .npz (reuse it with 'frames' and the "
                                          "GT engine)")
    rig: str = cfg_field("nuscenes", help="rig for the made sequence (when frames is empty)")
    size: list[int] = cfg_field(default_factory=lambda: [96, 160], min=1, help="(H, W) of the made sequence")
    num_frames: int = cfg_field(10, min=1, help="time steps of the made sequence (looped)")
    cameras: list[str] = cfg_field(default_factory=list, help="cameras to publish (empty = all of the sequence)")
    rate: float = cfg_field(10.0, gt=0, help="time steps per second")
    count: int = cfg_field(0, min=0, help="time steps to publish, then exit; 0 = loop forever")
    encoding: str = cfg_field("bgr8", choices=("bgr8", "rgb8", "mono8"), help="image encoding")
    transport: str = cfg_field("raw", choices=("raw", "png", "jpeg"),
                               help="raw (Image) | png | jpeg (CompressedImage on <topic>/compressed)")
    publish_camera_info: bool = cfg_field(True, help="publish /<CAM>/camera_info")
    publish_gt_depth: bool = cfg_field(True, help="publish /<CAM>/depth_gt (32FC1 true depth)")
    publish_lidar: bool = cfg_field(True, help="publish the LiDAR scan (PointCloud2 x y z intensity ring) when the "
                                               "sequence has one")
    stamp_source: str = cfg_field("now", choices=("now", "frames"),
                                  help="now (node clock at publish) | frames (the sequence's stamps)")
    qos: str = cfg_field("reliable", choices=("reliable", "best_effort"), help="publisher reliability")
    wait_for_subscribers: int = cfg_field(0, min=0, help="before starting, wait until every image topic has this "
                                                         "many subscribers")
    start_delay: float = cfg_field(0.0, min=0, help="seconds to wait after that (lets the downstream discover "
                                                    "its own peers)")

    def validate(self) -> None:
        if len(self.size) != 2:
            raise ConfigError(f"expected [H, W], got {self.size}", key="size")
        self.cameras = [c for c in self.cameras if c]  # [""] is how a ROS params file writes "no cameras"


def ros_default(value: Any) -> Any:
    """The default to declare a parameter with: rclpy cannot infer the type of an empty list."""
    return [""] if value == [] else value


def synthetic_params_from_values(values: dict[str, Any], source: str = "ROS parameters") -> SyntheticCamerasParams:
    """Parameter values by name -> validated :class:`SyntheticCamerasParams` (errors name the parameter)."""
    data = {}
    for name, value in values.items():
        if value is None:  # rclpy reads an empty YAML list ([]) as an unset value: keep the default
            continue
        data[name] = list(value) if isinstance(value, (tuple, list)) or hasattr(value, "tolist") else value
    return from_dict(SyntheticCamerasParams, data, source=source)
