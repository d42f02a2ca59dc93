"""Does a per-pixel confidence rank depth errors? Sparsification curves and AUSE.

The standard uncertainty metric (Ilg et al. 2018, Poggi et al. 2020): per image, remove the
least confident fraction ``x`` of the evaluated pixels, ``x = 0, 0.01, ..., 0.99``, and take the
AbsRel (``|pred - gt| / gt``, dimensionless) of the rest -> the *sparsification* curve. The
*oracle* curve removes pixels by their true error (largest first): the best any confidence could
do. **AUSE** (area under the sparsification error) is the area between the two,
``sum_x (sparsification(x) - oracle(x)) * 0.01`` (AbsRel units; 0 = the confidence orders the
errors perfectly). A *random* order keeps, in expectation, the full-image AbsRel at every ``x``
(a flat curve); its AUSE is the baseline a meaningful confidence must beat: a confidence whose
AUSE is not below the random AUSE does not rank errors better than chance.

Ties in confidence (e.g. a constant confidence) are broken in a seeded random order, so a
constant confidence scores like the random baseline rather than like the pixel order.

Curves are computed per image and averaged over a camera's images (AUSE is linear in the
curves, so the camera's AUSE is also the mean of its images' AUSEs); "all" is the mean over
cameras, like the depth metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .markdown import md_table

FRACTIONS = np.arange(100) / 100.0  # removed fraction x of the evaluated pixels
MIN_PIXELS = 100  # images with fewer evaluated pixels are left out (a 1 % step must remove a pixel)


def pixel_abs_rel(pred: torch.Tensor, gt: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Per-pixel AbsRel (float64, same shape) scored like :func:`~disdepth_core.evaluation.metrics.depth_metrics`:
    non-finite predictions count as ``max_depth``, predictions are clamped to ``[min_depth, max_depth]``."""
    p = pred.double()
    p = torch.where(torch.isfinite(p), p, torch.full_like(p, max_depth)).clamp(min_depth, max_depth)
    g = gt.double()
    return (p - g).abs() / g


def _kept_means(errors_in_removal_order: np.ndarray) -> np.ndarray:
    """(M,) errors ordered from last-removed to first-removed -> (100,) mean of the kept ones at each x."""
    m = errors_in_removal_order.size
    kept = m - np.floor(FRACTIONS * m).astype(np.int64)  # >= 1 for x <= 0.99
    csum = np.cumsum(errors_in_removal_order)
    return csum[kept - 1] / kept


def sparsification_curves(error: np.ndarray, confidence: np.ndarray, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Curves of one image.

    Args:
        error: (M,) per-pixel error (AbsRel) of the evaluated pixels.
        confidence: (M,) confidence of the same pixels (higher = more confident; NaN counts as
            the least confident).
        seed: tie-break order.

    Returns:
        ``sparsification``, ``oracle``, ``random`` -- each (100,) float64, the AbsRel of the kept
        pixels after removing ``FRACTIONS[j]`` of them (``random`` is the expectation: flat).
    """
    e = np.asarray(error, np.float64).reshape(-1)
    c = np.asarray(confidence, np.float64).reshape(-1)
    if e.shape != c.shape:
        raise ValueError(f"error {e.shape} and confidence {c.shape} must have the same number of pixels")
    if e.size == 0:
        raise ValueError("no pixels: sparsification needs at least one evaluated pixel")
    c = np.where(np.isnan(c), -np.inf, c)
    perm = np.random.default_rng(seed).permutation(e.size)  # random order among equal confidences
    by_conf = perm[np.argsort(-c[perm], kind="stable")]  # most confident first
    return {
        "sparsification": _kept_means(e[by_conf]),
        "oracle": _kept_means(np.sort(e)),
        "random": np.full(FRACTIONS.size, e.mean()),
    }


def ause(curve: np.ndarray, oracle: np.ndarray) -> float:
    """Area between a (100,) curve and the oracle over ``x in [0, 1)`` (Riemann sum, dx = 0.01)."""
    return float(np.sum(np.asarray(curve) - np.asarray(oracle)) * (FRACTIONS[1] - FRACTIONS[0]))


class SparsificationAccumulator:
    """Sparsification curves per camera over an evaluation run.

    ``add(pred, gt, mask, confidence)`` takes one time step: pred, gt ``(V, H, W)`` metres, mask
    ``(V, H, W)`` bool (the evaluated pixels), confidence ``(V, H, W)`` in [0, 1] (or None: the
    step is not counted and :attr:`steps_without_confidence` says so). ``summary()`` returns::

        {"metric": "abs_rel", "fractions": [100], "per_camera": {cam: {"images", "sparsification",
         "oracle", "random" ([100] each), "ause", "ause_random", "ause_ratio", "better_than_random"}},
         "all": {"ause", "ause_random", "ause_ratio"}, "steps_without_confidence": n}
    """

    def __init__(self, cameras: Sequence[str], min_depth: float, max_depth: float, *,
                 min_pixels: int = MIN_PIXELS, seed: int = 0) -> None:
        self.cameras = list(cameras)
        self.lo, self.hi = float(min_depth), float(max_depth)
        self.min_pixels = int(min_pixels)
        self.seed = int(seed)
        self._sums = {c: {k: np.zeros(FRACTIONS.size) for k in ("sparsification", "oracle", "random")}
                      for c in self.cameras}
        self._images = {c: 0 for c in self.cameras}
        self.steps_without_confidence = 0

    def add(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, confidence: torch.Tensor | None) -> None:
        if confidence is None:
            self.steps_without_confidence += 1
            return
        if confidence.shape != pred.shape or pred.shape != gt.shape or gt.shape != mask.shape:
            raise ValueError(f"pred {tuple(pred.shape)}, gt {tuple(gt.shape)}, mask {tuple(mask.shape)} and "
                             f"confidence {tuple(confidence.shape)} must all be (V, H, W) of the same size")
        if pred.shape[0] != len(self.cameras):
            raise ValueError(f"{pred.shape[0]} images for {len(self.cameras)} cameras {self.cameras}")
        err = pixel_abs_rel(pred, gt, self.lo, self.hi)
        for v, cam in enumerate(self.cameras):
            m = mask[v]
            if int(m.sum()) < self.min_pixels:
                continue
            curves = sparsification_curves(err[v][m].numpy(), confidence[v][m].double().numpy(),
                                           seed=self.seed + self._images[cam])
            for k, arr in curves.items():
                self._sums[cam][k] += arr
            self._images[cam] += 1

    def summary(self) -> dict:
        per_cam = {}
        for cam in self.cameras:
            n = self._images[cam]
            if not n:
                continue
            curves = {k: s / n for k, s in self._sums[cam].items()}
            a, r = ause(curves["sparsification"], curves["oracle"]), ause(curves["random"], curves["oracle"])
            per_cam[cam] = {"images": n, **{k: v.tolist() for k, v in curves.items()}, "ause": a, "ause_random": r,
                            "ause_ratio": a / r if r > 0 else math.nan, "better_than_random": bool(a < r)}
        if per_cam:
            a = float(np.mean([v["ause"] for v in per_cam.values()]))
            r = float(np.mean([v["ause_random"] for v in per_cam.values()]))
            all_ = {"ause": a, "ause_random": r, "ause_ratio": a / r if r > 0 else math.nan}
        else:
            all_ = {"ause": math.nan, "ause_random": math.nan, "ause_ratio": math.nan}
        return {"metric": "abs_rel", "fractions": FRACTIONS.tolist(), "per_camera": per_cam, "all": all_,
                "steps_without_confidence": self.steps_without_confidence}


def verdict(camera_row: dict) -> str:
    """One sentence on whether a camera's confidence ranks its errors better than random."""
    a, r = camera_row["ause"], camera_row["ause_random"]
    if not r > 0:
        return "nothing to rank: every evaluated pixel has the same error (random AUSE 0)"
    if camera_row["better_than_random"]:
        return (f"ranks errors better than random (AUSE {a:.4f} vs {r:.4f}, "
                f"{100 * (1 - a / r):.0f} % of the random order's gap to the oracle closed)")
    return f"does NOT rank errors better than random (AUSE {a:.4f} >= random {r:.4f})"


def confidence_section(conf: dict | None) -> list[str]:
    """Markdown lines on the confidence: AUSE vs random per camera and a verdict in words."""
    md = ["## Confidence (sparsification, AbsRel)", ""]
    if not conf or not conf["per_camera"]:
        return md + ["No per-pixel confidence was evaluated: the model gives none (regression head, an export "
                     "without the confidence output) or the predictor returned none.", ""]
    md += ["Remove the least confident x % of the evaluated pixels of each image (x = 0..99) and take the "
           "AbsRel of the rest; the oracle removes by true error, a random order keeps the full AbsRel. "
           "AUSE = area between the curve and the oracle (lower is better); a confidence is meaningful only "
           "if its AUSE is below the random order's.", ""]
    md += md_table([(c, r["images"], f"{r['ause']:.4f}", f"{r['ause_random']:.4f}", f"{r['ause_ratio']:.3f}",
                   verdict(r)) for c, r in conf["per_camera"].items()],
                 ("camera", "images", "AUSE", "random AUSE", "AUSE / random", "verdict"))
    a = conf["all"]
    md += [f"| **all** | | **{a['ause']:.4f}** | **{a['ause_random']:.4f}** | **{a['ause_ratio']:.3f}** | |", ""]
    worse = [c for c, r in conf["per_camera"].items() if not r["better_than_random"] and r["ause_random"] > 0]
    flat = [c for c, r in conf["per_camera"].items() if not r["ause_random"] > 0]
    if worse:
        md.append(f"The confidence does NOT rank errors better than random for {', '.join(worse)}.")
    elif not flat:
        md.append("The confidence ranks errors better than random for every camera.")
    if flat:
        md.append(f"Nothing to rank for {', '.join(flat)}: every evaluated pixel has the same error.")
    if conf.get("steps_without_confidence"):
        md.append(f"({conf['steps_without_confidence']} evaluated steps came without a confidence.)")
    return md + [""]
