"""The one dataset interface: a torch ``Dataset`` of :class:`SurroundSample`.

A concrete dataset lists its samples in ``self.items`` and implements :meth:`load_raw`
(one sample at native resolution, depth in metres, 0 = no GT). This base class does the
rest the same way for every dataset:

1. unreadable files: :meth:`load_raw` raises :class:`CorruptFileError`; the sample is
   skipped (``on_corrupt: skip``) -- counted in :attr:`corrupt`, a warning logged once,
   the next readable sample returned with ``meta["skipped_corrupt"]`` naming the skipped
   indices -- or the error is raised (``on_corrupt: error``);
2. the GT depth range ``[min_depth, max_depth]`` of the config;
3. resizing to ``size`` (intrinsics scaled, depth resized without inventing values);
4. augmentations (scale-crop, flip, colour jitter) when the config enables them.

Every sample's ``meta`` holds ``dataset``, ``index`` (the sample actually returned),
``orig_size`` and ``window`` (for evaluation crops) and dataset-specific provenance.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DisdepthError
from .dataset_config import DatasetConfig
from .sample import SurroundSample
from .transforms import color_jitter, hflip_sample, init_window, random_scale_crop, resize_sample

__all__ = ["CorruptFileError", "DepthDataset", "read_rgb", "require_dir", "require_file"]

log = logging.getLogger("disdepth.data")


class CorruptFileError(DisdepthError):
    """A file of one sample exists but cannot be read (truncated, wrong size, not an image...)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def require_dir(path: Path, dataset: str, what: str) -> Path:
    """``path`` if it is a directory, else a DisdepthError saying what was expected there."""
    if not path.is_dir():
        raise DisdepthError(f"{dataset} root: expected {what} at {path} (not found)")
    return path


def require_file(path: Path, dataset: str, what: str) -> Path:
    if not path.is_file():
        raise DisdepthError(f"{dataset} root: expected {what} at {path} (not found)")
    return path


def read_split_file(path: str | Path, dataset: str) -> list[str]:
    """Non-empty, non-comment lines of ``dataset.split_file``; a clear error when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise DisdepthError(f"{dataset}: split file {p} not found (dataset.split_file)")
    return [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def read_rgb(path: str | Path) -> torch.Tensor:
    """An 8-bit image file -> ``(3, H, W)`` float32 RGB in [0, 1]; CorruptFileError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise CorruptFileError(path, "file missing") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptFileError(path, f"not a readable image ({exc.__class__.__name__}: {exc})") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


class DepthDataset(Dataset):
    """Base class of every dataset; see the module docstring for the pipeline."""

    #: registry name (``nuscenes``, ``kitti``...)
    name = "base"
    #: GT is sparse (LiDAR) -> scatter resizing; dense (NYU) -> nearest
    sparse_gt = True

    def __init__(self, cfg: DatasetConfig, split: str | None = None):
        self.cfg = cfg.resolved()
        self.split = split or self.cfg.split
        self.items: list = []
        #: sample index -> reason, for every unreadable sample met so far (this process)
        self.corrupt: dict[int, str] = {}
        self._warned = False
        self._generator: torch.Generator | None = None

    # -- to implement ---------------------------------------------------------------
    def load_raw(self, index: int) -> SurroundSample:
        """Sample ``index`` at native resolution (raise CorruptFileError for unreadable files)."""
        raise NotImplementedError

    # -- Dataset --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_corrupt(self) -> int:
        return len(self.corrupt)

    def _limit(self) -> None:
        """Apply ``max_samples`` and refuse an empty split (call at the end of ``__init__``)."""
        if self.cfg.max_samples:
            self.items = self.items[: self.cfg.max_samples]
        if not self.items:
            raise DisdepthError(f"{self.name}: split {self.split!r} under {self.cfg.root} has no samples")

    def __getitem__(self, index: int) -> SurroundSample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} samples")
        index %= n
        skipped: list[int] = []
        for k in range(n):
            i = (index + k) % n
            try:
                sample = self.load_raw(i)
            except CorruptFileError as exc:
                self._record_corrupt(i, exc)
                if self.cfg.on_corrupt == "error":
                    raise
                skipped.append(i)
                continue
            sample.meta.update(dataset=self.name, index=i, skipped_corrupt=skipped)
            return self.prepare(sample)
        raise DisdepthError(f"{self.name}: all {n} samples of split {self.split!r} are unreadable")

    def _record_corrupt(self, index: int, exc: CorruptFileError) -> None:
        self.corrupt[index] = str(exc)
        if not self._warned:
            self._warned = True
            log.warning(
                "%s: skipping unreadable sample %d (%s); further ones are counted in dataset.corrupt",
                self.name, index, exc,
            )

    # -- pipeline -------------------------------------------------------------------
    def prepare(self, sample: SurroundSample) -> SurroundSample:
        """Depth range, resize and augmentations (see the module docstring)."""
        init_window(sample)
        cfg = self.cfg
        valid = sample.valid & (sample.depth >= cfg.min_depth) & (sample.depth <= cfg.max_depth)
        sample.valid = valid
        sample.depth = torch.where(valid, sample.depth, torch.zeros_like(sample.depth))
        mode = "scatter" if self.sparse_gt else "nearest"
        if cfg.size is not None:
            sample = resize_sample(sample, cfg.size, mode)
        aug = cfg.augment
        if aug.enabled:
            g = self._generator
            if aug.scale_crop > 1.0:
                sample = random_scale_crop(sample, aug.scale_crop, mode, generator=g)
            if aug.hflip and float(torch.rand(1, generator=g)) < 0.5:
                sample = hflip_sample(sample)
            if aug.color_jitter > 0:
                sample = color_jitter(sample, aug.color_jitter, generator=g)
        sample.images = sample.images.float().contiguous()
        sample.depth = sample.depth.float().contiguous()
        sample.K = sample.K.float()
        sample.T_base_cam = sample.T_base_cam.float()
        return sample

    def seed(self, seed: int) -> None:
        """Make augmentations reproducible in this process (workers: seed each from worker_init_fn)."""
        self._generator = torch.Generator().manual_seed(int(seed))

    def summary(self) -> dict:
        """Counts for logs and reports."""
        return {
            "dataset": self.name,
            "split": self.split,
            "samples": len(self),
            "cameras": list(self.cfg.cameras),
            "corrupt_skipped": self.num_corrupt,
        }
