"""Scale-and-shift-invariant disparity losses (MiDaS-style), for relative-depth teachers.

A foundation model predicts disparity up to an unknown per-image scale and shift. Per
image, the least-squares ``s, t`` aligning the prediction to the ground-truth disparity
``1 / depth`` are solved in closed form, then a residual is the loss:

- :func:`ssi_disparity_loss`: the mean absolute residual (MiDaS). Disparity is large only
  near the camera, so on a street this loss is almost all road surface: a far building
  with its depth wrong by 50 % moves it less than a few centimetres of error on the road
  in front of the car.
- :func:`ssi_relative_disparity_loss`: the residual relative to the target disparity,
  ``|s*p + t - g| / g`` (with ``s, t`` fitted by least squares weighted ``1/g^2``), which is
  to first order the relative depth error ``|dz| / z``: every distance counts alike, as in
  the AbsRel the teacher is judged by. The output is still affine-invariant disparity.
"""

from __future__ import annotations

import torch


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                      weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image least-squares ``(s, t)`` ``(B,)`` minimising ``sum w |s * pred + t - target|^2`` on valid
    pixels (``weight`` (B, H, W), default 1)."""
    B = pred.shape[0]
    p = pred.reshape(B, -1)
    g = target.reshape(B, -1)
    m = valid.reshape(B, -1).to(p.dtype)
    if weight is not None:
        m = m * weight.reshape(B, -1).to(p.dtype)
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


def _median_normalised_disparity(depth: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GT disparity (B, H, W) divided per image by its median (so the loss ignores the scene's scale), and
    the valid mask with non-positive depths removed."""
    valid = valid & (depth > 0)
    disp = torch.where(valid, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    B = depth.shape[0]
    med = torch.stack([disp[b][valid[b]].median() if valid[b].any() else disp.new_ones(()) for b in range(B)])
    return disp / med.clamp_min(1e-6)[:, None, None], valid


def ssi_disparity_loss(pred_disparity: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |s*pred + t - 1/depth| over valid pixels after per-image alignment.

    pred_disparity: (B, H, W) relative disparity; depth/valid: (B, H, W) metric GT.
    The GT disparity is normalised per image by its median so that the loss does not
    depend on the scene's absolute scale.
    """
    disp, valid = _median_normalised_disparity(depth, valid)
    s, t = align_scale_shift(pred_disparity.float(), disp.float(), valid)
    aligned = s[:, None, None] * pred_disparity.float() + t[:, None, None]
    err = torch.where(valid, (aligned - disp).abs(), torch.zeros_like(disp))
    n = valid.sum().clamp_min(1)
    return err.sum() / n


def ssi_relative_disparity_loss(pred_disparity: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |s*pred + t - g| / g over valid pixels, g = 1/depth, after per-image alignment weighted 1/g^2.

    Shapes as :func:`ssi_disparity_loss`. Unitless; to first order the mean relative depth error.
    """
    disp, valid = _median_normalised_disparity(depth, valid)
    inv = torch.where(valid, 1.0 / disp.clamp_min(1e-6), torch.zeros_like(disp))
    s, t = align_scale_shift(pred_disparity.float(), disp.float(), valid, weight=inv * inv)
    aligned = s[:, None, None] * pred_disparity.float() + t[:, None, None]
    err = torch.where(valid, (aligned - disp).abs() * inv, torch.zeros_like(disp))
    n = valid.sum().clamp_min(1)
    return err.sum() / n


SSI_LOSSES = {"ssi_disparity": ssi_disparity_loss, "ssi_relative": ssi_relative_disparity_loss}
