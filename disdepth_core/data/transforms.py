"""Geometry-consistent sample transforms: resize, crop, horizontal flip, colour jitter.

Every transform takes and returns a :class:`SurroundSample` and updates ``K`` so that a
ground-truth pixel still back-projects to the same 3D point. Depth is never interpolated:

* ``scatter`` (sparse LiDAR GT): each valid source pixel moves to the target pixel that
  contains its (pixel-centre) position; where several land on one pixel the nearest wins.
  No value is invented and no point is lost to sampling.
* ``nearest`` (dense GT such as NYU): each target pixel takes the source pixel under its
  centre (``nearest-exact``), so every value is an exact source depth.

``meta["window"] = (top, left, height, width)`` tracks which part of the original image
(``meta["orig_size"]``) the sample covers, in original pixels, so evaluation crops defined
on the original image (Garg, Eigen) can be applied after resizing/cropping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..geometry import crop_intrinsics, scale_intrinsics
from .sample import SurroundSample

__all__ = [
    "color_jitter",
    "crop_sample",
    "hflip_sample",
    "init_window",
    "random_scale_crop",
    "resize_depth",
    "resize_sample",
]


def init_window(sample: SurroundSample) -> None:
    """Record the original size/window in ``sample.meta`` if the sample has none yet."""
    H, W = sample.size
    sample.meta.setdefault("orig_size", (H, W))
    sample.meta.setdefault("window", (0.0, 0.0, float(H), float(W)))


def resize_depth(
    depth: torch.Tensor, valid: torch.Tensor, size: Sequence[int], mode: str = "scatter"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize depth maps ``(N, H, W)`` (metres) and masks to ``size`` (h, w) keeping exact values.

    ``mode`` is ``"scatter"`` (sparse GT) or ``"nearest"`` (dense GT); see the module doc.
    """
    N, H, W = depth.shape
    h, w = int(size[0]), int(size[1])
    if (H, W) == (h, w):
        return depth.clone(), valid.clone()
    if mode == "nearest":
        d = F.interpolate(depth[:, None], size=(h, w), mode="nearest-exact")[:, 0]
        m = F.interpolate(valid[:, None].float(), size=(h, w), mode="nearest-exact")[:, 0] > 0.5
        return torch.where(m, d, torch.zeros_like(d)), m
    if mode != "scatter":
        raise ValueError(f"unknown depth resize mode {mode!r} (scatter or nearest)")
    n, v, u = torch.nonzero(valid, as_tuple=True)
    z = depth[n, v, u]
    # Pixel-centre convention: u -> (u + 0.5) * w / W - 0.5, then the pixel containing it.
    u2 = torch.round((u.to(torch.float64) + 0.5) * (w / W) - 0.5).long().clamp_(0, w - 1)
    v2 = torch.round((v.to(torch.float64) + 0.5) * (h / H) - 0.5).long().clamp_(0, h - 1)
    flat = torch.full((N * h * w,), float("inf"), dtype=depth.dtype, device=depth.device)
    flat.scatter_reduce_(0, (n * h + v2) * w + u2, z, reduce="amin")
    out = flat.reshape(N, h, w)
    m = torch.isfinite(out)
    return torch.where(m, out, torch.zeros_like(out)), m


def resize_sample(sample: SurroundSample, size: Sequence[int], depth_mode: str = "scatter") -> SurroundSample:
    """Resize images (bilinear, antialiased when shrinking), depth (exact) and ``K`` to ``size`` (h, w)."""
    init_window(sample)
    H, W = sample.size
    h, w = int(size[0]), int(size[1])
    if (H, W) == (h, w):
        return sample
    images = F.interpolate(
        sample.images, size=(h, w), mode="bilinear", align_corners=False, antialias=(h < H or w < W)
    ).clamp_(0.0, 1.0)
    depth, valid = resize_depth(sample.depth, sample.valid, (h, w), depth_mode)
    K = scale_intrinsics(sample.K.to(torch.float64), (H, W), (h, w)).to(sample.K.dtype)
    return dataclasses.replace(sample, images=images, depth=depth, valid=valid, K=K, meta=dict(sample.meta))


def crop_sample(sample: SurroundSample, top: int, left: int, height: int, width: int) -> SurroundSample:
    """Cut the window ``[top:top+height, left:left+width]`` out of every camera; ``K`` shifts."""
    init_window(sample)
    H, W = sample.size
    if top < 0 or left < 0 or top + height > H or left + width > W or height <= 0 or width <= 0:
        raise ValueError(f"crop {height}x{width} at ({top}, {left}) does not fit a {H}x{W} image")
    sl = (..., slice(top, top + height), slice(left, left + width))
    meta = dict(sample.meta)
    wt, wl, wh, ww = meta["window"]
    sy, sx = wh / H, ww / W  # original pixels per current pixel
    meta["window"] = (wt + top * sy, wl + left * sx, height * sy, width * sx)
    return dataclasses.replace(
        sample,
        images=sample.images[sl].contiguous(),
        depth=sample.depth[sl].contiguous(),
        valid=sample.valid[sl].contiguous(),
        K=crop_intrinsics(sample.K, top, left),
        meta=meta,
    )


def hflip_sample(sample: SurroundSample) -> SurroundSample:
    """Mirror a single-camera sample left-right: ``cx -> W - 1 - cx``.

    A mirrored image is what a camera would see of the mirrored world (x -> -x in the
    optical frame); ``T_base_cam`` is kept. Refused for multi-camera samples, where a
    flip would swap the left and right cameras of the rig.
    """
    if sample.num_cameras != 1:
        raise ValueError(f"horizontal flip of a {sample.num_cameras}-camera sample would break the rig geometry")
    init_window(sample)
    W = sample.size[1]
    K = sample.K.clone()
    K[..., 0, 2] = (W - 1) - sample.K[..., 0, 2]
    meta = dict(sample.meta)
    meta["flipped"] = not meta.get("flipped", False)
    return dataclasses.replace(
        sample,
        images=sample.images.flip(-1),
        depth=sample.depth.flip(-1),
        valid=sample.valid.flip(-1),
        K=K,
        meta=meta,
    )


def color_jitter(
    sample: SurroundSample, strength: float, generator: torch.Generator | None = None
) -> SurroundSample:
    """Random brightness, contrast and saturation, factors in ``[1 - s, 1 + s]``, per camera.

    Photometric only: depth, ``K`` and poses are untouched.
    """
    if strength <= 0:
        return sample
    N = sample.num_cameras
    f = 1.0 + (torch.rand(N, 3, generator=generator) * 2.0 - 1.0) * strength
    img = sample.images * f[:, 0, None, None, None]
    gray_w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype)
    mean = (img * gray_w[None, :, None, None]).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    img = (img - mean) * f[:, 1, None, None, None] + mean
    gray = (img * gray_w[None, :, None, None]).sum(1, keepdim=True)
    img = (img - gray) * f[:, 2, None, None, None] + gray
    return dataclasses.replace(sample, images=img.clamp(0.0, 1.0))


def random_scale_crop(
    sample: SurroundSample, max_scale: float, depth_mode: str = "scatter", generator: torch.Generator | None = None
) -> SurroundSample:
    """Zoom in by a random factor in ``[1, max_scale]`` and crop a random window of the original size."""
    if max_scale <= 1.0:
        return sample
    H, W = sample.size
    s = 1.0 + float(torch.rand(1, generator=generator)) * (max_scale - 1.0)
    h2, w2 = max(H, round(H * s)), max(W, round(W * s))
    big = resize_sample(sample, (h2, w2), depth_mode)
    top = int(torch.randint(0, h2 - H + 1, (1,), generator=generator))
    left = int(torch.randint(0, w2 - W + 1, (1,), generator=generator))
    return crop_sample(big, top, left, H, W)
