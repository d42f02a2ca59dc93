"""Evaluate a student *as deployed*: its exported checkpoint through the inference engine.

The trainer's held-out evaluation goes through here, so every number it reports is what the
node and ``disdepth eval-bag`` would measure: the checkpoint directory written by
``save_student`` is loaded by :func:`~disdepth_core.runtime.factory.create_engine` (eval mode,
BatchNorm folded), images go in as uint8 RGB at the camera size and are resized and
normalised by the engine's own pre-processing, depth is upsampled back by its
post-processing, and REP 117 values are scored like ``eval-bag`` scores them.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch


def rep117_to_caps(pred: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """-Inf ("closer than the engine's range") -> ``lo``; +Inf ("beyond it") -> ``hi``; NaN stays NaN."""
    pred = torch.where(pred == -math.inf, torch.full_like(pred, lo), pred)
    return torch.where(pred == math.inf, torch.full_like(pred, hi), pred)


class EngineImagePredictor:
    """``images (V, 3, H, W)`` in [0, 1] -> ``(depth, confidence)`` through ``engine.infer``: depth
    ``(V, H, W)`` float32 metres, confidence ``(V, H, W)`` float32 in [0, 1] or None (the engine has
    none).

    The images are quantised to uint8 first, as a camera or a bag delivers them (a dataset
    read from 8-bit PNGs round-trips exactly).
    """

    def __init__(self, engine, lo: float, hi: float):
        self.engine, self.lo, self.hi = engine, float(lo), float(hi)

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        u8 = (images.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        H, W = u8.shape[1:3]
        res = self.engine.infer(u8, output_size=(H, W))
        conf = None if res.confidence is None else res.confidence.detach().to("cpu", torch.float32)
        return rep117_to_caps(res.depth.detach().to("cpu", torch.float32), self.lo, self.hi), conf


def evaluate_checkpoint(checkpoint: str | Path, dataset, *, dataset_name: str, device: str = "cpu",
                        backend: str = "torch", max_samples: int = 0, progress: bool = False) -> dict:
    """``evaluate_dataset`` summary of the exported student ``checkpoint`` run by the engine."""
    from ..data.eval_crops import DEPTH_CAPS
    from ..runtime.engine_config import EngineConfig
    from ..runtime.factory import create_engine
    from .evaluate import evaluate_dataset

    lo, hi = DEPTH_CAPS[dataset_name]
    engine = create_engine(EngineConfig(backend=backend, checkpoint=str(checkpoint), device=device,
                                        min_depth=lo, max_depth=hi))
    return evaluate_dataset(EngineImagePredictor(engine, lo, hi), dataset, dataset_name=dataset_name,
                            max_samples=max_samples, device="cpu", progress=progress)
