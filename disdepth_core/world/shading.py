"""Surface colours (procedural materials) and lighting of ray hits.

:func:`surface_albedo` turns hits into linear-RGB albedo and semantic classes;
:func:`light` applies Lambert sun + sky ambient, shadows, glass reflections and haze;
:func:`sky_colour` colours rays that hit nothing within range.
"""

from __future__ import annotations

import dataclasses

import torch

from . import scene as S
from .textures import band, fbm, hash01, mix, stripes, value_noise


@dataclasses.dataclass
class Hits:
    """M ray hits. material/instance/face (M,) int64; base (M, 3) albedo; tex (M, 4); local (M, 3)
    hit point in the primitive frame; half (M, 3); pw (M, 3) world point; normal (M, 3) world;
    fp (M,) pixel footprint on the surface (m); fpx, fpy (M,) footprint along world x / y (ground)."""

    material: torch.Tensor
    instance: torch.Tensor
    face: torch.Tensor
    base: torch.Tensor
    tex: torch.Tensor
    local: torch.Tensor
    half: torch.Tensor
    pw: torch.Tensor
    normal: torch.Tensor
    fp: torch.Tensor
    fpx: torch.Tensor
    fpy: torch.Tensor


def _rgb(r, g, b, n):
    return torch.tensor([r, g, b], dtype=torch.float32).expand(n, 3)


def _ground(h: Hits, road: S.RoadLayout, seed: int):
    x, y = h.pw[:, 0], h.pw[:, 1]
    n = x.shape[0]
    fpx, fpy = h.fpx, h.fpy
    dy = y - road.center_y
    on_main = dy.abs() <= road.half_width
    # the nearest cross street decides junction and zebra crossings
    cx_all = torch.tensor(road.cross_x or [-1e6], dtype=torch.float32)
    cw_all = torch.tensor(road.cross_w or [1.0], dtype=torch.float32)
    j = torch.searchsorted(cx_all, x.contiguous()).clamp(1, max(len(cx_all) - 1, 1)) if len(cx_all) > 1 \
        else torch.zeros_like(x, dtype=torch.int64)
    if len(cx_all) > 1:
        j = torch.where((x - cx_all[j - 1]).abs() < (x - cx_all[j]).abs(), j - 1, j)
    cx, cw = cx_all[j], cw_all[j]
    rel = (x - cx).abs()
    in_cross = rel <= cw / 2
    zebra = band(rel, cw / 2 + 1.0, cw / 2 + 4.0, fpx) * stripes(dy + 0.25, 1.0, 0.5, fpy)
    asphalt_n = fbm(x, y, 2.0, torch.maximum(fpx, fpy), 3, seed)
    a = 0.20 + 0.05 * asphalt_n
    colour = torch.stack([a, a, a * 1.04], -1)
    # markings (main road only, not inside junctions)
    lanes, lw = road.lanes, road.lane_width
    mark = band(dy, 0.06, 0.18, fpy) + band(dy, -0.18, -0.06, fpy)  # double centre line
    for k in range(1, lanes):
        dash = stripes(x, 9.0, 3.0, fpx)
        mark = mark + (band(dy, k * lw - 0.075, k * lw + 0.075, fpy) + band(dy, -k * lw - 0.075, -k * lw + 0.075, fpy)) * dash
    edge = lanes * lw
    mark = mark + band(dy, edge - 0.08, edge + 0.08, fpy) + band(dy, -edge - 0.08, -edge + 0.08, fpy)
    mark = torch.where(in_cross, torch.zeros_like(mark), mark)
    mark = torch.where(on_main, torch.maximum(mark.clamp(0, 1), zebra * ~in_cross), torch.zeros_like(mark))
    wear = 0.75 + 0.25 * value_noise(x, y, 0.7, seed + 5)
    colour = mix(colour, _rgb(0.80, 0.80, 0.78, n) * wear[:, None], mark)
    # terrain (grass / gravel) outside roads
    road_like = on_main | in_cross
    off = torch.nonzero(~road_like)[:, 0]
    if off.numel():
        xo, yo = x[off], y[off]
        g = fbm(xo, yo, 3.0, torch.maximum(fpx[off], fpy[off]), 3, seed + 11)
        grass = torch.stack([0.17 + 0.06 * g, 0.26 + 0.08 * g, 0.10 + 0.03 * g], -1)
        gravel = torch.stack([0.38 + 0.08 * g, 0.35 + 0.08 * g, 0.30 + 0.06 * g], -1)
        patch = value_noise(xo, yo, 15.0, seed + 13)
        colour[off] = mix(grass, gravel, (patch > 0.6).float())
    sem = torch.where(road_like, torch.full_like(x, S.ROAD, dtype=torch.int64),
                      torch.full_like(x, S.TERRAIN, dtype=torch.int64))
    return colour, sem


def _sidewalk(h: Hits, road: S.RoadLayout):
    x, y = h.pw[:, 0], h.pw[:, 1]
    n = x.shape[0]
    tile = h.tex[:, 0].clamp_min(0.2)
    side = h.tex[:, 1]
    top = h.face == 5
    grout = torch.maximum(stripes(x, tile, 0.02, h.fp), stripes(y, tile, 0.02, h.fp))
    shade = 1.0 + 0.12 * (hash01(torch.floor(x / tile).long(), torch.floor(y / tile).long(), 7) - 0.5)
    colour = h.base * shade[:, None]
    colour = mix(colour, _rgb(0.40, 0.40, 0.39, n), grout * 0.8)
    kerb_y = road.center_y + side * road.half_width
    kerb = band((y - kerb_y) * side, -0.01, 0.30, h.fp)
    colour = mix(colour, _rgb(0.72, 0.71, 0.68, n), kerb)
    concrete = _rgb(0.60, 0.59, 0.56, n) * (1 + 0.2 * fbm(x, h.pw[:, 2] + y, 0.5, h.fp, 2))[:, None]
    return torch.where(top[:, None], colour, concrete)


def _building(h: Hits):
    n = h.pw.shape[0]
    style, floor_h, spacing, frac = h.tex.unbind(-1)
    z = h.pw[:, 2]
    along_x = h.face >= 2  # faces +-y run along world x
    u = torch.where(along_x, h.pw[:, 0], h.pw[:, 1])
    fp = h.fp
    base = h.base
    # facade material
    brick_row = torch.floor(z / 0.22)
    brick_off = (brick_row % 2) * 0.24
    mortar = torch.maximum(stripes(z, 0.22, 0.035, fp), stripes(u + brick_off, 0.48, 0.035, fp))
    bh = hash01(torch.floor((u + brick_off) / 0.48).long(), brick_row.long(), h.instance)
    brick = base * (0.88 + 0.24 * bh * (1 - (fp / 0.3).clamp(0, 1)))[:, None]
    brick = mix(brick, _rgb(0.70, 0.68, 0.64, n), mortar * 0.7)
    panel_lines = torch.maximum(stripes(u, 1.5, 0.04, fp), stripes(z, floor_h, 0.05, fp))
    concrete = base * (1 + 0.25 * fbm(u, z, 1.5, fp, 3, 3))[:, None]
    concrete = mix(concrete, base * 0.6, panel_lines)
    glass_frame = base * 0.5 + 0.25
    facade = torch.where((style == 0)[:, None], brick, torch.where((style == 1)[:, None], concrete, glass_frame))
    # windows: floors above a ground floor with larger shop windows
    wfrac = torch.where(style == 2, torch.full_like(frac, 0.85), frac)
    win_u = stripes(u - 0.5 * spacing * (1 - wfrac), spacing, spacing * wfrac, fp)
    win_z = stripes(z - floor_h - 0.25 * floor_h, floor_h, 0.55 * floor_h, fp)
    win_z = torch.where(style == 2, stripes(z - floor_h, floor_h, 0.8 * floor_h, fp), win_z)
    win_z = win_z * (z > floor_h).float() + band(z, 0.4, floor_h - 0.6, fp) * (z <= floor_h).float() * 0.9
    cell = hash01(torch.floor(u / spacing).long(), torch.floor(z / floor_h).long(), h.instance + 99)
    glass = torch.stack([0.07 + 0.10 * cell, 0.09 + 0.11 * cell, 0.12 + 0.12 * cell], -1)
    wall = mix(facade, glass, win_u * win_z)
    roof = _rgb(0.30, 0.30, 0.31, n) * (1 + 0.3 * fbm(h.pw[:, 0], h.pw[:, 1], 1.0, fp, 3, 21))[:, None]
    is_roof = h.face == 5
    return torch.where(is_roof[:, None], roof, wall), (win_u * win_z) * (~is_roof).float()


def _vehicle(h: Hits):
    n = h.pw.shape[0]
    paint = h.base
    lz = h.local[:, 2] / h.half[:, 2].clamp_min(1e-3)
    body = mix(paint, paint * 0.35, band(lz, -1.0, -0.7, h.fp / h.half[:, 2].clamp_min(1e-3)))
    side_faces = h.face < 4
    ends = h.face < 2  # windscreen / rear window: pillars at the sides
    lx = torch.where(ends, h.local[:, 1].abs() - (h.half[:, 1] - 0.12), h.local[:, 0].abs() - (h.half[:, 0] - 0.14))
    pillar = (lx > 0) | (lz < -0.8)
    cabin = torch.where((side_faces & ~pillar)[:, None], _rgb(0.06, 0.07, 0.08, n), paint)
    glassy = ((h.material == S.CAR_GLASS) & side_faces & ~pillar).float()
    colour = torch.where((h.material == S.CAR_GLASS)[:, None], cabin, body)
    r = h.local[:, :2].norm(dim=-1) / h.half[:, 0].clamp_min(1e-3)
    hub = (h.face == 1) & (r < 0.55)
    wheel = torch.where(hub[:, None], _rgb(0.45, 0.45, 0.47, n), _rgb(0.04, 0.04, 0.04, n))
    colour = torch.where((h.material == S.WHEEL)[:, None], wheel, colour)
    return colour, glassy


def _misc(h: Hits):
    n = h.pw.shape[0]
    colour = h.base.clone()
    m = h.material
    x, y, z = h.pw.unbind(-1)
    pole = (m == S.POLE) | (m == S.LAMP)
    colour = torch.where(pole[:, None], h.base * (1 + 0.15 * fbm(x + y, z, 1.0, h.fp, 2, 31))[:, None], colour)
    sign = m == S.SIGN
    border = (h.local[:, 1].abs() > h.half[:, 1] - 0.06) | (h.local[:, 2].abs() > h.half[:, 2] - 0.06)
    front = h.face <= 1
    sign_col = torch.where((border & front)[:, None], _rgb(0.9, 0.9, 0.9, n), h.base)
    sign_col = torch.where(front[:, None], sign_col, _rgb(0.45, 0.45, 0.46, n))
    colour = torch.where(sign[:, None], sign_col, colour)
    trunk = m == S.TRUNK
    ang = torch.atan2(h.local[:, 1], h.local[:, 0]) * h.half[:, 0]
    bark = h.base * (1 + 0.5 * fbm(ang * 4, z, 0.4, h.fp, 2, 41))[:, None]
    colour = torch.where(trunk[:, None], bark, colour)
    leaf = m == S.FOLIAGE
    lseed = h.tex[:, 0].long()
    leaves = 0.55 + 0.9 * (value_noise(x + z, y - z, 0.45, lseed) - 0.5) * (1 - (h.fp / 0.45).clamp(0, 1)) \
        + 0.5 * (value_noise(x - z, y + z, 1.2, lseed + 1) - 0.5) + 0.45
    colour = torch.where(leaf[:, None], h.base * leaves[:, None], colour)
    return colour


def surface_albedo(h: Hits, road: S.RoadLayout, semantic: torch.Tensor, seed: int):
    """Albedo (M, 3) linear RGB, semantic class (M,) and glossiness (M,) of the hits."""
    n = h.pw.shape[0]
    order = torch.argsort(h.material, stable=True)
    counts = torch.bincount(h.material, minlength=S.FOLIAGE + 1).tolist()
    hs = Hits(*(getattr(h, f.name)[order] for f in dataclasses.fields(Hits)))
    sem_s = semantic[order]
    albedo = torch.zeros(n, 3)
    gloss = torch.zeros(n)
    starts = [0]
    for c in counts:
        starts.append(starts[-1] + c)

    def part(first: int, last: int):
        a, b = starts[first], starts[last + 1]
        return a, b, Hits(*(getattr(hs, f.name)[a:b] for f in dataclasses.fields(Hits)))

    a, b, sub = part(S.GROUND, S.GROUND)
    if b > a:
        albedo[a:b], sem_s[a:b] = _ground(sub, road, seed)
    a, b, sub = part(S.SIDEWALK, S.SIDEWALK)
    if b > a:
        albedo[a:b] = _sidewalk(sub, road)
    a, b, sub = part(S.BUILDING, S.BUILDING)
    if b > a:
        albedo[a:b], g = _building(sub)
        gloss[a:b] = g * 0.5
    a, b, sub = part(S.CAR_BODY, S.WHEEL)
    if b > a:
        albedo[a:b], g = _vehicle(sub)
        gloss[a:b] = 0.12 + 0.3 * g
    a, b, sub = part(S.POLE, S.FOLIAGE)
    if b > a:
        albedo[a:b] = _misc(sub)
    inv = torch.empty_like(order)
    inv[order] = torch.arange(n)
    return albedo[inv].clamp(0.0, 1.0), sem_s[inv], gloss[inv]


def sky_colour(d: torch.Tensor, sun: torch.Tensor, zenith, horizon) -> torch.Tensor:
    """Linear RGB of the sky along unit world directions ``d (M, 3)``."""
    e = d[:, 2].clamp(0.0, 1.0).sqrt()
    z = torch.tensor(zenith, dtype=torch.float32)
    hz = torch.tensor(horizon, dtype=torch.float32)
    col = hz + (z - hz) * e[:, None]
    glow = (d @ sun.float()).clamp_min(0.0) ** 64
    return col + glow[:, None] * torch.tensor([0.5, 0.45, 0.35])


def light(albedo, normal, d_unit, sun, ambient, shadow, gloss, z_world, zenith, horizon,
          sun_strength: float = 1.0) -> torch.Tensor:
    """Lambert sun (with ``shadow`` in [0, 1], 1 = lit) + hemispherical sky ambient + glossy sky reflection.

    ``normal``/``d_unit``/``sun`` in the world frame; returns linear RGB (M, 3)."""
    sun = sun.float()
    ndl = (normal @ sun).clamp_min(0.0)
    sky_amb = ambient * (0.75 + 0.25 * normal[:, 2])
    ao = 1.0 - 0.35 * torch.exp(-z_world.clamp_min(0.0) / 0.5) * (normal[:, 2].abs() < 0.5).float()
    sun_col = torch.tensor([1.05, 1.0, 0.92]) * (1.0 - 0.5 * ambient)
    if sun_strength != 1.0:
        sun_col = sun_col * sun_strength
    col = albedo * (sky_amb[:, None] * ao[:, None] * torch.tensor([0.92, 0.97, 1.08]) + sun_col * (ndl * shadow)[:, None])
    gi = torch.nonzero(gloss > 0)[:, 0]
    if gi.numel():
        dg, ng, gg = d_unit[gi], normal[gi], gloss[gi]
        dn = (dg * ng).sum(-1, keepdim=True)
        refl = dg - 2 * dn * ng
        fres = gg * (0.04 + 0.96 * (1 - dn[:, 0].abs()) ** 5).clamp(0, 1) + 0.25 * gg
        col[gi] = col[gi] * (1 - fres[:, None]) + sky_colour(refl, sun, zenith, horizon) * fres[:, None]
    return col
