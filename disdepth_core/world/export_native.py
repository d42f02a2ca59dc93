"""The native on-disk format of a synthetic sequence (read back by :mod:`disdepth_core.data.synthetic`).

Layout of a sequence directory::

    meta.json                 format, seed, size, cameras, rate, LiDAR extrinsics and fields
    rig.yaml                  the camera rig at the rendered size (config system)
    world.yaml                the WorldConfig used
    poses.json                per frame: index, timestamp_ns, T_world_base (4x4, row-major)
    images/<CAM>/<i:06d>.png  RGB uint8
    depth/<CAM>/<i:06d>.npz   depth (H, W) float32 z-depth metres (0 = invalid), valid (H, W) bool,
                              semantic (H, W) uint8
    lidar/<i:06d>.bin         float32 (N, 5): x, y, z (m, LiDAR frame), intensity (0-255), ring

Files are written deterministically (no time stamps inside the npz archives), so the same
seed and arguments give byte-identical directories.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import save_config
from .renderer import FrameRender
from .scene import SEMANTIC_CLASSES
from .sequence import WorldSequence

FORMAT = "disdepth-world"
FORMAT_VERSION = 1
LIDAR_FIELDS = ["x", "y", "z", "intensity", "ring"]


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed archive time stamps (reproducible bytes); ``np.load`` reads it."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _matrix(T) -> list[list[float]]:
    return [[float(v) for v in row] for row in T.tolist()]


class NativeWriter:
    """Writes a :class:`WorldSequence` frame by frame into ``root``."""

    def __init__(self, seq: WorldSequence, root: str | Path):
        self.seq = seq
        self.root = Path(root)
        self.poses: list[dict] = []

    def begin(self) -> None:
        seq, root = self.seq, self.root
        root.mkdir(parents=True, exist_ok=True)
        for cam in seq.rig.names:
            (root / "images" / cam).mkdir(parents=True, exist_ok=True)
            (root / "depth" / cam).mkdir(parents=True, exist_ok=True)
        (root / "lidar").mkdir(exist_ok=True)
        save_config(seq.rig.to_config(), root / "rig.yaml")
        save_config(seq.cfg, root / "world.yaml")
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "seed": seq.seed,
            "frames": seq.frames,
            "size": list(seq.rig.common_size()),
            "cameras": seq.rig.names,
            "base_frame": seq.rig.base_frame,
            "rate_hz": seq.cfg.rate_hz,
            "depth": "z-depth along the optical axis in metres (REP 118); 0 where valid is false",
            "semantic_classes": SEMANTIC_CLASSES,
            "lidar": {
                "name": seq.cfg.lidar.name,
                "frame_id": seq.cfg.lidar.frame_id,
                "T_base_lidar": _matrix(seq.T_base_lidar),
                "fields": LIDAR_FIELDS,
            },
        }
        (root / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")

    def write(self, f: FrameRender) -> None:
        stem = f"{f.index:06d}"
        for c, cam in enumerate(self.seq.rig.names):
            Image.fromarray(f.rgb[c].numpy()).save(self.root / "images" / cam / f"{stem}.png", optimize=False)
            save_npz(self.root / "depth" / cam / f"{stem}.npz", {
                "depth": f.depth[c].numpy().astype(np.float32),
                "valid": f.valid[c].numpy(),
                "semantic": f.semantic[c].numpy(),
            })
        f.lidar.numpy().astype(np.float32).tofile(self.root / "lidar" / f"{stem}.bin")
        self.poses.append({"index": f.index, "timestamp_ns": f.timestamp_ns, "T_world_base": _matrix(f.T_world_base)})

    def end(self) -> None:
        (self.root / "poses.json").write_text(json.dumps({"frames": self.poses}, indent=1) + "\n")


def read_lidar_bin(path: str | Path) -> np.ndarray:
    """A native ``lidar/*.bin`` (or nuScenes ``*.pcd.bin``) -> float32 (N, 5)."""
    return np.fromfile(path, dtype=np.float32).reshape(-1, 5)
