"""Depth heads on the decoder output (METHOD.md §1). Both return depth in metres at stride 4.

- :class:`DepthBinHead` (AdaBins-style): per-pixel logits over N bins (1x1 conv) from the finest decoder
  level; per-image bin widths ``w = (d_max - d_min) * softmax(MLP(GAP(d32)))`` from the coarsest;
  centres from cumulative widths; depth ``sum_i p_i c_i``. With ``gaps`` the MLP predicts N + 2 widths and
  the first and last are unused gaps, so the centres may span any sub-range of ``[d_min, d_max]``: without
  them the first bin starts at d_min and the last ends at d_max, so the first centre is at least half the
  first bin's width above d_min (a first centre at 3 m forces the second above 5.5 m). With
  ``spacing="log"`` the widths partition ``[log d_min, log d_max]`` and the centres are
  ``exp(edge - w / 2)`` (geometric bin centres).
- :class:`RegressionHead` (ablation): ``d_min + (d_max - d_min) * sigmoid(conv1x1(d4))`` (METHOD says
  ``sigmoid * d_max``; the offset keeps both heads inside the same [d_min, d_max]).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Width floor: keeps every bin strictly wider than zero, so centres strictly increase.
_WIDTH_EPS = 1e-3


def bin_centres_from_width_logits(width_logits: torch.Tensor, d_min: float, d_max: float, *, gaps: bool = False,
                                  spacing: str = "metric") -> torch.Tensor:
    """Width logits (B, N, or N + 2 with ``gaps``) -> bin centres (B, N) in metres, strictly increasing.

    Softmax widths (floored at ``_WIDTH_EPS``) partition ``[d_min, d_max]`` (metres) or
    ``[log d_min, log d_max]`` (``spacing="log"``); centres are the bins' midpoints there.
    With ``gaps`` the first and last widths are unused gaps.
    """
    w = torch.softmax(width_logits, dim=1)
    n = w.shape[1]
    lo, hi = (math.log(d_min), math.log(d_max)) if spacing == "log" else (d_min, d_max)
    w = (w + _WIDTH_EPS) / (1.0 + n * _WIDTH_EPS) * (hi - lo)
    edges = lo + torch.cumsum(w, dim=1)  # right edges, last == hi
    centres = edges - 0.5 * w
    if spacing == "log":
        centres = torch.exp(centres)
    return centres[:, 1:-1] if gaps else centres


class DepthBinHead(nn.Module):
    """Adaptive depth bins.

    ``forward(decoder_features)`` -> dict: ``depth`` (B, h, w) metres, ``bin_logits`` and
    ``bin_probs`` (B, N, h, w), ``bin_centers`` (B, N) metres, strictly increasing, inside
    ``(d_min, d_max)``; h, w = the finest decoder level (stride 4).
    """

    def __init__(self, channels: list[int], num_bins: int, d_min: float, d_max: float, *, gaps: bool = False,
                 spacing: str = "metric") -> None:
        super().__init__()
        if spacing not in ("metric", "log"):
            raise ValueError(f"DepthBinHead: spacing must be 'metric' or 'log', got {spacing!r}")
        self.num_bins = num_bins
        self.gaps = bool(gaps)
        self.spacing = spacing
        self.d_min = float(d_min)
        self.d_max = float(d_max)
        # The decoder ends in a 3x3 conv-BN-ReLU at stride 4, so a 1x1 conv suffices here (cheap at H/4).
        self.logits = nn.Conv2d(channels[0], num_bins, 1)
        hidden = max(64, channels[3])
        self.widths = nn.Sequential(nn.Linear(channels[3], hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_bins + 2 * self.gaps))

    def bin_centers(self, coarse: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) coarsest decoder feature -> (B, N) centres in metres."""
        return bin_centres_from_width_logits(self.widths(coarse.mean(dim=(2, 3))), self.d_min, self.d_max,
                                             gaps=self.gaps, spacing=self.spacing)

    def forward(self, decoder_features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        # fp32 under autocast: bf16 centres/probabilities quantise the depth (1-3 % error, a few
        # hundred distinct values per map), and every loss downstream needs fp32 (METHOD §10)
        with torch.autocast(device_type=decoder_features[0].device.type, enabled=False):
            fine = decoder_features[0].float()
            logits = self.logits(fine)
            probs = torch.softmax(logits, dim=1)
            centers = self.bin_centers(decoder_features[3].float())
            depth = torch.einsum("bnhw,bn->bhw", probs, centers)
        return {"depth": depth, "bin_logits": logits, "bin_probs": probs, "bin_centers": centers}


class RegressionHead(nn.Module):
    """Plain regression: ``forward(decoder_features)`` -> dict ``depth`` (B, h, w) metres in [d_min, d_max]."""

    def __init__(self, channels: list[int], d_min: float, d_max: float) -> None:
        super().__init__()
        self.d_min = float(d_min)
        self.d_max = float(d_max)
        self.out = nn.Conv2d(channels[0], 1, 1)

    def forward(self, decoder_features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.autocast(device_type=decoder_features[0].device.type, enabled=False):
            x = torch.sigmoid(self.out(decoder_features[0].float()))[:, 0]
        return {"depth": self.d_min + (self.d_max - self.d_min) * x}


def build_head(cfg, channels: list[int]) -> nn.Module:
    """The head named by ``cfg.head`` (a ModelConfig)."""
    if cfg.head == "bins":
        return DepthBinHead(channels, cfg.num_bins, cfg.d_min, cfg.d_max, gaps=cfg.bin_gaps, spacing=cfg.bin_spacing)
    return RegressionHead(channels, cfg.d_min, cfg.d_max)


def upsample_depth(depth: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """(B, h, w) -> (B, H, W) bilinear (depth is linear in the bin probabilities, so this equals
    upsampling the probabilities first)."""
    return F.interpolate(depth[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
