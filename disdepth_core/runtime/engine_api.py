"""The contract between the runtime and its callers (the ROS node, eval-bag, the demo).

``engine.infer(images)`` takes the cameras of one time step as a ``(N, H, W, 3)`` uint8
batch (numpy array or device tensor, RGB unless the engine says otherwise) and returns
depth ``(N, H_out, W_out)`` float32 metres on the engine's device, with timings, and -- when the
model has a bin head -- a per-pixel confidence in [0, 1] of the same size. Every
backend (torch, onnxruntime, tensorrt) and the test-only ground-truth passthrough engine
implement this protocol.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@dataclasses.dataclass
class InferenceResult:
    """depth: (N, H_out, W_out) float32 metres, z-depth, REP 117: NaN = invalid, +Inf = beyond the
    engine's ``max_depth``, -Inf = closer than its ``min_depth``
    (:func:`~disdepth_core.runtime.processing.postprocess_depth`).

    ``timings_ms`` holds at least ``preprocess``, ``network``, ``postprocess`` and ``total``.

    confidence: (N, H_out, W_out) float32 in [0, 1] on the same device, resized like the depth;
    0 where depth is NaN; ``None`` when the model has no confidence (a regression head, an ONNX
    file exported without it). Derivation: :mod:`disdepth_core.models.confidence`.
    """

    depth: torch.Tensor
    timings_ms: dict[str, float]
    confidence: torch.Tensor | None = None


@runtime_checkable
class DepthEngine(Protocol):
    """A batched depth estimator for one rig."""

    device: torch.device
    input_size: tuple[int, int]  # (H, W) the network runs at
    depth_range: tuple[float, float]  # metres (min, max)
    provides_confidence: bool  # whether ``infer`` returns a confidence (known at construction)

    def infer(self, images: np.ndarray | torch.Tensor, output_size: tuple[int, int] | None = None) -> InferenceResult:
        """``images`` (N, H, W, 3) uint8 RGB -> depth at ``output_size`` (default: the input image size)."""
        ...
