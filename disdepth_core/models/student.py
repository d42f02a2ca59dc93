"""The student network: backbone (+ LG-Conv) -> top-down decoder -> depth head (METHOD.md §1).

``DepthStudent(x)`` maps normalised images (B, 3, H, W) (B = cameras x frames) to metric depth
(B, H, W) in metres; this plain path has no Python control flow on tensor values and exports
to ONNX. ``forward(x, return_aux=True)`` returns the same depth plus the tensors the KD losses
need (computed anyway, so asking costs nothing extra).
"""

from __future__ import annotations

import torch
from torch import nn

from .backbones import create_backbone
from .config import ModelConfig
from .decoder import TopDownDecoder
from .heads import build_head, upsample_depth
from .local_global_conv import insert_local_global_conv


class DepthStudent(nn.Module):
    """Student built from a :class:`ModelConfig` (kept as ``self.config``)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.encoder = create_backbone(cfg.backbone, pretrained=cfg.pretrained)
        self.num_lgconv = 0
        if cfg.lgconv_stages:
            self.num_lgconv = insert_local_global_conv(
                self.encoder, list(cfg.lgconv_stages), pool=cfg.lgconv_pool, reduction=cfg.lgconv_reduction
            )
        self.decoder = TopDownDecoder(self.encoder.feature_channels, list(cfg.decoder_channels))
        self.head = build_head(cfg, list(cfg.decoder_channels))
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    @property
    def feature_channels(self) -> list[int]:
        return list(self.encoder.feature_channels)

    @property
    def feature_strides(self) -> list[int]:
        return list(self.encoder.feature_strides)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B, 3, H, W) -> the normalised input ``forward`` expects."""
        return (images - self.mean) / self.std

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        """``x`` (B, 3, H, W) normalised RGB -> depth (B, H, W) metres.

        With ``return_aux=True`` a dict: ``depth`` (B, H, W); ``features`` encoder pyramid
        [(B, C_l, H/s, W/s)] for s = 4, 8, 16, 32; ``decoder_features`` (same strides, decoder
        channels); bins head only: ``bin_logits``/``bin_probs`` (B, N, H/4, W/4) and
        ``bin_centers`` (B, N) metres; ``depth_lowres`` (B, H/4, W/4).
        """
        features = self.encoder(x)
        decoder_features = self.decoder(features)
        out = self.head(decoder_features)
        depth = upsample_depth(out["depth"], x.shape[-2:])
        if not return_aux:
            return depth
        aux = dict(out)
        aux["depth_lowres"] = out["depth"]
        aux["depth"] = depth
        aux["features"] = features
        aux["decoder_features"] = decoder_features
        return aux


def build_student(cfg: ModelConfig) -> DepthStudent:
    """A :class:`DepthStudent` for ``cfg`` (ImageNet weights from ``cfg.pretrained`` when set)."""
    return DepthStudent(cfg)
