"""Datasets by name: ``build_dataset(cfg, split)`` -> a :class:`DepthDataset`-like torch Dataset.

Each builder imports its module only when asked for, so a dataset whose optional
dependency (nuscenes-devkit, h5py) is missing does not affect the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import Dataset

from ..config import load_config
from ..errors import CapabilityError, DisdepthError
from .dataset_config import DatasetConfig

__all__ = ["DATASET_BUILDERS", "build_dataset", "load_dataset_config"]

# name -> (module, class, pip package that provides its dependency)
_CLASSES: dict[str, tuple[str, str, str | None]] = {
    "nuscenes": ("disdepth_core.data.nuscenes", "NuScenesDataset", "nuscenes-devkit"),
    "ddad": ("disdepth_core.data.ddad", "DDADDataset", None),
    "kitti": ("disdepth_core.data.kitti", "KittiDataset", None),
    "nyu": ("disdepth_core.data.nyu", "NyuDataset", "h5py"),
}


def _build_class(name: str) -> Callable[[DatasetConfig, str | None], Dataset]:
    module, cls, pkg = _CLASSES[name]

    def build(cfg: DatasetConfig, split: str | None) -> Dataset:
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            hint = f" (pip install {pkg}, or the project's [datasets] extra)" if pkg else ""
            raise CapabilityError(f"dataset {name!r} needs {exc.name or exc}{hint}") from None
        return getattr(mod, cls)(cfg, split)

    return build


def _build_synthetic(cfg: DatasetConfig, split: str | None) -> Dataset:
    # The synthetic world lives in its own module; imported here only when asked for.
    try:
        mod = importlib.import_module("disdepth_core.data.synthetic")
    except ModuleNotFoundError as exc:
        if exc.name != "disdepth_core.data.synthetic":
            raise
        raise CapabilityError(
            "dataset 'synthetic' is not available: disdepth_core/data/synthetic.py is not installed"
        ) from None
    factory = getattr(mod, "from_dataset_config", None) or getattr(mod, "SyntheticDataset", None)
    if factory is None:
        raise CapabilityError("disdepth_core.data.synthetic has neither from_dataset_config nor SyntheticDataset")
    return factory(cfg, split)


DATASET_BUILDERS: dict[str, Callable[[DatasetConfig, str | None], Dataset]] = {
    "synthetic": _build_synthetic,
    **{name: _build_class(name) for name in _CLASSES},
}


def build_dataset(cfg: DatasetConfig, split: str | None = None) -> Dataset:
    """The dataset ``cfg.name`` for ``split`` (default ``cfg.split``); errors are one-line DisdepthErrors."""
    if cfg.name not in DATASET_BUILDERS:
        raise DisdepthError(f"unknown dataset {cfg.name!r} (known: {', '.join(DATASET_BUILDERS)})")
    if cfg.name != "synthetic" and not cfg.root:
        raise DisdepthError(f"dataset {cfg.name!r} needs a root directory (dataset.root or --root)")
    return DATASET_BUILDERS[cfg.name](cfg, split)


def load_dataset_config(path: str | Path, section: str = "dataset") -> DatasetConfig:
    """The ``dataset:`` section of a train/eval config file."""
    return load_config(DatasetConfig, path, section=section)
