"""Typed configuration of the student network (``config/model/*.yaml``).

Loaded through the project config system: ``load_config(ModelConfig, path)``; bad values
raise ConfigError naming the file and the key (``backbone``, ``num_bins``, ``d_min``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import cfg_field
from ..errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelConfig:
    """Student: backbone + optional LG-Conv + top-down decoder + depth head.

    The defaults are the shipped ``config/model/student_default.yaml``.
    """

    backbone: str = cfg_field("mobilenetv3_large", help="registered backbone name (see list_backbones())")
    pretrained: str | None = cfg_field(
        None, help="local ImageNet weights (.safetensors, or .pth read with weights_only=True); null = random init"
    )
    lgconv_stages: list[int] = cfg_field(
        default_factory=lambda: [4], min=1, max=4, help="pyramid stages (1..4, 4 = stride 32) given LG-Conv; [] = none"
    )
    lgconv_pool: int = cfg_field(1, choices=[1, 2, 4], help="pooled size s of the LG-Conv global branch")
    lgconv_reduction: int = cfg_field(4, min=1, help="channel reduction of the LG-Conv global branch")
    decoder_channels: list[int] = cfg_field(
        default_factory=lambda: [16, 32, 64, 96], min=1, help="decoder channels at strides 4, 8, 16, 32"
    )
    head: Literal["bins", "regression"] = cfg_field("bins", help="depth-bin head or plain regression (ablation)")
    num_bins: int = cfg_field(64, min=2, help="number of depth bins (bins head)")
    bin_gaps: bool = cfg_field(
        False, help="bins head: an unused gap before the first and after the last bin, so the adaptive centres "
        "may span any sub-range of [d_min, d_max] (without it the first bin starts at d_min, the last ends at d_max)"
    )
    bin_spacing: Literal["metric", "log"] = cfg_field(
        "metric", help="bins head: the predicted widths are in metres or in log depth (log: near bins narrow, far "
        "bins wide at the same softmax logits, the layout CKD's disparity-uniform teacher bins ask for)"
    )
    d_min: float = cfg_field(0.5, gt=0, help="smallest predictable depth, metres")
    d_max: float = cfg_field(80.0, gt=0, help="largest predictable depth, metres")
    input_size: tuple[int, int] = cfg_field(
        (352, 640), min=1, help="network input (H, W), pixels; multiples of 32 keep the pyramid levels aligned"
    )
    mean: tuple[float, float, float] = cfg_field(IMAGENET_MEAN, help="RGB mean subtracted from [0,1] images")
    std: tuple[float, float, float] = cfg_field(IMAGENET_STD, gt=0, help="RGB std dividing [0,1] images")

    def validate(self) -> None:
        from .backbones import list_backbones

        if self.backbone not in list_backbones():
            raise ConfigError(
                f"unknown backbone {self.backbone!r} (expected one of: {', '.join(list_backbones())})", key="backbone"
            )
        if self.num_bins < 2:
            raise ConfigError(f"expected a value >= 2, got {self.num_bins}", key="num_bins")
        if not self.d_min < self.d_max:
            raise ConfigError(f"must be less than d_max ({self.d_max}), got {self.d_min}", key="d_min")
        if len(self.decoder_channels) != 4:
            raise ConfigError(f"expected 4 values (strides 4, 8, 16, 32), got {len(self.decoder_channels)}",
                              key="decoder_channels")
        if len(set(self.lgconv_stages)) != len(self.lgconv_stages) or any(not 1 <= s <= 4 for s in self.lgconv_stages):
            raise ConfigError(f"expected distinct stages in 1..4, got {self.lgconv_stages}", key="lgconv_stages")
