"""DDAD (Dense Depth for Autonomous Driving), six cameras, read from its DGP JSON layout.

TRI's ``dgp`` library is not used: the PyPI package named ``dgp`` is an unrelated
project ("Data Genus Processor"), and TRI's ``dgp`` is only installable from its git
repository (plus compiled protobuf modules), which this project's machines cannot fetch.
DDAD's files are plain JSON (protobuf messages serialised with their field names) plus
PNG/NPZ, so this module reads them directly, following ``dgp/proto/*.proto``.

Layout under ``root`` (``ddad_train_val/`` of the DDAD download)::

    <root>/ddad.json                                   SceneDataset: scene_splits {"0": train, "1": val}
    <root>/000000/scene_<sha1>.json                    Scene: samples[], data[] (datums)
    <root>/000000/calibration/<sha1>.json              SampleCalibration: names, intrinsics, extrinsics
    <root>/000000/rgb/CAMERA_01/<timestamp>.png
    <root>/000000/point_cloud/LIDAR/<timestamp>.npz    'data': X, Y, Z, INTENSITY in the LiDAR frame

Conventions (as dgp's ``get_image_from_datum``/``get_point_cloud_from_datum`` use them):

* calibration ``extrinsics[i]`` = pose of sensor i in the **vehicle** frame (``T_vehicle_sensor``,
  sensor -> vehicle); DDAD's vehicle frame is x forward, y left, z up = our ``base_link``, so it
  is ``T_base_cam`` directly; rotations are stored as ``qx, qy, qz, qw``.
* a datum's ``pose`` = pose of *that sensor* in the scene's local world frame at the datum's
  own timestamp (``T_world_sensor``).
* camera frames are optical (x right, y down, z forward); ``intrinsics`` give fx, fy, cx, cy,
  skew. Lens distortion coefficients, if present, are ignored (pinhole model, as dgp and
  packnet-sfm do for DDAD's depth GT).
* GT: the LiDAR sweep moved into each camera with the two datum poses,
  ``T_cam_lidar = T_world_cam^-1 T_world_lidar`` (this includes the vehicle's motion between
  the two timestamps); without poses the static ``T_vehicle_cam^-1 T_vehicle_lidar``.
  0.1-200 m by default.
"""

from __future__ import annotations

import datetime
import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..geometry import CameraRig, invert_transform, make_transform, quaternion_to_matrix, transform_points
from .base_dataset import CorruptFileError, DepthDataset, log, read_rgb, read_split_file, require_file
from .dataset_config import DatasetConfig
from .lidar_depth import points_to_depth_map
from .sample import SurroundSample

__all__ = ["DDADDataset", "dgp_pose", "parse_timestamp_ns"]

SPLIT_IDS = {"train": "0", "val": "1", "test": "2"}
LIDAR = "LIDAR"


def _get(d: dict, snake: str, default=None):
    """A protobuf-JSON field by its proto name or its lowerCamelCase JSON name."""
    if snake in d:
        return d[snake]
    head, *rest = snake.split("_")
    return d.get(head + "".join(p.title() for p in rest), default)


def dgp_pose(pose: dict | None) -> torch.Tensor | None:
    """A DGP ``Pose`` (translation x/y/z, rotation qx/qy/qz/qw) -> (4, 4) float64; None if empty."""
    if not pose:
        return None
    r = pose.get("rotation") or {}
    q = torch.tensor([r.get("qw", 0.0), r.get("qx", 0.0), r.get("qy", 0.0), r.get("qz", 0.0)], dtype=torch.float64)
    if float(q.norm()) == 0.0:
        return None
    t = pose.get("translation") or {}
    return make_transform(
        quaternion_to_matrix(q), torch.tensor([t.get("x", 0.0), t.get("y", 0.0), t.get("z", 0.0)], dtype=torch.float64)
    )


def parse_timestamp_ns(value) -> int:
    """A protobuf JSON Timestamp (RFC 3339 string, e.g. ``2019-07-01T12:00:00.123456Z``) -> ns."""
    if isinstance(value, dict):  # {"seconds": .., "nanos": ..}
        return int(value.get("seconds", 0)) * 1_000_000_000 + int(value.get("nanos", 0))
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac_ns = 0
    if "." in text:
        head, tail = text.split(".", 1)
        n = 0
        while n < len(tail) and tail[n].isdigit():
            n += 1
        digits, tz = tail[:n], tail[n:]
        frac_ns = int((digits + "000000000")[:9])
        text = head + tz
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, f"not readable JSON ({exc.__class__.__name__}: {exc})") from None


def load_point_cloud_npz(path: Path) -> np.ndarray:
    """A DGP point-cloud ``.npz`` -> (M, 3) float64 X, Y, Z (sensor frame)."""
    try:
        with np.load(path) as npz:
            X = npz["data"]
    except FileNotFoundError:
        raise CorruptFileError(path, "file missing") from None
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
        raise CorruptFileError(path, f"not a DGP point cloud .npz with 'data' ({exc.__class__.__name__})") from None
    if X.dtype.fields is not None:
        return np.stack([X["X"], X["Y"], X["Z"]], 1).astype(np.float64)
    if X.ndim != 2 or X.shape[1] < 3:
        raise CorruptFileError(path, f"'data' has shape {X.shape}, expected (N, >=3)")
    return X[:, :3].astype(np.float64)


class DDADDataset(DepthDataset):
    """DDAD samples: six cameras (``N = 6``) with sparse LiDAR GT."""

    name = "ddad"
    sparse_gt = True

    def __init__(self, cfg: DatasetConfig, split: str | None = None):
        super().__init__(cfg, split)
        root = Path(self.cfg.root)
        self.json_path = root if root.suffix == ".json" else root / "ddad.json"
        require_file(self.json_path, "ddad", "the DGP scene-dataset file ddad.json")
        self.base = self.json_path.parent
        try:
            meta = _load_json(self.json_path)
        except CorruptFileError as exc:
            raise DisdepthError(str(exc)) from None
        splits = _get(meta, "scene_splits") or {}
        files = self._split_files(splits)
        self.missing_scenes: list[str] = []
        self.incomplete: list[str] = []
        self._calib: dict[tuple[Path, str], dict] = {}
        names = [c.lower() for c in self.cfg.cameras]
        for rel in files:
            path = self.base / rel
            if not path.is_file():
                self.missing_scenes.append(str(path))
                continue
            try:
                scene = _load_json(path)
            except CorruptFileError as exc:
                self.missing_scenes.append(str(path))
                log.warning("ddad: %s", exc)
                continue
            datums = {d["key"]: d for d in scene.get("data", [])}
            for s in scene.get("samples", []):
                by_name = {}
                for key in _get(s, "datum_keys", []):
                    d = datums.get(key)
                    if d is not None:
                        by_name[str(d["id"]["name"]).lower()] = d
                if LIDAR.lower() not in by_name or any(n not in by_name for n in names):
                    self.incomplete.append(f"{rel}#{s['id'].get('index', '?')}")
                    continue
                self.items.append({
                    "scene": scene.get("name", path.parent.name),
                    "dir": path.parent,
                    "calibration_key": _get(s, "calibration_key"),
                    "timestamp": s["id"].get("timestamp"),
                    "lidar": by_name[LIDAR.lower()],
                    "cameras": [by_name[n] for n in names],
                })
        if self.missing_scenes:
            log.warning("ddad: %d scene files of split %r are missing or unreadable, e.g. %s",
                        len(self.missing_scenes), self.split, self.missing_scenes[0])
        if self.incomplete:
            log.warning("ddad: %d samples lack the LiDAR or a camera and are left out", len(self.incomplete))
        if not self.items and self.missing_scenes:
            raise DisdepthError(
                f"ddad root {self.base}: none of the {len(files)} scene files of split {self.split!r} is present; "
                f"expected e.g. {self.missing_scenes[0]}"
            )
        self._limit()

    def _split_files(self, splits: dict) -> list[str]:
        if self.cfg.split_file:
            return read_split_file(self.cfg.split_file, "ddad")
        if self.split == "all":
            ids = sorted(splits)
        elif self.split in SPLIT_IDS:
            ids = [SPLIT_IDS[self.split]]
        else:
            raise DisdepthError(f"ddad: unknown split {self.split!r} (train, val, test, all)")
        missing = [i for i in ids if i not in splits]
        if missing:
            have = ", ".join(k for k, v in SPLIT_IDS.items() if v in splits) or "none"
            raise DisdepthError(f"{self.json_path}: has no scene_splits entry for split {self.split!r} (has: {have})")
        return [f for i in ids for f in splits[i].get("filenames", [])]

    # -- calibration ----------------------------------------------------------------
    def calibration(self, item: dict) -> dict:
        """``{sensor name (lower case): (K (3, 3) or None, T_vehicle_sensor (4, 4))}`` of a sample."""
        key = (item["dir"], item["calibration_key"])
        if key not in self._calib:
            path = item["dir"] / "calibration" / f"{item['calibration_key']}.json"
            c = _load_json(path)
            table = {}
            for name, intr, ext in zip(c.get("names", []), c.get("intrinsics", []), c.get("extrinsics", []),
                                       strict=False):
                K = None
                if intr and intr.get("fx", 0.0) > 0:
                    K = torch.tensor([[intr["fx"], intr.get("skew", 0.0), intr["cx"]], [0.0, intr["fy"], intr["cy"]],
                                      [0.0, 0.0, 1.0]], dtype=torch.float64)
                T = dgp_pose(ext)
                table[str(name).lower()] = (K, T if T is not None else torch.eye(4, dtype=torch.float64))
            missing = [n for n in [*self.cfg.cameras, LIDAR] if n.lower() not in table]
            if missing:
                raise CorruptFileError(path, f"no calibration for {', '.join(missing)}")
            self._calib[key] = table
        return self._calib[key]

    def rig(self, index: int) -> CameraRig:
        """The calibrated rig of sample ``index``."""
        item = self.items[index]
        cal = self.calibration(item)
        names = list(self.cfg.cameras)
        return CameraRig(
            names,
            [(int(d["datum"]["image"]["height"]), int(d["datum"]["image"]["width"])) for d in item["cameras"]],
            torch.stack([cal[n.lower()][0] for n in names]),
            torch.stack([cal[n.lower()][1] for n in names]),
            name=f"ddad:{item['scene']}",
            notes=f"calibration {item['calibration_key']} of DDAD scene {item['scene']}",
        )

    # -- loading --------------------------------------------------------------------
    def load_raw(self, index: int) -> SurroundSample:
        item = self.items[index]
        cal = self.calibration(item)
        lidar = item["lidar"]["datum"]["point_cloud"]
        points = torch.from_numpy(load_point_cloud_npz(item["dir"] / lidar["filename"]))
        T_vehicle_lidar = cal[LIDAR.lower()][1]
        T_world_lidar = dgp_pose(lidar.get("pose"))
        images, depths, Ks, Ts, files, stamps = [], [], [], [], [], []
        for name, d in zip(self.cfg.cameras, item["cameras"], strict=True):
            image = d["datum"]["image"]
            path = item["dir"] / image["filename"]
            img = read_rgb(path)
            if images and img.shape != images[0].shape:
                raise CorruptFileError(path, f"image is {tuple(img.shape[1:])}, other cameras {tuple(images[0].shape[1:])}")
            K, T_vehicle_cam = cal[name.lower()]
            if K is None:
                raise CorruptFileError(item["dir"] / "calibration", f"no intrinsics for {name}")
            T_world_cam = dgp_pose(image.get("pose"))
            if T_world_cam is not None and T_world_lidar is not None:
                T_cam_lidar = invert_transform(T_world_cam) @ T_world_lidar
            else:
                T_cam_lidar = invert_transform(T_vehicle_cam) @ T_vehicle_lidar
            depth = points_to_depth_map(
                transform_points(T_cam_lidar, points), K, img.shape[-2:], self.cfg.min_depth, self.cfg.max_depth
            )
            images.append(img)
            depths.append(depth)
            Ks.append(K)
            Ts.append(T_vehicle_cam)
            files.append(image["filename"])
            stamps.append(parse_timestamp_ns(d["id"]["timestamp"]))
        depth = torch.stack(depths)
        return SurroundSample(
            images=torch.stack(images),
            depth=depth,
            valid=depth > 0,
            K=torch.stack(Ks),
            T_base_cam=torch.stack(Ts),
            cameras=list(self.cfg.cameras),
            timestamp_ns=parse_timestamp_ns(item["timestamp"]) if item["timestamp"] else 0,
            meta={"scene": item["scene"], "files": files, "camera_timestamps_ns": stamps,
                  "lidar_file": lidar["filename"], "lidar_timestamp_ns": parse_timestamp_ns(item["lidar"]["id"]["timestamp"])},
        )

    def summary(self) -> dict:
        out = super().summary()
        out.update(missing_scenes=len(self.missing_scenes), incomplete=len(self.incomplete))
        return out
