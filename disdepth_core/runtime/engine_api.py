"""The contract between the runtime and its callers (the ROS node, eval-bag, the demo).

``engine.infer(images)`` takes the cameras of one time step as a ``(N, H, W, 3)`` uint8
batch (numpy array or device tensor, RGB unless the engine says otherwise) and returns
depth ``(N, H_out, W_out)`` float32 metres on the engine's device, with timings. Every
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
    """depth: (N, H_out, W_out) float32 metres, z-depth; NaN = invalid, +Inf = beyond max range.

    ``timings_ms`` holds at least ``preprocess``, ``network``, ``postprocess`` and ``total``.
    """

    depth: torch.Tensor
    timings_ms: dict[str, float]


@runtime_checkable
class DepthEngine(Protocol):
    """A batched depth estimator for one rig."""

    device: torch.device
    input_size: tuple[int, int]  # (H, W) the network runs at
    depth_range: tuple[float, float]  # metres (min, max)

    def infer(self, images: np.ndarray | torch.Tensor, output_size: tuple[int, int] | None = None) -> InferenceResult:
        """``images`` (N, H, W, 3) uint8 RGB -> depth at ``output_size`` (default: the input image size)."""
        ...
