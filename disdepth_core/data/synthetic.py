"""Torch dataset over sequences in the synthetic world's native format (see ``docs/world.md``).

Each item is one frame of one sequence as a :class:`SurroundSample`: six RGB images,
exact z-depth with its validity mask, intrinsics and extrinsics. With ``size`` the images
are resized (bilinear, antialiased), depth and mask by nearest neighbour (``nearest-exact``:
each output pixel keeps the depth of the source pixel under its centre, so values stay
exact depths of nearby rays; re-render at the target size for exact per-pixel truth) and
``K`` is scaled with :func:`geometry.scale_intrinsics`.

``labelled_every=N`` keeps metric labels on about one sequence in N (chosen by a hash of its name); the others are
dropped (``unlabelled="drop"``) or served with ``valid`` all false (``"keep"``: frames that
contribute distillation terms only, as in the papers' setting). ``unlabelled_pool`` adds the
sequences of another directory (e.g. off-street places) served that way too, with ``"keep"`` only.

``gt="lidar"`` replaces the dense truth with the sequence's LiDAR sweep projected into each
camera at the working resolution (sparse, like nuScenes/DDAD supervision): points go
LiDAR -> base_link (``meta.json`` ``lidar.T_base_lidar``) -> camera, nearest point per pixel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DisdepthError
from ..geometry import CameraRig, invert_transform, scale_intrinsics, transform_points
from .dataset_config import DATASET_DEFAULTS, DatasetConfig
from .lidar_depth import points_to_depth_map
from .sample import SurroundSample

FORMAT = "disdepth-world"


def is_labelled(name: str, every: int) -> bool:
    """Whether sequence ``name`` keeps its labels when only one in ``every`` does: a hash of the
    name, so the choice is fixed, independent of listing order and of any round-robin in how the
    sequences were made (e.g. which rig rendered them)."""
    import zlib

    return every <= 1 or zlib.crc32(name.encode()) % every == 0


def find_sequences(root: str | Path) -> list[Path]:
    """``root`` itself if it is a sequence (has ``meta.json``), else its sub-directories that are."""
    root = Path(root)
    if (root / "meta.json").is_file():
        return [root]
    if not root.is_dir():
        raise DisdepthError(f"synthetic dataset root {root} does not exist")
    seqs = sorted(p for p in root.iterdir() if (p / "meta.json").is_file())
    if not seqs:
        raise DisdepthError(f"no synthetic sequences (directories with meta.json) under {root}")
    return seqs


_DEFAULTS = DATASET_DEFAULTS["synthetic"]  # the keyword defaults below are the config's, written once there


class SyntheticWorldDataset(Dataset):
    """Frames of one or more native-format sequences under ``root``.

    ``size`` (H, W) resizes; ``cameras`` selects and orders cameras (default: the rig's);
    ``gt`` is ``"render"`` (dense exact z-depth) or ``"lidar"`` (sparse, projected LiDAR kept
    within ``[min_depth, max_depth]`` metres).
    """

    def __init__(self, root: str | Path, size: tuple[int, int] | None = None, cameras: Sequence[str] | None = None,
                 gt: str = _DEFAULTS.gt_source, min_depth: float = _DEFAULTS.min_depth,
                 max_depth: float = _DEFAULTS.max_depth, labelled_every: int = DatasetConfig.labelled_every,
                 unlabelled: str = DatasetConfig.unlabelled, unlabelled_pool: str | Path | None = None):
        if gt not in ("render", "lidar"):
            raise DisdepthError(f"synthetic dataset: gt must be 'render' or 'lidar', got {gt!r}")
        self.gt, self.min_depth, self.max_depth = gt, float(min_depth), float(max_depth)
        self.size = tuple(size) if size is not None else None
        self.items: list[tuple[Path, int, int]] = []  # (sequence dir, frame index, timestamp)
        self.rigs: dict[Path, CameraRig] = {}
        self.meta: dict[Path, dict] = {}
        self.unlabelled: set[Path] = set()  # sequences served without ground truth (KD-only frames)
        pool = find_sequences(unlabelled_pool) if unlabelled_pool and unlabelled == "keep" else []
        for seq in find_sequences(root) + pool:
            if seq in pool or not is_labelled(seq.name, labelled_every):
                if unlabelled == "drop":
                    continue
                self.unlabelled.add(seq)
            meta = json.loads((seq / "meta.json").read_text())
            if meta.get("format") != FORMAT:
                raise DisdepthError(f"{seq / 'meta.json'}: key 'format': expected {FORMAT!r}, got {meta.get('format')!r}")
            rig = CameraRig.from_yaml(seq / "rig.yaml")
            if cameras is not None:
                rig = rig.subset(list(cameras))
            self.rigs[seq], self.meta[seq] = rig, meta
            poses = json.loads((seq / "poses.json").read_text())["frames"]
            self.items += [(seq, int(p["index"]), int(p["timestamp_ns"])) for p in poses]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> SurroundSample:
        seq, index, stamp = self.items[i]
        rig = self.rigs[seq]
        stem = f"{index:06d}"
        imgs, depths, valids = [], [], []
        for cam in rig.names:
            img = np.asarray(Image.open(seq / "images" / cam / f"{stem}.png").convert("RGB"))
            with np.load(seq / "depth" / cam / f"{stem}.npz") as z:
                depths.append(torch.from_numpy(z["depth"].astype(np.float32)))
                valids.append(torch.from_numpy(z["valid"].astype(bool)))
            imgs.append(torch.from_numpy(img.copy()).permute(2, 0, 1))
        images = torch.stack(imgs).float() / 255.0
        depth = torch.stack(depths)
        valid = torch.stack(valids)
        K = rig.K_as()
        if self.size is not None and tuple(images.shape[-2:]) != self.size:
            src = tuple(images.shape[-2:])
            images = torch.nn.functional.interpolate(images, size=self.size, mode="bilinear", align_corners=False,
                                                     antialias=True).clamp(0, 1)
            depth = torch.nn.functional.interpolate(depth[:, None], size=self.size, mode="nearest-exact")[:, 0]
            valid = torch.nn.functional.interpolate(valid[:, None].float(), size=self.size, mode="nearest-exact")[:, 0] > 0.5
            K = scale_intrinsics(K, src, self.size)
        depth = torch.where(valid, depth, torch.zeros_like(depth))
        if seq in self.unlabelled:
            depth = torch.zeros_like(depth)
            valid = torch.zeros_like(valid)
        elif self.gt == "lidar":
            depth = self._lidar_depth(seq, stem, rig, K, tuple(images.shape[-2:]))
            valid = depth > 0
        return SurroundSample(
            images=images, depth=depth, valid=valid, K=K, T_base_cam=rig.T_as(), cameras=list(rig.names),
            timestamp_ns=stamp, meta={"sequence": str(seq), "frame": index, "seed": self.meta[seq].get("seed")},
        )

    def _lidar_depth(self, seq: Path, stem: str, rig: CameraRig, K: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """The frame's LiDAR sweep as sparse z-depth (C, H, W) metres at ``hw`` (0 = no return)."""
        from ..world.export_native import read_lidar_bin

        f = seq / "lidar" / f"{stem}.bin"
        try:
            pts = torch.from_numpy(read_lidar_bin(f)[:, :3].astype(np.float64))
        except (OSError, ValueError) as exc:
            raise DisdepthError(f"{f}: not a readable LiDAR sweep ({exc})") from None
        lidar = self.meta[seq].get("lidar", {})
        if "T_base_lidar" not in lidar:
            raise DisdepthError(f"{seq / 'meta.json'}: key 'lidar.T_base_lidar' missing (needed for gt: lidar)")
        pts_base = transform_points(torch.tensor(lidar["T_base_lidar"], dtype=torch.float64), pts)
        T = rig.T_as().to(torch.float64)
        return torch.stack([
            points_to_depth_map(transform_points(invert_transform(T[c]), pts_base), K[c], hw,
                                self.min_depth, self.max_depth)
            for c in range(len(rig))
        ])


def from_dataset_config(cfg, split: str | None = None) -> SyntheticWorldDataset:
    """The registry's entry point (``dataset: {name: synthetic, root: DIR, split: S}``).

    Sequences are read from ``<root>/<split>`` when that directory exists (e.g. ``train``
    and ``val`` rendered from different seeds), else from ``root`` itself.
    """
    if not cfg.root:
        raise DisdepthError("dataset 'synthetic' needs dataset.root (a directory made by 'disdepth world')")
    root = Path(cfg.root)
    split = split or cfg.split
    if split and (root / split).is_dir():
        root = root / split
    r = cfg.resolved()
    ds = SyntheticWorldDataset(root, size=tuple(cfg.size) if cfg.size else None, cameras=cfg.cameras or None,
                               gt=r.gt_source, min_depth=r.min_depth, max_depth=r.max_depth,
                               labelled_every=cfg.labelled_every, unlabelled=cfg.unlabelled,
                               unlabelled_pool=cfg.unlabelled_pool or None)
    if cfg.max_samples:
        ds.items = ds.items[: cfg.max_samples]
    return ds
