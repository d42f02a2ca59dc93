"""The feature-pyramid contract every backbone answers (the decoder never knows which one it sits on).

A backbone maps a normalised image batch ``(B, 3, H, W)`` to a list of 4 feature maps at
strides 4, 8, 16, 32: level ``l`` has ``feature_channels[l]`` channels and spatial size
``(ceil(H / s), ceil(W / s))`` with ``s = feature_strides[l]``. ``stages()`` returns, per level,
the modules computing it (LG-Conv insertion walks them). ``pretrained_ignore_prefixes`` lists
the state-dict keys of the ImageNet model the backbone does not use (classifier, final 1x1
expansion); every other key must match exactly (``strict=True``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...errors import DisdepthError
from ..weights import load_state_dict_file


class Backbone(nn.Module):
    """Base class: subclasses set the three attributes and implement ``forward`` and ``stages``."""

    name: str = "backbone"
    feature_channels: list[int]
    feature_strides: list[int] = [4, 8, 16, 32]
    pretrained_ignore_prefixes: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def stages(self) -> list[list[nn.Module]]:  # pragma: no cover - abstract
        """Modules computing pyramid level 1..4 (index 0..3), in order."""
        raise NotImplementedError

    def load_imagenet_state_dict(self, state: dict[str, torch.Tensor], source: str = "<state dict>") -> None:
        """Load a torchvision-layout ImageNet state dict: drop the unused keys, then ``strict=True``.

        Raises DisdepthError naming ``source`` and the first missing/unexpected/mis-shaped key.
        """
        kept = {k: v for k, v in state.items() if not k.startswith(self.pretrained_ignore_prefixes)}
        own = self.state_dict()
        missing = [k for k in own if k not in kept]
        unexpected = [k for k in kept if k not in own]
        if missing or unexpected:
            what = f"missing key {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
            raise DisdepthError(
                f"{source}: not a torchvision {self.name} state dict: {what} "
                f"({len(missing)} missing, {len(unexpected)} unexpected)"
            )
        for k, v in kept.items():
            if tuple(v.shape) != tuple(own[k].shape):
                raise DisdepthError(
                    f"{source}: key {k!r} has shape {tuple(v.shape)}, {self.name} expects {tuple(own[k].shape)}"
                )
        self.load_state_dict(kept, strict=True)

    def load_pretrained(self, path: str | Path) -> None:
        """Load ImageNet weights from a local ``.safetensors`` or ``.pth`` (``weights_only=True``) file."""
        self.load_imagenet_state_dict(load_state_dict_file(path), source=str(path))
