"""Attentive feature distillation (DisDepth), METHOD.md §4.

The teacher's spatial attention ``M = softmax_hw(mean_c |T|^p / tau)`` says where its
features carry the most energy; the student is pulled towards the (channel-normalised)
teacher features mostly there, plus an attention-transfer term ``|M_s - M_t|_1``. With
``attentive=False`` the weights are uniform: plain feature KD, the ablation baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def spatial_attention(features: torch.Tensor, *, tau: float, p: float = 2.0) -> torch.Tensor:
    """Attention map ``(B, h, w)`` summing to 1 over h*w, from features ``(B, C, h, w)``.

    The channel mean of ``|F|^p`` is standardised per image before the softmax so that
    ``tau`` means the same at every level and scale.
    """
    B, _, h, w = features.shape
    energy = features.abs().pow(p).mean(1).reshape(B, h * w)
    energy = (energy - energy.mean(-1, keepdim=True)) / (energy.std(-1, keepdim=True) + 1e-6)
    return torch.softmax(energy / tau, dim=-1).reshape(B, h, w)


def _normalise_channels(f: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per image and channel: zero mean, unit variance over h*w. ``(B, C, h, w)``."""
    mean = f.mean((2, 3), keepdim=True)
    std = f.std((2, 3), keepdim=True)
    return (f - mean) / (std + eps)


def attentive_kd_loss(
    student: Sequence[torch.Tensor],
    teacher: Sequence[torch.Tensor],
    *,
    tau: float,
    attention_transfer: float,
    attentive: bool = True,
    p: float = 2.0,
    pixel_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum over levels of the attention-weighted feature distance.

    student, teacher: per level ``(B, C, h, w)`` with equal shapes (the student side has
    been through its 1x1 projector, the teacher side through the acclimation adapters).
    ``pixel_weight`` (B, H, W), optional, e.g. a depth-gradient map, is resized to each
    level and multiplies the teacher attention (renormalised). Per level::

        L = mean_hw( HW * M(h, w) * |S_hat - T_hat|^2 / C )  (+ attention_transfer * |M_s - M_t|_1)

    averaged over the batch: METHOD.md's sum divided by HW, so that uniform ``M = 1/HW``
    (``attentive=False``) gives exactly the mean squared distance of normalised features
    and the plain and attentive variants share one scale.
    """
    if len(student) != len(teacher):
        raise ValueError(f"attentive_kd_loss: {len(student)} student levels vs {len(teacher)} teacher levels")
    total = student[0].new_zeros((), dtype=torch.float32)
    for level, (s, t) in enumerate(zip(student, teacher)):
        if s.shape != t.shape:
            raise ValueError(f"attentive_kd_loss: level {level} shapes differ: student {tuple(s.shape)}, teacher {tuple(t.shape)}")
        B, C, h, w = s.shape
        s, t = s.float(), t.detach().float()  # fp32 even under autocast
        dist = (_normalise_channels(s) - _normalise_channels(t)).pow(2).sum(1) / C  # (B, h, w)
        if attentive:
            m_t = spatial_attention(t, p=p, tau=tau)
            if pixel_weight is not None:
                pw = F.interpolate(pixel_weight[:, None].to(m_t.dtype), size=(h, w), mode="area")[:, 0]
                m_t = m_t * pw
                m_t = m_t / m_t.sum((1, 2), keepdim=True).clamp_min(1e-12)
            level_loss = (m_t * dist).sum((1, 2)).mean()  # = mean_hw(HW * M * dist)
            if attention_transfer > 0:
                m_s = spatial_attention(s, p=p, tau=tau)
                level_loss = level_loss + attention_transfer * (m_s - m_t).abs().sum((1, 2)).mean()
        else:
            level_loss = dist.mean()
        total = total + level_loss
    return total
