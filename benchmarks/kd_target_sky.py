"""Where does the output-KD target put the sky? The teacher fitted to the LiDAR labels, on pixels with no surface.

For labelled training frames of a student run (its ``train_config.yaml``), the relative teacher's output is
fitted per image exactly as the log-form output KD fits it (``output_kd_align: labels``: least squares in
disparity onto the sparse LiDAR labels, clamped to the student's range) and read on the pixels where the
dense render has no surface (sky, or beyond the world's visibility limit). A target that puts them near
teaches a student to paint a dome over the car. Reports the share of those pixels the target puts within
``--near`` metres and each frame's median target depth there; asserts nothing.

    python benchmarks/kd_target_sky.py out/ablation_corpus/seed1/output_kd__log_bins__gaps___8_000_steps \\
        --teacher weights/teacher_synthetic --frames 24
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a student run directory (its train_config.yaml names the data)")
    p.add_argument("--teacher", default="", help="the teacher's weights directory (default: the run's)")
    p.add_argument("--frames", type=int, default=24, help="labelled six-camera samples, spread over the streets")
    p.add_argument("--near", type=float, default=40.0, help="metres")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    from kd_target_quality import labelled_run_frames  # benchmarks/ is this script's directory

    from disdepth_core.losses.relative_output_kd import fit_teacher_disparity
    from disdepth_core.training.stages import normalise

    cfg, sparse, dense, teacher = labelled_run_frames(a.run, a.teacher)
    m = cfg.model
    near = total = 0
    medians = []
    step = max(1, len(sparse) // a.frames)
    for i in range(0, step * a.frames, step):
        s, d = sparse[i], dense[i]
        with torch.no_grad():
            r = teacher(normalise(s.images, m.mean, m.std))["output"]
        target, _ = fit_teacher_disparity(r, s.depth, s.valid & (s.depth > 0), m.d_min, m.d_max)
        sky = (1.0 / target)[~d.valid]
        near += int((sky < a.near).sum())
        total += sky.numel()
        if sky.numel():
            medians.append(round(float(sky.median()), 1))
    res = {"run": str(a.run), "teacher": teacher.source, "frames": len(medians), "no_surface_pixels": total,
           "share_within_near": near / max(total, 1), "near_m": a.near, "d_max": m.d_max,
           "frame_median_target_depth_m": sorted(medians)}
    print(f"{total} no-surface pixels in {len(medians)} frames: the KD target puts {100 * res['share_within_near']:.1f} % "
          f"within {a.near:g} m; per-frame median target depth (m): {res['frame_median_target_depth_m']}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
