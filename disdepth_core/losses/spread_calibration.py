"""Spread calibration: train the bin distribution's spread to predict the depth error (our design).

The published confidence is ``1 / (1 + s)`` with ``s = sigma / d`` the relative spread of the bin
head's distribution (:mod:`disdepth_core.models.confidence`). Nothing in the depth losses ties
``s`` to the error: SILog and output KD train the *expected* depth ``d = sum_i p_i c_i`` and leave
the distribution's shape free, and for the distilled student that shape came out carrying no error
information (``docs/eval_bag.md``). This term gives it one, on the labelled pixels only (the only
place the error is known)::

    r = |log d - log d_label|        (detached: this term does not train the depth itself)
    L = mean over label pixels of |s - r|

The minimiser of ``E|s - r|`` is the conditional median of ``r``, so ``s`` learns to be the
typical log error a pixel like this has, and ``1 / (1 + s)`` falls where the errors are large:
what a sparsification curve measures. L1 keeps the gradient bounded (one LiDAR outlier moves
``s`` no more than any other pixel), unlike a Laplace likelihood ``r / s + log s``, whose
gradient ``1/s - r/s^2`` is unbounded as ``s`` goes to 0.

Only the per-pixel probabilities are shaped: the bin centres (one set per image, shared by every
pixel) are detached here, so the term cannot move them. Where: ``s`` is computed where the distribution lives (stride 4) and upsampled bilinearly to the
label resolution, exactly as the deployed confidence is (``DepthWithConfidence``); ``r`` uses the
full-resolution depth the product publishes.
"""

from __future__ import annotations

import torch

from ..models.confidence import relative_spread
from ..models.heads import upsample_depth


def spread_calibration_loss(
    bin_probs: torch.Tensor,
    bin_centers: torch.Tensor,
    depth: torch.Tensor,
    label_depth: torch.Tensor,
    label_valid: torch.Tensor,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Mean ``|sigma/d - |log d - log d_label||`` over the label pixels (scalar, fp32).

    Args:
        bin_probs: (B, N, h, w) bin probabilities; bin_centers: (B, N) metres;
        depth: (B, H, W) metres, the published (upsampled) depth;
        label_depth: (B, H, W) metres; label_valid: (B, H, W) bool.

    Returns a scalar; zero with a gradient path when there is no label pixel.
    """
    if depth.shape != label_depth.shape or label_valid.shape != label_depth.shape:
        raise ValueError(f"depth, label_depth and label_valid must have one shape (B, H, W), got "
                         f"{tuple(depth.shape)}, {tuple(label_depth.shape)}, {tuple(label_valid.shape)}")
    # the centres are per image and shared by every pixel: only the per-pixel probabilities are shaped
    c = bin_centers.detach().float()
    s = relative_spread(bin_probs, c, torch.einsum("bnhw,bn->bhw", bin_probs.float(), c))
    s = upsample_depth(s, tuple(depth.shape[-2:]))
    valid = label_valid & (label_depth > eps)
    if not bool(valid.any()):
        return s.sum() * 0.0
    r = (torch.log(depth.detach().float().clamp_min(eps)) - torch.log(label_depth.float().clamp_min(eps))).abs()
    return (s[valid] - r[valid]).abs().mean()
