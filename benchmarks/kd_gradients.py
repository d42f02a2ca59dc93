"""Why a KD term helps or not: per-term gradient norms and their agreement on a trained run.

For a student run directory (its ``train_config.yaml`` and last checkpoint), on N training
batches: the gradient of each loss term w.r.t. the student's parameters, its norm, and the
cosine between each KD term's gradient and the depth (label) term's gradient, separately for
batches with and without labels. A KD term whose gradient is ~0 is dead; one whose gradient
opposes the label gradient (cosine < 0) on labelled frames pulls against the metric target.

    python benchmarks/kd_gradients.py out/ablation_corpus/seed0/output_kd [--batches 12] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(1)
    from disdepth_core.config import load_config
    from disdepth_core.data.registry import build_dataset
    from disdepth_core.training.batching import fetch_batch
    from disdepth_core.training.config import TrainConfig
    from disdepth_core.training.stages import StudentStage
    from disdepth_core.training.state import load_training_state

    cfg = load_config(TrainConfig, a.run / "train_config.yaml")
    stage = StudentStage(cfg, torch.device("cpu"))
    step, _ = load_training_state(a.run / "checkpoints" / "last", stage.modules, None)
    ds = build_dataset(cfg.dataset, split=cfg.dataset.split)
    params = [q for q in stage.model.student.parameters() if q.requires_grad]
    stage.model.train()
    rows = []
    for i in range(a.batches):
        batch = fetch_batch(ds, 100_000 + i, 1, cfg.seed)  # one sample per batch: labelled or not
        terms = stage.losses(batch)
        labelled = bool(batch.valid.any())
        grads = {}
        for k, v in terms.items():
            if k == "total" or not v.requires_grad:
                continue
            g = torch.autograd.grad(v, params, retain_graph=True, allow_unused=True)
            grads[k] = torch.cat([(x if x is not None else torch.zeros_like(q)).flatten() for x, q in zip(g, params)])
        row = {"labelled": labelled, **{f"|g_{k}|": float(g.norm()) for k, g in grads.items()},
               **{f"loss_{k}": float(terms[k].detach()) for k in grads}}
        if labelled and "depth" in grads:
            for k, g in grads.items():
                if k != "depth":
                    row[f"cos(g_{k}, g_depth)"] = float(torch.nn.functional.cosine_similarity(g, grads["depth"], dim=0))
        rows.append(row)
    summary: dict = {"run": str(a.run), "step": step, "batches": len(rows)}
    for lab in (True, False):
        sel = [r for r in rows if r["labelled"] == lab]
        keys = sorted({k for r in sel for k in r if k != "labelled"})
        summary["labelled" if lab else "unlabelled"] = {
            k: sum(r[k] for r in sel if k in r) / max(1, sum(1 for r in sel if k in r)) for k in keys}
        summary["labelled" if lab else "unlabelled"]["n"] = len(sel)
    print(json.dumps(summary, indent=1))
    if a.json:
        a.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
