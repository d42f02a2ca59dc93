"""Backbones made by name: ``create_backbone('resnet18', pretrained='imagenet.pth')``.

Each registered factory returns a :class:`~.base.Backbone` (uniform 4-level pyramid contract).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...errors import ConfigError

_REGISTRY: dict[str, Callable[[], object]] = {}


def register_backbone(name: str) -> Callable:
    """Decorator adding a zero-argument factory under ``name``."""

    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = fn
        return fn

    return deco


def _ensure_loaded() -> None:
    # Importing the modules runs their @register_backbone decorators.
    from . import efficientnet, mobilenet_v2, mobilenet_v3, regnet, resnet  # noqa: F401


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def create_backbone(name: str, pretrained: str | Path | None = None):
    """Build backbone ``name``; load torchvision-layout ImageNet weights from the local file ``pretrained``.

    Unknown names raise ConfigError with key ``backbone``; weight problems raise DisdepthError
    naming the file and the first bad key.
    """
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backbone {name!r} (expected one of: {', '.join(sorted(_REGISTRY))})", key="backbone")
    model = _REGISTRY[name]()
    if pretrained:
        model.load_pretrained(pretrained)
    return model
