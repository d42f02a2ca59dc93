"""``disdepth train --config FILE``: run (or resume) one training stage."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a teacher, acclimate it (ghost decoder) or distil a student")
    p.add_argument("--config", required=True, help="training config YAML (config/train/*.yaml)")
    p.add_argument("--root", default=None, help="dataset root (overrides dataset.root)")
    p.add_argument("--out", default=None, help="run directory (overrides out_dir)")
    p.add_argument("--steps", type=int, default=None, help="override steps")
    p.add_argument("--seed", type=int, default=None, help="override seed")
    p.add_argument("--device", default=None, help="override device (auto, cpu, cuda)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="checkpoint and stop at this step (continue later by running the same command)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the run directory has a checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import shlex
    import sys

    from ..config import load_config
    from ..training.config import TrainConfig
    from ..training.trainer import train

    cfg = load_config(TrainConfig, args.config)
    overrides = {k: v for k, v in (("out_dir", args.out), ("steps", args.steps), ("seed", args.seed),
                                   ("device", args.device)) if v is not None}
    if args.root is not None:
        overrides["dataset"] = dataclasses.replace(cfg.dataset, root=args.root)
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
        cfg.validate()
    out = train(cfg, resume=not args.no_resume, stop_after=args.stop_after, config_source=" ".join(shlex.quote(a) for a in sys.argv))
    print(f"run directory: {out}")
    return 0
