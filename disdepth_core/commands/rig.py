"""``disdepth rig``: inspect a camera rig (table, adjacency, overlaps) and draw its bird's-eye view."""

from __future__ import annotations

import argparse

from .common import parse_size


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rig", help="show a camera rig and draw its coverage/overlap PNG")
    p.add_argument("--rig", default="nuscenes", help="rig file or shipped rig name (default: nuscenes)")
    p.add_argument("--size", type=parse_size, default=None, help="working resolution HxW for overlap fractions")
    p.add_argument("--out", default=None, help="write the bird's-eye PNG here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..geometry import CameraRig
    from ..paths import resolve_rig

    rig = CameraRig.from_yaml(resolve_rig(args.rig))
    print(describe_rig(rig, args.size or (90, 160)))
    if args.out:
        from ..viz.rig_bev import plot_rig_bev

        print(f"wrote {plot_rig_bev(rig, args.out)}")
    return 0


def describe_rig(rig, size: tuple[int, int]) -> str:
    """A text table of the rig's cameras and adjacent-pair overlap fractions at ``size``."""
    lines = [f"rig {rig.name!r}: {len(rig)} cameras, base frame {rig.base_frame}"]
    lines.append(f"{'camera':<18}{'size':>11}{'fx':>9}{'hfov':>7}{'yaw':>8}   translation (m)")
    import math

    yaws = rig.yaws_deg()
    for i, name in enumerate(rig.names):
        H, W = rig.sizes[i]
        fx = float(rig.K[i, 0, 0])
        hfov = 2 * math.degrees(math.atan(W / (2 * fx)))
        t = ", ".join(f"{float(v):.2f}" for v in rig.T_base_cam[i, :3, 3])
        lines.append(f"{name:<18}{f'{W}x{H}':>11}{fx:9.1f}{hfov:7.1f}{float(yaws[i]):8.1f}   [{t}]")
    masks = rig.overlap_masks(size)
    lines.append(f"adjacent pairs (overlap fraction of each image at {size[0]}x{size[1]}, 1-80 m):")
    for p, (i, j) in enumerate(rig.adjacent_pairs()):
        fi, fj = (float(masks[p, s].float().mean()) for s in (0, 1))
        lines.append(f"  {rig.names[i]:<16} <-> {rig.names[j]:<16} {fi:6.1%} / {fj:6.1%}")
    return "\n".join(lines)
