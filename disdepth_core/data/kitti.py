"""KITTI raw data (single camera), Eigen split, GT from annotated depth maps or projected Velodyne.

Layout under ``root`` (the KITTI raw ``*_sync`` downloads, unzipped in place)::

    <root>/2011_09_26/calib_cam_to_cam.txt
    <root>/2011_09_26/calib_velo_to_cam.txt
    <root>/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png   (or .jpg)
    <root>/2011_09_26/2011_09_26_drive_0002_sync/velodyne_points/data/0000000069.bin

and, for ``gt_source: annotated`` (default), the ``data_depth_annotated`` download under
``gt_root`` (default ``<root>/data_depth_annotated``)::

    <gt_root>/{train,val}/2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png

(uint16 PNG, depth = value / 256 m, 0 = no GT). Split files use monodepth2's format, one
``<date>/<drive> <frame> <l|r>`` per line; ``l`` is ``image_02``, ``r`` is ``image_03``.

Frames: ``T_base_cam`` places the rectified colour camera in the Velodyne frame (x forward,
y left, z up, the vehicle frame of the KITTI setup), so GT back-projected with ``K`` and
``T_base_cam`` lands on the Velodyne points it came from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..geometry import invert_transform, make_transform, transform_points
from .base_dataset import CorruptFileError, DepthDataset, log, read_rgb, require_dir
from .dataset_config import DatasetConfig
from .lidar_depth import points_to_depth_map
from .sample import SurroundSample
from .splits import split_path
from .transforms import crop_sample

__all__ = ["KittiCalib", "KittiDataset", "read_calib_file", "read_kitti_depth_png", "read_velodyne_bin"]

KB_CROP_HW = (352, 1216)
_SIDES = {"l": "image_02", "r": "image_03"}
_STORED_SPLITS = {"eigen_test": "eigen_test_files.txt", "test": "eigen_test_files.txt"}


def read_calib_file(path: Path) -> dict[str, np.ndarray]:
    """A KITTI ``key: v1 v2 ...`` calibration file -> {key: float64 array}; non-numeric keys skipped."""
    out: dict[str, np.ndarray] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DisdepthError(f"kitti root: expected calibration file {path} (not found)") from None
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        try:
            out[key.strip()] = np.array([float(x) for x in value.split()], dtype=np.float64)
        except ValueError:
            continue  # calib_time etc.
    return out


@dataclasses.dataclass
class KittiCalib:
    """Rectified intrinsics and Velodyne->camera transform of one camera (cam 2 or 3) of one day."""

    K: torch.Tensor  # (3, 3) float64
    T_cam_velo: torch.Tensor  # (4, 4) float64, rectified camera <- velodyne

    @classmethod
    def from_files(cls, date_dir: Path, camera: str) -> KittiCalib:
        cam = read_calib_file(date_dir / "calib_cam_to_cam.txt")
        velo = read_calib_file(date_dir / "calib_velo_to_cam.txt")
        num = camera[-2:]
        need = [(cam, f"P_rect_{num}", 12, "calib_cam_to_cam.txt"), (cam, "R_rect_00", 9, "calib_cam_to_cam.txt"),
                (velo, "R", 9, "calib_velo_to_cam.txt"), (velo, "T", 3, "calib_velo_to_cam.txt")]
        for table, key, n, fname in need:
            if key not in table or table[key].size != n:
                raise DisdepthError(f"{date_dir / fname}: key {key!r} missing or not {n} numbers")
        P = torch.from_numpy(cam[f"P_rect_{num}"].reshape(3, 4))
        K = P[:, :3].clone()
        # P = K [I | t]: the rectified camera's offset from rectified camera 0.
        t = torch.linalg.solve(K, P[:, 3])
        T_rect_rect0 = make_transform(torch.eye(3, dtype=torch.float64), t)
        R_rect = make_transform(torch.from_numpy(cam["R_rect_00"].reshape(3, 3)), torch.zeros(3, dtype=torch.float64))
        T_cam0_velo = make_transform(torch.from_numpy(velo["R"].reshape(3, 3)), torch.from_numpy(velo["T"]))
        return cls(K=K, T_cam_velo=T_rect_rect0 @ R_rect @ T_cam0_velo)


def read_kitti_depth_png(path: Path) -> np.ndarray:
    """A KITTI uint16 depth PNG -> (H, W) float32 metres (value / 256, 0 = no GT)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptFileError(path, f"not a readable depth PNG ({exc.__class__.__name__})") from None
    if arr.ndim != 2 or arr.dtype not in (np.uint16, np.int32, np.uint32):
        raise CorruptFileError(path, f"expected a single-channel 16-bit PNG, got {arr.dtype} {arr.shape}")
    if arr.max(initial=0) <= 255 and arr.any():
        raise CorruptFileError(path, "depth PNG holds only 8-bit values (not a KITTI uint16 depth map)")
    return arr.astype(np.float32) / 256.0


def read_velodyne_bin(path: Path) -> np.ndarray:
    """A KITTI ``velodyne_points/data/*.bin`` -> (M, 4) float32 x, y, z, reflectance."""
    try:
        raw = np.fromfile(path, dtype=np.float32)
    except OSError as exc:
        raise CorruptFileError(path, f"unreadable ({exc})") from None
    if raw.size == 0 or raw.size % 4:
        raise CorruptFileError(path, f"size {raw.size * 4} bytes is not a whole number of 16-byte points")
    return raw.reshape(-1, 4)


@dataclasses.dataclass(frozen=True)
class KittiEntry:
    drive: str  # "2011_09_26/2011_09_26_drive_0002_sync"
    frame: int
    side: str  # "l" | "r"

    @property
    def date(self) -> str:
        return self.drive.split("/")[0]

    @property
    def camera(self) -> str:
        return _SIDES[self.side]


def parse_split_file(path: Path) -> list[KittiEntry]:
    """monodepth2-format split list -> entries; errors name the file and line."""
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or parts[2] not in _SIDES or not parts[1].isdigit() or "/" not in parts[0]:
            raise DisdepthError(f"{path}: line {n}: expected '<date>/<drive> <frame> <l|r>', got {line.strip()!r}")
        entries.append(KittiEntry(parts[0], int(parts[1]), parts[2]))
    return entries


class KittiDataset(DepthDataset):
    """KITTI raw, one camera per sample (``N = 1``)."""

    name = "kitti"
    sparse_gt = True

    def __init__(self, cfg: DatasetConfig, split: str | None = None):
        super().__init__(cfg, split)
        self.root = require_dir(Path(self.cfg.root), "kitti", "the KITTI raw directory (<date>/<date>_drive_*_sync)")
        self.gt_root = Path(self.cfg.gt_root) if self.cfg.gt_root else self.root / "data_depth_annotated"
        entries = self._split_entries()
        dates = sorted({e.date for e in entries})
        present = [d for d in dates if (self.root / d / "calib_cam_to_cam.txt").is_file()]
        if not present:
            raise DisdepthError(
                f"kitti root {self.root}: expected {self.root / dates[0] / 'calib_cam_to_cam.txt'} "
                "(KITTI raw layout <date>/calib_cam_to_cam.txt, <date>/<date>_drive_XXXX_sync/image_02/data/*.png)"
            )
        if self.cfg.gt_source == "annotated" and not self.gt_root.is_dir():
            raise DisdepthError(
                f"kitti: gt_source 'annotated' expects the data_depth_annotated directory at {self.gt_root} "
                "(set dataset.gt_root, or gt_source: velodyne to project the Velodyne scans)"
            )
        self.missing: list[str] = []  # listed samples whose image or GT file is absent
        self._calib: dict[tuple[str, str], KittiCalib] = {}
        self._ann_dirs: dict[str, Path | None] = {}
        for e in entries:
            img = self._image_path(e)
            gt = self._gt_path(e)
            if img is None:
                self.missing.append(str(self._drive_dir(e) / e.camera / "data" / f"{e.frame:010d}.png"))
            elif gt is None or not gt.is_file():
                self.missing.append(str(gt) if gt is not None else f"{e.drive} {e.frame:010d}: annotated GT")
            else:
                self.items.append((e, img, gt))
        if self.missing:
            log.warning(
                "kitti: %d of %d listed samples of split %r are missing (image or GT), e.g. %s",
                len(self.missing), len(entries), self.split, self.missing[0],
            )
        if not self.items:
            raise DisdepthError(
                f"kitti root {self.root}: none of the {len(entries)} samples of split {self.split!r} is present; "
                f"expected e.g. {self.missing[0] if self.missing else '?'}"
            )
        self._limit()

    # -- split and paths ------------------------------------------------------------
    def _split_entries(self) -> list[KittiEntry]:
        if self.cfg.split_file:
            p = Path(self.cfg.split_file)
            if not p.is_file():
                raise DisdepthError(f"kitti: split file {p} not found (dataset.split_file)")
            return parse_split_file(p)
        if self.split in _STORED_SPLITS:
            return parse_split_file(split_path(_STORED_SPLITS[self.split]))
        if self.split == "all":
            entries = []
            for img in sorted(self.root.glob("20??_??_??/*_sync/image_02/data/*")):
                if img.suffix in (".png", ".jpg"):
                    drive = f"{img.parents[3].name}/{img.parents[2].name}"
                    entries.append(KittiEntry(drive, int(img.stem), "l"))
            if not entries:
                raise DisdepthError(
                    f"kitti root {self.root}: split 'all' found no <date>/<drive>_sync/image_02/data/*.png"
                )
            return entries
        raise DisdepthError(
            f"kitti: no stored list for split {self.split!r} (stored: eigen_test; also 'all' = every frame "
            "under root); give dataset.split_file, e.g. monodepth2's splits/eigen_zhou/train_files.txt"
        )

    def _drive_dir(self, e: KittiEntry) -> Path:
        return self.root / e.drive

    def _image_path(self, e: KittiEntry) -> Path | None:
        base = self._drive_dir(e) / e.camera / "data" / f"{e.frame:010d}"
        for ext in (".png", ".jpg"):
            if base.with_suffix(ext).is_file():
                return base.with_suffix(ext)
        return None

    def _gt_path(self, e: KittiEntry) -> Path | None:
        if self.cfg.gt_source == "velodyne":
            return self._drive_dir(e) / "velodyne_points" / "data" / f"{e.frame:010d}.bin"
        drive = e.drive.split("/")[1]
        if drive not in self._ann_dirs:
            found = [self.gt_root / s / drive for s in ("train", "val") if (self.gt_root / s / drive).is_dir()]
            self._ann_dirs[drive] = found[0] if found else None
        d = self._ann_dirs[drive]
        if d is None:
            return None
        return d / "proj_depth" / "groundtruth" / e.camera / f"{e.frame:010d}.png"

    def calib(self, e: KittiEntry) -> KittiCalib:
        key = (e.date, e.camera)
        if key not in self._calib:
            self._calib[key] = KittiCalib.from_files(self.root / e.date, e.camera)
        return self._calib[key]

    # -- loading --------------------------------------------------------------------
    def load_raw(self, index: int) -> SurroundSample:
        e, img_path, gt_path = self.items[index]
        calib = self.calib(e)
        image = read_rgb(img_path)
        H, W = image.shape[-2:]
        if self.cfg.gt_source == "velodyne":
            velo = torch.from_numpy(read_velodyne_bin(gt_path)[:, :3].astype(np.float64))
            velo = velo[velo[:, 0] >= 0]  # points in front of the car, as the standard protocol does
            depth = points_to_depth_map(transform_points(calib.T_cam_velo, velo), calib.K, (H, W))
        else:
            depth = torch.from_numpy(read_kitti_depth_png(gt_path))
            if tuple(depth.shape) != (H, W):
                raise CorruptFileError(gt_path, f"depth map is {tuple(depth.shape)}, image {img_path.name} is {(H, W)}")
        sample = SurroundSample(
            images=image[None],
            depth=depth[None],
            valid=(depth > 0)[None],
            K=calib.K[None].clone(),
            T_base_cam=invert_transform(calib.T_cam_velo)[None],
            cameras=list(self.cfg.cameras),
            timestamp_ns=0,
            meta={"drive": e.drive, "frame": e.frame, "side": e.side, "image": str(img_path), "gt": str(gt_path)},
        )
        if self.cfg.kb_crop:
            h, w = KB_CROP_HW
            if H < h or W < w:
                raise CorruptFileError(img_path, f"image {H}x{W} is smaller than the KITTI benchmark crop {h}x{w}")
            sample = crop_sample(sample, H - h, (W - w) // 2, h, w)
        return sample

    def summary(self) -> dict:
        out = super().summary()
        out["missing"] = len(self.missing)
        return out

