"""Procedural texture functions of world/surface coordinates (metres), anti-aliased by pixel footprint.

All functions are element-wise on float32 tensors of one shape. ``fp`` is the size of a
pixel's footprint on the surface along the pattern's axis (metres): patterns finer than
the footprint fade to their mean (box filtering), so distant textures do not alias.
"""

from __future__ import annotations

import torch

_TABLE_BITS = 8
_TABLE = torch.rand(1 << (2 * _TABLE_BITS), generator=torch.Generator().manual_seed(0x7E57))  # fixed lattice values


def hash01(ix: torch.Tensor, iy: torch.Tensor, seed: int | torch.Tensor = 0) -> torch.Tensor:
    """Pseudo-random value in [0, 1) per integer lattice point (a fixed 256 x 256 table, offset by ``seed``)."""
    m = (1 << _TABLE_BITS) - 1
    seed = torch.as_tensor(seed)
    ix = (ix + seed * 71) & m
    iy = (iy + seed * 37) & m
    return _TABLE[(iy << _TABLE_BITS) | ix]


def value_noise(x: torch.Tensor, y: torch.Tensor, cell: float, seed: int | torch.Tensor = 0) -> torch.Tensor:
    """Smooth value noise in [0, 1) with lattice spacing ``cell`` metres (period 256 cells)."""
    xs, ys = x / cell, y / cell
    x0, y0 = torch.floor(xs), torch.floor(ys)
    fx, fy = xs - x0, ys - y0
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    m = (1 << _TABLE_BITS) - 1
    seed = torch.as_tensor(seed)
    ix = (x0.to(torch.int32) + seed * 71) & m
    iy = (y0.to(torch.int32) + seed * 37) & m
    ix1 = (ix + 1) & m
    row0 = iy << _TABLE_BITS
    row1 = ((iy + 1) & m) << _TABLE_BITS
    v00, v10 = _TABLE[row0 | ix], _TABLE[row0 | ix1]
    v01, v11 = _TABLE[row1 | ix], _TABLE[row1 | ix1]
    return (v00 * (1 - fx) + v10 * fx) * (1 - fy) + (v01 * (1 - fx) + v11 * fx) * fy


def fbm(x: torch.Tensor, y: torch.Tensor, cell: float, fp: torch.Tensor, octaves: int = 3, seed: int = 0) -> torch.Tensor:
    """Fractal noise centred on 0 (about [-0.5, 0.5]); octaves finer than the footprint fade out."""
    out = torch.zeros_like(x)
    amp, c = 0.5, cell
    for o in range(octaves):
        fade = (1.0 - fp / c).clamp(0.0, 1.0)
        out = out + amp * fade * (value_noise(x, y, c, seed + 17 * o) - 0.5)
        amp *= 0.5
        c *= 0.5
    return out * 1.6


def _square_integral(x: torch.Tensor, period: float, width: float) -> torch.Tensor:
    k = torch.floor(x / period)
    return k * width + (x - k * period).clamp(max=width)


def stripes(x: torch.Tensor, period: float | torch.Tensor, width: float | torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Coverage in [0, 1] of stripes ``[k*period, k*period + width)`` box-filtered over ``fp``."""
    x = x - torch.floor(x / period) * period  # keep numbers small (float32 at 1 km)
    fp = fp.clamp_min(1e-4)
    cov = (_square_integral(x + fp / 2, period, width) - _square_integral(x - fp / 2, period, width)) / fp
    return cov.clamp(0.0, 1.0)


def band(x: torch.Tensor, lo: float | torch.Tensor, hi: float | torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Coverage of the single interval ``[lo, hi]`` box-filtered over ``fp``."""
    fp = fp.clamp_min(1e-4)
    a = torch.maximum(x - fp / 2, torch.as_tensor(lo, dtype=x.dtype))
    b = torch.minimum(x + fp / 2, torch.as_tensor(hi, dtype=x.dtype))
    return ((b - a) / fp).clamp(0.0, 1.0)


def mix(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Blend colours ``(M, 3)`` by weights ``(M,)``."""
    return a + (b - a) * w[:, None]
