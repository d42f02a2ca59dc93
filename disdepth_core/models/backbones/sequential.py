"""A backbone whose layers form one ``features`` Sequential (MobileNet, EfficientNet layout),
tapped after given indices to form the pyramid."""

from __future__ import annotations

import torch
from torch import nn

from .base import Backbone


class SequentialBackbone(Backbone):
    """``features[0..taps[-1]]``; level ``l`` is the output of ``features[taps[l]]``.

    Torchvision's last 1x1 expansion conv (``features.{taps[-1]+1}``) and the classifier are
    not built (listed in ``pretrained_ignore_prefixes``): they only serve classification.
    """

    def __init__(self, name: str, layers: list[nn.Module], taps: list[int], channels: list[int]) -> None:
        super().__init__()
        self.name = name
        self.features = nn.Sequential(*layers)
        self.taps = list(taps)
        self.feature_channels = list(channels)
        self.feature_strides = [4, 8, 16, 32]
        self.pretrained_ignore_prefixes = (f"features.{len(layers)}.", "classifier.")

    def stages(self) -> list[list[nn.Module]]:
        starts = [0] + [t + 1 for t in self.taps[:-1]]
        return [list(self.features[s : t + 1]) for s, t in zip(starts, self.taps)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation for MobileNet/EfficientNet layouts."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
