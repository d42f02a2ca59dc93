"""Scale-invariant logarithmic depth loss (SILog, Eigen et al.), METHOD.md §7."""

from __future__ import annotations

import torch


def silog_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    *,
    variance_focus: float = 0.85,
    scale: float = 10.0,
    eps: float = 1e-6,
) -> torch.Tensor:
    """SILog over valid pixels, averaged over images that have any.

    pred, target: (B, H, W) metres (any leading dims are flattened into B); valid:
    (B, H, W) bool. With ``g = log pred - log target`` per image:
    ``scale * sqrt(mean(g^2) - variance_focus * mean(g)^2)``, i.e.
    ``10 * sqrt(Var(g) + 0.15 mean(g)^2)`` for the defaults. Returns a scalar; zero (with
    a gradient path) when no pixel is valid.
    """
    H, W = pred.shape[-2:]
    pred = pred.reshape(-1, H * W).float()  # fp32 even under autocast
    target = target.reshape(-1, H * W).float()
    valid = valid.reshape(-1, H * W) & (target > eps)
    g = torch.log(pred.clamp_min(eps)) - torch.log(target.clamp_min(eps))
    g = torch.where(valid, g, torch.zeros_like(g))
    n = valid.sum(-1)
    has = n > 0
    if not bool(has.any()):
        return pred.sum() * 0.0
    n = n.clamp_min(1).to(g.dtype)
    mean = g.sum(-1) / n
    mean_sq = (g * g).sum(-1) / n
    per_image = scale * torch.sqrt((mean_sq - variance_focus * mean * mean).clamp_min(1e-10))
    return per_image[has].mean()
