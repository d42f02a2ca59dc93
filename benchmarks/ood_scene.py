"""Depth on a scene the street generator never makes: boxes and spheres on open ground.

Builds a six-camera drive through a field of randomly placed, sized and coloured boxes and
spheres on grass/gravel (no road, kerbs, buildings in rows, cars or trees: the layout statistics
the students were trained on are absent), renders it with the world's ray tracer (exact depth),
writes it as a bag and scores each checkpoint with the product's own ``disdepth eval-bag
--gt depth``, next to the best *constant* depth (the 1/d-weighted median of the ground truth,
which minimises AbsRel). Results: ``<out>/ood.json`` and a Markdown table on stdout.

    python benchmarks/ood_scene.py --out out/ood --checkpoint weights/student_default \\
        --checkpoint weights/student_supervised [--seed 0] [--frames 6] [--size 224x384]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def build_ood_scene(seed: int, duration_s: float):
    """A Scene of random boxes/spheres on open ground (the road is placed far out of view)."""
    from disdepth_core.world import scene as S
    from disdepth_core.world.primitives import BOX, SPHERE

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x00D]))
    b = S._Builder()
    speed = 3.0
    x0, y0 = 80.0, 60.0
    for _ in range(220):
        x = x0 + rng.uniform(-70, 90 + speed * duration_s)
        y = y0 + rng.uniform(-60, 60)
        if abs(y - y0) < 3.0 and x0 - 10 < x < x0 + speed * duration_s + 10:
            continue  # keep the ego's corridor free
        colour = tuple(float(c) for c in rng.uniform(0.08, 0.85, 3))
        if rng.random() < 0.65:
            half = tuple(float(v) for v in rng.uniform([0.3, 0.3, 0.3], [4.0, 4.0, 5.0]))
            b.add(BOX, (x, y, half[2]), float(rng.uniform(0, math.pi)), half, S.BUILDING, colour, S.BUILDING_CLS,
                  b.new_instance(), tex=(int(rng.integers(3)), float(rng.uniform(2.9, 3.6)),
                                         float(rng.uniform(2.2, 3.4)), float(rng.uniform(0.35, 0.6))))
        else:
            r = float(rng.uniform(0.4, 3.5))
            b.add(SPHERE, (x, y, r * rng.uniform(0.6, 1.0)), 0.0, (r, r, r), S.CAR_BODY, colour, S.VEHICLE,
                  b.new_instance())
    road = S.RoadLayout(center_y=-5000.0, lanes=1, lane_width=3.5, parking_width=0.0, sidewalk_width=2.0,
                        kerb_height=0.0, cross_x=[], cross_w=[], x_max=1e4)
    elev, azim = math.radians(rng.uniform(25, 60)), rng.uniform(0, 2 * math.pi)
    sun = torch.tensor([math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev)],
                       dtype=torch.float64)
    return S.Scene(prims=b.build(), road=road, ego=S.EgoPath(x0, y0, speed, 0.0, 10.0, 0.0), sun_dir=sun,
                   ambient=0.38, sky_zenith=(0.3, 0.5, 0.8), sky_horizon=(0.8, 0.84, 0.88), seed=seed)


def write_bag(out: Path, seed: int, frames: int, size: tuple[int, int]) -> Path:
    from disdepth_core.geometry import CameraRig
    from disdepth_core.world.config import WorldConfig
    from disdepth_core.world.export_bag import BagWriter
    from disdepth_core.world.renderer import WorldRenderer
    from disdepth_core.world.sequence import WorldSequence

    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(*size)
    cfg = WorldConfig(rate_hz=2.0)
    seq = WorldSequence(rig, frames, seed=seed, cfg=cfg)
    seq.scene = build_ood_scene(seed, frames / cfg.rate_hz)
    seq.renderer = WorldRenderer(seq.scene, rig, cfg, seed)
    bag = out / "bag"
    w = BagWriter(seq, bag)
    w.begin()
    for f in seq:
        w.write(f)
    w.end()
    return bag


def best_constant(bag: Path, size: tuple[int, int]) -> dict:
    """The constant minimising AbsRel (1/d-weighted median of GT) and its AbsRel, δ<1.25 on the bag."""
    from disdepth_core.evaluation.bag_source import BagSource
    from disdepth_core.geometry import CameraRig

    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(*size)
    src = BagSource(bag, rig)
    d = np.concatenate([s.gt[s.gt_valid & (s.gt >= 0.1) & (s.gt <= 80.0)] for s in src]).astype(np.float64)
    src.close()
    order = np.argsort(d)
    w = 1.0 / d[order]
    c = float(d[order][np.searchsorted(np.cumsum(w), 0.5 * w.sum())])
    return {"constant_m": c, "abs_rel": float(np.mean(np.abs(c - d) / d)),
            "a1": float(np.mean(np.maximum(c / d, d / c) < 1.25)), "pixels": int(d.size)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint", action="append", default=[])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--size", default="224x384")
    a = p.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    a.out.mkdir(parents=True, exist_ok=True)
    bag = a.out / "bag"
    if not bag.exists():
        write_bag(a.out, a.seed, a.frames, size)
    res = {"bag": str(bag), "seed": a.seed, "frames": a.frames, "size": list(size),
           "best_constant": best_constant(bag, size), "checkpoints": {}}
    for ck in a.checkpoint:
        name = Path(ck).name
        cmd = [sys.executable, "-m", "disdepth_core.cli", "eval-bag", str(bag), "--checkpoint", ck, "--gt", "depth",
               "--device", "cpu", "--out", str(a.out / name), "--quiet"]
        subprocess.run(cmd, check=True)
        m = json.loads((a.out / name / "metrics.json").read_text())
        res["checkpoints"][ck] = {k: m["metric"]["all"][k] for k in ("abs_rel", "rmse", "a1")}
        res["checkpoints"][ck]["median_abs_rel"] = m["median"]["all"]["abs_rel"]
        res["checkpoints"][ck]["error_by_distance"] = m["error_by_distance"]
    (a.out / "ood.json").write_text(json.dumps(res, indent=1) + "\n")
    bc = res["best_constant"]
    print("| model | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled |\n|---|---|---|---|---|")
    for ck, m in res["checkpoints"].items():
        print(f"| {ck} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['a1']:.4f} | {m['median_abs_rel']:.4f} |")
    print(f"| best constant ({bc['constant_m']:.2f} m) | {bc['abs_rel']:.4f} | | {bc['a1']:.4f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
