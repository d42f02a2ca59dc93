"""``TorchEngine``: the student in eager PyTorch (optionally ``torch.compile``d) on CPU or GPU.

BatchNorm folded into the convolutions (``disdepth_core.models.fuse``), channels_last memory
format; on CUDA fp16/bf16 autocast (weights stay fp32, convolutions run
in the low precision); on CPU bf16 autocast (fp16 needs CUDA). ``compile=True`` wraps the
network in ``torch.compile`` -- on CUDA with ``mode='reduce-overhead'`` (CUDA graphs; a new
batch size re-captures, logged by the re-plan line), on CPU the default inductor mode.

A bin-head student runs as :class:`~disdepth_core.models.confidence.DepthWithConfidence` (depth
and the per-pixel confidence in one call); a regression head gives depth only (confidence None).
"""

from __future__ import annotations

import contextlib
import copy

import torch

from ..errors import ConfigError
from .engine_base import LOG, BaseDepthEngine
from .engine_config import DEFAULT_DEPTH_RANGE, ENGINE_DEFAULTS, EngineConfig
from .model_metadata import (
    check_metadata,
    load_checkpoint_student,
    metadata_for_student,
    resolve_checkpoint,
)

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class TorchEngine(BaseDepthEngine):
    """DepthEngine running a ``DepthStudent`` module directly.

    Args:
        model: a ``DepthStudent`` (its ``config`` gives mean/std and the default input size).
        device: engine device. precision: 'fp32' | 'fp16' | 'bf16'.
        input_size: network (h, w); ``None`` = the model config's ``input_size``. The student is
            fully convolutional, so any multiple of 32 works (unlike an exported model).
        depth_range: (min, max) metres reported; outside -> -Inf / +Inf (REP 117).
    """

    backend = "torch"

    def __init__(self, model: torch.nn.Module, *, device: torch.device | str = "cpu",
                 precision: str = ENGINE_DEFAULTS.precision, compile: bool = ENGINE_DEFAULTS.compile,
                 input_size: tuple[int, int] | None = None, depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
                 upsample: str = ENGINE_DEFAULTS.upsample,
                 cameras: list[str] | None = None) -> None:
        device = torch.device(device)
        mcfg = model.config
        size = tuple(input_size) if input_size else tuple(mcfg.input_size)
        if any(v % 32 for v in size):
            raise ConfigError(f"network input size must be multiples of 32, got {list(size)}", key="engine.input_size")
        if precision == "fp16" and device.type != "cuda":
            raise ConfigError("fp16 needs a CUDA device; use fp32 or bf16 on the CPU", key="engine.precision")
        super().__init__(device=device, metadata=metadata_for_student(mcfg, input_size=size, cameras=cameras,
                                                                      precision=precision),
                         input_size=size, depth_range=depth_range, upsample=upsample)
        self.precision = precision
        from ..models.fuse import fold_batchnorm

        model = copy.deepcopy(model).float().eval()
        self.folded_bn = fold_batchnorm(model)  # inference form: BatchNorm folded into the convolutions
        self.model = model.to(device).to(memory_format=torch.channels_last)
        from ..models.confidence import DepthWithConfidence, has_confidence

        self.provides_confidence = has_confidence(self.model)
        net = DepthWithConfidence(self.model) if self.provides_confidence else self.model
        self.compiled = bool(compile)
        self._net = net
        if compile:
            mode = "reduce-overhead" if device.type == "cuda" else "default"
            self._net = torch.compile(net, mode=mode, dynamic=False)
            LOG.info("torch engine: torch.compile(mode=%r); the first call of each batch size compiles", mode)

    @classmethod
    def from_config(cls, cfg: EngineConfig, device: torch.device) -> TorchEngine:
        path = resolve_checkpoint(cfg.checkpoint)
        model = load_checkpoint_student(path)
        engine = cls(model, device=device, precision=cfg.precision, compile=cfg.compile,
                     input_size=tuple(cfg.input_size) if cfg.input_size[0] else None,
                     depth_range=(cfg.min_depth, cfg.max_depth), upsample=cfg.upsample, cameras=list(cfg.cameras))
        check_metadata(engine.metadata, _without_size(cfg), str(path))
        return engine

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.compiled and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        with self._autocast():
            out = self._net(x)
        return out if self.provides_confidence else (out, None)


def _without_size(cfg: EngineConfig) -> EngineConfig:
    """The torch engine may run at any size; only cameras/depth range are checked."""
    import dataclasses

    return dataclasses.replace(cfg, input_size=(0, 0))
