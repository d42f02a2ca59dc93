"""Where does the output-KD target put the sky? The teacher fitted to the LiDAR labels, on pixels with no surface.

For labelled training frames of a student run (its ``train_config.yaml``), the relative teacher's output is
fitted per image exactly as the log-form output KD fits it (``output_kd_align: labels``: least squares in
disparity onto the sparse LiDAR labels, clamped to the student's range) and read on the pixels where the
dense render has no surface (sky, or beyond the world's visibility limit). A target that puts them near
teaches a student to paint a dome over the car. Reports the share of those pixels the target puts within
``--near`` metres and each frame's median target depth there; asserts nothing.

``--compare-fits`` also scores fits that would keep the sky far, against the dense render (AbsRel on the
LiDAR pixels, on the surfaces without a label, on surfaces beyond 30 m) next to their sky share:

- ``labels (training)``: the fit above;
- ``far end pinned``: the same fit, but where it puts the image's lowest 1 % of teacher disparity nearer
  than ``d_max``, refitted with that constraint on its boundary (one-parameter least squares);
- ``far end anchored (w)``: the lowest 2 % of teacher disparity added to the fit as pixels at ``d_max``,
  weighted ``w`` times the label count in all.

These are candidates measured before any student is trained on them; only the first is in the product.

    python benchmarks/kd_target_sky.py out/ablation_corpus/seed1/output_kd__log_bins__gaps___8_000_steps \\
        --teacher weights/teacher_synthetic --frames 24 --compare-fits
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F


def _pinned_far(r, depth, valid, d_min, d_max, q=0.01):
    """The labels fit, with ``s * quantile(r, q) + t <= 1 / d_max`` enforced on its boundary where it is
    broken; the target disparity (B, H, W), clamped as the training fit clamps it."""
    from disdepth_core.losses.scale_shift_invariant import align_scale_shift

    ref = 1.0 / torch.where(valid, depth, torch.ones_like(depth))
    s, t = align_scale_shift(r, ref, valid)
    rq = torch.quantile(r.flatten(1), q, dim=1)
    x, y, m = r - rq[:, None, None], ref - 1.0 / d_max, valid.float()
    s2 = (m * x * y).flatten(1).sum(1) / (m * x * x).flatten(1).sum(1).clamp_min(1e-12)
    bad = s * rq + t > 1.0 / d_max
    s, t = torch.where(bad, s2, s), torch.where(bad, 1.0 / d_max - s2 * rq, t)
    return (s[:, None, None] * r + t[:, None, None]).clamp(1.0 / d_max, 1.0 / d_min)


def _anchored_far(r, depth, valid, d_min, d_max, w, q=0.02):
    """The labels fit with the image's lowest ``q`` of teacher disparity added as pixels at ``d_max``,
    weighted ``w`` times the label count in all; the target disparity (B, H, W)."""
    from disdepth_core.losses.relative_output_kd import fit_teacher_disparity

    far = (r <= torch.quantile(r.flatten(1), q, dim=1)[:, None, None]) & ~valid
    n_lab, n_far = valid.flatten(1).sum(1).float(), far.flatten(1).sum(1).float().clamp_min(1)
    weight = torch.where(far, (w * n_lab / n_far)[:, None, None].expand_as(depth), torch.ones_like(depth))
    ref = torch.where(far, torch.full_like(depth, d_max), depth)
    return fit_teacher_disparity(r, ref, valid | far, d_min, d_max, weight=weight)[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a student run directory (its train_config.yaml names the data)")
    p.add_argument("--teacher", default="", help="the teacher's weights directory (default: the run's)")
    p.add_argument("--frames", type=int, default=24, help="labelled six-camera samples, spread over the streets")
    p.add_argument("--near", type=float, default=40.0, help="metres")
    p.add_argument("--compare-fits", action="store_true", help="also score fits that keep the sky far")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    from kd_target_quality import labelled_run_frames  # benchmarks/ is this script's directory

    from disdepth_core.losses.relative_output_kd import fit_teacher_disparity
    from disdepth_core.training.stages import normalise

    cfg, sparse, dense, teacher = labelled_run_frames(a.run, a.teacher)
    m = cfg.model
    training = "labels (training)"  # each fit: (teacher disparity, label depth, label mask) -> target disparity
    fits = {training: lambda r, g, v: fit_teacher_disparity(r, g, v, m.d_min, m.d_max)[0]}
    if a.compare_fits:
        fits["far end pinned"] = lambda r, g, v: _pinned_far(r, g, v, m.d_min, m.d_max)
        for w in (0.2, 1.0):
            fits[f"far end anchored ({w:g})"] = lambda r, g, v, w=w: _anchored_far(r, g, v, m.d_min, m.d_max, w)
    scores = {k: {"lidar": [0.0, 0], "no_lidar": [0.0, 0], "beyond_30m": [0.0, 0], "sky_near": [0, 0]} for k in fits}
    medians = []
    step = max(1, len(sparse) // a.frames)
    for i in range(0, step * a.frames, step):
        s, d = sparse[i], dense[i]
        gt = d.depth.float()
        with torch.no_grad():
            r = teacher(normalise(s.images, m.mean, m.std))["output"].float()
        r = F.interpolate(r[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        lab_ok = s.valid & (s.depth > 0)
        ok = d.valid & (gt > m.d_min) & (gt <= m.d_max)
        for name, fit in fits.items():
            pred = 1.0 / fit(r, s.depth.float(), lab_ok)
            err = (pred - gt).abs() / gt.clamp_min(1e-6)
            for part, mask in (("lidar", ok & lab_ok), ("no_lidar", ok & ~lab_ok), ("beyond_30m", ok & (gt > 30))):
                scores[name][part][0] += float(err[mask].sum())
                scores[name][part][1] += int(mask.sum())
            sky = pred[~d.valid]
            scores[name]["sky_near"][0] += int((sky < a.near).sum())
            scores[name]["sky_near"][1] += sky.numel()
            if name == training and sky.numel():
                medians.append(round(float(sky.median()), 1))
    near, total = scores[training]["sky_near"]
    res = {"run": str(a.run), "teacher": teacher.source, "frames": len(medians), "no_surface_pixels": total,
           "share_within_near": near / max(total, 1), "near_m": a.near, "d_max": m.d_max,
           "frame_median_target_depth_m": sorted(medians)}
    print(f"{total} no-surface pixels in {len(medians)} frames: the KD target puts {100 * res['share_within_near']:.1f} % "
          f"within {a.near:g} m; per-frame median target depth (m): {res['frame_median_target_depth_m']}")
    if a.compare_fits:
        res["fits"] = {k: {part: v[0] / max(1, v[1]) for part, v in parts.items()} for k, parts in scores.items()}
        print(f"{'fit':24s} {'AbsRel LiDAR px':>16s} {'no label':>9s} {'>30 m':>7s} {f'sky <{a.near:g} m':>10s}")
        for k, v in res["fits"].items():
            print(f"{k:24s} {v['lidar']:16.3f} {v['no_lidar']:9.3f} {v['beyond_30m']:7.3f} {100 * v['sky_near']:9.1f} %")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
