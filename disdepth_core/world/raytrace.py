"""Tiled ray casting of analytic primitives with per-tile culling.

Rays of a view (camera image, LiDAR scan, shadow map) are grouped into tiles of
``tile_h x tile_w`` rays. Each primitive is projected (its oriented bounding box, near-plane
clipped) into each view to find the tiles it can cover; only those (tile, primitive)
pairs are intersected, in vectorised chunks. The nearest hit per ray is found with a
scatter-min over a 64-bit key ``(float32 bits of t) << 24 | primitive``, which is exact and
order independent (bit-identical results on every run).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..geometry import project, transform_points
from .primitives import BOX_EDGES, INTERSECTORS, PLANE, PrimitiveSet

NO_HIT = (1 << 24) - 1
NEAR_CLIP = 0.05
_INF_BITS = 0x7F800000
CHUNK_RAYS = 1 << 21  # ray-primitive tests per vectorised chunk (bounds memory)


@dataclasses.dataclass
class FramePrims:
    """Primitives at one instant in the render frame (base_link), float32, distance-culled.

    ``index (M,)`` into the world :class:`PrimitiveSet` (entry 0 is always the ground);
    kind (M,); center (M, 3); R (M, 3, 3); half (M, 3); corners (M, 8, 3).
    """

    index: torch.Tensor
    kind: torch.Tensor
    center: torch.Tensor
    R: torch.Tensor
    half: torch.Tensor
    corners: torch.Tensor

    @property
    def radius(self) -> torch.Tensor:
        return self.half.norm(dim=-1)


def prims_at(prims: PrimitiveSet, time_s: float, T_frame_world: torch.Tensor, keep_within_m: float,
             select: torch.Tensor | None = None) -> FramePrims:
    """Primitives moved to time ``time_s``, expressed in the frame of ``T_frame_world`` (4, 4) float64,
    keeping those whose bounding sphere comes within ``keep_within_m`` (horizontally) of that frame's
    origin, and only those in the boolean mask ``select (P,)`` if given (the ground is always kept)."""
    center_w = prims.center + prims.group_velocity[prims.group] * time_s
    R_fw = T_frame_world[:3, :3]
    center_f = center_w @ R_fw.T + T_frame_world[:3, 3]
    radius = prims.half.norm(dim=-1)
    keep = (center_f[:, :2].norm(dim=-1) - radius) < keep_within_m
    if select is not None:
        keep &= select
    keep[0] = True
    idx = torch.nonzero(keep)[:, 0]
    R_f = R_fw @ prims.R[idx]
    sub = dataclasses.replace(prims, half=prims.half[idx])
    corners = sub.corners(center_f[idx], R_f)
    return FramePrims(
        index=idx,
        kind=prims.kind[idx],
        center=center_f[idx].float(),
        R=R_f.float(),
        half=prims.half[idx].float(),
        corners=corners.float(),
    )


@dataclasses.dataclass
class TiledRays:
    """Rays of ``V`` views of ``H x W`` arranged in tiles: ``origins (NT, 1|S, 3)``, ``dirs (NT, S, 3)``."""

    origins: torch.Tensor
    dirs: torch.Tensor
    views: int
    height: int
    width: int
    tile_h: int
    tile_w: int

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_h)

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_w)

    @classmethod
    def from_grid(cls, origins: torch.Tensor, dirs: torch.Tensor, tile_h: int, tile_w: int) -> TiledRays:
        """``origins`` (V, 3) per view or (V, H, W, 3) per ray; ``dirs`` (V, H, W, 3)."""
        V, H, W, _ = dirs.shape
        out = cls(origins, dirs, V, H, W, tile_h, tile_w)
        out.dirs = out.tile(dirs)
        out.origins = origins[:, None, None, :].expand(V, out.tiles_y * out.tiles_x, 1, 3).reshape(-1, 1, 3) \
            if origins.dim() == 2 else out.tile(origins)
        return out

    def tile(self, grid: torch.Tensor) -> torch.Tensor:
        """(V, H, W, ...) -> (NT, S, ...), padding with the edge values."""
        V, H, W = grid.shape[:3]
        rest = grid.shape[3:]
        ph, pw = self.tiles_y * self.tile_h - H, self.tiles_x * self.tile_w - W
        if ph or pw:
            g = grid.reshape(V, H, W, -1).permute(0, 3, 1, 2)
            g = torch.nn.functional.pad(g, (0, pw, 0, ph), mode="replicate")
            grid = g.permute(0, 2, 3, 1).reshape(V, H + ph, W + pw, *rest)
        g = grid.reshape(V, self.tiles_y, self.tile_h, self.tiles_x, self.tile_w, -1).transpose(2, 3)
        return g.reshape(V * self.tiles_y * self.tiles_x, self.tile_h * self.tile_w, *rest)

    def untile(self, values: torch.Tensor) -> torch.Tensor:
        """(NT, S, ...) -> (V, H, W, ...) (padding removed)."""
        rest = values.shape[2:]
        g = values.reshape(self.views, self.tiles_y, self.tiles_x, self.tile_h, self.tile_w, -1).transpose(2, 3)
        g = g.reshape(self.views, self.tiles_y * self.tile_h, self.tiles_x * self.tile_w, *rest)
        return g[:, : self.height, : self.width]


# ----------------------------------------------------------------------------- binning
def rects_to_pairs(
    c0: torch.Tensor, c1: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor, rays: TiledRays, wrap_x: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive pixel rectangles per (view, primitive) ``(V, M)`` -> (tile index, primitive index) pairs.

    Empty rectangles have ``c1 < c0`` or ``r1 < r0``. With ``wrap_x`` columns are taken
    modulo the width (a 360-degree scan) and may be negative or beyond it.
    """
    V, M = c0.shape
    Tx, Ty = rays.tiles_x, rays.tiles_y
    tx0 = torch.div(c0, rays.tile_w, rounding_mode="floor")
    tx1 = torch.div(c1, rays.tile_w, rounding_mode="floor")
    ty0 = torch.div(r0, rays.tile_h, rounding_mode="floor")
    ty1 = torch.div(r1, rays.tile_h, rounding_mode="floor")
    nx = (tx1 - tx0 + 1).clamp_min(0)
    if wrap_x:
        nx = nx.clamp_max(Tx)
    ny = (ty1 - ty0 + 1).clamp_min(0)
    count = (nx * ny).reshape(-1)
    owner = torch.repeat_interleave(torch.arange(V * M), count)
    if owner.numel() == 0:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    start = torch.cumsum(count, 0) - count
    k = torch.arange(owner.numel()) - start[owner]
    nxo = nx.reshape(-1)[owner]
    tx = tx0.reshape(-1)[owner] + k % nxo
    ty = ty0.reshape(-1)[owner] + torch.div(k, nxo, rounding_mode="floor")
    if wrap_x:
        tx = tx % Tx
    view = torch.div(owner, M, rounding_mode="floor")
    return (view * Ty + ty) * Tx + tx, owner % M


def pixel_rects(u: torch.Tensor, v: torch.Tensor, valid: torch.Tensor, height: int, width: int):
    """Bounding pixel rectangles of point sets ``u, v, valid (V, M, Q)`` -> inclusive (c0, c1, r0, r1) (V, M).

    A ray at pixel centre (c, r) can only hit the primitive if c lies in [min u, max u]."""
    inf = torch.tensor(float("inf"), dtype=u.dtype)
    umin = torch.where(valid, u, inf).amin(-1)
    umax = torch.where(valid, u, -inf).amax(-1)
    vmin = torch.where(valid, v, inf).amin(-1)
    vmax = torch.where(valid, v, -inf).amax(-1)
    big = 1e6
    c0 = torch.ceil(umin.clamp(-big, big)).long().clamp(0, width)
    c1 = torch.floor(umax.clamp(-big, big)).long().clamp(-1, width - 1)
    r0 = torch.ceil(vmin.clamp(-big, big)).long().clamp(0, height)
    r1 = torch.floor(vmax.clamp(-big, big)).long().clamp(-1, height - 1)
    none = ~valid.any(-1)
    c1 = torch.where(none, torch.full_like(c1, -1), c1)
    return c0, c1, r0, r1


def bin_perspective(fp: FramePrims, rays: TiledRays, T_cam_frame: torch.Tensor, K: torch.Tensor, max_range: float):
    """(tile, prim) pairs for pinhole views ``T_cam_frame (V, 4, 4)``, ``K (V, 3, 3)`` (float32)."""
    sel = torch.nonzero(fp.kind != PLANE)[:, 0]
    cc = transform_points(T_cam_frame[:, None], fp.corners[sel][None])  # (V, M, 8, 3)
    e0 = torch.tensor([e[0] for e in BOX_EDGES])
    e1 = torch.tensor([e[1] for e in BOX_EDGES])
    a, b = cc[:, :, e0], cc[:, :, e1]
    za, zb = a[..., 2:3], b[..., 2:3]
    s = ((NEAR_CLIP - za) / torch.where(zb == za, torch.ones_like(za), zb - za)).clamp(0, 1)
    cross = a + s * (b - a)
    cross_ok = ((za - NEAR_CLIP) * (zb - NEAR_CLIP) < 0)[..., 0]
    pts = torch.cat([cc, cross], dim=2)
    ok = torch.cat([cc[..., 2] >= NEAR_CLIP, cross_ok], dim=2)
    pts = torch.cat([pts[..., :2], pts[..., 2:].clamp_min(NEAR_CLIP)], dim=-1)
    uv, _ = project(pts, K[:, None])
    centre = transform_points(T_cam_frame, fp.center[sel][None].expand(len(K), -1, -1))
    near = (centre.norm(dim=-1) - fp.radius[sel][None]) < max_range
    ok = ok & near[..., None]
    c0, c1, r0, r1 = pixel_rects(uv[..., 0], uv[..., 1], ok, rays.height, rays.width)
    tiles, prim = rects_to_pairs(c0, c1, r0, r1, rays)
    return tiles, sel[prim]


def bin_orthographic(fp: FramePrims, rays: TiledRays, origin: torch.Tensor, axis_u: torch.Tensor,
                     axis_v: torch.Tensor, texel: float):
    """Pairs for one parallel-ray view whose pixel (c, r) centre is ``origin + c*texel*u + r*texel*v``."""
    sel = torch.nonzero(fp.kind != PLANE)[:, 0]
    rel = fp.corners[sel] - origin
    u = (rel @ axis_u) / texel
    v = (rel @ axis_v) / texel
    c0, c1, r0, r1 = pixel_rects(u[None], v[None], torch.ones_like(u[None], dtype=torch.bool), rays.height, rays.width)
    tiles, prim = rects_to_pairs(c0, c1, r0, r1, rays)
    return tiles, sel[prim]


def bin_azimuth(fp: FramePrims, rays: TiledRays, T_sensor_frame: torch.Tensor, max_range: float):
    """Pairs for a 360-degree scan whose column c looks at azimuth ``2 pi c / W`` in the sensor frame."""
    sel = torch.nonzero(fp.kind != PLANE)[:, 0]
    cc = transform_points(T_sensor_frame, fp.corners[sel])  # (M, 8, 3)
    centre = transform_points(T_sensor_frame, fp.center[sel])
    radius = fp.radius[sel]
    W = rays.width
    phi_c = torch.atan2(centre[:, 1], centre[:, 0])
    d = torch.atan2(cc[..., 1], cc[..., 0]) - phi_c[:, None]
    d = torch.remainder(d + math.pi, 2 * math.pi) - math.pi
    full = centre[:, :2].norm(dim=-1) <= radius  # the sensor may sit inside the bounding circle
    scale = W / (2 * math.pi)
    c0 = torch.ceil((phi_c + d.amin(-1)) * scale).long()
    c1 = torch.floor((phi_c + d.amax(-1)) * scale).long()
    c0 = torch.where(full, torch.zeros_like(c0), c0)
    c1 = torch.where(full, torch.full_like(c1, W - 1), c1)
    near = (centre.norm(dim=-1) - radius) < max_range
    c1 = torch.where(near, c1, c0 - 1)
    r0 = torch.zeros_like(c0)
    r1 = torch.full_like(c0, rays.height - 1)
    tiles, prim = rects_to_pairs(c0[None], c1[None], r0[None], r1[None], rays, wrap_x=True)
    return tiles, sel[prim]


# ----------------------------------------------------------------------------- tracing
def _keys(t: torch.Tensor, prim: torch.Tensor | int) -> torch.Tensor:
    t = torch.where(t > 0, t, torch.full_like(t, float("inf")))  # NaN and non-positive -> miss
    bits = t.contiguous().view(torch.int32).to(torch.int64)
    return (bits << 24) | prim


def trace(rays: TiledRays, fp: FramePrims, tiles: torch.Tensor, prims: torch.Tensor, ground: bool = True):
    """Nearest hit of every ray -> ``t (NT, S)`` float32 (inf on a miss) and ``hit (NT, S)`` int64 index
    into ``fp`` (-1 on a miss). ``ground`` includes the plane z = 0 (``fp`` entry 0)."""
    NT, S = rays.dirs.shape[:2]
    keys = torch.full((NT * S,), (_INF_BITS << 24) | NO_HIT, dtype=torch.int64)
    if ground:
        oz = rays.origins[..., 2].expand(NT, S)
        dz = rays.dirs[..., 2]
        tg = -oz / torch.where(dz < 0, dz, torch.full_like(dz, -1e-30))
        tg = torch.where((dz < 0) & (oz > 0), tg, torch.full_like(tg, float("inf")))
        keys = torch.minimum(keys, _keys(tg, 0).reshape(-1))
    offs = torch.arange(S)
    kinds = fp.kind[prims]
    chunk = max(1, CHUNK_RAYS // S)
    for kind, fn in INTERSECTORS.items():
        idx = torch.nonzero(kinds == kind)[:, 0]
        for start in range(0, idx.numel(), chunk):
            sl = idx[start : start + chunk]
            tl, pr = tiles[sl], prims[sl]
            t = fn(rays.origins[tl], rays.dirs[tl], fp.center[pr], fp.R[pr], fp.half[pr])
            k = _keys(t, pr[:, None])
            flat = (tl[:, None] * S + offs).reshape(-1)
            keys.scatter_reduce_(0, flat, k.reshape(-1), reduce="amin")
    keys = keys.reshape(NT, S)
    t = (keys >> 24).to(torch.int32).view(torch.float32)
    hit = keys & NO_HIT
    hit = torch.where(hit == NO_HIT, torch.full_like(hit, -1), hit)
    return t, hit
