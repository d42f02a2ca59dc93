"""``disdepth eval``: evaluate a student checkpoint on a dataset with the standard protocol."""

from __future__ import annotations

import argparse

from .common import parse_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint: metrics.json, report.md and PNGs")
    p.add_argument("--checkpoint", required=True, help="student checkpoint directory (model.safetensors + config.yaml)")
    p.add_argument("--dataset", required=True, choices=["synthetic", "nuscenes", "ddad", "kitti", "nyu"])
    p.add_argument("--root", required=True, help="dataset root directory")
    p.add_argument("--split", default=None, help="split (default: the dataset's evaluation split)")
    p.add_argument("--version", default=None, help="nuScenes table version (e.g. v1.0-mini; default v1.0-trainval)")
    p.add_argument("--config", default=None, help="an eval config YAML whose 'dataset:' section is used as the base")
    p.add_argument("--size", type=parse_size, default=None, help="evaluate at HxW (default: the model's input size)")
    p.add_argument("--crop", default="default", help="evaluation crop: default, none, garg, eigen")
    p.add_argument("--min-depth", type=float, default=None)
    p.add_argument("--max-depth", type=float, default=None)
    p.add_argument("--max-samples", type=int, default=0, help="evaluate the first N samples only (0 = all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="output directory (default: <checkpoint>/eval_<dataset>)")
    p.set_defaults(func=run)


EVAL_SPLITS = {"synthetic": "val", "nuscenes": "val", "ddad": "val", "kitti": "eigen_test", "nyu": "test"}


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import shlex
    import sys
    from pathlib import Path

    import torch

    from ..config import from_dict
    from ..data.dataset_config import DatasetConfig
    from ..data.registry import build_dataset, load_dataset_config
    from ..evaluation.evaluate import evaluate_dataset, headline, write_report
    from ..models.checkpoint import load_student
    from ..runtime.factory import resolve_device

    device = resolve_device(args.device, key="--device")
    model = load_student(args.checkpoint, device=device).eval()
    base = load_dataset_config(args.config) if args.config else from_dict(DatasetConfig, {"name": args.dataset})
    ds_cfg = dataclasses.replace(
        base, name=args.dataset, root=args.root, split=args.split or (base.split if args.config else EVAL_SPLITS[args.dataset]),
        size=tuple(args.size) if args.size else tuple(model.config.input_size), augment=type(base.augment)(),
        version=args.version or base.version,
    )
    ds_cfg.validate()
    dataset = build_dataset(ds_cfg, split=ds_cfg.split)
    mean = torch.tensor(model.config.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(model.config.std, device=device).view(1, 3, 1, 1)

    def predict(images):
        return model((images - mean) / std)

    summary = evaluate_dataset(predict, dataset, dataset_name=args.dataset, crop=args.crop, min_depth=args.min_depth,
                               max_depth=args.max_depth, max_samples=args.max_samples, device=device)
    out = Path(args.out) if args.out else Path(args.checkpoint) / f"eval_{args.dataset}"
    row = headline(summary)
    write_report(summary, out, title=f"{Path(args.checkpoint).name} on {args.dataset}",
                 command=" ".join(shlex.quote(a) for a in ["disdepth", *sys.argv[1:]]))
    print(" ".join(f"{k}={v:.4f}" for k, v in row.items() if v is not None))
    print(f"wrote {out}/metrics.json, report.md and PNGs")
    return 0
