"""``disdepth demo``: the main job on the embedded default.

Today: describes the shipped rig and draws its bird's-eye coverage. Later issues grow
this into the full pipeline (synthetic bag -> node -> evaluation).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded default and write out/demo/")
    p.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")
    p.add_argument("--rig", default="nuscenes", help="rig file or shipped rig name (default: nuscenes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from ..viz.rig_bev import plot_rig_bev
    from .rig import describe_rig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rig = CameraRig.from_yaml(resolve_rig(args.rig))
    text = describe_rig(rig, (90, 160))
    (out / "rig.txt").write_text(text + "\n")
    png = plot_rig_bev(rig, out / "rig_bev.png")
    print(text)
    print(f"\nwrote {png} and {out / 'rig.txt'}")
    return 0
