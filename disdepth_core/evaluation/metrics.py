"""The seven standard depth metrics, per image, per camera and "all" (METHOD.md §7).

Protocol: ground truth is valid where ``valid`` and ``min_depth <= gt <= max_depth``;
predictions are clamped to ``[min_depth, max_depth]``; metrics are computed per image,
averaged over the images of each camera, and "all" is the mean of the camera means.
Median scaling multiplies each prediction by ``median(gt) / median(pred)`` over its valid
pixels before clamping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")


def median_scale(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-image factors ``(B,)``: median(gt)/median(pred) over valid pixels (1 where none)."""
    B = pred.shape[0]
    out = torch.ones(B, dtype=pred.dtype, device=pred.device)
    for b in range(B):
        v = valid[b]
        if v.any():
            out[b] = gt[b][v].median() / pred[b][v].median().clamp_min(1e-6)
    return out


def depth_metrics(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor,
    *,
    min_depth: float = 1e-3,
    max_depth: float = 80.0,
    median_scaling: bool = False,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Metrics per image.

    pred, gt: (B, H, W) metres; valid: (B, H, W) bool. Returns ``(metrics, has_gt)``:
    ``metrics[k]`` is (B,) float64 for each key of :data:`METRIC_KEYS` (NaN for images
    without valid GT), ``has_gt`` (B,) bool. Non-finite predictions at valid pixels count
    as ``max_depth`` (an engine reports +Inf beyond range); map an engine's -Inf (closer than its
    range) to its ``min_depth`` first, with :func:`~disdepth_core.evaluation.engine_eval.rep117_to_caps`.
    """
    pred = pred.double()
    gt = gt.double()
    mask = valid & torch.isfinite(gt) & (gt >= min_depth) & (gt <= max_depth)
    pred = torch.where(torch.isfinite(pred), pred, torch.full_like(pred, max_depth))
    if median_scaling:
        pred = pred * median_scale(pred, gt, mask)[:, None, None]
    pred = pred.clamp(min_depth, max_depth)
    B = pred.shape[0]
    p = pred.reshape(B, -1)
    g = gt.reshape(B, -1)
    m = mask.reshape(B, -1)
    n = m.sum(-1).double()
    has = n > 0
    n = n.clamp_min(1)
    g_safe = torch.where(m, g, torch.ones_like(g))
    p_safe = torch.where(m, p, torch.ones_like(p))
    ratio = torch.maximum(g_safe / p_safe, p_safe / g_safe)

    def mean(x):
        return torch.where(m, x, torch.zeros_like(x)).sum(-1) / n

    out = {
        "abs_rel": mean((p_safe - g_safe).abs() / g_safe),
        "sq_rel": mean((p_safe - g_safe) ** 2 / g_safe),
        "rmse": mean((p_safe - g_safe) ** 2).sqrt(),
        "rmse_log": mean((p_safe.log() - g_safe.log()) ** 2).sqrt(),
        "a1": mean((ratio < 1.25).double()),
        "a2": mean((ratio < 1.25**2).double()),
        "a3": mean((ratio < 1.25**3).double()),
    }
    nan = torch.full((B,), float("nan"), dtype=torch.float64, device=pred.device)
    return {k: torch.where(has, v, nan) for k, v in out.items()}, has


class DepthMetricAccumulator:
    """Collects per-image metrics by camera, metric and median-scaled; reports means.

    ``update(pred, gt, valid)`` takes one time step ``(V, H, W)`` in camera order (or a
    batch ``(B, V, H, W)``). ``summary()`` returns::

        {"metric": {"per_camera": {cam: {key: value}}, "all": {...}, "images": n},
         "median": {...same...}}

    where "all" is the mean of the camera means over cameras that had ground truth.
    """

    def __init__(self, cameras: Sequence[str], *, min_depth: float = 1e-3, max_depth: float = 80.0):
        self.cameras = list(cameras)
        self.min_depth = min_depth
        self.max_depth = max_depth
        self._rows: dict[str, dict[str, list[list[float]]]] = {
            mode: {c: [] for c in self.cameras} for mode in ("metric", "median")
        }

    def update(self, pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> dict[str, list[dict[str, float]]]:
        """Add one step (or a batch of steps); returns this step's per-image metric rows."""
        V = len(self.cameras)
        pred, gt, valid = (t.reshape(-1, V, *t.shape[-2:]) for t in (pred, gt, valid))
        rows: dict[str, list[dict[str, float]]] = {}
        for mode in ("metric", "median"):
            vals, has = depth_metrics(
                pred.flatten(0, 1), gt.flatten(0, 1), valid.flatten(0, 1),
                min_depth=self.min_depth, max_depth=self.max_depth, median_scaling=(mode == "median"),
            )
            rows[mode] = []
            for idx in range(pred.shape[0] * V):
                cam = self.cameras[idx % V]
                row = {k: float(vals[k][idx]) for k in vals}
                rows[mode].append(row)
                if bool(has[idx]):
                    self._rows[mode][cam].append([row[k] for k in vals])
        return rows

    def summary(self) -> dict:
        out = {}
        for mode, by_cam in self._rows.items():
            per_cam = {}
            for cam in self.cameras:
                rows = by_cam[cam]
                if rows:
                    t = torch.tensor(rows, dtype=torch.float64).mean(0)
                    per_cam[cam] = {k: float(v) for k, v in zip(METRIC_KEYS, t)}
                    per_cam[cam]["images"] = len(rows)
            if per_cam:
                all_ = {k: sum(per_cam[c][k] for c in per_cam) / len(per_cam) for k in METRIC_KEYS}
            else:
                all_ = {k: math.nan for k in METRIC_KEYS}
            all_["images"] = sum(len(by_cam[c]) for c in self.cameras)
            out[mode] = {"per_camera": per_cam, "all": all_}
        return out

