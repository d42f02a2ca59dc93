"""Memory of ``disdepth distill``'s extraction along a long bag (reports numbers, asserts nothing).

    python benchmarks/extract_rss.py out/long_bag_2000 --every 0 --out out/extract_rss

Runs :func:`disdepth_core.data.bag_extract.extract_bags` in this process on the bag(s) with the
nuScenes rig and samples this process's RSS every ``--period`` s in a thread: ``rss.csv`` (time,
RSS MiB, sets written so far), ``rss.png`` and ``rss.json`` (first / peak / last RSS, the RSS
growth from the first to the last tenth of the run, sets kept). ``--every 0`` keeps every
synchronised set, the worst case for memory. Streamed extraction should stay flat: nothing per
set is kept after the set is written.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import psutil


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bags", nargs="+")
    ap.add_argument("--out", default="out/extract_rss")
    ap.add_argument("--every", type=float, default=0.0, help="--every of distill (0 = every set)")
    ap.add_argument("--period", type=float, default=1.0, help="RSS sampling period, s")
    a = ap.parse_args(argv)
    from disdepth_core.data.bag_extract import extract_bags
    from disdepth_core.data.extraction_settings import ExtractionSettings
    from disdepth_core.geometry import CameraRig
    from disdepth_core.paths import resolve_rig

    out = Path(a.out)
    data = out / "data"
    proc = psutil.Process()
    samples, stop = [], threading.Event()

    def written() -> int:
        return sum(len(list(d.glob("*.png"))) for d in data.glob("*/*/images/CAM_FRONT"))

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            samples.append((time.monotonic() - t0, proc.memory_info().rss / 2**20, written()))
            stop.wait(a.period)

    out.mkdir(parents=True, exist_ok=True)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.monotonic()
    doc = extract_bags(a.bags, data, CameraRig.from_yaml(resolve_rig("nuscenes")),
                       ExtractionSettings(every_s=a.every), progress=False)
    wall = time.monotonic() - t0
    stop.set()
    th.join()
    (out / "rss.csv").write_text("t_s,rss_mib,sets_written\n" + "".join(f"{t:.2f},{r:.1f},{n}\n" for t, r, n in samples))
    n = len(samples)
    tenth = max(1, n // 10)
    first, last = samples[:tenth], samples[-tenth:]
    res = {"command": "python benchmarks/extract_rss.py " + " ".join(a.bags) + f" --every {a.every:g} --out {a.out}",
           "wall_s": wall, "kept": doc["kept"], "samples": n,
           "rss_first_mib": samples[0][1], "rss_peak_mib": max(s[1] for s in samples), "rss_last_mib": samples[-1][1],
           "rss_mean_first_tenth_mib": sum(s[1] for s in first) / len(first),
           "rss_mean_last_tenth_mib": sum(s[1] for s in last) / len(last)}
    (out / "rss.json").write_text(json.dumps(res, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([s[2] for s in samples], [s[1] for s in samples])
    ax.set_xlabel("sets written")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(0, res["rss_peak_mib"] * 1.15)
    ax.set_title(f"distill extraction: RSS along {sum(doc['kept'].values())} sets")
    fig.tight_layout()
    fig.savefig(out / "rss.png", dpi=110)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
