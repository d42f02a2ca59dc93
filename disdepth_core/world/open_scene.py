"""Procedural off-street place: open ground with things scattered over it, from a seed.

What a street never shows: no road, kerbs, lanes or rows of facades; grass and gravel to
the horizon and, placed anywhere at any heading, free-standing buildings, sheds and
containers, tanks and silos, boulders and bushes, clumps of trees, poles and vehicles
parked at random angles -- a yard, a car park, a field, a depot. How much of each comes
from the seed (one place is a bare field, the next a cluttered yard) times the street's
appearance ``density``. The ego drives straight across at the configured speed, its
corridor kept free.

Used as a pool of *unlabelled* frames for distillation (``world.open_seed_range`` of an
ablation): the teacher's view of scenes the labelled streets never show. Same world frame,
materials, lighting and appearance draws as :func:`disdepth_core.world.scene.build_scene`.
"""

from __future__ import annotations

import math

import numpy as np

from .appearance import draw_appearance
from .config import WorldConfig
from .primitives import BOX, CYLINDER, SPHERE
from .scene import (
    BUILDING,
    BUILDING_CLS,
    CAR_BODY,
    FACADE_COLOURS,
    FOLIAGE,
    POLE,
    POLE_CLS,
    TERRAIN,
    TRUNK,
    VEGETATION,
    EgoPath,
    RoadLayout,
    Scene,
    _add_vehicle,
    _Builder,
    _uniform,
    draw_sun,
    finish_scene,
)

# Object kinds and, per kind, the range of counts per 100 m of drive at density 1 (drawn per place).
PER_100M = {
    "building": (0.0, 8.0),
    "shed": (0.0, 20.0),
    "tank": (0.0, 4.0),
    "boulder": (0.0, 20.0),
    "tree_clump": (0.0, 6.0),
    "vehicle": (0.0, 16.0),
    "pole": (0.0, 6.0),
}
EARTH_COLOURS = [(0.42, 0.38, 0.33), (0.55, 0.50, 0.44), (0.35, 0.33, 0.30), (0.60, 0.56, 0.48), (0.30, 0.27, 0.22)]
HALF_WIDTH_M = 70.0   # things are placed up to this far either side of the drive
CORRIDOR_M = 3.5      # and never closer than this to it


def build_open_scene(cfg: WorldConfig, seed: int, duration_s: float) -> Scene:
    """A random open place long enough for ``duration_s`` seconds of driving, from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x0BE7]))
    look = draw_appearance(cfg.appearance, seed, cfg.noise_std)
    b = _Builder()
    speed = _uniform(rng, cfg.ego_speed_mps)
    x0, y0 = 80.0, 100.0
    x_lo, x_hi = x0 - cfg.max_range_m * 0.7, x0 + speed * duration_s + cfg.max_range_m
    length_100m = (x_hi - x_lo) / 100.0
    dens = max(look.density, 0.2)

    def spot(margin: float) -> tuple[float, float] | None:
        """A free-standing position (x, y) clear of the ego corridor by ``margin`` m, or None."""
        x, y = _uniform(rng, (x_lo, x_hi)), y0 + _uniform(rng, (-HALF_WIDTH_M, HALF_WIDTH_M))
        near_drive = x0 - 15.0 < x < x0 + speed * duration_s + 15.0
        return None if near_drive and abs(y - y0) < CORRIDOR_M + margin else (x, y)

    counts = {k: int(round(_uniform(rng, lohi) * dens * length_100m)) for k, lohi in PER_100M.items()}
    for _ in range(counts["building"]):
        w, d, h = _uniform(rng, (6.0, 24.0)), _uniform(rng, (6.0, 18.0)), _uniform(rng, cfg.building_height_m)
        p = spot(0.5 * math.hypot(w, d))
        if p is None:
            continue
        style = int(rng.integers(3))
        colour = (0.30, 0.38, 0.45) if style == 2 else FACADE_COLOURS[int(rng.integers(len(FACADE_COLOURS)))]
        tex = (style, _uniform(rng, (2.9, 3.6)), _uniform(rng, (2.2, 3.4)), _uniform(rng, (0.35, 0.6)))
        b.add(BOX, (p[0], p[1], h / 2), _uniform(rng, (0.0, math.pi)), (w / 2, d / 2, h / 2), BUILDING, colour,
              BUILDING_CLS, b.new_instance(), tex=tex)
    for _ in range(counts["shed"]):  # sheds, containers, crates, walls: plain or facade-textured boxes
        half = (_uniform(rng, (0.3, 6.0)), _uniform(rng, (0.3, 3.0)), _uniform(rng, (0.3, 2.5)))
        p = spot(math.hypot(half[0], half[1]))
        if p is None:
            continue
        colour = tuple(float(c) for c in rng.uniform(0.08, 0.85, 3))
        yaw = _uniform(rng, (0.0, math.pi))
        if rng.random() < 0.3:  # facade-textured (brick, render, glass)
            tex = (int(rng.integers(3)), _uniform(rng, (2.9, 3.6)), _uniform(rng, (2.2, 3.4)), _uniform(rng, (0.35, 0.6)))
            b.add(BOX, (p[0], p[1], half[2]), yaw, half, BUILDING, colour, BUILDING_CLS, b.new_instance(), tex=tex)
        else:  # painted metal
            b.add(BOX, (p[0], p[1], half[2]), yaw, half, CAR_BODY, colour, BUILDING_CLS, b.new_instance())
    for _ in range(counts["tank"]):  # tanks and silos: upright cylinders
        r, h = _uniform(rng, (0.8, 4.0)), _uniform(rng, (1.5, 12.0))
        p = spot(r)
        if p is None:
            continue
        colour = tuple(float(c) for c in rng.uniform(0.3, 0.85, 3))
        b.add(CYLINDER, (p[0], p[1], h / 2), 0.0, (r, r, h / 2), CAR_BODY, colour, BUILDING_CLS, b.new_instance())
    for _ in range(counts["boulder"]):  # boulders (earth colours) and bushes (foliage), partly sunk
        r = _uniform(rng, (0.3, 2.5))
        p = spot(r)
        if p is None:
            continue
        if rng.random() < 0.5:
            b.add(SPHERE, (p[0], p[1], r * _uniform(rng, (0.2, 0.8))), 0.0, (r, r, r * _uniform(rng, (0.6, 1.0))),
                  TRUNK, EARTH_COLOURS[int(rng.integers(len(EARTH_COLOURS)))], TERRAIN, b.new_instance())
        else:
            g = _uniform(rng, (0.8, 1.2))
            b.add(SPHERE, (p[0], p[1], r * 0.7), 0.0, (r, r, r * 0.8), FOLIAGE, (0.16 * g, 0.34 * g, 0.10 * g),
                  VEGETATION, b.new_instance(), tex=(float(rng.integers(1 << 16)), 0, 0, 0))
    for _ in range(counts["tree_clump"]):
        c = spot(5.0 * math.sqrt(2.0) + 3.5)  # up to 5 m apart in x and y, crowns up to 3.5 m
        if c is None:
            continue
        for _ in range(int(rng.integers(1, 8))):
            x, y = c[0] + _uniform(rng, (-5.0, 5.0)), c[1] + _uniform(rng, (-5.0, 5.0))
            trunk_h, tr, crown = _uniform(rng, (1.5, 5.0)), _uniform(rng, (0.1, 0.3)), _uniform(rng, (1.2, 3.5))
            inst, g = b.new_instance(), _uniform(rng, (0.8, 1.2))
            b.add(CYLINDER, (x, y, trunk_h / 2), 0.0, (tr, tr, trunk_h / 2), TRUNK, (0.30, 0.22, 0.15), VEGETATION,
                  inst)
            b.add(SPHERE, (x, y, trunk_h + 0.6 * crown), 0.0, (crown, crown, crown), FOLIAGE,
                  (0.16 * g, 0.34 * g, 0.10 * g), VEGETATION, inst, tex=(float(rng.integers(1 << 16)), 0, 0, 0))
    for _ in range(counts["vehicle"]):
        p = spot(4.0)  # half the diagonal of the longest truck
        if p is not None:
            _add_vehicle(b, rng, p[0], p[1], _uniform(rng, (0.0, 2 * math.pi)), truck=rng.random() < 0.15)
    for _ in range(counts["pole"]):
        p = spot(0.5)
        if p is None:
            continue
        ph = _uniform(rng, (3.0, 10.0))
        b.add(CYLINDER, (p[0], p[1], ph / 2), 0.0, (0.09, 0.09, ph / 2), POLE, (0.35, 0.36, 0.38), POLE_CLS,
              b.new_instance())
    # no road in view: the ground shader paints everything beyond a road's half width as terrain
    road = RoadLayout(center_y=-5000.0, lanes=1, lane_width=cfg.lane_width_m, parking_width=0.0,
                      sidewalk_width=1.0, kerb_height=0.0, cross_x=[], cross_w=[], x_max=x_hi)
    sun = draw_sun(rng, cfg)
    ego = EgoPath(x0, y0, speed, _uniform(rng, (0.0, 0.6)), _uniform(rng, (6.0, 14.0)), _uniform(rng, (0, 6.28)))
    return finish_scene(b, rng, cfg, seed, look, road, ego, sun)

