"""``disdepth demo``: the main job on the embedded default.

Renders a short synthetic drive for the shipped rig, writes it in the native format and
draws what it contains: a mosaic of the six RGB images over their colour-mapped depth,
a bird's-eye view of the LiDAR sweep with the rig, and the rig's coverage. Later issues
grow this into the full pipeline (synthetic bag -> node -> evaluation).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from .common import parse_size, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded default and write out/demo/")
    p.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")
    p.add_argument("--rig", default="nuscenes", help="rig file or shipped rig name (default: nuscenes)")
    p.add_argument("--frames", type=positive_int, default=3, help="frames of the synthetic drive (default 3)")
    p.add_argument("--size", type=parse_size, default=(224, 384), help="image size HxW (default 224x384)")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..geometry import CameraRig, transform_points
    from ..paths import resolve_rig
    from ..viz.lidar_bev import plot_lidar_bev
    from ..viz.rig_bev import plot_rig_bev
    from ..viz.surround_mosaic import save_surround_mosaic
    from ..world import WorldSequence
    from ..world.export_native import NativeWriter
    from .rig import describe_rig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rig_full = CameraRig.from_yaml(resolve_rig(args.rig))
    text = describe_rig(rig_full, (90, 160))
    (out / "rig.txt").write_text(text + "\n")
    rig_png = plot_rig_bev(rig_full, out / "rig_bev.png")
    print(text)

    t0 = time.perf_counter()
    seq = WorldSequence(rig_full.resized(*args.size), frames=args.frames, seed=args.seed)
    world_dir = out / "world"
    if world_dir.exists():
        shutil.rmtree(world_dir)
    writer = NativeWriter(seq, world_dir)
    writer.begin()
    last = None
    for f in tqdm(seq, total=len(seq), desc="render", unit="frame"):
        writer.write(f)
        last = f
    writer.end()
    elapsed = time.perf_counter() - t0
    mosaic = save_surround_mosaic(out / "surround_mosaic.png", last.rgb.numpy(), last.depth.numpy(),
                                  last.valid.numpy(), seq.rig.names)
    pts = transform_points(seq.T_base_lidar, last.lidar[:, :3].double()).numpy()
    bev = plot_lidar_bev(pts, seq.rig, out / "lidar_bev.png",
                         title=f"frame {last.index}: LiDAR ({len(pts)} points) and rig '{seq.rig.name}'")
    h, w = args.size
    print(f"\nrendered {args.frames} frames of 6 x {h}x{w} + LiDAR in {elapsed:.1f} s (seed {args.seed})")
    print(f"wrote {mosaic}, {bev}, {rig_png}, {out / 'rig.txt'} and the sequence in {world_dir}/")
    return 0
