"""Ghost-decoder teacher acclimation (METHOD.md §3).

- :class:`FeatureAdapter` ``A_l``: 1x1 conv + bilinear resample, teacher level l
  (B, C_t, h_t, w_t) -> the student encoder's level l (B, C_s, ceil(H/s), ceil(W/s)).
- :class:`GhostDecoder`: literally the student's :class:`TopDownDecoder` + head classes, built
  from the student's :class:`ModelConfig`, so its weights can initialise the student's decoder.
- :class:`AcclimatedTeacher`: frozen teacher (optionally its last ViT blocks trainable) + adapters
  + ghost decoder, predicting metric depth; the adapted features are the KD targets.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .backbones import create_backbone
from .config import ModelConfig
from .decoder import TopDownDecoder
from .heads import build_head, upsample_depth


class FeatureAdapter(nn.Module):
    """``A_l``: (B, C_t, h, w) -> (B, C_s, size) by 1x1 conv then bilinear resampling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.proj(x)
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x


def student_feature_channels(cfg: ModelConfig) -> list[int]:
    """The student encoder's pyramid channels for ``cfg`` (LG-Conv does not change them)."""
    return list(create_backbone(cfg.backbone).feature_channels)


class GhostDecoder(nn.Module):
    """The student's decoder + head (same classes, same config) fed with adapted teacher features.

    ``forward(features, size)`` -> head dict with ``depth`` upsampled to ``size`` (B, H, W) metres.
    ``decoder``/``head`` have the student's parameter names, so
    ``student.decoder.load_state_dict(ghost.decoder.state_dict())`` works.
    """

    def __init__(self, cfg: ModelConfig, feature_channels: list[int] | None = None) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.feature_channels = feature_channels or student_feature_channels(cfg)
        self.decoder = TopDownDecoder(self.feature_channels, list(cfg.decoder_channels))
        self.head = build_head(cfg, list(cfg.decoder_channels))

    def forward(self, features: list[torch.Tensor], size: tuple[int, int]) -> dict[str, torch.Tensor]:
        decoder_features = self.decoder(features)
        out = dict(self.head(decoder_features))
        out["depth_lowres"] = out["depth"]
        out["depth"] = upsample_depth(out["depth"], size)
        out["decoder_features"] = decoder_features
        return out


class AcclimatedTeacher(nn.Module):
    """Teacher + adapters + ghost decoder (METHOD.md §3, stage 1).

    Args:
        teacher: a :class:`~.teacher.DepthTeacher`.
        student_cfg: the student's ModelConfig (decoder/head/bins/range of the ghost decoder).
        train_last_blocks: number of final ViT blocks left trainable (0 = teacher fully frozen).
        source: teacher features to adapt: ``features`` (neck levels, strides 4..32 with the
            default grid stride), ``fused`` (neck fusion outputs) or ``hidden_states`` (ViT layers).
    """

    def __init__(self, teacher, student_cfg: ModelConfig, train_last_blocks: int = 0, source: str = "features"):
        super().__init__()
        if source not in ("features", "fused", "hidden_states"):
            raise ConfigError(f"expected features, fused or hidden_states, got {source!r}", key="source")
        blocks = teacher.encoder_blocks()
        if not 0 <= train_last_blocks <= len(blocks):
            raise ConfigError(f"expected 0..{len(blocks)}, got {train_last_blocks}", key="train_last_blocks")
        self.teacher = teacher
        self.source = source
        self.train_last_blocks = train_last_blocks
        teacher.requires_grad_(False)
        for block in blocks[len(blocks) - train_last_blocks :]:
            block.requires_grad_(True)
        self.strides = [4, 8, 16, 32]
        t_channels = teacher.hidden_channels if source == "hidden_states" else teacher.feature_channels
        s_channels = student_feature_channels(student_cfg)
        self.adapters = nn.ModuleList(FeatureAdapter(c_t, c_s) for c_t, c_s in zip(t_channels, s_channels))
        self.ghost = GhostDecoder(student_cfg, s_channels)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen parts keep eval behaviour (no dropout); blocks still get grads
        return self

    def teacher_forward(self, x: torch.Tensor) -> dict[str, object]:
        if self.train_last_blocks == 0:
            with torch.no_grad():
                return self.teacher(x)
        return self.teacher(x)

    def adapt(self, teacher_out: dict[str, object], size: tuple[int, int]) -> list[torch.Tensor]:
        """Adapted features ``A_l(F_t^l)`` at the student's strides for an input of ``size`` (H, W)."""
        h, w = size
        feats = teacher_out[self.source]
        return [a(f, (math.ceil(h / s), math.ceil(w / s))) for a, f, s in zip(self.adapters, feats, self.strides)]

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        """``x`` (B, 3, H, W) normalised -> dict: ``depth`` (B, H, W) metres, ``adapted_features``
        [(B, C_s, H/s, W/s)], ghost-decoder outputs (``bin_probs``, ``bin_centers``, ``decoder_features``
        ...), and ``teacher_output`` (B, H, W) (the raw teacher prediction)."""
        size = tuple(x.shape[-2:])
        t = self.teacher_forward(x)
        adapted = self.adapt(t, size)
        out = self.ghost(adapted, size)
        out["adapted_features"] = adapted
        out["teacher_output"] = t["output"]
        return out
