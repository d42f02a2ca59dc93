"""Student encoders: efficient CNNs with a uniform 4-level feature-pyramid contract."""

from .base import Backbone
from .registry import create_backbone, list_backbones, register_backbone

__all__ = ["Backbone", "create_backbone", "list_backbones", "register_backbone"]
