"""A long bag for memory benchmarks: a rendered drive repeated until it lasts ``--minutes``.

    disdepth world --seed 515151 --frames 300 --size 64x96 --format bag --out out/drive_300
    python benchmarks/long_bag.py out/drive_300 --minutes 30 --out out/long_bag_30min

Rendering 18,000 frames (30 min at 10 Hz) takes about 2 h on this CPU; copying a 30 s drive 60
times takes minutes. Each cycle writes every message of the source bag again, shifted in time by
the source's span plus one frame period, in both the bag's receive time and the message's
``header.stamp`` (patched in the CDR bytes: the first 12 bytes after the encapsulation of every
message that starts with a ``std_msgs/Header``, i.e. Image, CompressedImage, CameraInfo,
PointCloud2). ``/tf_static`` is written once. What the reader, the synchroniser and the
extraction see is an ordinary long recording; only the pixels repeat, which memory does not
depend on. Reports the bag's duration, message count and size; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HEADER_FIRST = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo",
                "sensor_msgs/msg/PointCloud2"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a bag directory (e.g. from disdepth world --format bag)")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--out", required=True, help="new bag directory (must not exist)")
    a = ap.parse_args(argv)
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    from disdepth_core import bag_messages as bm

    t0 = time.monotonic()
    with AnyReader([Path(a.source)]) as reader:
        stamps = sorted({ts for c, ts, _ in reader.messages() if c.topic != "/tf_static"})
        period = (stamps[-1] - stamps[0]) // max(1, len(stamps) - 1)
        cycle = stamps[-1] - stamps[0] + period
        cycles = max(1, int(round(a.minutes * 60e9 / cycle)))
        writer = Writer(Path(a.out), version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        ts = bm.typestore()
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=ts,
                                             offered_qos_profiles=c.ext.offered_qos_profiles)
                 for c in reader.connections}
        n = 0
        for k in tqdm(range(cycles), desc="cycles", unit="cycle"):
            for c, t, raw in reader.messages():
                if c.topic == "/tf_static":
                    if k == 0:
                        writer.write(conns[c.id], t, raw)
                        n += 1
                    continue
                shifted = t + k * cycle
                if c.msgtype in HEADER_FIRST:
                    raw = bm.cdr_with_header_stamp(raw, bm.cdr_header_stamp_ns(raw) + k * cycle)
                writer.write(conns[c.id], shifted, raw)
                n += 1
        writer.close()
    size = sum(p.stat().st_size for p in Path(a.out).rglob("*") if p.is_file())
    res = {"command": f"python benchmarks/long_bag.py {a.source} --minutes {a.minutes:g} --out {a.out}",
           "source_frames": len(stamps), "cycles": cycles, "duration_s": (cycles * cycle) / 1e9,
           "frames": cycles * len(stamps), "messages": n, "bytes": size, "wall_s": time.monotonic() - t0}
    print(json.dumps(res, indent=1))
    (Path(a.out).parent / (Path(a.out).name + ".json")).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
