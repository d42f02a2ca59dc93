"""EfficientNet-B0 (Tan & Le 2019); names match ``torchvision.models.efficientnet_b0``.

Pyramid: ``features.2`` (24 ch, /4), ``features.3`` (40, /8), ``features.5`` (112, /16),
``features.7`` (320, /32). ``features.8`` (1x1 -> 1280) and ``classifier`` are not built.
Stochastic depth (training-time regularisation in torchvision) is not used.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct, SqueezeExcitation
from .registry import register_backbone
from .sequential import SequentialBackbone, init_weights


class MBConv(nn.Module):
    """1x1 expand (SiLU) -> kxk depthwise (SiLU) -> SE -> 1x1 project, residual when shapes allow."""

    def __init__(self, expand_ratio: int, kernel: int, stride: int, inp: int, out: int) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        expanded = inp * expand_ratio
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(ConvNormAct(inp, expanded, 1, activation_layer=nn.SiLU))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, expanded, activation_layer=nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, inp // 4), activation=nn.SiLU))
        layers.append(ConvNormAct(expanded, out, 1, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        return result + x if self.use_res_connect else result


@register_backbone("efficientnet_b0")
def efficientnet_b0() -> SequentialBackbone:
    # expand ratio, kernel, stride, in, out, repeats (torchvision's B0 table)
    setting = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
               (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]  # fmt: skip
    layers: list[nn.Module] = [ConvNormAct(3, 32, 3, 2, activation_layer=nn.SiLU)]
    for t, k, s, inp, out, n in setting:
        stage = [MBConv(t, k, s if i == 0 else 1, inp if i == 0 else out, out) for i in range(n)]
        layers.append(nn.Sequential(*stage))
    model = SequentialBackbone("efficientnet_b0", layers, taps=[2, 3, 5, 7], channels=[24, 40, 112, 320])
    init_weights(model)
    return model
