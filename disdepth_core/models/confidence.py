"""Per-pixel depth confidence from the bin head's distribution (issue 14).

The bin head (:class:`~disdepth_core.models.heads.DepthBinHead`) predicts, per pixel, probabilities
``p_i`` over per-image bin centres ``c_i`` and reports the mean ``d = sum_i p_i c_i``. The
confidence falls with the distribution's **relative spread**::

    sigma = sqrt(sum_i p_i (c_i - d)^2)       (metres, the standard deviation of the distribution)
    confidence = 1 / (1 + sigma / d)          (in (0, 1]; 1 = all mass at d; 0.5 = sigma equals d)

It was chosen by measurement (``benchmarks/confidence_methods.py``) on a validation drive that
is neither training data nor the drive the numbers in ``docs/eval_bag.md`` are reported on
(world seed 515151, shipped student): sparsification AUSE 0.072 against 0.123 for a random
order, where the probability mass within +-5/10/20 % of ``d`` (0.195-0.201), ``1 - normalised
entropy`` (0.224), the maximum bin probability (0.226) and the absolute spread (0.218) all
ranked errors *worse* than random there (a peaked distribution is no sign of a right answer
for this student). Part of the ranking comes from depth alone (far pixels of these streets
have the lower AbsRel: "farther = more confident" scores 0.095), but the relative spread beats
that overall and clearly on CAM_FRONT_RIGHT (0.076 vs 0.188).

A distilled student's distribution carries no error information by itself (output KD trains only
its mean); ``distill.confidence_weight`` trains :func:`relative_spread` towards the label's
``|log d - log label|`` (:mod:`disdepth_core.losses.spread_calibration`), after which this same
rule ranks the errors (``docs/eval_bag.md``).

Resolution: computed where the distribution lives (stride 4), then upsampled bilinearly with
the depth to the network input size (:class:`DepthWithConfidence`), and from there resized
exactly as depth is by the runtime's post-processing. A regression head has no distribution and
so no confidence (:func:`has_confidence` is False; engines then report ``None``).
"""

from __future__ import annotations

import torch
from torch import nn

from .heads import DepthBinHead, upsample_depth


def relative_spread(probs: torch.Tensor, centers: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """``sigma / depth``, sigma the standard deviation of the bin distribution (differentiable).

    Args:
        probs: (B, N, h, w) bin probabilities (sum 1 over N).
        centers: (B, N) bin centres, metres.
        depth: (B, h, w) predicted depth, metres (the head's ``sum_i p_i c_i``; > 0).

    Returns:
        (B, h, w) float32 >= 0 (dimensionless).
    """
    if probs.dim() != 4 or centers.shape != probs.shape[:2] or depth.shape != (probs.shape[0], *probs.shape[2:]):
        raise ValueError(f"probs (B, N, h, w), centers (B, N), depth (B, h, w) expected, got "
                         f"{tuple(probs.shape)}, {tuple(centers.shape)}, {tuple(depth.shape)}")
    p = probs.float()
    d = depth.float()
    var = (p * (centers.float()[:, :, None, None] - d[:, None]) ** 2).sum(dim=1)
    # sqrt has an infinite derivative at 0: the floor keeps a one-hot distribution's gradient finite
    return var.clamp_min(1e-12).sqrt() / d.clamp_min(1e-6)


def bin_confidence(probs: torch.Tensor, centers: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + sigma / depth)`` (:func:`relative_spread`): (B, h, w) float32 in [0, 1] from
    probs (B, N, h, w), centres (B, N) metres and depth (B, h, w) metres."""
    return (1.0 / (1.0 + relative_spread(probs, centers, depth))).clamp(0.0, 1.0)


def has_confidence(model: nn.Module) -> bool:
    """Whether ``model`` (a ``DepthStudent``) has a bin head, the only source of a confidence."""
    return isinstance(getattr(model, "head", None), DepthBinHead)


class DepthWithConfidence(nn.Module):
    """``forward(x)`` of a bin-head student -> ``(depth, confidence)``, both (B, H, W) float32 at the
    input size: depth in metres (identical to ``student(x)``), confidence in [0, 1].

    The module the engines run and the ONNX export traces (two outputs); no Python control flow
    on tensor values.
    """

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        if not has_confidence(student):
            raise ValueError(f"confidence needs a bin head; this student has {type(student.head).__name__}")
        self.student = student

    @property
    def config(self):
        return self.student.config

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.student(x, return_aux=True)
        conf = bin_confidence(out["bin_probs"], out["bin_centers"], out["depth_lowres"])
        conf = upsample_depth(conf, x.shape[-2:]).clamp(0.0, 1.0)
        return out["depth"], conf
