"""Datasets: one sample type for multi-camera and single-camera data.

``build_dataset(DatasetConfig(name=..., root=..., split=...))`` gives a torch Dataset of
:class:`SurroundSample` for synthetic | nuscenes | ddad | kitti | nyu; ``eval_mask`` gives
the standard evaluation caps and crops. Dataset modules import their heavy dependencies
(nuscenes-devkit, h5py) only when built.
"""

from .dataset_config import AugmentConfig, DatasetConfig, EvalProtocolConfig
from .eval_crops import DEPTH_CAPS, crop_region_mask, eval_mask
from .registry import build_dataset, load_dataset_config
from .sample import SurroundBatch, SurroundSample, collate_samples

__all__ = [
    "DEPTH_CAPS",
    "AugmentConfig",
    "DatasetConfig",
    "EvalProtocolConfig",
    "SurroundBatch",
    "SurroundSample",
    "build_dataset",
    "collate_samples",
    "crop_region_mask",
    "eval_mask",
    "load_dataset_config",
]
