"""``disdepth world``: render a synthetic six-camera drive with exact ground truth and write it out."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import DisdepthError
from .common import parse_size, positive_int

FORMATS = ("native", "nuscenes", "bag")
SIZE_MULTIPLE = 32  # the depth networks downsample by 32


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {v}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("world", help="render a synthetic surround-camera drive (native, nuScenes or ROS 2 bag)")
    p.add_argument("--out", required=True, help="output directory (for --format bag: the bag directory to create)")
    p.add_argument("--frames", type=positive_int, required=True, help="number of frames")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--rig", default="nuscenes", help="rig file or shipped rig name (default: nuscenes)")
    p.add_argument("--size", type=parse_size, default=(352, 640), help="image size HxW, multiples of 32 (default 352x640)")
    p.add_argument("--format", choices=FORMATS, default="native", help="output format (default native)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage (default mcap)")
    p.add_argument("--config", default=None, help="WorldConfig YAML overriding scene/LiDAR defaults")
    p.add_argument("--nuscenes-version", default=None, help="nuScenes version folder (default v1.0-synthetic)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _prepare_out(out: Path, fmt: str) -> None:
    """Fail early, with one line, when the output cannot be written."""
    if fmt == "bag":
        if out.exists():
            raise DisdepthError(f"output {out} exists already (a bag is written into a new directory)")
        parent = out.parent if str(out.parent) else Path(".")
        target = parent
        while not target.exists():
            target = target.parent
        if not target.is_dir() or not os.access(target, os.W_OK | os.X_OK):
            raise DisdepthError(f"cannot write output {out}: {target} is not a writable directory")
        return
    if out.exists():
        if not out.is_dir():
            raise DisdepthError(f"output {out} exists and is not a directory")
        if any(out.iterdir()):
            raise DisdepthError(f"output directory {out} is not empty (choose a new --out)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DisdepthError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise DisdepthError(f"output directory {out} is not writable")


def run(args: argparse.Namespace) -> int:
    h, w = args.size
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise DisdepthError(f"--size {h}x{w}: height and width must be multiples of {SIZE_MULTIPLE} "
                            f"(the depth network downsamples by {SIZE_MULTIPLE}), e.g. 352x640")
    from ..config import load_config
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from ..world.config import WorldConfig

    rig = CameraRig.from_yaml(resolve_rig(args.rig)).resized(h, w)
    cfg = load_config(WorldConfig, args.config) if args.config else WorldConfig()
    out = Path(args.out)
    _prepare_out(out, args.format)

    from tqdm import tqdm

    from ..world.sequence import WorldSequence

    seq = WorldSequence(rig, args.frames, seed=args.seed, cfg=cfg)
    if args.format == "native":
        from ..world.export_native import NativeWriter

        writer = NativeWriter(seq, out)
    elif args.format == "nuscenes":
        from ..world.export_nuscenes import DEFAULT_VERSION, NuScenesWriter

        writer = NuScenesWriter(seq, out, version=args.nuscenes_version or DEFAULT_VERSION)
    else:
        from ..world.export_bag import BagWriter

        writer = BagWriter(seq, out, storage=args.storage)
    writer.begin()
    for f in tqdm(seq, total=len(seq), desc=f"world {args.format}", unit="frame", disable=args.quiet):
        writer.write(f)
    writer.end()
    print(f"wrote {args.frames} frames ({len(rig)} cameras {h}x{w} + {cfg.lidar.name}, seed {args.seed}) "
          f"as {args.format} to {out}")
    return 0
