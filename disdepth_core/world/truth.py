"""Ground-truth lookups used by the world's own tests and by evaluation code.

:func:`depth_at` reads a rendered z-depth map at sub-pixel positions exactly: inverse
depth is affine in pixel coordinates on a plane, so bilinear interpolation of ``1/z``
between four pixels that see the same planar face reproduces the face's depth; positions
whose four neighbours are not on one surface are reported as unusable.
"""

from __future__ import annotations

import torch


def depth_at(depth: torch.Tensor, surface: torch.Tensor, uv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth of one view ``(H, W)`` at pixels ``uv (N, 2)`` (u = column, v = row, centres at integers).

    ``surface (H, W)`` int64 labels one surface per pixel (e.g. ``prim * 8 + face``; < 0 =
    none). Returns ``(z (N,), ok (N,))``: ``ok`` where all four neighbours exist, are valid
    (depth > 0) and share ``surface``; ``z`` is the inverse-depth bilinear interpolation.
    """
    H, W = depth.shape
    u, v = uv[:, 0], uv[:, 1]
    c0, r0 = torch.floor(u).long(), torch.floor(v).long()
    fa, fb = (u - c0).to(torch.float64), (v - r0).to(torch.float64)
    ok = (c0 >= 0) & (r0 >= 0) & (c0 + 1 < W) & (r0 + 1 < H) & torch.isfinite(u) & torch.isfinite(v)
    c0, r0 = c0.clamp(0, W - 2), r0.clamp(0, H - 2)
    d = depth.to(torch.float64)
    taps = [(r0, c0), (r0, c0 + 1), (r0 + 1, c0), (r0 + 1, c0 + 1)]
    s0 = surface[r0, c0]
    inv = []
    for r, c in taps:
        ok &= (surface[r, c] == s0) & (s0 >= 0) & (d[r, c] > 0)
        inv.append(1.0 / d[r, c].clamp_min(1e-9))
    i = (inv[0] * (1 - fa) + inv[1] * fa) * (1 - fb) + (inv[2] * (1 - fa) + inv[3] * fa) * fb
    return 1.0 / i, ok
