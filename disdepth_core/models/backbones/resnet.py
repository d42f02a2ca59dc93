"""ResNet-18/34 (He et al. 2016) as a 4-level feature pyramid; module names match torchvision's
``torchvision.models.resnet18/34`` (``conv1``, ``bn1``, ``layer1``..``layer4``); ``fc`` is unused.
timm's ``resnet18``/``resnet34`` use the same key names, so their state dicts load too.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone
from .registry import register_backbone


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(Backbone):
    """ResNet with BasicBlocks: levels ``layer1..layer4`` at strides 4/8/16/32."""

    pretrained_ignore_prefixes = ("fc.",)

    def __init__(self, name: str, layers: list[int], widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.name = name
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = [BasicBlock(inplanes, w, 1 if i == 0 else 2)] + [BasicBlock(w, w) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = w
        self.feature_channels = list(widths)
        self.feature_strides = [4, 8, 16, 32]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[list[nn.Module]]:
        return [[self.layer1], [self.layer2], [self.layer3], [self.layer4]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c1, c2, c3, c4]


@register_backbone("resnet18")
def resnet18() -> ResNet:
    return ResNet("resnet18", [2, 2, 2, 2])


@register_backbone("resnet34")
def resnet34() -> ResNet:
    return ResNet("resnet34", [3, 4, 6, 3])
