"""The acceptance measurement of the shipped students (issue 17), exactly as deployed.

For each checkpoint: ``disdepth eval-bag --gt depth`` (eval mode, the shipped fp16 checkpoint,
the engine's pre-processing) on world drives no student trained on or was chosen with (seeds
424242 and 777001, 6 frames, 224x384, default world), and on the boxes-and-spheres scene of
``benchmarks/ood_scene.py`` next to the best constant depth. Writes ``<results>.json`` / ``.md``.

    python benchmarks/student_quality.py --checkpoint weights/student_default \\
        --checkpoint weights/student_supervised --work out/student_quality \\
        --results docs/results/student_quality
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVES = (424242, 777001)


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "disdepth_core.cli", *args], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


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
                 "--quiet")
            m = json.loads((out / "metrics.json").read_text())
            res["drives"].setdefault(ck, {})[str(seed)] = {
                **{k: m["metric"]["all"][k] for k in ("abs_rel", "rmse", "a1")},
                "median_abs_rel": m["median"]["all"]["abs_rel"], "cross_view": m.get("cross_view"),
                "cross_view_gt": m.get("cross_view_gt")}
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "ood_scene.py"), "--out", str(a.work / "ood"),
                    *[x for ck in a.checkpoint for x in ("--checkpoint", ck)]], check=True)
    res["ood"] = json.loads((a.work / "ood" / "ood.json").read_text())
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    cmd = "python benchmarks/student_quality.py " + " ".join(f"--checkpoint {c}" for c in a.checkpoint)
    md = ["# Shipped students on data they never saw, measured as deployed", "",
          f"Command: `{cmd}` (each number is `disdepth eval-bag --gt depth` of the shipped fp16 checkpoint).", "",
          "## World drives (default world, 6 frames, 224x384, seeds never used for training or choice)", "",
          "| checkpoint | drive | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled | cross-view (GT floor) |",
          "|---|---|---|---|---|---|---|"]
    for ck, drives in res["drives"].items():
        for seed, m in drives.items():
            cv = f"{m['cross_view']:.4f} ({m['cross_view_gt']:.4f})" if m.get("cross_view_gt") else ""
            md.append(f"| {ck} | {seed} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['a1']:.4f} | "
                      f"{m['median_abs_rel']:.4f} | {cv} |")
    ood = res["ood"]
    bc = ood["best_constant"]
    md += ["", "## Boxes and spheres on open ground (not a street: `benchmarks/ood_scene.py`, 6 frames, 224x384)", "",
           "| model | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled |", "|---|---|---|---|---|"]
    for ck, m in ood["checkpoints"].items():
        md.append(f"| {ck} | {m['abs_rel']:.4f} | {m['rmse']:.3f} | {m['a1']:.4f} | {m['median_abs_rel']:.4f} |")
    md.append(f"| best constant ({bc['constant_m']:.2f} m, chosen with the ground truth) | {bc['abs_rel']:.4f} | | "
              f"{bc['a1']:.4f} | |")
    a.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
