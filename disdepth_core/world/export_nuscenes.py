"""A synthetic sequence in nuScenes format, loadable with the official ``nuscenes-devkit``.

Public entry points: :func:`export_nuscenes` (render and write a whole sequence) and
:class:`NuScenesWriter` (frame by frame, used by ``disdepth world --format nuscenes``).

What is written under ``root``::

    <version>/{scene,sample,sample_data,calibrated_sensor,ego_pose,sensor,log,map,
               category,attribute,visibility,instance,sample_annotation}.json
    samples/CAM_*/<log>__<CAM>__<timestamp_us>.jpg
    samples/LIDAR_TOP/<log>__LIDAR_TOP__<timestamp_us>.pcd.bin   float32 (N, 5): x y z intensity ring
    maps/<token>.png                                               drivable-area mask, 0.1 m / pixel

One scene per sequence; every frame is a key-frame sample whose six cameras and LiDAR
share the frame's timestamp (a synchronous rig), one ego_pose per sample_data as in
nuScenes. Calibrations come from the rig (``R_base_cam`` of the optical frame, as in
nuScenes) and the LiDAR config; global = the world frame (z up, origin at the map's
south-west corner). ``instance``/``sample_annotation`` are empty (no box labels).
Tokens are deterministic (MD5 of seed, table and key).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..geometry import matrix_to_quaternion
from .renderer import FrameRender
from .sequence import WorldSequence

DEFAULT_VERSION = "v1.0-synthetic"
MAP_RESOLUTION_M = 0.1
CATEGORIES = [
    ("vehicle.car", "Vehicle designed primarily for personal use."),
    ("vehicle.truck", "Vehicles primarily designed to haul cargo."),
    ("movable_object.trafficcone", "Traffic cone."),
    ("static_object.bicycle_rack", "Area or device intended to park or secure the bicycles in a row."),
]
ATTRIBUTES = [
    ("vehicle.moving", "Vehicle is moving."),
    ("vehicle.parked", "Vehicle is stationary with no driver or passengers."),
    ("vehicle.stopped", "Vehicle, with a driver/rider in/on it, is currently stationary but has an intent to move."),
]
VISIBILITY = [("1", "v0-40", "visibility of whole object is between 0 and 40%"),
              ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
              ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
              ("4", "v80-100", "visibility of whole object is between 80 and 100%")]


def _quat(T: torch.Tensor) -> list[float]:
    return [float(v) for v in matrix_to_quaternion(T[:3, :3].to(torch.float64))]


def _vec(T: torch.Tensor) -> list[float]:
    return [float(v) for v in T[:3, 3]]


class NuScenesWriter:
    """Writes a :class:`WorldSequence` into a nuScenes-format ``root`` frame by frame."""

    def __init__(self, seq: WorldSequence, root: str | Path, version: str = DEFAULT_VERSION,
                 scene_name: str | None = None, jpeg_quality: int = 95):
        self.seq, self.root, self.version = seq, Path(root), version
        self.scene_name = scene_name or f"scene-synth-{seq.seed:06d}"
        self.quality = jpeg_quality
        self.log_name = f"disdepth-synth-seed{seq.seed}"
        self.tables: dict[str, list] = {k: [] for k in (
            "scene", "sample", "sample_data", "calibrated_sensor", "ego_pose", "sensor", "log", "map", "category",
            "attribute", "visibility", "instance", "sample_annotation")}
        self.last_sd: dict[str, dict] = {}

    def token(self, table: str, key) -> str:
        return hashlib.md5(f"{self.seq.seed}:{self.scene_name}:{table}:{key}".encode()).hexdigest()

    @property
    def channels(self) -> list[str]:
        return [*self.seq.rig.names, self.seq.cfg.lidar.name]

    def begin(self) -> None:
        seq, rig = self.seq, self.seq.rig
        (self.root / self.version).mkdir(parents=True, exist_ok=True)
        (self.root / "maps").mkdir(exist_ok=True)
        for ch in self.channels:
            (self.root / "samples" / ch).mkdir(parents=True, exist_ok=True)
        t = self.tables
        for i, cam in enumerate(rig.names):
            t["sensor"].append({"token": self.token("sensor", cam), "channel": cam, "modality": "camera"})
            t["calibrated_sensor"].append({
                "token": self.token("calibrated_sensor", cam), "sensor_token": self.token("sensor", cam),
                "translation": _vec(rig.T_base_cam[i]), "rotation": _quat(rig.T_base_cam[i]),
                "camera_intrinsic": [[float(v) for v in row] for row in rig.K[i].tolist()],
            })
        lid = seq.cfg.lidar.name
        t["sensor"].append({"token": self.token("sensor", lid), "channel": lid, "modality": "lidar"})
        t["calibrated_sensor"].append({
            "token": self.token("calibrated_sensor", lid), "sensor_token": self.token("sensor", lid),
            "translation": _vec(seq.T_base_lidar), "rotation": _quat(seq.T_base_lidar), "camera_intrinsic": [],
        })
        log_token = self.token("log", 0)
        map_token = self.token("map", 0)
        t["log"].append({"token": log_token, "logfile": self.log_name, "vehicle": "disdepth-synthetic",
                         "date_captured": "2023-11-14", "location": "synthetic-street"})
        t["map"].append({"token": map_token, "log_tokens": [log_token], "category": "semantic_prior",
                         "filename": f"maps/{map_token}.png"})
        for name, desc in CATEGORIES:
            t["category"].append({"token": self.token("category", name), "name": name, "description": desc})
        for name, desc in ATTRIBUTES:
            t["attribute"].append({"token": self.token("attribute", name), "name": name, "description": desc})
        for tok, level, desc in VISIBILITY:
            t["visibility"].append({"token": tok, "level": level, "description": desc})

    def write(self, f: FrameRender) -> None:
        rig, t = self.seq.rig, self.tables
        ts_us = f.timestamp_ns // 1000
        sample_token = self.token("sample", f.index)
        prev = t["sample"][-1] if t["sample"] else None
        sample = {"token": sample_token, "timestamp": ts_us, "prev": prev["token"] if prev else "", "next": "",
                  "scene_token": self.token("scene", 0)}
        if prev:
            prev["next"] = sample_token
        t["sample"].append(sample)
        H, W = rig.common_size()
        for ch in self.channels:
            is_cam = ch in rig.names
            ext = "jpg" if is_cam else "pcd.bin"
            filename = f"samples/{ch}/{self.log_name}__{ch}__{ts_us}.{ext}"
            if is_cam:
                Image.fromarray(f.rgb[rig.index(ch)].numpy()).save(self.root / filename, quality=self.quality)
            else:
                f.lidar.numpy().astype(np.float32).tofile(self.root / filename)
            pose_token = self.token("ego_pose", f"{ch}:{f.index}")
            t["ego_pose"].append({"token": pose_token, "timestamp": ts_us, "rotation": _quat(f.T_world_base),
                                  "translation": _vec(f.T_world_base)})
            sd = {
                "token": self.token("sample_data", f"{ch}:{f.index}"), "sample_token": sample_token,
                "ego_pose_token": pose_token, "calibrated_sensor_token": self.token("calibrated_sensor", ch),
                "timestamp": ts_us, "fileformat": "jpg" if is_cam else "pcd", "is_key_frame": True,
                "height": H if is_cam else 0, "width": W if is_cam else 0, "filename": filename,
                "prev": self.last_sd[ch]["token"] if ch in self.last_sd else "", "next": "",
            }
            if ch in self.last_sd:
                self.last_sd[ch]["next"] = sd["token"]
            self.last_sd[ch] = sd
            t["sample_data"].append(sd)

    def end(self) -> None:
        t = self.tables
        t["scene"].append({
            "token": self.token("scene", 0), "log_token": self.token("log", 0), "nbr_samples": len(t["sample"]),
            "first_sample_token": t["sample"][0]["token"], "last_sample_token": t["sample"][-1]["token"],
            "name": self.scene_name,
            "description": f"disdepth synthetic street, seed {self.seq.seed}, {len(t['sample'])} frames",
        })
        for name, rows in t.items():
            (self.root / self.version / f"{name}.json").write_text(json.dumps(rows, indent=0) + "\n")
        self._write_map()

    def _write_map(self) -> None:
        """Drivable area (road and cross streets) at 0.1 m / pixel, row 0 = largest y (nuScenes MapMask)."""
        road = self.seq.scene.road
        res = MAP_RESOLUTION_M
        width = int(np.ceil(road.x_max / res))
        height = int(np.ceil(2 * road.center_y / res))
        xs = (np.arange(width) + 0.5) * res
        ys = (height - np.arange(height) - 0.5) * res
        main = np.abs(ys - road.center_y) <= road.half_width
        cross = np.zeros(width, dtype=bool)
        for cx, cw in zip(road.cross_x, road.cross_w, strict=True):
            cross |= np.abs(xs - cx) <= cw / 2
        mask = (main[:, None] | cross[None, :]).astype(np.uint8) * 255
        Image.fromarray(mask).save(self.root / self.tables["map"][0]["filename"])


def export_nuscenes(seq: WorldSequence, root: str | Path, version: str = DEFAULT_VERSION,
                    scene_name: str | None = None, progress: bool = False) -> Path:
    """Render every frame of ``seq`` and write it as a nuScenes dataset under ``root``; returns ``root``.

    Load it with ``NuScenes(version=version, dataroot=root)``.
    """
    from tqdm import tqdm

    w = NuScenesWriter(seq, root, version=version, scene_name=scene_name)
    w.begin()
    for f in tqdm(seq, total=len(seq), desc="nuscenes", unit="frame", disable=not progress):
        w.write(f)
    w.end()
    return Path(root)
