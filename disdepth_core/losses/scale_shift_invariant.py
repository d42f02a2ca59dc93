"""Scale-and-shift-invariant disparity loss (MiDaS-style), for relative-depth teachers.

A foundation model predicts disparity up to an unknown per-image scale and shift. Per
image, the least-squares ``s, t`` aligning the prediction to the ground-truth disparity
``1 / depth`` are solved in closed form, then the mean absolute residual is the loss.
"""

from __future__ import annotations

import torch


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image least-squares ``(s, t)`` ``(B,)`` minimising ``|s * pred + t - target|^2`` on valid pixels."""
    B = pred.shape[0]
    p = pred.reshape(B, -1)
    g = target.reshape(B, -1)
    m = valid.reshape(B, -1).to(p.dtype)
    a00 = (m * p * p).sum(-1)
    a01 = (m * p).sum(-1)
    a11 = m.sum(-1)
    b0 = (m * p * g).sum(-1)
    b1 = (m * g).sum(-1)
    det = a00 * a11 - a01 * a01
    ok = det.abs() > 1e-12
    det = torch.where(ok, det, torch.ones_like(det))
    s = torch.where(ok, (a11 * b0 - a01 * b1) / det, torch.ones_like(det))
    t = torch.where(ok, (-a01 * b0 + a00 * b1) / det, torch.zeros_like(det))
    return s, t


def ssi_disparity_loss(pred_disparity: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |s*pred + t - 1/depth| over valid pixels after per-image alignment.

    pred_disparity: (B, H, W) relative disparity; depth/valid: (B, H, W) metric GT.
    The GT disparity is normalised per image by its median so that the loss does not
    depend on the scene's absolute scale.
    """
    valid = valid & (depth > 0)
    disp = torch.where(valid, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    B = depth.shape[0]
    med = torch.stack([disp[b][valid[b]].median() if valid[b].any() else disp.new_ones(()) for b in range(B)])
    disp = disp / med.clamp_min(1e-6)[:, None, None]
    s, t = align_scale_shift(pred_disparity.float(), disp.float(), valid)
    aligned = s[:, None, None] * pred_disparity + t[:, None, None]
    err = torch.where(valid, (aligned - disp).abs(), torch.zeros_like(disp))
    n = valid.sum().clamp_min(1)
    return err.sum() / n
