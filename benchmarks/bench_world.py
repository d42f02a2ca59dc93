"""Speed and memory of the synthetic world renderer (reported in docs/world.md, never asserted).

    PYTHONPATH=. python benchmarks/bench_world.py --frames 20 --size 352x640
    PYTHONPATH=. python benchmarks/bench_world.py --frames 300 --size 128x224 --every 50

Renders frames of one sequence (six cameras + LiDAR, no file writing) and prints the wall
and CPU time per frame and the process RSS along the way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from disdepth_core.commands.common import parse_size
from disdepth_core.geometry import CameraRig
from disdepth_core.paths import resolve_rig
from disdepth_core.world import WorldSequence


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--size", type=parse_size, default=(352, 640))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=10, help="print RSS every N frames")
    args = ap.parse_args()
    rig = CameraRig.from_yaml(resolve_rig("nuscenes")).resized(*args.size)
    seq = WorldSequence(rig, args.frames, seed=args.seed)
    walls, cpus = [], []
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}, size {args.size}")
    for i in range(args.frames):
        t0, c0 = time.perf_counter(), time.process_time()
        seq.render(i)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if i % args.every == 0 or i == args.frames - 1:
            print(f"frame {i:5d}  wall {walls[-1]:.2f} s  cpu {cpus[-1]:.2f} s  rss {rss_mb():.0f} MB", flush=True)
    rest = walls[1:] or walls
    print(f"frames 1..{args.frames - 1}: wall median {statistics.median(rest):.2f} s, min {min(rest):.2f} s; "
          f"cpu median {statistics.median(cpus[1:] or cpus):.2f} s; first frame {walls[0]:.2f} s; "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
