"""MobileNetV2 (Sandler et al. 2018); names match ``torchvision.models.mobilenet_v2``.

Pyramid: ``features.3`` (24 ch, /4), ``features.6`` (32, /8), ``features.13`` (96, /16),
``features.17`` (320, /32). ``features.18`` (1x1 -> 1280) and ``classifier`` are not built.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvNormAct
from .registry import register_backbone
from .sequential import SequentialBackbone, init_weights


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 project, residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(inp, hidden, 1, activation_layer=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, activation_layer=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


@register_backbone("mobilenetv2")
def mobilenetv2() -> SequentialBackbone:
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
    layers: list[nn.Module] = [ConvNormAct(3, 32, 3, 2, activation_layer=nn.ReLU6)]
    inp = 32
    for t, c, n, s in setting:
        for i in range(n):
            layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
            inp = c
    model = SequentialBackbone("mobilenetv2", layers, taps=[3, 6, 13, 17], channels=[24, 32, 96, 320])
    init_weights(model)
    return model
