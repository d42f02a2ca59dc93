"""Analytic scene primitives (oriented boxes, cylinders, spheres, the ground plane) and exact ray hits.

A primitive has a centre ``c`` (3,), a rotation ``R`` (3, 3) whose *columns* are its
local axes, and half sizes ``h`` (3,): box half extents; cylinder ``(r, r, half height)``
along its local z; sphere ``(r, r, r)``. Index 0 of every :class:`PrimitiveSet` is the
ground plane z = 0, which the tracer handles analytically for every ray.

Rays are ``o + t d``. Camera rays use ``d`` with unit optical z (so ``t`` is z-depth),
LiDAR and shadow rays unit ``d`` (``t`` is range). Misses return ``+inf``.
"""

from __future__ import annotations

import dataclasses

import torch

PLANE, BOX, CYLINDER, SPHERE = 0, 1, 2, 3
KIND_NAMES = {PLANE: "plane", BOX: "box", CYLINDER: "cylinder", SPHERE: "sphere"}
HIT_EPS = 1e-4  # metres of ray parameter: hits closer than this are ignored (self-intersection)


@dataclasses.dataclass
class PrimitiveSet:
    """P primitives (index 0 = ground plane), world frame, float64 geometry.

    kind (P,) int64; center (P, 3); R (P, 3, 3) local axes as columns; half (P, 3);
    group (P,) int64: rigid group (0 = static, g > 0 = moving vehicle g, whose offset at
    time ``s`` seconds is ``group_velocity[g] * s``); material (P,) int64 (see
    :mod:`.materials`); albedo (P, 3) float32 linear RGB; tex (P, 4) float32 texture
    parameters; semantic (P,) int64 class; instance (P,) int64 object id.
    """

    kind: torch.Tensor
    center: torch.Tensor
    R: torch.Tensor
    half: torch.Tensor
    group: torch.Tensor
    material: torch.Tensor
    albedo: torch.Tensor
    tex: torch.Tensor
    semantic: torch.Tensor
    instance: torch.Tensor
    group_velocity: torch.Tensor  # (G, 3) m/s

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def corners(self, center: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """The 8 corners ``(P, 8, 3)`` of each primitive's oriented bounding box."""
        signs = torch.tensor(
            [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=center.dtype
        )
        local = signs[None] * self.half.to(center.dtype)[:, None, :]  # (P, 8, 3)
        return center[:, None, :] + local @ R.transpose(-1, -2)


# Box corner index pairs forming the 12 edges (corner index = 4*sx + 2*sy + sz, s in {0, 1}).
BOX_EDGES = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]


def _to_local(o: torch.Tensor, d: torch.Tensor, c: torch.Tensor, R: torch.Tensor):
    """Ray origin/direction in each primitive's local frame: ``(p - c) @ R``."""
    return (o - c[:, None, :]) @ R, d @ R


def intersect_box(o, d, c, R, h) -> torch.Tensor:
    """Rays ``o (B, S|1, 3)``, ``d (B, S, 3)`` against boxes ``c (B, 3)``, ``R (B, 3, 3)``, ``h (B, 3)`` -> t (B, S)."""
    ol, dl = _to_local(o, d, c, R)
    inv = 1.0 / dl
    hh = h[:, None, :]
    t1 = (-hh - ol) * inv
    t2 = (hh - ol) * inv
    tn = torch.minimum(t1, t2).amax(-1)
    tf = torch.maximum(t1, t2).amin(-1)
    hit = (tn <= tf) & (tn > HIT_EPS)
    return torch.where(hit, tn, torch.full_like(tn, float("inf")))


def intersect_cylinder(o, d, c, R, h) -> torch.Tensor:
    """Capped cylinders along local z, radius ``h[:, 0]``, half height ``h[:, 2]`` -> t (B, S).

    The side hit is solved around the point of closest approach, which keeps thin poles
    exact in float32 at 100 m.
    """
    ol, dl = _to_local(o, d, c, R)
    ox, oy, oz = ol.unbind(-1)
    dx, dy, dz = dl.unbind(-1)
    r = h[:, 0, None]
    hz = h[:, 2, None]
    inf = float("inf")
    a = dx * dx + dy * dy
    t0 = -(ox * dx + oy * dy) / a.clamp_min(1e-20)
    px, py = ox + t0 * dx, oy + t0 * dy
    q = r * r - (px * px + py * py)  # > 0 when the ray's xy line passes inside the circle
    ts = t0 - torch.sqrt(q.clamp_min(0.0) / a.clamp_min(1e-20))
    zs = oz + ts * dz
    side_ok = (q >= 0) & (a > 1e-20) & (zs.abs() <= hz) & (ts > HIT_EPS)
    t_side = torch.where(side_ok, ts, torch.full_like(ts, inf))
    # caps: the entering one is at -sign(dz) * hz
    cap_z = torch.where(dz < 0, hz.expand_as(dz), -hz.expand_as(dz))
    tc = (cap_z - oz) / torch.where(dz == 0, torch.full_like(dz, 1e-20), dz)
    cx, cy = ox + tc * dx, oy + tc * dy
    cap_ok = (cx * cx + cy * cy <= r * r) & (tc > HIT_EPS)
    t_cap = torch.where(cap_ok, tc, torch.full_like(tc, inf))
    return torch.minimum(t_side, t_cap)


def intersect_sphere(o, d, c, R, h) -> torch.Tensor:
    """Spheres of radius ``h[:, 0]`` -> t (B, S) (solved around the closest approach)."""
    oc = o - c[:, None, :]
    dd = (d * d).sum(-1)
    t0 = -(oc * d).sum(-1) / dd
    p = oc + t0[..., None] * d
    r = h[:, 0, None]
    q = r * r - (p * p).sum(-1)
    t = t0 - torch.sqrt(q.clamp_min(0.0) / dd)
    ok = (q >= 0) & (t > HIT_EPS)
    return torch.where(ok, t, torch.full_like(t, float("inf")))


INTERSECTORS = {BOX: intersect_box, CYLINDER: intersect_cylinder, SPHERE: intersect_sphere}


def surface_frame(kind, p, c, R, h) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normal, face id and local hit point of hits ``p (M, 3)`` on their primitives.

    ``kind (M,)``, ``c (M, 3)``, ``R (M, 3, 3)``, ``h (M, 3)``. Returns ``normal (M, 3)``
    (unit, in the frame of ``p``), ``face (M,)`` int64 (box: 0..5 = -x,+x,-y,+y,-z,+z;
    cylinder: 0 side, 1 cap; sphere/plane: 0) and ``local (M, 3)``.
    """
    local = ((p - c)[:, None, :] @ R)[:, 0, :]
    one = torch.ones_like(local[:, 0])
    zero = torch.zeros_like(one)
    # box: the local axis where |local| / h is largest
    rel = local.abs() / h.clamp_min(1e-9)
    axis = rel.argmax(-1)
    sign = torch.gather(local, 1, axis[:, None])[:, 0]
    sign = torch.where(sign < 0, -one, one)
    n_box = torch.zeros_like(local).scatter_(1, axis[:, None], sign[:, None])
    face_box = axis * 2 + (sign > 0).long()
    # cylinder: side or cap, whichever the point is relatively closer to
    radial = local[:, :2].norm(dim=-1) / h[:, 0].clamp_min(1e-9)
    on_cap = (local[:, 2].abs() / h[:, 2].clamp_min(1e-9)) > radial
    n_cap = torch.stack([zero, zero, torch.where(local[:, 2] < 0, -one, one)], -1)
    n_side = torch.stack([local[:, 0], local[:, 1], zero], -1)
    n_cyl = torch.where(on_cap[:, None], n_cap, n_side)
    n_sph = local
    n_plane = torch.stack([zero, zero, one], -1)
    k = kind[:, None]
    n_local = torch.where(k == BOX, n_box, torch.where(k == CYLINDER, n_cyl, torch.where(k == SPHERE, n_sph, n_plane)))
    n_local = n_local / n_local.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    normal = (R @ n_local[..., None])[..., 0]
    face = torch.where(kind == BOX, face_box, torch.where(kind == CYLINDER, on_cap.long(), torch.zeros_like(face_box)))
    return normal, face, local
