"""Sun shadows by a second ray cast: orthographic shadow maps looked up with bilinear PCF.

Static geometry is cast once per map tile: the map is world-aligned and centred on the
ego position snapped to a ``SNAP_M`` grid, so a frame's shadows are a pure function of
the frame (render order does not matter) while consecutive frames share one map.
Moving vehicles get a small per-frame map of their own.
"""

from __future__ import annotations

import math

import torch

from .config import WorldConfig
from .raytrace import TiledRays, bin_orthographic, prims_at, trace
from .scene import Scene

SNAP_M = 16.0
TILE = 32
HEIGHT_M = 300.0


class ShadowCaster:
    """Fraction of sunlight reaching world points, for the scene's sun direction."""

    def __init__(self, scene: Scene, cfg: WorldConfig):
        self.scene, self.cfg = scene, cfg
        sun = scene.sun_dir.float()
        self.sun = sun
        a = torch.tensor([1.0, 0.0, 0.0]) if abs(float(sun[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
        self.u = torch.nn.functional.normalize(torch.linalg.cross(a, sun), dim=0)
        self.v = torch.linalg.cross(sun, self.u)
        self.N = cfg.shadow_map_size
        self.texel = 2 * cfg.shadow_extent_m / self.N
        self.origin = -(self.N / 2 - 0.5) * self.texel * (self.u + self.v) + HEIGHT_M * sun  # map frame
        c = torch.arange(self.N, dtype=torch.float32) * self.texel
        grid = self.origin + c[None, :, None] * self.u + c[:, None, None] * self.v
        self.rays = TiledRays.from_grid(grid[None], (-sun).expand(1, self.N, self.N, 3).contiguous(), TILE, TILE)
        self._static: dict[tuple[float, float], torch.Tensor] = {}
        reach = max(scene.prims.half[1:].norm(dim=-1).max().item() * 2 if len(scene.prims) > 1 else 0.0, 30.0)
        self.keep = cfg.shadow_extent_m * math.sqrt(2) + reach / max(math.tan(math.asin(float(sun[2]))), 0.2)
        self.enabled = cfg.shadows and float(sun[2]) > 0.02
        self.static_mask = scene.prims.group == 0
        self.has_moving = bool((~self.static_mask).any())

    def _map(self, centre: torch.Tensor, time_s: float, static: bool) -> torch.Tensor:
        T = torch.eye(4, dtype=torch.float64)
        T[:3, 3] = -centre
        fp = prims_at(self.scene.prims, time_s, T, self.keep, select=self.static_mask if static else ~self.static_mask)
        tiles, prims = bin_orthographic(fp, self.rays, self.origin, self.u, self.v, self.texel)
        t, _ = trace(self.rays, fp, tiles, prims, ground=False)
        return self.rays.untile(t)[0]

    def lit(self, p_world: torch.Tensor, normal: torch.Tensor, ego_xy: tuple[float, float], time_s: float) -> torch.Tensor:
        """Lit fraction (M,) in [0, 1] of points ``p_world (M, 3)`` float64 with unit normals ``(M, 3)``."""
        if not self.enabled:
            return torch.ones(p_world.shape[0])
        centre = torch.tensor([round(ego_xy[0] / SNAP_M) * SNAP_M, round(ego_xy[1] / SNAP_M) * SNAP_M, 0.0],
                              dtype=torch.float64)
        key = (float(centre[0]), float(centre[1]))
        if key not in self._static:
            if len(self._static) >= 2:
                self._static.pop(next(iter(self._static)))
            self._static[key] = self._map(centre, 0.0, static=True)
        tmap = self._static[key]
        if self.has_moving:
            tmap = torch.minimum(tmap, self._map(centre, time_s, static=False))
        return self._lookup(tmap, (p_world - centre).float(), normal)

    def _lookup(self, tmap: torch.Tensor, p: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
        N, sun = self.N, self.sun
        rel = p - self.origin
        a = rel @ self.u / self.texel
        b = rel @ self.v / self.texel
        tp = -(rel @ sun)
        ndl = (normal.float() @ sun).clamp(0.02, 1.0)
        tan = torch.sqrt(1 - ndl * ndl) / ndl
        bias = 0.03 + self.texel * 1.5 * tan.clamp(max=5.0)
        c0, r0 = torch.floor(a), torch.floor(b)
        fa, fb = a - c0, b - r0
        c0, r0 = c0.long(), r0.long()
        lit = torch.zeros_like(a)
        for dc, dr, w in ((0, 0, (1 - fa) * (1 - fb)), (1, 0, fa * (1 - fb)), (0, 1, (1 - fa) * fb), (1, 1, fa * fb)):
            cc, rr = c0 + dc, r0 + dr
            inside = (cc >= 0) & (cc < N) & (rr >= 0) & (rr < N)
            occ = tmap[rr.clamp(0, N - 1), cc.clamp(0, N - 1)]
            lit = lit + w * ((~inside) | (occ >= tp - bias)).float()
        return lit
