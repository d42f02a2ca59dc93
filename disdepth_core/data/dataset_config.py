"""The ``dataset:`` section of training and evaluation configs.

One :class:`DatasetConfig` selects a dataset by ``name`` and says where it lives, which
split and cameras to read, the working resolution, the ground-truth depth range and the
augmentations. Values left at their "dataset default" (``None``/``"default"``/empty) are
filled in from :data:`DATASET_DEFAULTS` by :meth:`DatasetConfig.resolved`.

Example (``config/eval/kitti.yaml``)::

    dataset:
      name: kitti
      root: /data/kitti_raw
      split: eigen_test
      kb_crop: true
      crop: garg
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ..config import ConfigError, cfg_field

DatasetName = Literal["synthetic", "nuscenes", "ddad", "kitti", "nyu"]

NUSCENES_CAMERAS = [
    "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT",
]
# Clockwise from the front, like the nuScenes order: front, front-right (06), rear-right (08),
# rear (09), rear-left (07), front-left (05) -- the mapping of DDAD's camera numbers to sides.
DDAD_CAMERAS = ["CAMERA_01", "CAMERA_06", "CAMERA_08", "CAMERA_09", "CAMERA_07", "CAMERA_05"]


@dataclasses.dataclass(frozen=True)
class DatasetDefaults:
    """Protocol constants of one dataset (METHOD.md section 7)."""

    min_depth: float
    max_depth: float
    crop: str  # standard evaluation crop
    cameras: tuple[str, ...]
    gt_source: str
    multi_camera: bool


DATASET_DEFAULTS: dict[str, DatasetDefaults] = {
    "synthetic": DatasetDefaults(0.1, 80.0, "none", (), "render", True),
    "nuscenes": DatasetDefaults(0.1, 80.0, "none", tuple(NUSCENES_CAMERAS), "lidar", True),
    "ddad": DatasetDefaults(0.1, 200.0, "none", tuple(DDAD_CAMERAS), "lidar", True),
    "kitti": DatasetDefaults(1e-3, 80.0, "garg", ("kitti_cam",), "annotated", False),
    "nyu": DatasetDefaults(1e-3, 10.0, "eigen", ("kinect_rgb",), "raw", False),
}

GT_SOURCES = {
    "synthetic": ("render", "lidar"),
    "nuscenes": ("lidar",),
    "ddad": ("lidar",),
    "kitti": ("annotated", "velodyne"),
    "nyu": ("raw", "filled"),
}
EVAL_CROPS = {
    "synthetic": ("none",),
    "nuscenes": ("none",),
    "ddad": ("none",),
    "kitti": ("none", "garg", "eigen"),
    "nyu": ("none", "eigen"),
}


@dataclasses.dataclass
class AugmentConfig:
    """Training augmentations; all keep ``K`` consistent with the image."""

    hflip: bool = cfg_field(False, help="random horizontal flip (single-camera datasets only)")
    color_jitter: float = cfg_field(
        0.0, min=0.0, max=1.0, help="brightness/contrast/saturation factors drawn from [1-s, 1+s]"
    )
    scale_crop: float = cfg_field(
        1.0, min=1.0, max=2.0, help="zoom in by a random factor in [1, s] and crop back to size (1 = off)"
    )

    @property
    def enabled(self) -> bool:
        return self.hflip or self.color_jitter > 0 or self.scale_crop > 1.0


@dataclasses.dataclass
class DatasetConfig:
    """Which dataset to read and how (the ``dataset:`` section of a train/eval config)."""

    name: DatasetName = cfg_field("synthetic", help="synthetic | nuscenes | ddad | kitti | nyu")
    root: str = cfg_field("", help="dataset root directory (or the .mat file's directory for NYU)")
    split: str = cfg_field("train", help="split name, e.g. train, val, eigen_test, test, all")
    version: str = cfg_field("v1.0-trainval", help="nuScenes table version (v1.0-trainval, v1.0-mini)")
    cameras: list[str] = cfg_field(default_factory=list, help="camera names in order; empty = dataset default")
    size: tuple[int, int] | None = cfg_field(None, gt=0, help="working resolution (H, W); null = native")
    min_depth: float | None = cfg_field(None, gt=0, help="smallest valid GT depth (m); null = dataset default")
    max_depth: float | None = cfg_field(None, gt=0, help="largest valid GT depth (m); null = dataset default")
    crop: Literal["default", "none", "garg", "eigen"] = cfg_field(
        "default", help="evaluation crop (KITTI garg/eigen, NYU eigen); default = the dataset's standard"
    )
    kb_crop: bool = cfg_field(False, help="KITTI benchmark crop to 352x1216 (bottom-centre) before resizing")
    gt_source: str = cfg_field(
        "default", help="synthetic: render (dense, exact) | lidar (sparse, the world's 32-beam LiDAR projected); "
        "KITTI: annotated | velodyne; NYU: raw | filled; default = the dataset's standard"
    )
    gt_root: str = cfg_field("", help="KITTI annotated depth root (default <root>/data_depth_annotated)")
    split_file: str = cfg_field("", help="a split list file overriding the stored/official one")
    max_samples: int = cfg_field(0, min=0, help="use only the first N samples (0 = all)")
    labelled_every: int = cfg_field(1, min=1, help="synthetic: about one sequence in N (by a hash of its name) keeps "
                                                   "its metric labels (the papers' setting: labels on a subset of drives)")
    unlabelled: Literal["drop", "keep"] = cfg_field(
        "drop", help="sequences without labels (labelled_every > 1): drop them, or keep them without ground truth "
        "(valid all false) so that they contribute KD terms only")
    unlabelled_pool: str = cfg_field(
        "", help="synthetic: a directory of further sequences (e.g. off-street places, world.open_seed_range) served "
        "without ground truth, KD terms only; used with unlabelled: keep, ignored with drop")
    on_corrupt: Literal["skip", "error"] = cfg_field(
        "skip", help="unreadable files: skip (count, warn once, use the next sample) or error"
    )
    augment: AugmentConfig = cfg_field(default_factory=AugmentConfig, help="training augmentations")
    options: dict[str, Any] = cfg_field(default_factory=dict, help="dataset-specific options (synthetic world)")

    def validate(self) -> None:
        d = DATASET_DEFAULTS[self.name]
        lo = self.min_depth if self.min_depth is not None else d.min_depth
        hi = self.max_depth if self.max_depth is not None else d.max_depth
        if lo >= hi:
            raise ConfigError(f"min_depth ({lo}) must be smaller than max_depth ({hi})", key="max_depth")
        if self.size is not None and len(self.size) != 2:
            raise ConfigError(f"size must be [H, W], got {list(self.size)}", key="size")
        if self.gt_source != "default" and self.gt_source not in GT_SOURCES[self.name]:
            raise ConfigError(
                f"gt_source {self.gt_source!r} is not available for {self.name} "
                f"(choose from: default, {', '.join(GT_SOURCES[self.name])})",
                key="gt_source",
            )
        if self.crop != "default" and self.crop not in EVAL_CROPS[self.name]:
            raise ConfigError(
                f"crop {self.crop!r} is not defined for {self.name} (choose from: default, "
                f"{', '.join(EVAL_CROPS[self.name])})",
                key="crop",
            )
        if self.augment.hflip and d.multi_camera:
            raise ConfigError(
                f"horizontal flip would swap left and right cameras of the {self.name} rig; "
                "it is allowed for single-camera datasets only",
                key="augment.hflip",
            )
        if self.labelled_every > 1 and self.name != "synthetic":
            raise ConfigError("labelled subsets are implemented for the synthetic dataset only", key="labelled_every")
        if self.unlabelled_pool and self.name != "synthetic":
            raise ConfigError("an unlabelled pool is implemented for the synthetic dataset only", key="unlabelled_pool")
        if self.kb_crop and self.name != "kitti":
            raise ConfigError("kb_crop is the KITTI benchmark crop; it applies to kitti only", key="kb_crop")
        if self.cameras and not d.multi_camera:
            raise ConfigError(f"{self.name} has a single camera; leave cameras empty", key="cameras")
        if self.cameras and d.cameras:
            unknown = [c for c in self.cameras if c not in d.cameras]
            if unknown:
                raise ConfigError(
                    f"unknown camera {unknown[0]!r} for {self.name} (cameras: {', '.join(d.cameras)})",
                    key="cameras",
                )

    # -- defaults ------------------------------------------------------------------
    @property
    def defaults(self) -> DatasetDefaults:
        return DATASET_DEFAULTS[self.name]

    def resolved(self) -> DatasetConfig:
        """A copy with every "dataset default" value replaced by the dataset's standard one."""
        d = self.defaults
        return dataclasses.replace(
            self,
            cameras=list(self.cameras) if self.cameras else list(d.cameras),
            min_depth=self.min_depth if self.min_depth is not None else d.min_depth,
            max_depth=self.max_depth if self.max_depth is not None else d.max_depth,
            crop=self.crop if self.crop != "default" else d.crop,
            gt_source=self.gt_source if self.gt_source != "default" else d.gt_source,
        )


@dataclasses.dataclass
class EvalProtocolConfig:
    """How an evaluation reports its numbers (the ``protocol:`` section of an eval config).

    The metrics themselves (AbsRel, SqRel, RMSE, RMSElog, delta thresholds) are computed
    by the evaluation command; the depth caps and crops come from the ``dataset:`` section.
    """

    scaling: list[Literal["metric", "median"]] = cfg_field(
        default_factory=lambda: ["metric", "median"], help="metric (no scaling) and/or per-image median scaling"
    )
    per_camera: bool = cfg_field(True, help="report each camera, then the mean of the camera means ('all')")
    cross_view_consistency: bool = cfg_field(True, help="also report the cross-view consistency metric")

    def validate(self) -> None:
        if not self.scaling:
            raise ConfigError("give at least one of metric, median", key="scaling")
