"""``disdepth distill BAG [BAG...] --teacher DIR --out DIR``: a student for your rig from your recordings.

Inventory, extraction (sub-sampled, split by time), teacher-output cache, student training with held-out
evaluation, ONNX export with its parity check, and the ``ros2 launch`` line to deploy it; resumable
(run the same command again). See :mod:`disdepth_core.training.distill_bags` and docs/distill.md.
"""

from __future__ import annotations

import argparse

from ..data.extraction_settings import ExtractionSettings
from .common import parse_size, positive_int

_D = ExtractionSettings()  # the defaults, written once there


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a student for your rig from your bags (one resumable command)")
    p.add_argument("bags", nargs="+", help="rosbag2 directories or .mcap files (MCAP or sqlite3)")
    p.add_argument("--teacher", required=True, help="local Hugging Face depth model directory (Depth Anything...)")
    p.add_argument("--out", required=True, help="output directory (data, cache, training run, ONNX, distill.json)")
    p.add_argument("--rig", default=None, help="rig YAML or shipped rig name: camera names/order and, where the "
                                               "bags have no /tf_static, the extrinsics (default: nuscenes)")
    p.add_argument("--cameras", default=None, help="comma-separated subset of the rig's cameras to train on")
    p.add_argument("--config", default=None, help="training config YAML (default: config/distill/default.yaml)")
    p.add_argument("--init", default=None, help="start the student from this student checkpoint (e.g. "
                   "weights/student_default: fine-tune the shipped student for your rig; same architecture)")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps (overrides the config)")
    p.add_argument("--size", type=parse_size, default=None, help="working resolution HxW (default: the config's)")
    p.add_argument("--every", type=float, default=_D.every_s,
                   help=f"seconds between kept synchronised sets (default {_D.every_s})")
    p.add_argument("--heldout", type=float, default=_D.heldout_fraction,
                   help=f"fraction of each drive's time, at its end, held out for evaluation (default {_D.heldout_fraction})")
    p.add_argument("--gap", type=float, default=_D.gap_s,
                   help=f"seconds dropped around the train/held-out boundary (near-duplicate frames; default {_D.gap_s})")
    p.add_argument("--gt", choices=["auto", "depth", "lidar", "none"], default=_D.gt,
                   help="metric labels: auto = dense depth_gt, else LiDAR, else none (cameras only)")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (overrides the config)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..paths import resolve_rig
    from ..training.distill_bags import DistillRequest, distill

    req = DistillRequest(
        bags=[Path(b) for b in args.bags], teacher=Path(args.teacher), out=Path(args.out),
        rig=resolve_rig(args.rig), rig_given=args.rig is not None,
        cameras=[c.strip() for c in args.cameras.split(",") if c.strip()] if args.cameras else None,
        config=Path(args.config) if args.config else None, init=Path(args.init) if args.init else None, steps=args.steps, size=args.size, device=args.device,
        extraction=ExtractionSettings(every_s=args.every, heldout_fraction=args.heldout, gap_s=args.gap, gt=args.gt),
    )
    req.extraction.validate()
    distill(req)
    return 0
