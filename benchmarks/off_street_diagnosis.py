"""Why a student fails off the street: is it the scale, the shape, or the teacher?

For a bag with dense depth ground truth (e.g. the boxes-and-spheres bag of ``benchmarks/ood_scene.py``
and a world drive for comparison) it reports, per student checkpoint run through the product's engine
(as ``disdepth eval-bag`` runs it): the AbsRel; the scale (geometric mean of prediction / GT) of the
image's bottom fifth (mostly ground near the vehicle), middle and top thirds; and the AbsRel after an
*oracle ground scale* -- every time step's prediction multiplied by the median GT / prediction of its
bottom fifth, the best any ground-plane scale recovery (camera height known) could do. Per relative
teacher (``DIR:STRIDE``) it reports the AbsRel after a per-image least-squares scale and shift of its
disparity onto 1 / GT (the teacher's shape, what output KD hands the student). Reports, asserts nothing.

    python benchmarks/off_street_diagnosis.py --bag out/student_quality/ood/bag \\
        --bag out/student_quality/world_seed424242 --checkpoint weights/student_default \\
        --teacher weights/teacher_synthetic:16 --results out/off_street_diagnosis
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TEACHER_INPUT = (128, 224)  # the resolution the students are distilled at (config/ablation/corpus.yaml)


def _source(bag: str, rig):
    from disdepth_core.evaluation.bag_source import BagSource, BagTopics
    from disdepth_core.pipeline.sync_settings import SyncSettings

    return BagSource(bag, rig, topics=BagTopics(gt="depth"), sync=SyncSettings.node_defaults(None),
                     depth_range=(0.1, 80.0))


def _valid(step) -> np.ndarray:
    return step.gt_valid & (step.gt > 0.5) & (step.gt <= 80.0)


def student_rows(bag: str, checkpoint: str, rig) -> dict:
    """AbsRel, scale per image band and AbsRel after the oracle ground scale of one checkpoint on one bag."""
    from disdepth_core.evaluation.bag_eval import EnginePredictor
    from disdepth_core.runtime.engine_config import EngineConfig
    from disdepth_core.runtime.factory import create_engine

    src = _source(bag, rig)
    predict = EnginePredictor(create_engine(EngineConfig(backend="torch", checkpoint=checkpoint, device="cpu",
                                                         min_depth=0.1, max_depth=80.0, cameras=list(src.cameras))))
    raw, oracle, logr = [], [], {"bottom fifth": [], "middle third": [], "top third": []}
    for step in src:
        p = predict(step)
        p = p[0] if isinstance(p, tuple) else p
        p = np.clip(np.nan_to_num(p, nan=80.0, posinf=80.0, neginf=0.1), 0.1, 80.0)
        gt, v = step.gt, _valid(step)
        h = gt.shape[1]
        bands = {"bottom fifth": slice(4 * h // 5, h), "middle third": slice(h // 3, 2 * h // 3),
                 "top third": slice(0, h // 3)}
        for name, rows in bands.items():
            m = np.zeros_like(v)
            m[:, rows] = v[:, rows]
            logr[name].append(np.log(p[m] / gt[m]))
        ground = np.zeros_like(v)
        ground[:, bands["bottom fifth"]] = v[:, bands["bottom fifth"]]
        s = float(np.exp(np.median(np.log(gt[ground] / p[ground])))) if ground.any() else 1.0
        raw.append(np.abs(p[v] - gt[v]) / gt[v])
        oracle.append(np.abs(np.clip(p * s, 0.1, 80.0)[v] - gt[v]) / gt[v])
    src.close()
    return {"abs_rel": float(np.concatenate(raw).mean()),
            "abs_rel_oracle_ground_scale": float(np.concatenate(oracle).mean()),
            "scale": {k: float(np.exp(np.concatenate(x).mean())) for k, x in logr.items()}}


def teacher_row(bag: str, teacher_dir: str, stride: int, rig) -> float:
    """Affine-aligned (disparity) AbsRel of a relative teacher on one bag at the students' 128x224."""
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.teacher import load_teacher
    from disdepth_core.training.stages import normalise

    mc = ModelConfig()
    teacher = load_teacher(teacher_dir, grid_stride=stride)
    src = _source(bag, rig)
    rel = []
    for step in src:
        x = torch.from_numpy(step.images).permute(0, 3, 1, 2).float() / 255.0
        h, w = x.shape[-2:]
        with torch.no_grad():
            out = teacher(normalise(F.interpolate(x, size=TEACHER_INPUT, mode="bilinear", align_corners=False),
                                    mc.mean, mc.std))["output"]
        out = F.interpolate(out[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0].numpy()
        v = _valid(step)
        for i in range(out.shape[0]):
            ok = v[i]
            if ok.sum() < 10:
                continue
            a = np.stack([out[i][ok], np.ones(int(ok.sum()))], 1)
            s, t = np.linalg.lstsq(a, 1.0 / step.gt[i][ok], rcond=None)[0]
            d = 1.0 / np.clip(out[i] * s + t, 1.0 / 80.0, 2.0)
            rel.append(np.abs(d[ok] - step.gt[i][ok]) / step.gt[i][ok])
    src.close()
    return float(np.concatenate(rel).mean())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bag", action="append", required=True)
    p.add_argument("--checkpoint", action="append", default=[])
    p.add_argument("--teacher", action="append", default=[], metavar="DIR:STRIDE")
    p.add_argument("--rig", default="nuscenes")
    p.add_argument("--results", type=Path, default=Path("out/off_street_diagnosis"))
    a = p.parse_args()
    torch.set_num_threads(1)
    from disdepth_core.geometry import CameraRig
    from disdepth_core.paths import resolve_rig

    rig = CameraRig.from_yaml(resolve_rig(a.rig))
    for bag in a.bag:
        if not Path(bag).exists():
            print(f"off_street_diagnosis: error: bag not found: {bag}", file=sys.stderr)
            return 1
    res = {"command": "python benchmarks/off_street_diagnosis.py " + " ".join(sys.argv[1:]), "students": {},
           "teachers": {}}
    md = ["# Off the street: scale, shape or teacher?", "", f"Command: `{res['command']}`.", "",
          "| student | bag | AbsRel (pixel mean) | scale bottom fifth | scale middle third | scale top third | "
          "AbsRel with the oracle ground scale |", "|---|---|---|---|---|---|---|"]
    for ck in a.checkpoint:
        for bag in a.bag:
            r = res["students"].setdefault(ck, {})[bag] = student_rows(bag, ck, rig)
            sc = r["scale"]
            md.append(f"| {ck} | {bag} | {r['abs_rel']:.4f} | {sc['bottom fifth']:.3f} | {sc['middle third']:.3f} | "
                      f"{sc['top third']:.3f} | {r['abs_rel_oracle_ground_scale']:.4f} |")
            print(md[-1], flush=True)
    if a.teacher:
        md += ["", "| relative teacher (grid stride) | bag | AbsRel, scale and shift fitted per image |", "|---|---|---|"]
    for spec in a.teacher:
        tdir, _, stride = spec.rpartition(":")
        for bag in a.bag:
            v = res["teachers"].setdefault(spec, {})[bag] = teacher_row(bag, tdir, int(stride), rig)
            md.append(f"| {tdir} ({stride}) | {bag} | {v:.4f} |")
            print(md[-1], flush=True)
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    a.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"-> {a.results}.md / .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
