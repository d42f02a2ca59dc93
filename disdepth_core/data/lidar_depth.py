"""Sparse ground truth from LiDAR: camera-frame points -> z-depth image (nearest point wins)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..geometry import in_image, project

__all__ = ["points_to_depth_map"]


def points_to_depth_map(
    points_cam: torch.Tensor,
    K: torch.Tensor,
    size: Sequence[int],
    min_depth: float = 1e-3,
    max_depth: float = float("inf"),
) -> torch.Tensor:
    """Rasterise camera-frame points ``(M, 3)`` (metres) into a z-depth map ``(H, W)``.

    Each point goes to the pixel whose centre is nearest to its projection; where several
    points share a pixel the smallest depth (the visible surface) is kept. Points outside
    the image or outside ``[min_depth, max_depth]`` are dropped. Empty pixels are 0.
    """
    H, W = int(size[0]), int(size[1])
    pts = points_cam.to(torch.float64)
    uv, z = project(pts, K.to(torch.float64))
    ok = in_image(uv, H, W) & torch.isfinite(z) & (z >= min_depth) & (z <= max_depth)
    uv, z = uv[ok], z[ok]
    u = torch.round(uv[:, 0]).long().clamp_(0, W - 1)
    v = torch.round(uv[:, 1]).long().clamp_(0, H - 1)
    flat = torch.full((H * W,), float("inf"), dtype=torch.float64)
    flat.scatter_reduce_(0, v * W + u, z, reduce="amin")
    depth = flat.reshape(H, W)
    return torch.where(torch.isfinite(depth), depth, torch.zeros_like(depth)).to(torch.float32)
