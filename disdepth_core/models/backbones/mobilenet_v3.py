"""MobileNetV3-Large (Howard et al. 2019); names match ``torchvision.models.mobilenet_v3_large``.

Pyramid: ``features.3`` (24 ch, /4), ``features.6`` (40, /8), ``features.12`` (112, /16),
``features.15`` (160, /32). ``features.16`` (1x1 -> 960) and ``classifier`` are not built.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .layers import ConvNormAct, SqueezeExcitation, make_divisible
from .registry import register_backbone
from .sequential import SequentialBackbone, init_weights

_BN = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


class InvertedResidualV3(nn.Module):
    """1x1 expand -> kxk depthwise -> [SE, hard-sigmoid] -> 1x1 project (ReLU or Hardswish)."""

    def __init__(self, inp: int, kernel: int, expanded: int, out: int, use_se: bool, act: str, stride: int) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and inp == out
        act_layer = nn.Hardswish if act == "HS" else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(ConvNormAct(inp, expanded, 1, norm_layer=_BN, activation_layer=act_layer))
        layers.append(ConvNormAct(expanded, expanded, kernel, stride, expanded, norm_layer=_BN, activation_layer=act_layer))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4, 8), scale_activation=nn.Hardsigmoid))
        layers.append(ConvNormAct(expanded, out, 1, norm_layer=_BN, activation_layer=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        return result + x if self.use_res_connect else result


@register_backbone("mobilenetv3_large")
def mobilenetv3_large() -> SequentialBackbone:
    # input, kernel, expanded, out, SE, activation, stride (torchvision's table)
    setting = [
        (16, 3, 16, 16, False, "RE", 1),
        (16, 3, 64, 24, False, "RE", 2),
        (24, 3, 72, 24, False, "RE", 1),
        (24, 5, 72, 40, True, "RE", 2),
        (40, 5, 120, 40, True, "RE", 1),
        (40, 5, 120, 40, True, "RE", 1),
        (40, 3, 240, 80, False, "HS", 2),
        (80, 3, 200, 80, False, "HS", 1),
        (80, 3, 184, 80, False, "HS", 1),
        (80, 3, 184, 80, False, "HS", 1),
        (80, 3, 480, 112, True, "HS", 1),
        (112, 3, 672, 112, True, "HS", 1),
        (112, 5, 672, 160, True, "HS", 2),
        (160, 5, 960, 160, True, "HS", 1),
        (160, 5, 960, 160, True, "HS", 1),
    ]
    layers: list[nn.Module] = [ConvNormAct(3, 16, 3, 2, norm_layer=_BN, activation_layer=nn.Hardswish)]
    layers += [InvertedResidualV3(*cfg) for cfg in setting]
    model = SequentialBackbone("mobilenetv3_large", layers, taps=[3, 6, 12, 15], channels=[24, 40, 112, 160])
    init_weights(model)
    return model
