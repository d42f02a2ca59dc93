"""RegNetY-400MF / 800MF (Radosavovic et al. 2020); names match ``torchvision.models.regnet_y_*``
(``stem``, ``trunk_output.block1..4.block{i}-{j}.f.{a,b,se,c}``, ``proj``); ``fc`` is unused.
Pyramid: ``trunk_output.block1..block4`` at strides 4/8/16/32.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from .base import Backbone
from .layers import ConvNormAct, SqueezeExcitation
from .registry import register_backbone


class BottleneckTransform(nn.Sequential):
    """1x1 (a) -> grouped 3x3 (b) -> SE -> 1x1 (c)."""

    def __init__(self, width_in: int, width_out: int, stride: int, group_width: int, se_ratio: float) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["a"] = ConvNormAct(width_in, width_out, 1)
        layers["b"] = ConvNormAct(width_out, width_out, 3, stride, groups=width_out // group_width)
        layers["se"] = SqueezeExcitation(width_out, int(round(se_ratio * width_in)))
        layers["c"] = ConvNormAct(width_out, width_out, 1, activation_layer=None)
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    """``relu(proj(x) + f(x))`` with a 1x1 projection when the shape changes."""

    def __init__(self, width_in: int, width_out: int, stride: int, group_width: int, se_ratio: float) -> None:
        super().__init__()
        self.proj = None
        if width_in != width_out or stride != 1:
            self.proj = ConvNormAct(width_in, width_out, 1, stride, activation_layer=None)
        self.f = BottleneckTransform(width_in, width_out, stride, group_width, se_ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class RegNet(Backbone):
    """RegNetY with explicit per-stage widths and depths (torchvision's generated values)."""

    pretrained_ignore_prefixes = ("fc.",)

    def __init__(self, name: str, widths: list[int], depths: list[int], group_width: int, se_ratio: float = 0.25):
        super().__init__()
        self.name = name
        self.stem = ConvNormAct(3, 32, 3, 2)
        blocks = []
        w_in = 32
        for i, (w, d) in enumerate(zip(widths, depths)):
            stage = nn.Sequential()
            for j in range(d):
                stage.add_module(
                    f"block{i + 1}-{j}", ResBottleneckBlock(w_in if j == 0 else w, w, 2 if j == 0 else 1, group_width, se_ratio)
                )
            blocks.append((f"block{i + 1}", stage))
            w_in = w
        self.trunk_output = nn.Sequential(OrderedDict(blocks))
        self.feature_channels = list(widths)
        self.feature_strides = [4, 8, 16, 32]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))

    def stages(self) -> list[list[nn.Module]]:
        return [[stage] for stage in self.trunk_output]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for stage in self.trunk_output:
            x = stage(x)
            out.append(x)
        return out


@register_backbone("regnet_y_400mf")
def regnet_y_400mf() -> RegNet:
    return RegNet("regnet_y_400mf", [48, 104, 208, 440], [1, 3, 6, 6], group_width=8)


@register_backbone("regnet_y_800mf")
def regnet_y_800mf() -> RegNet:
    return RegNet("regnet_y_800mf", [64, 144, 320, 784], [1, 3, 8, 2], group_width=16)
