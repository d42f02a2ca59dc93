"""How good is a metric target made from the teacher and the flat ground alone (no label)?

On an unlabelled frame, output KD fits the relative teacher to the student's own disparity, so
the student's metric scale there is free; with unlabelled off-street places in the pool it drifted
(``config/ablation/corpus_open_ground.yaml``: held-out AbsRel 0.17 -> 0.88 -> 0.18 -> 0.23 at steps
4000-6400, boxes-and-spheres AbsRel 3.5 at step 6400). The one metric fact a calibrated rig knows
about any frame is where the flat ground is. This scores the ground pseudo-labels that
``distill.ground_labels_weight`` trains with (:func:`teacher_ground_pixels`: the pixels the teacher
agrees are ground, labelled with the ground's depth): how many images get them, their AbsRel
against dense rendered depth, the share of them truly on the ground and the share of the 2-20 m
ground they find; beside it, AbsRel of the teacher fitted to dense depth itself (an oracle for any
affine fit), of the teacher fitted affinely to the ground pseudo-labels alone (on the images whose
ground fit held), of the teacher fitted to each student named and rescaled to the ground pseudo-labels
where the fit held (the metric target ``distill.output_kd_align: labels_ground`` trains with on a
frame without labels, were that the student) and of the students, on frames never used for a label: held-out corpus streets,
off-street places of the unlabelled pool and the boxes-and-spheres bags. AbsRel on pixels with depth
in (d_min, 80] m; asserts nothing.

    python benchmarks/ground_anchor_quality.py --run out/ablation_corpus_open_ground/seed0/<row> \\
        --bag out/student_quality/ood/bag --bag out/student_quality/ood_seed1/bag \\
        --student weights/student_default --student weights/student_supervised --json docs/results/ground_anchor_quality.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

BANDS = ((0.0, 10.0), (10.0, 30.0), (30.0, 80.0))


def dataset_frames(cfg, root: str, n: int):
    """``n`` samples spread over the native-format sequences under ``root`` (dense rendered depth)."""
    from disdepth_core.data.registry import build_dataset

    ds = build_dataset(dataclasses.replace(cfg.val_dataset, root=root, split="", max_samples=0, gt_source="render"))
    step = max(1, len(ds) // n)
    for i in range(0, min(len(ds), step * n), step):
        s = ds[i]
        yield s.images.float(), s.K.double(), s.T_base_cam.double(), s.depth.float(), s.valid


def bag_frames(bag: str, size: tuple[int, int]):
    """Every synchronised step of a bag, resized to the students' working ``size`` (H, W)."""
    from disdepth_core.evaluation.bag_source import BagSource
    from disdepth_core.geometry import CameraRig, scale_intrinsics

    rig = CameraRig.from_yaml(Path(__file__).resolve().parents[1] / "config" / "rigs" / "nuscenes.yaml")
    src = BagSource(bag, rig.resized(224, 384))
    for st in src:
        img = torch.from_numpy(st.images).permute(0, 3, 1, 2).float() / 255.0
        hw = img.shape[-2:]
        img = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        gt = F.interpolate(torch.from_numpy(st.gt)[:, None].float(), size=size, mode="nearest-exact")[:, 0]
        ok = F.interpolate(torch.from_numpy(st.gt_valid)[:, None].float(), size=size, mode="nearest-exact")[:, 0] > 0.5
        yield img, scale_intrinsics(torch.from_numpy(st.K), hw, size), torch.from_numpy(st.T_base_cam), gt, ok
    src.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a student run (its train_config.yaml: teacher, sizes)")
    p.add_argument("--frames", type=int, default=24, help="samples per dataset split")
    p.add_argument("--bag", action="append", default=[])
    p.add_argument("--student", type=Path, action="append", default=[])
    p.add_argument("--tol", type=float, default=None, help="trim tolerance of the ground fit (log depth); "
                                                            "default: the run's distill.ground_labels_tol")
    p.add_argument("--min-share", type=float, default=None, help="share of the ground candidates an image's fit "
                                                                 "must keep; default: the run's "
                                                                 "distill.ground_labels_min_share")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    from disdepth_core.config import load_config
    from disdepth_core.geometry import ground_plane_depth
    from disdepth_core.losses.relative_output_kd import (
        fit_teacher_disparity,
        rescale_to_anchor,
        teacher_disparity_at,
        teacher_ground_pixels,
    )
    from disdepth_core.models.checkpoint import load_student
    from disdepth_core.models.teacher import load_teacher
    from disdepth_core.training.config import TrainConfig
    from disdepth_core.training.stages import normalise

    cfg = load_config(TrainConfig, a.run / "train_config.yaml")
    tol = cfg.distill.ground_labels_tol if a.tol is None else a.tol
    min_share = cfg.distill.ground_labels_min_share if a.min_share is None else a.min_share
    teacher = load_teacher(cfg.teacher.path, grid_stride=cfg.teacher.grid_stride).eval()
    students = {str(s): load_student(s).eval() for s in a.student}
    d_min, d_max = cfg.model.d_min, cfg.model.d_max
    size = tuple(cfg.model.input_size)
    corpus = Path(cfg.val_dataset.root).parent
    sources = {"held-out streets": dataset_frames(cfg, str(corpus / "val"), a.frames),
               "off-street places (unlabelled pool)": dataset_frames(cfg, str(corpus / "open"), a.frames)}
    for b in a.bag:
        sources[b] = bag_frames(b, size)
    anchored = "teacher fitted affinely to the ground pseudo-labels"
    scaled = {n: f"teacher fitted to {n}, scaled to the ground" for n in students}
    names = ["teacher fitted to dense depth (oracle)", anchored] + [x for n in students for x in (scaled[n], n)]
    res: dict = {"run": str(a.run), "teacher": str(teacher.source), "sources": {}}
    for src_name, frames in sources.items():
        acc = {n: np.zeros((len(BANDS) + 1, 2)) for n in names}
        held = total = off = 0
        pseudo = [0.0, 0, 0, 0]  # summed AbsRel of the pseudo-labels, their pixels, of them on the ground, ground pixels
        for img, K, T, gt, ok in frames:
            ok = ok & (gt > d_min) & (gt <= 80.0)
            with torch.no_grad():
                r = teacher_disparity_at(teacher(normalise(img, cfg.model.mean, cfg.model.std))["output"],
                                         gt.shape[-2:], teacher.output_kind == "relative_disparity")
                ground = ground_plane_depth(K, T, *gt.shape[-2:]).float()
                kept = teacher_ground_pixels(r, ground, tol=tol, min_share=min_share)
                o_disp, _ = fit_teacher_disparity(r, gt, ok, d_min, d_max)
                a_disp, _ = fit_teacher_disparity(r, ground, kept, d_min, d_max)
                preds = {names[0]: 1.0 / o_disp, anchored: 1.0 / a_disp}
                for n, m in students.items():
                    out = m(normalise(img, m.config.mean, m.config.std))
                    sd = (out["depth"] if isinstance(out, dict) else out).float()
                    if sd.shape[-2:] != gt.shape[-2:]:
                        sd = F.interpolate(sd[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
                    s_disp, _ = fit_teacher_disparity(r, sd, torch.ones_like(ok), d_min, d_max)
                    preds[scaled[n]] = 1.0 / rescale_to_anchor(s_disp, ground, kept, d_min, d_max)
                    preds[n] = sd
            held += int(kept.flatten(1).any(-1).sum())
            total += kept.shape[0]
            lab = kept & ok
            for b in range(lab.shape[0]):  # images whose pseudo-labels are off by more than 20 % (median)
                if bool(lab[b].any()):
                    off += int(((ground[b][lab[b]] / gt[b][lab[b]]).median() - 1).abs() > 0.2)
            pseudo[0] += float(((ground - gt).abs() / gt.clamp_min(1e-6))[lab].sum())
            pseudo[1] += int(lab.sum())
            pseudo[2] += int((lab & ((ground - gt).abs() / gt.clamp_min(1e-6) < 0.02)).sum())
            pseudo[3] += int((ok & (ground >= 2.0) & (ground <= 20.0) & ((ground - gt).abs() / gt.clamp_min(1e-6) < 0.02)).sum())
            for n, pred in preds.items():
                if pred.shape[-2:] != gt.shape[-2:]:
                    pred = F.interpolate(pred[:, None], size=gt.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
                err = (pred - gt).abs() / gt.clamp_min(1e-6)
                scored = ok & kept.flatten(1).any(-1)[:, None, None] if n == anchored else ok
                for k, (lo, hi) in enumerate(((0.0, 80.0),) + BANDS):
                    m = scored & (gt > lo) & (gt <= hi)
                    acc[n][k] += (float(err[m].sum()), int(m.sum()))
        res["sources"][src_name] = {
            "images": total, "ground_fit_held": held, "pseudo_labels_off_20pct": off, "pseudo_label_pixels": pseudo[1],
            "pseudo_label_abs_rel": pseudo[0] / max(1, pseudo[1]), "pseudo_label_on_ground": pseudo[2] / max(1, pseudo[1]),
            "ground_pixels_found": pseudo[2] / max(1, pseudo[3]), "abs_rel": {
            n: {f"{lo:g}-{hi:g} m": v[k, 0] / max(1, v[k, 1]) for k, (lo, hi) in enumerate(((0.0, 80.0),) + BANDS)}
            for n, v in acc.items()}}
    for src_name, r in res["sources"].items():
        print(f"\n{src_name}: ground fit held on {r['ground_fit_held']}/{r['images']} images "
              f"({r['pseudo_labels_off_20pct']} of them off by more than 20 %); pseudo-labels: "
              f"{r['pseudo_label_pixels']} pixels, AbsRel {r['pseudo_label_abs_rel']:.4f}, "
              f"{100 * r['pseudo_label_on_ground']:.1f} % on the ground (GT within 2 %), "
              f"{100 * r['ground_pixels_found']:.1f} % of the 2-20 m ground found")
        cols = list(next(iter(r["abs_rel"].values())))
        print(f"{'':72s}" + "".join(f"{c:>12s}" for c in cols))
        for n, v in r["abs_rel"].items():
            print(f"{n:72s}" + "".join(f"{v[c]:12.3f}" for c in cols))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
