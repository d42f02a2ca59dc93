"""How good is what a KD term asks for? The output-KD target against dense ground truth.

For labelled training frames of a student run (its ``train_config.yaml``), the relative teacher's
output fitted per image as the log-form output KD fits it (``output_kd_align: labels``: to the
sparse LiDAR labels; least squares in disparity, clamped to the student's range), scored against
the frame's dense rendered depth; also the same fit weighted ``g^2`` (relative residuals, what the
loss did before) and the fit to the dense depth itself (an oracle). Alongside, the students named with ``--student`` on the
same frames and pixels. Pixels are split into those with a LiDAR label and those without (where
only the KD target supervises). AbsRel on pixels with rendered depth in (d_min, 80] m; reports,
asserts nothing.

    python benchmarks/kd_target_quality.py out/ablation_corpus/seed0/output_kd__log_form__fitted_to_labels \
        --student weights/student_supervised --student weights/student_distilled --frames 48

``--teacher DIR`` scores another teacher (e.g. a continued one) on the same run's frames.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
import torch.nn.functional as F


def labelled_run_frames(run: Path, teacher_dir=None):
    """A student run's config, its labelled training frames twice (sparse LiDAR labels; dense rendered depth,
    same order) and its teacher (``teacher_dir`` instead, if given), in eval mode."""
    from disdepth_core.config import load_config
    from disdepth_core.data.registry import build_dataset
    from disdepth_core.models.teacher import load_teacher
    from disdepth_core.training.config import TrainConfig

    cfg = load_config(TrainConfig, run / "train_config.yaml")
    sparse = build_dataset(dataclasses.replace(cfg.dataset, unlabelled="drop"), split=cfg.dataset.split)
    dense = build_dataset(dataclasses.replace(cfg.dataset, unlabelled="drop", gt_source="render"),
                          split=cfg.dataset.split)
    assert len(sparse) == len(dense)
    teacher = load_teacher(teacher_dir or cfg.teacher.path, grid_stride=cfg.teacher.grid_stride).eval()
    return cfg, sparse, dense, teacher


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--student", type=Path, action="append", default=[])
    p.add_argument("--teacher", type=Path, default=None, help="score this teacher instead of the run's")
    p.add_argument("--frames", type=int, default=48, help="labelled samples (all cameras each)")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    from disdepth_core.losses.relative_output_kd import fit_teacher_disparity
    from disdepth_core.models.checkpoint import load_student
    from disdepth_core.training.stages import normalise

    cfg, sparse, dense, teacher = labelled_run_frames(a.run, a.teacher)
    students = {str(s): load_student(s).eval() for s in a.student}
    d_min, d_max = cfg.model.d_min, cfg.model.d_max
    fits = (("KD target (teacher fitted to LiDAR)", "lidar", 0), ("same, fit weighted g^2", "lidar", 2),
            ("teacher fitted to dense GT (oracle)", "dense", 0))
    names = [f[0] for f in fits] + list(students)
    sums = {n: {"lidar": [0.0, 0], "no_lidar": [0.0, 0]} for n in names}
    step = max(1, len(sparse) // a.frames)
    for i in range(0, step * a.frames, step):
        s, g = sparse[i], dense[i]
        imgs = s.images.float()  # (V, 3, H, W) in [0, 1]
        lab, lab_ok = s.depth.float(), s.valid & (s.depth > 0)
        gt = g.depth.float()
        ok = g.valid & (gt > d_min) & (gt <= 80.0)
        with torch.no_grad():
            x = normalise(imgs, cfg.model.mean, cfg.model.std)
            r = teacher(x)["output"].float()
            r = F.interpolate(r[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            preds = {}
            for name, src, power in fits:
                depth, valid = (lab, lab_ok) if src == "lidar" else (gt, ok)
                disp, _ = fit_teacher_disparity(r, depth, valid, d_min, d_max,
                                                weight=depth.clamp_min(1e-6) ** power if power else None)
                preds[name] = 1.0 / disp
            for name, model in students.items():
                mc = model.config
                out = model(normalise(imgs, mc.mean, mc.std))  # eval mode: depth (V, H, W) metres
                preds[name] = (out["depth"] if isinstance(out, dict) else out).float()
        for name, pred in preds.items():
            if pred.shape[-2:] != gt.shape[-2:]:
                pred = F.interpolate(pred[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            err = (pred - gt).abs() / gt.clamp_min(1e-6)
            for part, m in (("lidar", ok & lab_ok), ("no_lidar", ok & ~lab_ok)):
                sums[name][part][0] += float(err[m].sum())
                sums[name][part][1] += int(m.sum())
    res = {"run": str(a.run), "teacher": str(teacher.source), "frames": a.frames, "abs_rel": {
        n: {part: v[0] / max(1, v[1]) for part, v in parts.items()} | {"pixels": {k: v[1] for k, v in parts.items()}}
        for n, parts in sums.items()}}
    print(f"{'':52s} {'AbsRel on LiDAR pixels':>24s} {'AbsRel elsewhere':>18s}")
    for n, v in res["abs_rel"].items():
        print(f"{n:52s} {v['lidar']:24.3f} {v['no_lidar']:18.3f}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
