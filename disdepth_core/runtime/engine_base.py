"""``BaseDepthEngine``: the part every network backend shares -- pre/post-processing, plans, timings.

A backend supplies ``_network(x)``: normalised ``(N, 3, h, w)`` float32 on the engine device
-> ``(depth, confidence)``: depth ``(N, h, w)`` metres (any float dtype) on the same device and
confidence ``(N, h, w)`` in [0, 1] or ``None`` (a backend sets ``provides_confidence`` when it
has one). ``infer`` wraps it with
:mod:`disdepth_core.runtime.processing` and measures each stage (with a CUDA synchronise
between stages when the device is a GPU, so the split is real, not queued work).

A *plan* is the (batch, camera height, camera width, output size) the engine last ran. When a
call brings another one (a camera switched resolution, a camera dropped out of the batch)
``infer`` logs one line and calls ``_replan(batch)``, where a backend with static shapes
re-builds (TensorRT) -- no restart needed.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from .engine_api import InferenceResult
from .engine_config import ENGINE_DEFAULTS
from .model_metadata import ModelMetadata
from .processing import images_to_device, postprocess_confidence, postprocess_depth, preprocess_images

LOG = logging.getLogger("disdepth.runtime")


class BaseDepthEngine:
    """Shared implementation of the :class:`~disdepth_core.runtime.engine_api.DepthEngine` protocol."""

    backend = "base"
    channels_last = True  # memory format handed to ``_network``
    provides_confidence = False  # a backend whose model has a confidence output sets this True

    def __init__(self, *, device: torch.device, metadata: ModelMetadata, input_size: tuple[int, int],
                 depth_range: tuple[float, float], upsample: str = ENGINE_DEFAULTS.upsample) -> None:
        self.device = torch.device(device)
        self.metadata = metadata
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.depth_range = (float(depth_range[0]), float(depth_range[1]))
        self.upsample = upsample
        self.mean = torch.tensor(metadata.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(metadata.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.plan: tuple[int, int, int, int, int] | None = None
        self.replans = 0  # how many times a shape change re-planned the engine
        self.sync_timings = True

    # -- backend hooks -------------------------------------------------------------------
    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _replan(self, batch: int) -> None:
        """Adapt to a new batch size (default: nothing to do, shapes are dynamic)."""

    # -- protocol ------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.sync_timings and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _check_plan(self, n: int, h: int, w: int, out_hw: tuple[int, int]) -> None:
        plan = (n, h, w, *out_hw)
        if plan == self.plan:
            return
        if self.plan is not None:
            self.replans += 1
            p = self.plan
            LOG.info(
                "%s engine: input changed from %dx%dx%d (out %dx%d) to %dx%dx%d (out %dx%d): re-planned "
                "(resize -> %dx%d network -> %dx%d)", self.backend, *p, *plan, *self.input_size, *out_hw,
            )
        if self.plan is None or self.plan[0] != n:
            self._replan(n)
        self.plan = plan

    @torch.inference_mode()
    def infer(self, images: np.ndarray | torch.Tensor, output_size: tuple[int, int] | None = None) -> InferenceResult:
        """``images`` (N, H, W, 3) uint8 RGB -> depth (N, Ho, Wo) float32 metres on ``self.device``
        (and the confidence at the same size, or None).

        ``output_size`` (Ho, Wo) defaults to the camera size (H, W). Special values: see
        :func:`~disdepth_core.runtime.processing.postprocess_depth` (NaN invalid, -Inf closer
        than ``depth_range[0]``, +Inf beyond ``depth_range[1]``).
        """
        self._sync()
        t0 = time.perf_counter()
        u8 = images_to_device(images, self.device)
        n, h, w = u8.shape[:3]
        out_hw = (int(output_size[0]), int(output_size[1])) if output_size else (h, w)
        self._check_plan(n, h, w, out_hw)
        x = preprocess_images(u8, self.input_size, self.mean, self.std, channels_last=self.channels_last)
        self._sync()
        t1 = time.perf_counter()
        d, c = self._network(x)
        self._sync()
        t2 = time.perf_counter()
        depth = postprocess_depth(d, out_hw, *self.depth_range, mode=self.upsample)
        conf = postprocess_confidence(c, depth, mode=self.upsample) if c is not None else None
        self._sync()
        t3 = time.perf_counter()
        ms = {
            "preprocess": (t1 - t0) * 1e3,
            "network": (t2 - t1) * 1e3,
            "postprocess": (t3 - t2) * 1e3,
            "total": (t3 - t0) * 1e3,
        }
        return InferenceResult(depth=depth, timings_ms=ms, confidence=conf)
