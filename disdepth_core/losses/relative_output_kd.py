"""Output KD from a relative-depth teacher (METHOD §3's optional ``L_out``, our design).

A foundation teacher's output is disparity up to an unknown per-image scale and shift, so
only its *structure* can be transferred: both the teacher's output and the student's
disparity ``1 / depth`` are normalised per image to zero median and unit mean absolute
deviation (MiDaS' scale-and-shift-invariant normalisation), and the loss is the mean
absolute difference. It is invariant to any positive affine change of the teacher and to
any global scale of the student, so metric scale still comes from the labels alone; it
applies to every frame, labelled or not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssi_normalise(x: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """``(B, H, W)`` -> per image ``(x - median) / mean|x - median|`` over ``valid`` (all if None)."""
    B = x.shape[0]
    flat = x.reshape(B, -1)
    v = torch.ones_like(flat, dtype=torch.bool) if valid is None else valid.reshape(B, -1)
    out = []
    for b in range(B):
        xb = flat[b]
        sel = xb[v[b]] if bool(v[b].any()) else xb
        med = sel.median()
        mad = (sel - med).abs().mean().clamp_min(eps)
        out.append((xb - med) / mad)
    return torch.stack(out).reshape(x.shape)


def relative_output_kd_loss(
    student_depth: torch.Tensor,
    teacher_output: torch.Tensor,
    *,
    teacher_is_disparity: bool = True,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean ``|N(1/d_s) - N(r_t)|`` with ``N`` = :func:`ssi_normalise`.

    student_depth: (B, H, W) metres (grad flows into it); teacher_output: (B, h, w) the
    teacher's relative output (resized to the student's size); ``teacher_is_disparity``
    False means the teacher output grows with depth (it is inverted first). ``valid``
    (B, H, W) optionally restricts the pixels (default: all, sky included: ordering holds).
    """
    d = student_depth.float()
    t = teacher_output.detach().float()
    if t.shape[-2:] != d.shape[-2:]:
        t = F.interpolate(t[:, None], size=d.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    if not teacher_is_disparity:
        t = 1.0 / t.clamp_min(1e-6)
    s_disp = 1.0 / d.clamp_min(1e-3)
    err = (ssi_normalise(s_disp, valid) - ssi_normalise(t, valid)).abs()
    if valid is not None:
        return (err * valid).sum() / valid.sum().clamp_min(1)
    return err.mean()
