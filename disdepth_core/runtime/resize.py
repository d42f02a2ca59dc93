"""Resizing of camera images (uint8 RGB) on the host or any torch device."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_rgb(images: np.ndarray | torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> ``(N, h, w, 3)`` uint8, bilinear with antialiasing.

    Pixel-centre convention of :mod:`disdepth_core.geometry` (``align_corners=False``), so
    :func:`~disdepth_core.geometry.scale_intrinsics` gives the matching intrinsics.
    """
    t = torch.as_tensor(images)
    if tuple(t.shape[1:3]) == tuple(size_hw):
        return t
    x = t.permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=tuple(size_hw), mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` output pixels, nearest pixel centre (``nearest-exact``)."""
    return np.minimum(np.floor((np.arange(dst) + 0.5) * src / dst).astype(np.int64), src - 1)
