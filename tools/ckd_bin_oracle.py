"""What CKD's targets allow at best: the oracle cross depth per distance band (issue 17).

CKD's cross depth is ``sum_i p_t,i c_i``: the teacher's soft bin assignment ``p_t``
(bins uniform in the per-image normalised teacher output ``u``) read out with the
student's metric bin centres ``c``. If the student matched ``p_t`` exactly, the best it
could do is the ``c`` that fits the ground truth best. This script fits that ``c`` per
image (least squares in log depth, dense rendered depth of held-out streets) under three
centre parameterisations and reports the metric AbsRel of the fitted cross depth by
distance band:

* ``head``: the shipped AdaBins head, ``c = d_min + cumsum(w) - w/2``, ``sum w = d_max - d_min``
  (the first bin starts at d_min, the last ends at d_max);
* ``head+gaps``: the same with an unused gap before the first and after the last bin
  (N + 2 widths, ``model.bin_gaps``), so the centres may span any sub-range of ``[d_min, d_max]``;
* ``log+gaps``: gaps and widths in log depth (``model.bin_spacing: log``), geometric centres;
* ``free``: any increasing positive centres (the bound of the representation).

with the loss's teacher normalisation (``scale_invariant_depth`` quantiles 0.02 / 0.98), and
the shipped head also with quantiles 0.0 / 1.0 (is the quantile clamp the cause?).

    OMP_NUM_THREADS=1 .venv/bin/python tools/ckd_bin_oracle.py config/ablation/corpus.yaml \
        weights/teacher_synthetic 8 docs/results/ckd_bin_oracle.json
"""

from __future__ import annotations

import dataclasses
import json
import sys

import torch
import torch.nn.functional as F

from disdepth_core.config import load_config
from disdepth_core.data.registry import build_dataset
from disdepth_core.evaluation.evaluate import DISTANCE_BINS
from disdepth_core.losses import scale_invariant_depth, soft_bin_targets
from disdepth_core.models.heads import bin_centres_from_width_logits
from disdepth_core.models.teacher import load_teacher
from disdepth_core.training.ablation import AblationConfig
from disdepth_core.training.stages import normalise


def centres(theta: torch.Tensor, kind: str, d_min: float, d_max: float) -> torch.Tensor:
    """theta (B, N, or N + 2 with gaps) -> centres (B, N) metres, increasing (the head's own formula)."""
    if kind == "free":
        return d_min + torch.cumsum(F.softplus(theta), dim=1)
    return bin_centres_from_width_logits(theta, d_min, d_max, gaps=kind.endswith("gaps"),
                                         spacing="log" if kind.startswith("log") else "metric")


def fit(p_t, gt, valid, kind, d_min, d_max, iters=1000):
    """Per-image centres minimising mean (log cross - log gt)^2 at valid pixels -> cross depth (B, H, W)."""
    B, N = p_t.shape[:2]
    n = N + 2 if kind.endswith("gaps") else N
    init = torch.zeros(B, n) if kind != "free" else torch.full((B, n), -2.0)
    theta = init.requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=0.05)
    for _ in range(iters):
        c = centres(theta, kind, d_min, d_max)
        small = (p_t * c[:, :, None, None]).sum(1)
        cross = F.interpolate(small[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        loss = ((cross.clamp_min(1e-3).log() - gt.clamp_min(1e-3).log())[valid] ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        c = centres(theta, kind, d_min, d_max)
        small = (p_t * c[:, :, None, None]).sum(1)
        return F.interpolate(small[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


def bands(pred, gt, valid):
    rel = ((pred - gt).abs() / gt)[valid]
    g = gt[valid]
    out = []
    for lo, hi in zip(DISTANCE_BINS[:-1], DISTANCE_BINS[1:]):
        sel = (g > lo) & (g <= hi)
        out.append({"from_m": lo, "to_m": hi, "pixels": int(sel.sum()),
                    "abs_rel": float(rel[sel].mean()) if sel.any() else None})
    return {"abs_rel": float(rel.mean()), "by_distance": out}


def main() -> None:
    cfg_path, teacher_path, samples, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    torch.manual_seed(0)
    ab = load_config(AblationConfig, cfg_path)
    ds_cfg = dataclasses.replace(ab.val_dataset, root=f"{ab.world.root}/val", gt_source="render")
    ds = build_dataset(ds_cfg)
    teacher = load_teacher(teacher_path, grid_stride=ab.teacher.grid_stride)
    m = ab.model
    step = max(1, len(ds) // samples)
    imgs, gts, valids = [], [], []
    for i in range(0, len(ds), step)[:samples]:
        s = ds[i]
        imgs.append(s.images)
        gts.append(s.depth)
        valids.append(s.valid & (s.depth >= m.d_min) & (s.depth <= m.d_max))
    imgs, gt, valid = torch.cat(imgs), torch.cat(gts), torch.cat(valids)
    with torch.no_grad():
        t = torch.cat([teacher(normalise(imgs[k:k + 12], m.mean, m.std))["output"] for k in range(0, len(imgs), 12)])
    h, w = m.input_size[0] // 4, m.input_size[1] // 4
    t_small = F.interpolate(t[:, None].float(), size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    result = {"images": int(imgs.shape[0]), "num_bins": m.num_bins, "d_min": m.d_min, "d_max": m.d_max, "rows": []}
    for (low, high), kind in (((0.02, 0.98), "head"), ((0.0, 1.0), "head"), ((0.02, 0.98), "head+gaps"),
                              ((0.02, 0.98), "log+gaps"), ((0.02, 0.98), "free")):
        u = scale_invariant_depth(t_small, disparity=True, low=low, high=high)
        p_t = soft_bin_targets(u, m.num_bins, sigma=0.5)
        pred = fit(p_t, gt, valid, kind, m.d_min, m.d_max)
        row = {"quantiles": [low, high], "centres": kind, **bands(pred, gt, valid)}
        result["rows"].append(row)
        near = row["by_distance"][0]["abs_rel"]
        print(f"quantiles {low}/{high} centres {kind:9s}: AbsRel {row['abs_rel']:.3f}  0-{DISTANCE_BINS[1]} m {near:.3f}",
              flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
