"""TEST ONLY: ``GroundTruthEngine``, the oracle: a perfect-model stand-in for end-to-end tests.

It answers ``infer(images)`` with the *true* depth of each image, found by the image's
content hash in a :class:`GroundTruthFrames` file produced by the same synthetic source
that published the images. No model runs; it lets tests check that the node's plumbing
(sync, batching, depth encoding, intrinsics scaling, point clouds) turns correct depth
into correct outputs, bit for bit where the geometry allows. An image that is not in the
file (altered on the way, e.g. lossy compression or a resize) raises a one-line error
saying so, or with ``strict=False`` gets all-NaN depth and is counted in ``unknown_images``.
Never use it as a depth estimator: it is backend ``ground_truth`` only for processes that opted
in (:mod:`disdepth_core.sim.oracle_opt_in`, ``DISDEPTH_ENABLE_ORACLE=1``), and no help text offers it.

Confidence: 1.0 wherever it reports a depth (the truth is exact, so full confidence is the
honest value), 0 where depth is NaN -- the same rule as the real engines, so the node's
confidence plumbing (topic, header, size, the cloud's ``min_confidence``) is checked exactly.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..runtime.engine_api import InferenceResult
from ..runtime.resize import nearest_indices
from .frames_file import GroundTruthFrames


def image_key(image: np.ndarray) -> str:
    """Content hash of one ``(H, W, 3)`` uint8 image (shape included)."""
    a = np.ascontiguousarray(image)
    return hashlib.blake2b(a.tobytes(), digest_size=16, person=str(a.shape).encode()[:16]).hexdigest()


class GroundTruthEngine:
    """TEST ONLY. DepthEngine returning the stored true depth of known images.

    ``input_size`` is the frames' size (or the configured one); depth leaves as
    ``(N, H_out, W_out)`` float32 on ``device``: no GT -> NaN, beyond ``depth_range[1]``
    -> +Inf, resized to ``output_size`` by nearest pixel centre (values never blended);
    confidence 1 where depth is not NaN, else 0.
    """

    backend = "ground_truth"  # the self-check knows it as a stand-in without a network
    provides_confidence = True

    def __init__(self, frames: GroundTruthFrames, *, device: torch.device | str = "cpu",
                 depth_range: tuple[float, float] = (0.5, 80.0), input_size: tuple[int, int] | None = None,
                 source: str = "<frames>", strict: bool = True):
        self.device = torch.device(device)
        self.depth_range = (float(depth_range[0]), float(depth_range[1]))
        self.input_size = tuple(input_size) if input_size else frames.size
        self.source = source
        self.strict = strict
        self.unknown_images = 0
        self._table: dict[str, np.ndarray] = {}
        for f in range(frames.num_frames):
            for n in range(len(frames.cameras)):
                self._table[image_key(frames.images[f, n])] = frames.depth[f, n]

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> GroundTruthEngine:
        return cls(GroundTruthFrames.load(path), source=str(path), **kwargs)

    def __len__(self) -> int:
        return len(self._table)

    def infer(self, images: np.ndarray | torch.Tensor, output_size: tuple[int, int] | None = None) -> InferenceResult:
        t0 = time.perf_counter()
        imgs = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.dtype != np.uint8:
            raise DisdepthError(f"ground_truth engine: images must be uint8 (N, H, W, 3), got {imgs.dtype} {imgs.shape}")
        depth = []
        for i, img in enumerate(imgs):
            d = self._table.get(image_key(img))
            if d is None and not self.strict:
                self.unknown_images += 1
                d = np.zeros(img.shape[:2], np.float32)  # unknown truth -> NaN (invalid) below
            elif d is None:
                raise DisdepthError(
                    f"ground_truth engine: image {i} of the batch ({img.shape[0]}x{img.shape[1]}) "
                    f"is not in {self.source}"
                )
            depth.append(d)
        t1 = time.perf_counter()
        stack = np.stack(depth)
        hw = tuple(output_size) if output_size else imgs.shape[1:3]
        if tuple(stack.shape[-2:]) != hw:  # nearest pixel centre: values are never blended
            stack = stack[:, nearest_indices(stack.shape[1], hw[0])][:, :, nearest_indices(stack.shape[2], hw[1])]
        out = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32)).to(self.device)
        out = torch.where(torch.isfinite(out) & (out > 0), out, torch.full_like(out, float("nan")))
        out = torch.where(out > self.depth_range[1], torch.full_like(out, float("inf")), out)
        conf = (~torch.isnan(out)).to(torch.float32)
        t2 = time.perf_counter()
        ms = {"preprocess": 0.0, "network": (t1 - t0) * 1e3, "postprocess": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return InferenceResult(depth=out, timings_ms=ms, confidence=conf)
