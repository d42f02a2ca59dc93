"""On-device pre- and post-processing shared by every depth engine backend.

Pre-processing turns the cameras of one time step, ``(N, H, W, 3)`` uint8 RGB (numpy or a
tensor on any device), into the network input ``(N, 3, h, w)`` on the engine device:

1. move to the device as uint8 (one host->device copy of the compact bytes),
2. ``float32 / 255`` and NHWC -> NCHW,
3. resize to the network size ``(h, w)``: bilinear, ``align_corners=False`` (the pixel-centre
   convention of :mod:`disdepth_core.geometry`), antialiased when shrinking -- the same resize
   the training data pipeline applies (``disdepth_core.data.transforms``),
4. normalise ``(x - mean) / std`` with the model's mean/std,
5. ``channels_last`` memory format (what cuDNN / oneDNN convolutions prefer).

Post-processing resizes depth ``(N, h, w)`` to the camera or requested size and applies the
REP 117 rule (see :func:`postprocess_depth`); a confidence map is resized the same way and
zeroed where depth is invalid (:func:`postprocess_confidence`). All of it runs in torch on the
engine device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DisdepthError


def images_to_device(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """Validate a ``(N, H, W, 3)`` uint8 batch and return it as a uint8 tensor on ``device``."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DisdepthError(f"engine input must be uint8 (N, H, W, 3) RGB, got {images.dtype} {images.shape}")
        t = torch.from_numpy(np.ascontiguousarray(images))
        if device.type == "cuda":
            t = t.pin_memory() if t.numel() > (1 << 20) else t
            return t.to(device, non_blocking=True)
        return t.to(device)
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3:
            raise DisdepthError(
                f"engine input must be uint8 (N, H, W, 3) RGB, got {images.dtype} {tuple(images.shape)}"
            )
        return images.to(device)
    raise DisdepthError(f"engine input must be a numpy array or torch tensor, got {type(images).__name__}")


def preprocess_images(
    images: torch.Tensor,
    size: tuple[int, int],
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    channels_last: bool = True,
) -> torch.Tensor:
    """``images`` (N, H, W, 3) uint8 on the device -> normalised float32 (N, 3, h, w).

    ``mean``/``std``: (1, 3, 1, 1) float32 on the same device (RGB, for [0, 1] images).
    """
    x = images.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    H, W = x.shape[-2:]
    h, w = size
    if (H, W) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=(h < H or w < W))
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _resize(x: torch.Tensor, out_size: tuple[int, int], mode: str) -> torch.Tensor:
    """(N, h, w) -> (N, Ho, Wo): ``bilinear`` (``align_corners=False``) or ``nearest`` (``nearest-exact``)."""
    if tuple(x.shape[-2:]) == tuple(out_size):
        return x
    if mode == "nearest":
        return F.interpolate(x[:, None], size=tuple(out_size), mode="nearest-exact")[:, 0]
    return F.interpolate(x[:, None], size=tuple(out_size), mode="bilinear", align_corners=False)[:, 0]


def postprocess_depth(
    depth: torch.Tensor,
    out_size: tuple[int, int],
    min_depth: float,
    max_depth: float,
    *,
    mode: str = "bilinear",
) -> torch.Tensor:
    """Network depth (N, h, w) metres -> float32 (N, Ho, Wo) with REP 117 special values.

    Resize first (``bilinear``: ``align_corners=False``; ``nearest``: ``nearest-exact``, never
    blends depths across an edge), then, per pixel with value ``d``:

    * ``d`` not finite (NaN/Inf from the network) or ``d <= 0``   -> NaN  (invalid)
    * ``0 < d < min_depth``                                        -> -Inf (too close)
    * ``d > max_depth``                                            -> +Inf (out of range)
    * otherwise ``d`` unchanged (``min_depth <= d <= max_depth``).
    """
    d = _resize(depth.to(torch.float32), out_size, mode)
    nan = torch.tensor(float("nan"), device=d.device)
    inf = torch.tensor(float("inf"), device=d.device)
    out = torch.where(d > max_depth, inf, d)
    out = torch.where(d < min_depth, -inf, out)
    out = torch.where(torch.isfinite(d) & (d > 0), out, nan)
    return out.contiguous()


def postprocess_confidence(confidence: torch.Tensor, depth_out: torch.Tensor, *, mode: str = "bilinear") -> torch.Tensor:
    """Network confidence (N, h, w) -> float32 (N, Ho, Wo) in [0, 1] at the size of ``depth_out``.

    Resized exactly like the depth (same ``mode``), clamped to [0, 1] (NaN -> 0), and 0 wherever
    ``depth_out`` (the output of :func:`postprocess_depth`) is NaN (invalid). +-Inf depth (out of
    range) keeps its confidence: the network did answer there.
    """
    c = _resize(confidence.to(torch.float32), tuple(depth_out.shape[-2:]), mode)
    c = torch.nan_to_num(c, nan=0.0).clamp_(0.0, 1.0)
    return torch.where(torch.isnan(depth_out), torch.zeros_like(c), c).contiguous()
