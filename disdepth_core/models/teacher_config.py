"""Typed configuration of transformer teachers: where to load one, or which architecture to build.

``TeacherArchConfig`` describes a Depth Anything (Dinov2 + DPT neck) architecture; the presets
``tiny``, ``da_v2_small`` and ``da_v2_base`` match the tiny test teacher and the published
Depth Anything V2-Small/-Base configurations (built with random weights, nothing downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ..config import cfg_field
from ..errors import ConfigError


@dataclass
class TeacherArchConfig:
    """A Depth Anything architecture: Dinov2 ViT backbone + reassemble/fusion neck + DPT head."""

    hidden_size: int = cfg_field(384, min=8, help="ViT width")
    num_layers: int = cfg_field(12, min=1, help="ViT depth")
    num_heads: int = cfg_field(6, min=1, help="attention heads (must divide hidden_size)")
    mlp_ratio: int = cfg_field(4, min=1)
    patch_size: int = cfg_field(14, min=2)
    image_size: int = cfg_field(518, min=14, help="position-embedding grid size (interpolated at run time)")
    out_indices: list[int] = cfg_field(default_factory=lambda: [3, 6, 9, 12], min=1, help="ViT layers fed to the neck")
    neck_hidden_sizes: list[int] = cfg_field(default_factory=lambda: [48, 96, 192, 384], min=1)
    fusion_hidden_size: int = cfg_field(64, min=2)
    head_hidden_size: int = cfg_field(32, min=1)
    depth_estimation_type: Literal["relative", "metric"] = cfg_field("relative")
    max_depth: int = cfg_field(1, min=1, help="metric head scale (metres); ignored for relative")

    def validate(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"must divide hidden_size {self.hidden_size}, got {self.num_heads}", key="num_heads")
        if len(self.out_indices) != 4 or len(self.neck_hidden_sizes) != 4:
            raise ConfigError("expected 4 values (one per neck level)", key="out_indices")
        if max(self.out_indices) > self.num_layers:
            raise ConfigError(f"index beyond num_layers {self.num_layers}: {self.out_indices}", key="out_indices")


@dataclass
class TeacherConfig:
    """Which teacher to use: a local Hugging Face directory, and how to feed it."""

    path: str | None = cfg_field(None, help="local directory with config.json + weights (never the hub)")
    grid_stride: int = cfg_field(
        16, min=4, help="image pixels per ViT patch: input is resized to patch_size * ceil(H / grid_stride)"
    )
    output_kind: Literal["auto", "relative_disparity", "metric_depth"] = cfg_field(
        "auto", help="what the model outputs; auto = from its config (relative -> disparity)"
    )
    arch: TeacherArchConfig | None = field(default=None, metadata={"help": "build this architecture instead of loading"})
    allow_untrained: bool = cfg_field(False, help="tests only: let the acclimate and student stages distil from a "
                                                  "teacher built from 'arch' (random weights) instead of 'path'")


TEACHER_PRESETS: dict[str, TeacherArchConfig] = {
    "tiny": TeacherArchConfig(
        hidden_size=32, num_layers=4, num_heads=2, mlp_ratio=2, image_size=56, out_indices=[1, 2, 3, 4],
        neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8,
    ),
    "da_v2_small": TeacherArchConfig(),
    "da_v2_base": TeacherArchConfig(
        hidden_size=768, num_heads=12, neck_hidden_sizes=[96, 192, 384, 768], fusion_hidden_size=128
    ),
}  # fmt: skip


def teacher_preset(name: str, **overrides) -> TeacherArchConfig:
    """A copy of preset ``name`` with ``overrides`` applied."""
    if name not in TEACHER_PRESETS:
        raise ConfigError(f"unknown teacher preset {name!r} (expected one of: {', '.join(TEACHER_PRESETS)})",
                          key="teacher")
    arch = replace(TEACHER_PRESETS[name], **overrides)
    arch.validate()
    return arch
