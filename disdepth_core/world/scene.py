"""Procedural street scene: a straight road with lanes, kerbs, sidewalks, cross streets,
buildings, parked and moving vehicles, street lamps, signs and trees, from a seed.

World frame (REP 103 style, metres): x along the road (the ego drives towards +x), y to
the left, z up; the ground is z = 0 and the origin is the south-west corner of the map,
so all coordinates are positive. The road centre line is ``y = road.center_y``.
Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .appearance import Appearance, draw_appearance, jitter_albedo
from .config import WorldConfig
from .primitives import BOX, CYLINDER, PLANE, SPHERE, PrimitiveSet

# Materials (what the shader does) and semantic classes (what a label map says).
GROUND, SIDEWALK, BUILDING, CAR_BODY, CAR_GLASS, WHEEL, POLE, LAMP, SIGN, TRUNK, FOLIAGE = range(11)
SEMANTIC_CLASSES = ["sky", "road", "sidewalk", "building", "vehicle", "pole", "sign", "vegetation", "terrain"]
SKY, ROAD, SIDEWALK_CLS, BUILDING_CLS, VEHICLE, POLE_CLS, SIGN_CLS, VEGETATION, TERRAIN = range(9)

CAR_COLOURS = [
    (0.60, 0.60, 0.62), (0.08, 0.08, 0.09), (0.85, 0.85, 0.86), (0.55, 0.08, 0.07), (0.10, 0.18, 0.42),
    (0.30, 0.32, 0.35), (0.70, 0.62, 0.45), (0.12, 0.30, 0.18), (0.80, 0.55, 0.10), (0.40, 0.42, 0.45),
]
FACADE_COLOURS = [
    (0.55, 0.27, 0.18), (0.62, 0.35, 0.24), (0.70, 0.66, 0.58), (0.52, 0.52, 0.50), (0.78, 0.72, 0.60),
    (0.45, 0.40, 0.36), (0.66, 0.55, 0.42), (0.38, 0.45, 0.52), (0.80, 0.78, 0.74),
]
SIGN_COLOURS = [(0.75, 0.08, 0.08), (0.08, 0.25, 0.65), (0.90, 0.75, 0.10), (0.10, 0.45, 0.20)]


@dataclasses.dataclass
class RoadLayout:
    """The road: lanes per direction, strips beside them, cross streets (centres/widths along x)."""

    center_y: float
    lanes: int
    lane_width: float
    parking_width: float
    sidewalk_width: float
    kerb_height: float
    cross_x: list[float]
    cross_w: list[float]
    x_max: float

    @property
    def half_width(self) -> float:
        """Centre line to kerb (m)."""
        return self.lanes * self.lane_width + self.parking_width


@dataclasses.dataclass
class EgoPath:
    """The ego drives the rightmost +x lane at constant speed with a gentle lateral sway."""

    x0: float
    y0: float
    speed: float
    sway_amp: float
    sway_period_s: float
    sway_phase: float

    def pose(self, s: float) -> tuple[float, float, float]:
        """(x, y, yaw) in the world at time ``s`` seconds after frame 0."""
        w = 2 * math.pi / self.sway_period_s
        x = self.x0 + self.speed * s
        y = self.y0 + self.sway_amp * math.sin(w * s + self.sway_phase)
        dy = self.sway_amp * w * math.cos(w * s + self.sway_phase)
        return x, y, math.atan2(dy, self.speed)


@dataclasses.dataclass
class Scene:
    """Everything a renderer needs: primitives, road, ego path, lighting."""

    prims: PrimitiveSet
    road: RoadLayout
    ego: EgoPath
    sun_dir: torch.Tensor  # (3,) unit, world frame, pointing towards the sun
    ambient: float
    sky_zenith: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    seed: int
    appearance: Appearance = dataclasses.field(default_factory=Appearance)


class _Builder:
    """Collects primitives as Python lists, then packs them into a PrimitiveSet."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.group_velocity: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self.next_instance = 1
        # index 0: ground plane
        self.rows.append((PLANE, (0.0, 0.0, 0.0), 0.0, (1e4, 1e4, 0.0), 0, GROUND, (0.3, 0.3, 0.3), (0, 0, 0, 0), ROAD, 0))

    def new_instance(self) -> int:
        self.next_instance += 1
        return self.next_instance - 1

    def new_group(self, velocity: tuple[float, float, float]) -> int:
        self.group_velocity.append(velocity)
        return len(self.group_velocity) - 1

    def add(self, kind, center, yaw, half, material, albedo, semantic, instance, *, group=0, tex=(0, 0, 0, 0),
            axis_y=False):
        """``yaw`` about z; ``axis_y`` turns a cylinder to lie along its (yawed) local y."""
        self.rows.append((kind, tuple(center), (yaw, axis_y), tuple(half), group, material, tuple(albedo), tuple(tex),
                          semantic, instance))

    def build(self) -> PrimitiveSet:
        P = len(self.rows)
        R = torch.zeros(P, 3, 3, dtype=torch.float64)
        for i, row in enumerate(self.rows):
            spec = row[2]
            yaw, axis_y = spec if isinstance(spec, tuple) else (spec, False)
            c, s = math.cos(yaw), math.sin(yaw)
            Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
            if axis_y:  # local z along the yawed y axis: columns (x, z, -y) of Rz
                Rz = torch.stack([Rz[:, 0], Rz[:, 2], -Rz[:, 1]], dim=1)
            R[i] = Rz
        col = lambda k, dt: torch.tensor([r[k] for r in self.rows], dtype=dt)  # noqa: E731
        return PrimitiveSet(
            kind=col(0, torch.int64),
            center=col(1, torch.float64),
            R=R,
            half=col(3, torch.float64),
            group=col(4, torch.int64),
            material=col(5, torch.int64),
            albedo=col(6, torch.float32),
            tex=col(7, torch.float32),
            semantic=col(8, torch.int64),
            instance=col(9, torch.int64),
            group_velocity=torch.tensor(self.group_velocity, dtype=torch.float64),
        )


def _uniform(rng: np.random.Generator, lohi) -> float:
    lo, hi = lohi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def _add_vehicle(b: _Builder, rng, x, y, heading, *, group=0, truck=False):
    """A car (body, cabin, four wheels) or a van/truck, standing on the ground at (x, y)."""
    inst = b.new_instance()
    colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    c, s = math.cos(heading), math.sin(heading)

    def at(dx, dy, z):
        return (x + c * dx - s * dy, y + s * dx + c * dy, z)

    if truck:
        L, W = _uniform(rng, (5.5, 7.5)), _uniform(rng, (2.1, 2.4))
        box_h = _uniform(rng, (2.2, 2.8))
        cab_l = 1.7
        b.add(BOX, at(-cab_l / 2, 0, 0.45 + box_h / 2), heading, ((L - cab_l) / 2, W / 2, box_h / 2), CAR_BODY,
              (0.85, 0.85, 0.84) if rng.random() < 0.6 else colour, VEHICLE, inst, group=group)
        b.add(BOX, at(L / 2 - cab_l / 2, 0, 0.45 + 0.55), heading, (cab_l / 2, W / 2, 0.55), CAR_BODY, colour, VEHICLE,
              inst, group=group)
        b.add(BOX, at(L / 2 - cab_l / 2 - 0.1, 0, 1.55 + 0.4), heading, (cab_l / 2 - 0.1, W / 2 - 0.05, 0.4), CAR_GLASS,
              colour, VEHICLE, inst, group=group)
        wheel_r, wx = 0.45, L * 0.36
    else:
        L, W = _uniform(rng, (3.9, 4.9)), _uniform(rng, (1.75, 1.95))
        body_h = _uniform(rng, (0.65, 0.85))
        cab_h = _uniform(rng, (0.5, 0.65))
        b.add(BOX, at(0, 0, 0.3 + body_h / 2), heading, (L / 2, W / 2, body_h / 2), CAR_BODY, colour, VEHICLE, inst,
              group=group)
        b.add(BOX, at(-0.08 * L, 0, 0.3 + body_h + cab_h / 2), heading, (0.27 * L, W / 2 - 0.1, cab_h / 2), CAR_GLASS,
              colour, VEHICLE, inst, group=group)
        wheel_r, wx = 0.33, L * 0.32
    for sx in (-1, 1):
        for sy in (-1, 1):
            b.add(CYLINDER, at(sx * wx, sy * (W / 2 - 0.13), wheel_r), heading, (wheel_r, wheel_r, 0.12), WHEEL,
                  (0.05, 0.05, 0.05), VEHICLE, inst, group=group, axis_y=True)
    return L


def build_scene(cfg: WorldConfig, seed: int, duration_s: float) -> Scene:
    """A random street long enough for ``duration_s`` seconds of driving, from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    look = draw_appearance(cfg.appearance, seed, cfg.noise_std)
    dens = look.density
    b = _Builder()
    lanes = int(rng.integers(cfg.lanes_per_direction[0], cfg.lanes_per_direction[1] + 1))
    lw = cfg.lane_width_m
    speed = _uniform(rng, cfg.ego_speed_mps)
    x0 = 80.0
    x_max = x0 + speed * duration_s + cfg.max_range_m + 60.0
    center_y = 60.0
    road = RoadLayout(center_y, lanes, lw, cfg.parking_width_m, _uniform(rng, cfg.sidewalk_width_m),
                      cfg.kerb_height_m, [], [], x_max)
    # cross streets
    x = _uniform(rng, (20.0, 60.0))
    while x < x_max:
        road.cross_x.append(x)
        road.cross_w.append(_uniform(rng, (8.0, 12.0)))
        x += _uniform(rng, cfg.block_length_m)
    edges = [0.0]
    for cx, cw in zip(road.cross_x, road.cross_w, strict=True):
        edges += [cx - cw / 2, cx + cw / 2]
    edges.append(x_max)
    blocks = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    hw = road.half_width
    sw = road.sidewalk_width
    kh = road.kerb_height

    for side in (-1, 1):  # -1: right of the ego (y < centre), +1: left
        kerb_y = center_y + side * hw
        for x_a, x_b in blocks:
            if x_b - x_a < 4.0:
                continue
            # sidewalk slab (its outer 0.3 m next to the road is textured as kerb stone)
            if kh > 0:
                b.add(BOX, ((x_a + x_b) / 2, kerb_y + side * sw / 2, kh / 2), 0.0, ((x_b - x_a) / 2, sw / 2, kh / 2),
                      SIDEWALK, (0.62, 0.61, 0.58), SIDEWALK_CLS, 0, tex=(_uniform(rng, (0.4, 0.6)), side, 0, 0))
            park = rng.random() < 0.12
            # buildings along the block
            xb = x_a + _uniform(rng, (0.0, 2.0))
            while not park and xb < x_b - 6.0:
                width = min(_uniform(rng, (8.0, 24.0)), x_b - xb)
                if width < 5.0:
                    break
                depth = _uniform(rng, (8.0, 18.0))
                height = _uniform(rng, cfg.building_height_m)
                setback = _uniform(rng, (0.0, 3.0)) if rng.random() < 0.5 else 0.0
                y_front = kerb_y + side * (sw + setback)
                style = int(rng.integers(3))
                colour = FACADE_COLOURS[int(rng.integers(len(FACADE_COLOURS)))]
                if style == 2:
                    colour = (0.30, 0.38, 0.45)
                tex = (style, _uniform(rng, (2.9, 3.6)), _uniform(rng, (2.2, 3.4)), _uniform(rng, (0.35, 0.6)))
                b.add(BOX, (xb + width / 2, y_front + side * depth / 2, height / 2), 0.0, (width / 2, depth / 2, height / 2),
                      BUILDING, colour, BUILDING_CLS, b.new_instance(), tex=tex)
                xb += width + (_uniform(rng, (0.0, 4.0)) if rng.random() < 0.4 else 0.0)
            # trees on the sidewalk (or in the park)
            if park or rng.random() < 0.55:
                xt = x_a + _uniform(rng, (2.0, 6.0))
                while xt < x_b - 2.0:
                    ty = kerb_y + side * (sw - 0.9 if not park else _uniform(rng, (sw + 2, sw + 12)))
                    trunk_h = _uniform(rng, (2.0, 3.5))
                    tr = _uniform(rng, (0.12, 0.2))
                    crown = _uniform(rng, (1.4, 2.8))
                    inst = b.new_instance()
                    base_z = kh if not park else 0.0
                    b.add(CYLINDER, (xt, ty, base_z + trunk_h / 2), 0.0, (tr, tr, trunk_h / 2), TRUNK,
                          (0.30, 0.22, 0.15), VEGETATION, inst)
                    g = _uniform(rng, (0.8, 1.2))
                    b.add(SPHERE, (xt, ty, base_z + trunk_h + 0.6 * crown), 0.0, (crown, crown, crown), FOLIAGE,
                          (0.16 * g, 0.34 * g, 0.10 * g), VEGETATION, inst, tex=(float(rng.integers(1 << 16)), 0, 0, 0))
                    xt += _uniform(rng, cfg.tree_spacing_m) / max(dens, 0.2)
            # street lamps near the kerb
            xp = x_a + _uniform(rng, (1.0, 8.0))
            while xp < x_b - 1.0:
                py = kerb_y + side * 0.5
                ph = _uniform(rng, (6.0, 8.0))
                inst = b.new_instance()
                b.add(CYLINDER, (xp, py, kh + ph / 2), 0.0, (0.09, 0.09, ph / 2), POLE, (0.35, 0.36, 0.38), POLE_CLS, inst)
                b.add(BOX, (xp, py - side * 0.9, kh + ph - 0.1), 0.0, (0.3, 1.0, 0.08), LAMP, (0.3, 0.3, 0.32), POLE_CLS,
                      inst)
                xp += _uniform(rng, cfg.pole_spacing_m) / max(dens, 0.2)
            # a traffic sign near the block start/end, facing the traffic on this side
            if rng.random() < 0.7:
                xs = x_b - 3.0 if side < 0 else x_a + 3.0
                sy = kerb_y + side * 0.4
                inst = b.new_instance()
                b.add(CYLINDER, (xs, sy, kh + 1.3), 0.0, (0.04, 0.04, 1.3), POLE, (0.5, 0.5, 0.52), SIGN_CLS, inst)
                b.add(BOX, (xs, sy, kh + 2.6 + 0.35), 0.0, (0.03, 0.35, 0.35), SIGN,
                      SIGN_COLOURS[int(rng.integers(len(SIGN_COLOURS)))], SIGN_CLS, inst,
                      tex=(float(rng.integers(3)), 0, 0, 0))
            # parked vehicles in the parking strip
            if cfg.parking_width_m > 1.5:
                xc = x_a + 1.0
                while xc < x_b - 6.0:
                    if rng.random() < min(1.0, cfg.parked_car_density * dens):
                        heading = 0.0 if side < 0 else math.pi
                        heading += math.radians(_uniform(rng, (-3.0, 3.0)))
                        py = kerb_y - side * (cfg.parking_width_m / 2 + 0.05)
                        L = _add_vehicle(b, rng, xc + 3.0, py, heading, truck=rng.random() < 0.12)
                        xc += max(L + 1.0, 6.0)
                    else:
                        xc += 6.0

    # moving traffic: one speed per lane so vehicles of a lane never collide
    ego_y = center_y - (hw - cfg.parking_width_m) + lw / 2  # rightmost +x lane centre
    n_moving = int(round(cfg.moving_cars_per_100m * dens * x_max / 100.0))
    lane_ys = [center_y - (k + 0.5) * lw for k in range(lanes)] + [center_y + (k + 0.5) * lw for k in range(lanes)]
    lane_dirs = [1.0] * lanes + [-1.0] * lanes
    lane_speed = [_uniform(rng, (6.0, 14.0)) for _ in lane_ys]
    ego_lane = int(np.argmin([abs(y - ego_y) for y in lane_ys]))
    lane_speed[ego_lane] = speed + _uniform(rng, (0.3, 1.5))  # ahead of the ego, pulling away
    occupied: dict[int, list[float]] = {k: [] for k in range(len(lane_ys))}
    for _ in range(n_moving):
        k = int(rng.integers(len(lane_ys)))
        xs = _uniform(rng, (0.0, x_max))
        if k == ego_lane and xs < x0 + 14.0:
            continue
        if any(abs(xs - o) < 14.0 for o in occupied[k]):
            continue
        occupied[k].append(xs)
        v = lane_speed[k] * lane_dirs[k]
        g = b.new_group((v, 0.0, 0.0))
        _add_vehicle(b, rng, xs, lane_ys[k], 0.0 if lane_dirs[k] > 0 else math.pi, group=g, truck=rng.random() < 0.1)

    sun = draw_sun(rng, cfg)
    ego = EgoPath(x0, ego_y, speed, _uniform(rng, (0.0, 0.3)), _uniform(rng, (6.0, 14.0)), _uniform(rng, (0, 6.28)))
    return finish_scene(b, rng, cfg, seed, look, road, ego, sun)


def draw_sun(rng: np.random.Generator, cfg: WorldConfig) -> torch.Tensor:
    """A unit vector (3,) float64 towards the sun, elevation within ``cfg.sun_elevation_deg``."""
    elev = math.radians(_uniform(rng, cfg.sun_elevation_deg))
    azim = _uniform(rng, (0.0, 2 * math.pi))
    return torch.tensor([math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev)],
                        dtype=torch.float64)


def finish_scene(b: _Builder, rng: np.random.Generator, cfg: WorldConfig, seed: int, look: Appearance,
                 road: RoadLayout, ego: EgoPath, sun: torch.Tensor) -> Scene:
    """The scene of builder ``b`` lit by ``sun``: sky and ambient drawn from ``rng`` and ``look``, albedo jittered."""
    haze = _uniform(rng, (0.0, 1.0))
    zenith = (0.25 + 0.1 * haze, 0.45 + 0.1 * haze, 0.80)
    horizon = (0.75 + 0.1 * haze, 0.80 + 0.08 * haze, 0.86 + 0.05 * haze)
    if look.overcast > 0:  # grey sky
        k = look.overcast
        zenith = tuple(z + (g - z) * k for z, g in zip(zenith, (0.58, 0.60, 0.63)))
        horizon = tuple(h + (g - h) * k for h, g in zip(horizon, (0.72, 0.73, 0.75)))
    prims = b.build()
    prims = dataclasses.replace(prims, albedo=jitter_albedo(prims.albedo, look.albedo_jitter, seed))
    ambient = _uniform(rng, cfg.ambient)
    return Scene(
        prims=prims,
        road=road,
        ego=ego,
        sun_dir=sun,
        ambient=ambient + look.ambient_boost if look.overcast > 0 else ambient,
        sky_zenith=zenith,
        sky_horizon=horizon,
        seed=int(seed),
        appearance=look,
    )
