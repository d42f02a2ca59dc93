"""Does it matter in which space the student's depth is upsampled? (A measurement, not a product option.)

The student predicts depth at stride 4 and upsamples it bilinearly in *depth* (``models.heads.upsample_depth``),
and the engine resizes that to the camera size bilinearly again (``runtime.processing``). Across the top edge
of a wall 2 m away with the sky or an open field behind it, a depth blend puts the edge pixels tens of metres
away. This script patches both interpolations to blend in disparity (``1/d``) or log depth instead and
runs the product's own evaluation, so the effect can be measured without retraining:

    # held-out corpus streets (the trainer's as-deployed evaluation; model-choice data)
    python benchmarks/upsample_space.py --space disparity heldout weights/student_default \\
        --val-config out/ablation_corpus_open_ground/seed0/supervised__log_bins__gaps___8_000_steps/train_config.yaml
    # any eval-bag run (the remaining arguments are disdepth eval-bag's)
    python benchmarks/upsample_space.py --space disparity eval-bag out/student_quality/world_seed777001 \\
        --checkpoint weights/student_default --gt depth --device cpu --out out/upsample_space/x

Prints the metrics (held-out) or leaves eval-bag's report; asserts nothing. Results:
docs/results/student_quality_ground_anchor.md ("Drive 777001: the error next to the car").
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F


def interpolate(x: torch.Tensor, size, space: str) -> torch.Tensor:
    """(N, h, w) metres -> (N, H, W), bilinear (``align_corners=False``) in ``space``."""
    f = {"depth": (lambda d: d, lambda d: d), "disparity": (lambda d: 1.0 / d.clamp_min(1e-3), lambda y: 1.0 / y),
         "log": (lambda d: torch.log(d.clamp_min(1e-3)), torch.exp)}[space]
    return f[1](F.interpolate(f[0](x)[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0])


def patch(space: str) -> None:
    """Make the student's stride-4 upsampling and the engine's bilinear resize blend in ``space``."""
    import disdepth_core.models.student as student_mod
    import disdepth_core.runtime.processing as processing

    student_mod.upsample_depth = lambda d, size: interpolate(d, size, space)
    original = processing._resize

    def resize(x, out_size, mode):
        if tuple(x.shape[-2:]) == tuple(out_size) or mode == "nearest":
            return original(x, out_size, mode)
        return interpolate(x, out_size, space)

    processing._resize = resize


def heldout(checkpoint: str, val_config: str) -> dict:
    from disdepth_core.config import load_config
    from disdepth_core.data.registry import build_dataset
    from disdepth_core.evaluation.engine_eval import evaluate_checkpoint
    from disdepth_core.training.config import TrainConfig

    val = load_config(TrainConfig, val_config).val_dataset
    m = evaluate_checkpoint(checkpoint, build_dataset(val, split=val.split), dataset_name=val.name)
    return {k: m["metric"]["all"][k] for k in ("abs_rel", "a1", "rmse")}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", choices=("depth", "disparity", "log"), required=True)
    ap.add_argument("what", choices=("heldout", "eval-bag"))
    args, rest = ap.parse_known_args(argv)
    torch.set_num_threads(1)
    patch(args.space)
    if args.what == "heldout":
        hp = argparse.ArgumentParser()
        hp.add_argument("checkpoint")
        hp.add_argument("--val-config", required=True, help="a run's train_config.yaml (its val_dataset is used)")
        h = hp.parse_args(rest)
        print(json.dumps({"space": args.space, "checkpoint": h.checkpoint, "heldout": heldout(h.checkpoint, h.val_config)}))
        return 0
    from disdepth_core.cli import main as cli_main

    return cli_main(["eval-bag", *rest])


if __name__ == "__main__":
    sys.exit(main())
