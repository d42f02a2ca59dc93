"""Standard evaluation masks: depth caps and the Garg / Eigen crops (pure functions).

* KITTI (Eigen split): cap 80 m; Garg crop rows ``[0.40810811 H, 0.99189189 H)``, columns
  ``[0.03594771 W, 0.96405229 W)``; Eigen crop rows ``[0.3324324 H, 0.91351351 H)``, same
  columns (the fractions of monodepth2's ``evaluate_depth.py``), on the original image.
* NYU Depth V2: cap 10 m; Eigen crop rows 45:471, columns 41:601 of the 480x640 image.
* nuScenes 0.1-80 m, DDAD 0.1-200 m, no crop.

Crops are defined on the *original* image. A sample that was cropped or resized carries
``meta["orig_size"]`` and ``meta["window"]`` (see :mod:`.transforms`); pass them so the
crop lands on the right pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .dataset_config import DATASET_DEFAULTS, EVAL_CROPS

__all__ = ["DEPTH_CAPS", "crop_box", "crop_region_mask", "eval_mask"]

DEPTH_CAPS: dict[str, tuple[float, float]] = {
    name: (d.min_depth, d.max_depth) for name, d in DATASET_DEFAULTS.items()
}

_FRACTIONS = {
    ("kitti", "garg"): (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    ("kitti", "eigen"): (0.3324324, 0.91351351, 0.0359477, 0.96405229),
    ("nyu", "eigen"): (45 / 480, 471 / 480, 41 / 640, 601 / 640),
}


def _resolve_crop(dataset: str, crop: str) -> str:
    if dataset not in DATASET_DEFAULTS:
        raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DATASET_DEFAULTS)})")
    crop = DATASET_DEFAULTS[dataset].crop if crop in ("default", None) else crop
    if crop not in EVAL_CROPS[dataset]:
        raise ValueError(f"crop {crop!r} is not defined for {dataset} (choose from {', '.join(EVAL_CROPS[dataset])})")
    return crop


def crop_box(dataset: str, crop: str, orig_size: Sequence[int]) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` row/column bounds (end exclusive) on the original image, or None."""
    crop = _resolve_crop(dataset, crop)
    if crop == "none":
        return None
    H, W = int(orig_size[0]), int(orig_size[1])
    if (dataset, crop) == ("nyu", "eigen") and (H, W) == (480, 640):
        return 45, 471, 41, 601
    fy0, fy1, fx0, fx1 = _FRACTIONS[(dataset, crop)]
    return int(fy0 * H), int(fy1 * H), int(fx0 * W), int(fx1 * W)


def crop_region_mask(
    size: Sequence[int],
    dataset: str,
    crop: str = "default",
    *,
    orig_size: Sequence[int] | None = None,
    window: Sequence[float] | None = None,
    flipped: bool = False,
    device=None,
) -> torch.Tensor:
    """Bool mask ``(h, w)`` of the evaluation crop for an image of ``size`` (h, w).

    ``orig_size``/``window`` locate the image in the original one (default: it is the
    original); a pixel is inside when its centre falls inside the crop box.
    """
    h, w = int(size[0]), int(size[1])
    orig = tuple(orig_size) if orig_size is not None else (h, w)
    box = crop_box(dataset, crop, orig)
    if box is None:
        return torch.ones(h, w, dtype=torch.bool, device=device)
    top, left, wh, ww = window if window is not None else (0.0, 0.0, float(orig[0]), float(orig[1]))
    rows = top + (torch.arange(h, dtype=torch.float64, device=device) + 0.5) * (wh / h) - 0.5
    cols = left + (torch.arange(w, dtype=torch.float64, device=device) + 0.5) * (ww / w) - 0.5
    if flipped:
        cols = (orig[1] - 1) - cols
    y0, y1, x0, x1 = box
    # A pixel centre at original coordinate c belongs to original pixel round(c).
    r = torch.round(rows)
    c = torch.round(cols)
    in_r = (r >= y0) & (r < y1)
    in_c = (c >= x0) & (c < x1)
    return in_r[:, None] & in_c[None, :]


def eval_mask(
    depth: torch.Tensor,
    dataset: str,
    crop: str = "default",
    *,
    min_depth: float | None = None,
    max_depth: float | None = None,
    orig_size: Sequence[int] | None = None,
    window: Sequence[float] | None = None,
    flipped: bool = False,
) -> torch.Tensor:
    """Pixels ``(..., H, W)`` that count in the standard evaluation of ``dataset``.

    ``depth`` is the ground truth in metres (0 = none). A pixel counts when its depth is
    finite and in ``(min_depth, max_depth]`` (the dataset's caps unless given) and it lies
    in the evaluation crop (``"default"`` = the dataset's standard crop).
    """
    lo_d, hi_d = DEPTH_CAPS[dataset] if dataset in DEPTH_CAPS else (None, None)
    if lo_d is None:
        raise ValueError(f"unknown dataset {dataset!r} (known: {', '.join(DEPTH_CAPS)})")
    lo = lo_d if min_depth is None else min_depth
    hi = hi_d if max_depth is None else max_depth
    mask = torch.isfinite(depth) & (depth > lo) & (depth <= hi)
    region = crop_region_mask(
        depth.shape[-2:], dataset, crop, orig_size=orig_size, window=window, flipped=flipped, device=depth.device
    )
    return mask & region
