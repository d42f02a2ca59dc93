"""The acceptance measurement of the shipped students (issue 17), exactly as deployed.

For each checkpoint: ``disdepth eval-bag --gt depth`` (eval mode, the shipped fp16 checkpoint,
the engine's pre-processing) on world drives no student trained on or was chosen with (seeds
424242 and 777001, 6 frames, 224x384, default world), and on the boxes-and-spheres scene of
``benchmarks/ood_scene.py`` next to the best constant depth. Writes ``<results>.json`` / ``.md``.

AbsRel and δ count only pixels with a surface within the range (0.5-80 m). The pixels with none --
sky, or anything beyond 80 m -- are what a depth image gets most visibly wrong in RViz: a model that
puts them near publishes a dome of points over the car. ``phantom``: the share of those pixels the
model puts within 40 m (half the range; the node's cloud keeps points up to ``cloud.max_range`` 50 m),
and its median depth there.
``by_distance``: AbsRel per distance band (0-5 / 5-10 / 10-20 / 20-40 / 40-80 m) and each band's share
of the summed per-pixel relative error, to say where a drive's error is.

    python benchmarks/student_quality.py --checkpoint weights/student_default \\
        --checkpoint weights/student_supervised --work out/student_quality \\
        --results docs/results/student_quality
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVES = (424242, 777001)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "disdepth_core.cli", *args], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def phantom_points(bag: Path, predictions: Path, *, max_depth: float = 80.0, near: float = 40.0) -> dict:
    """Pixels with no surface within ``max_depth`` in the bag's rendered ``depth_gt`` (NaN = sky): how
    many, the share the saved predictions put within ``near`` metres, and their median predicted depth."""
    import numpy as np
    from rosbags.highlevel import AnyReader

    from disdepth_core import bag_messages as bm

    gt = {}
    with AnyReader([bag]) as reader:
        cons = [c for c in reader.connections if c.topic.endswith("/depth_gt")]
        for con, _, raw in reader.messages(connections=cons):
            msg = reader.deserialize(raw, con.msgtype)
            gt[(con.topic.strip("/").split("/")[0], bm.stamp_ns(msg.header))] = bm.image_to_depth(msg)
    total, phantom, values = 0, 0, []
    for f in sorted(predictions.glob("*.npz")):
        z = np.load(f)
        for cam in (k for k in z.files if not k.startswith("stamp_ns.")):
            g, p = gt[(cam, int(z[f"stamp_ns.{cam}"]))], z[cam]
            assert g.shape == p.shape, (f, cam, g.shape, p.shape)
            none = ~np.isfinite(g) | (g > max_depth)
            d = np.where(np.isfinite(p), p, max_depth)[none]  # +Inf / NaN: not put anywhere near
            total, phantom = total + d.size, phantom + int((d < near).sum())
            values.append(d)
    v = np.concatenate(values) if values else np.zeros(0)
    return {"pixels": total, "share_within_near": phantom / max(total, 1), "median_m": float(np.median(v)) if v.size
            else float("nan"), "near_m": near, "max_depth_m": max_depth}


BANDS_M = (0, 5, 10, 20, 40, 80)


def distance_bands(error_by_distance: list[dict], edges=BANDS_M) -> list[dict]:
    """eval-bag's ``error_by_distance`` bins merged into ``edges`` (metres): per band the pixels, the
    pixel-mean AbsRel, the band's share of the summed per-pixel relative error (where the error is) and its
    scale, the geometric mean of prediction / GT (None where the bins predate it)."""
    out = [{"from_m": lo, "to_m": hi, "pixels": 0, "abs_rel_sum": 0.0, "log_scale_sum": 0.0}
           for lo, hi in zip(edges, edges[1:])]
    has_scale = all("scale" in b for b in error_by_distance if b["pixels"])
    for b in error_by_distance:
        if not b["pixels"]:
            continue
        band = next((o for o in out if o["from_m"] <= b["from_m"] and b["to_m"] <= o["to_m"]), None)
        if band is None:
            raise ValueError(f"distance bin {b['from_m']}-{b['to_m']} m straddles the bands {edges}")
        band["pixels"] += b["pixels"]
        band["abs_rel_sum"] += b["pixels"] * b["abs_rel"]
        band["log_scale_sum"] += b["pixels"] * math.log(b["scale"]) if has_scale else 0.0
    total = sum(o["abs_rel_sum"] for o in out) or 1.0
    return [{"from_m": o["from_m"], "to_m": o["to_m"], "pixels": o["pixels"],
             "abs_rel": o["abs_rel_sum"] / o["pixels"] if o["pixels"] else None,
             "error_share": o["abs_rel_sum"] / total,
             "scale": math.exp(o["log_scale_sum"] / o["pixels"]) if o["pixels"] and has_scale else None}
            for o in out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", required=True)
    p.add_argument("--work", type=Path, default=Path("out/student_quality"))
    p.add_argument("--results", type=Path, default=Path("docs/results/student_quality"))
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    res: dict = {"drives": {}, "ood": None}
    for seed in DRIVES:
        bag = a.work / f"world_seed{seed}"
        if not bag.exists():
            _cli("world", "--out", str(bag), "--frames", "6", "--seed", str(seed), "--size", "224x384",
                 "--format", "bag", "--quiet")
        for ck in a.checkpoint:
            out = a.work / f"eval_{Path(ck).name}_seed{seed}"
            _cli("eval-bag", str(bag), "--checkpoint", ck, "--gt", "depth", "--device", "cpu", "--out", str(out),
                 "--save-predictions", "--quiet")
            m = json.loads((out / "metrics.json").read_text())
            res["drives"].setdefault(ck, {})[str(seed)] = {
                **{k: m["metric"]["all"][k] for k in ("abs_rel", "rmse", "a1")},
                "median_abs_rel": m["median"]["all"]["abs_rel"], "cross_view": m.get("cross_view"),
                "cross_view_gt": m.get("cross_view_gt"), "phantom": phantom_points(bag, out / "predictions"),
                "confidence": (m.get("confidence") or {}).get("all"),
                "by_distance": distance_bands(m["error_by_distance"])}
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "ood_scene.py"), "--out", str(a.work / "ood"),
                    *[x for ck in a.checkpoint for x in ("--checkpoint", ck)]], check=True)
    res["ood"] = json.loads((a.work / "ood" / "ood.json").read_text())
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    cmd = "python benchmarks/student_quality.py " + " ".join(f"--checkpoint {c}" for c in a.checkpoint)
    md = ["# Shipped students on data they never saw, measured as deployed", "",
          f"Command: `{cmd}` (each number is `disdepth eval-bag --gt depth` of the shipped fp16 checkpoint).", "",
          "## World drives (default world, 6 frames, 224x384, seeds never used for training or choice)", "",
          "| checkpoint | drive | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled | cross-view (GT floor) "
          "| no surface within 80 m: put within 40 m (median depth there) | confidence AUSE (random) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for ck, drives in res["drives"].items():
        for seed, m in drives.items():
            cv = f"{m['cross_view']:.4f} ({m['cross_view_gt']:.4f})" if m.get("cross_view_gt") else ""
            ph, c = m["phantom"], m.get("confidence")
            conf = f"{c['ause']:.4f} ({c['ause_random']:.4f})" if c else "none"
            md.append(f"| {ck} | {seed} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['a1']:.4f} | "
                      f"{m['median_abs_rel']:.4f} | {cv} | {100 * ph['share_within_near']:.1f} % "
                      f"({ph['median_m']:.1f} m) | {conf} |")
    md += ["", "### Where the error is: AbsRel per distance band (share of the summed per-pixel relative error)", "",
           "| checkpoint | drive | " + " | ".join(f"{lo}-{hi} m" for lo, hi in zip(BANDS_M, BANDS_M[1:])) + " |",
           "|---|---|" + "---|" * (len(BANDS_M) - 1)]
    for ck, drives in res["drives"].items():
        for seed, m in drives.items():
            md.append(f"| {ck} | {seed} | " + " | ".join(
                f"{b['abs_rel']:.3f} ({100 * b['error_share']:.0f} %)" if b["pixels"] else "" for b in m["by_distance"])
                + " |")
    ood = res["ood"]
    bc = ood["best_constant"]
    md += ["", "## Boxes and spheres on open ground (not a street: `benchmarks/ood_scene.py`, 6 frames, 224x384)", "",
           "| model | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled |", "|---|---|---|---|---|"]
    for ck, m in ood["checkpoints"].items():
        md.append(f"| {ck} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['a1']:.4f} | {m['median_abs_rel']:.4f} |")
    md.append(f"| best constant ({bc['constant_m']:.2f} m, chosen with the ground truth) | {bc['abs_rel']:.4f} | | "
              f"{bc['a1']:.4f} | |")
    md += ["", "Scale per distance band off the street (geometric mean of prediction / ground truth; 1 = unbiased, "
           "below 1 = put too near):", "",
           "| model | " + " | ".join(f"{lo}-{hi} m" for lo, hi in zip(BANDS_M, BANDS_M[1:])) + " |",
           "|---|" + "---|" * (len(BANDS_M) - 1)]
    for ck, m in ood["checkpoints"].items():
        bands = distance_bands(m["error_by_distance"])
        md.append(f"| {ck} | " + " | ".join(f"{b['scale']:.2f}" if b["scale"] else "" for b in bands) + " |")
    a.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
