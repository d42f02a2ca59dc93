"""Students on held-out drives of one rig, as deployed (reports numbers, asserts nothing).

    python benchmarks/rig_comparison.py --rig config/rigs/delivery_robot.yaml \\
        --drive out/robot/heldout/drive_32001 --drive out/robot/heldout/drive_32002 \\
        --checkpoint weights/student_default --checkpoint out/robot/run/student_run/student \\
        --work out/robot/compare --results docs/results/robot_rig

Each number is ``disdepth eval-bag DRIVE --checkpoint CK --rig RIG --gt depth`` (eval mode, the
checkpoint, the engine's pre-processing). Written: ``<results>.json`` and ``<results>.md`` with the
AbsRel / RMSE / δ<1.25 of every checkpoint per drive and per camera (all drives' images together).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CAM_KEYS = ("abs_rel", "rmse", "a1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rig", required=True)
    ap.add_argument("--drive", action="append", required=True, help="held-out bag (repeat)")
    ap.add_argument("--checkpoint", action="append", required=True, help="student directory or ONNX (repeat)")
    ap.add_argument("--work", type=Path, default=Path("out/rig_comparison"))
    ap.add_argument("--results", type=Path, required=True)
    a = ap.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    res: dict = {"rig": a.rig, "drives": a.drive, "checkpoints": {}}
    for ck in a.checkpoint:
        per_drive, cams = {}, {}
        for drive in a.drive:
            out = a.work / f"{Path(ck).name}_{Path(drive).name}"
            backend = ["--backend", "onnxruntime"] if ck.endswith(".onnx") else []
            subprocess.run([sys.executable, "-m", "disdepth_core.cli", "eval-bag", drive, "--checkpoint", ck, *backend,
                            "--rig", a.rig, "--gt", "depth", "--device", "cpu", "--quiet", "--out", str(out)],
                           check=True, env=env)
            m = json.loads((out / "metrics.json").read_text())["metric"]
            per_drive[drive] = {k: m["all"][k] for k in CAM_KEYS}
            for cam, v in m["per_camera"].items():  # image-weighted mean over the drives
                c = cams.setdefault(cam, {"images": 0, **{k: 0.0 for k in CAM_KEYS}})
                for k in CAM_KEYS:
                    c[k] += v[k] * v["images"]
                c["images"] += v["images"]
        for c in cams.values():
            for k in CAM_KEYS:
                c[k] /= max(c["images"], 1)
        res["checkpoints"][ck] = {"drives": per_drive, "per_camera": cams}
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    cmd = ("python benchmarks/rig_comparison.py --rig " + a.rig + "".join(f" --drive {d}" for d in a.drive)
           + "".join(f" --checkpoint {c}" for c in a.checkpoint) + f" --results {a.results}")
    md = [f"# Students on held-out drives of `{a.rig}`, as deployed", "", f"Command: `{cmd}` (each number is "
          "`disdepth eval-bag --gt depth` of the checkpoint; ONNX through onnxruntime).", "",
          f"| checkpoint | {' | '.join(Path(d).name + ' AbsRel / RMSE / δ<1.25' for d in a.drive)} |",
          "|---|" + "---|" * len(a.drive)]
    for ck, r in res["checkpoints"].items():
        md.append(f"| `{ck}` | " + " | ".join(f"{v['abs_rel']:.3f} / {v['rmse']:.2f} / {v['a1']:.3f}"
                                              for v in r["drives"].values()) + " |")
    cams = list(next(iter(res["checkpoints"].values()))["per_camera"])
    md += ["", f"Per camera (AbsRel / δ<1.25, all {len(a.drive)} drives):", "",
           f"| checkpoint | {' | '.join(cams)} |", "|---|" + "---|" * len(cams)]
    for ck, r in res["checkpoints"].items():
        md.append(f"| `{ck}` | " + " | ".join(f"{r['per_camera'][c]['abs_rel']:.3f} / {r['per_camera'][c]['a1']:.3f}"
                                              for c in cams) + " |")
    a.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
