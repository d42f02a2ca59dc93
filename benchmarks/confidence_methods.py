"""Which confidence from the bin distribution ranks depth errors best? (issue 14)

Runs a bin-head student over a bag (the engine's pre-processing, eval mode), derives several
candidate confidences from the per-pixel bin probabilities at stride 4, upsamples them to the
image size as the runtime does, and scores each with the sparsification AUSE of
``disdepth_core.evaluation.sparsification`` against the bag's dense ground truth. Pick the
method on a validation drive, report on another.

    OMP_NUM_THREADS=1 python benchmarks/confidence_methods.py /tmp/conf/world_seed515151 \\
        --checkpoint weights/student_default --json docs/results/confidence_methods.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from disdepth_core.evaluation.bag_source import BagSource, BagTopics
from disdepth_core.evaluation.engine_eval import rep117_to_caps
from disdepth_core.evaluation.sparsification import SparsificationAccumulator
from disdepth_core.geometry import CameraRig
from disdepth_core.models.checkpoint import load_student
from disdepth_core.models.confidence import bin_confidence
from disdepth_core.paths import resolve_rig
from disdepth_core.runtime.processing import postprocess_depth, preprocess_images


def candidates(out: dict) -> dict[str, torch.Tensor]:
    """(B, h, w) confidences (higher = more confident) from the head's outputs."""
    p, c, d = out["bin_probs"].float(), out["bin_centers"].float(), out["depth_lowres"].float()
    n = p.shape[1]
    entropy = -(p * p.clamp_min(1e-12).log()).sum(1) / math.log(n)
    spread = ((p * (c[:, :, None, None] - d[:, None]) ** 2).sum(1)).sqrt() / d.clamp_min(1e-6)
    res = {"inverse_rel_spread (shipped)": bin_confidence(p, c, d)}
    for w in (0.05, 0.1, 0.2):  # probability mass within +-w*d of d
        near = ((c[:, :, None, None] - d[:, None]).abs() <= w * d[:, None]).float()
        res[f"window_{int(w * 100)}pct"] = (p * near).sum(1)
    res["one_minus_entropy"] = 1.0 - entropy
    res["max_prob"] = p.max(1).values
    res["inverse_abs_spread_m"] = 1.0 / (1.0 + spread * d)
    # the spread in log depth (the natural scale of a log-spaced head): exp(-sigma_log)
    logc, logd = c.clamp_min(1e-6).log(), d.clamp_min(1e-6).log()
    res["inverse_log_spread"] = torch.exp(-((p * (logc[:, :, None, None] - logd[:, None]) ** 2).sum(1)).sqrt())
    # not confidences: how much of the ranking the predicted depth alone gives, either way round
    res["depth_only_nearer"] = 1.0 / (1.0 + d)
    res["depth_only_farther"] = d / (1.0 + d)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bag")
    ap.add_argument("--checkpoint", default="weights/student_default")
    ap.add_argument("--rig", default="nuscenes")
    ap.add_argument("--min-depth", type=float, default=0.1)
    ap.add_argument("--max-depth", type=float, default=80.0)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    model = load_student(Path(a.checkpoint)).float().eval()
    mean = torch.tensor(model.config.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.config.std).view(1, 3, 1, 1)
    src = BagSource(a.bag, CameraRig.from_yaml(resolve_rig(a.rig)), topics=BagTopics(gt="depth"),
                    depth_range=(a.min_depth, a.max_depth))
    accs: dict[str, SparsificationAccumulator] = {}
    for step in src:
        x = preprocess_images(torch.from_numpy(step.images), tuple(model.config.input_size), mean, std,
                              channels_last=False)
        with torch.no_grad():
            out = model(x, return_aux=True)
        H, W = step.images.shape[1:3]
        pred = postprocess_depth(out["depth"], (H, W), 0.5, 80.0)
        pred = rep117_to_caps(pred, a.min_depth, a.max_depth)
        gt = torch.from_numpy(step.gt)
        mask = torch.from_numpy(step.gt_valid) & (gt >= a.min_depth) & (gt <= a.max_depth)
        for name, conf in candidates(out).items():
            up = F.interpolate(conf[:, None], size=x.shape[-2:], mode="bilinear", align_corners=False)
            up = F.interpolate(up, size=(H, W), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1)
            acc = accs.setdefault(name, SparsificationAccumulator(step.cameras, a.min_depth, a.max_depth))
            acc.add(pred, gt, mask, up)
    src.close()
    rows = {}
    print(f"{'method':28s} {'AUSE':>8s} {'random':>8s} {'ratio':>6s}  per camera AUSE")
    for name, acc in accs.items():
        s = acc.summary()
        rows[name] = {"all": s["all"], "per_camera": {c: v["ause"] for c, v in s["per_camera"].items()}}
        print(f"{name:28s} {s['all']['ause']:8.4f} {s['all']['ause_random']:8.4f} {s['all']['ause_ratio']:6.3f}  "
              + " ".join(f"{v['ause']:.4f}" for v in s["per_camera"].values()))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"bag": a.bag, "checkpoint": a.checkpoint, "methods": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
