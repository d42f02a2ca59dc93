"""``disdepth nuscenes-bag``: a nuScenes-layout dataset -> one ROS 2 bag per scene (eval-bag / distill input)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nuscenes-bag", help="convert a nuScenes-layout dataset to ROS 2 bags, one per scene")
    p.add_argument("dataroot", help="nuScenes directory (v1.0-*/ tables, samples/, sweeps/)")
    p.add_argument("--version", default="v1.0-mini", help="table version folder (default v1.0-mini)")
    p.add_argument("--out", required=True, help="directory for the bags (<out>/<scene name>/)")
    p.add_argument("--scenes", nargs="+", default=None, metavar="NAME", help="only these scenes (default all)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage (default mcap)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.nuscenes_bag import nuscenes_to_bags

    for r in nuscenes_to_bags(args.dataroot, args.out, version=args.version, scenes=args.scenes,
                              storage=args.storage, progress=not args.quiet):
        if r.get("skipped"):
            print(f"{r['scene']}: {r['bag']} exists, kept")
        else:
            msgs = ", ".join(f"{k} {v}" for k, v in r["messages"].items())
            print(f"{r['scene']}: {r['bag']} ({r['duration_s']:.1f} s; {msgs})")
    return 0
