"""Top-down fusion decoder shared by all cameras (METHOD.md §1), also the ghost decoder's body.

Input: encoder pyramid ``[f4, f8, f16, f32]`` (B, C_l, ceil(H/s), ceil(W/s)).
Output: ``[d4, d8, d16, d32]`` with ``decoder_channels[l]`` channels at the same strides;
each level fuses the upsampled coarser decoder level with the encoder skip::

    d32 = ConvBNReLU3x3(f32)
    d_l = ConvBNReLU3x3(ConvBNReLU1x1([Upsample(d_{l+1}); f_l]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones.layers import ConvNormAct


class TopDownDecoder(nn.Module):
    """Decoder for encoder channels ``in_channels`` (strides 4..32) -> ``channels`` (strides 4..32)."""

    def __init__(self, in_channels: list[int], channels: list[int]) -> None:
        super().__init__()
        if len(in_channels) != 4 or len(channels) != 4:
            raise ValueError("TopDownDecoder expects 4 pyramid levels")
        self.in_channels = list(in_channels)
        self.channels = list(channels)
        self.top = ConvNormAct(in_channels[3], channels[3], 3)
        self.fuse = nn.ModuleList(ConvNormAct(channels[l + 1] + in_channels[l], channels[l], 1) for l in range(3))
        self.refine = nn.ModuleList(ConvNormAct(channels[l], channels[l], 3) for l in range(3))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.top(features[3])
        out = [x]
        for l in (2, 1, 0):
            skip = features[l]
            up = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.refine[l](self.fuse[l](torch.cat([up, skip], dim=1)))
            out.append(x)
        return out[::-1]
