"""Measure surround_depth_node end to end over real DDS (reports numbers, asserts nothing).

    python benchmarks/bench_node.py --size 900x1600 --rate 10 --frames 50 --input-size 384x640 --out out/bench_node
    # soak: 10 minutes, the shipped student, RSS over time and the accounting identity
    python benchmarks/bench_node.py --size 224x384 --rate 4 --duration 600 --input-size 128x224 \
        --checkpoint weights/student_default --out out/soak

This process publishes six bgr8 cameras (box-room scene at ``--size``) with CameraInfo at
``--rate``; a ``surround_depth_node`` child process runs the test-only oracle of
``disdepth_core.sim`` (opted in for that child with ``DISDEPTH_ENABLE_ORACLE=1``; "engine time" is
a hash lookup + resize, not a network: see docs/ros_node.md), or with
``--checkpoint DIR`` a real student through the torch backend; this
process subscribes the merged cloud. Reported:

* frame loss: images the node received per camera vs. published (SHM profile check);
* node end-to-end latency (last image received -> cloud published) p50/p90 and engine
  time p50 from the node's /diagnostics, node overhead = e2e / engine time;
* external latency (last image published here -> cloud received here) p50/p90;
* throughput = clouds received per second;
* the node's RSS sampled every ``--rss-every`` s (``rss.csv``, ``rss.png``) and, per camera,
  the accounting identity of its diagnostics (received = dropped + published + stale + error +
  sync overflow/replaced + pending) next to the images this process sent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent


def parse_hw(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="900x1600", help="camera image HxW (default 900x1600)")
    ap.add_argument("--rate", type=float, default=10.0, help="camera rate Hz")
    ap.add_argument("--frames", type=int, default=50, help="time steps to publish")
    ap.add_argument("--duration", type=float, default=0.0, help="publish for this many seconds instead (soak)")
    ap.add_argument("--rss-every", type=float, default=1.0, help="node RSS sampling period, s")
    ap.add_argument("--scene-frames", type=int, default=3, help="distinct scene frames (looped)")
    ap.add_argument("--input-size", default="384x640", help="engine input/output HxW (depth resolution)")
    ap.add_argument("--stride", type=int, default=2, help="cloud.stride")
    ap.add_argument("--cpu-threads", type=int, default=0, help="node parameter cpu_threads (0 = torch default)")
    ap.add_argument("--checkpoint", default="",
                    help="run a real student through the torch backend instead of the oracle")
    ap.add_argument("--no-shm", action="store_true", help="do not use config/fastdds_shm.xml (default transports)")
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "42")))
    ap.add_argument("--out", default="out/bench_node", help="output directory (frames file, logs, results.json)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({"ROS_DOMAIN_ID": str(args.domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
    if not args.checkpoint:
        env["DISDEPTH_ENABLE_ORACLE"] = "1"  # the node's engine is the oracle of disdepth_core.sim
    if args.no_shm:
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    else:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO / "config" / "fastdds_shm.xml")
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION")})
    if args.no_shm:
        os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    else:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = env["FASTDDS_DEFAULT_PROFILES_FILE"]

    from disdepth_core.geometry import CameraRig
    from disdepth_core.paths import resolve_rig
    from disdepth_core.sim.box_room import make_box_room_frames
    from disdepth_core.sim.frames_file import GroundTruthFrames

    H, W = parse_hw(args.size)
    ih, iw = parse_hw(args.input_size)
    frames_path = out / f"frames_{H}x{W}.npz"
    t0 = time.perf_counter()
    if frames_path.is_file():
        frames = GroundTruthFrames.load(frames_path)
        print(f"scene: reusing {frames_path}")
    else:
        rig = CameraRig.from_yaml(resolve_rig("nuscenes")).resized(H, W)
        frames = make_box_room_frames(rig, args.scene_frames, rate_hz=args.rate)
        frames.save(frames_path)
        print(f"scene: {args.scene_frames} frames x 6 cameras at {W}x{H} in {time.perf_counter() - t0:.1f} s "
              f"-> {frames_path}")

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from disdepth_core.pipeline.decoding import stamp_to_ns
    from disdepth_ros.conversions import array_to_image, make_camera_info, ns_to_stamp

    node_log = open(out / "node.log", "wb")  # noqa: SIM115
    node_proc = subprocess.Popen(
        [sys.executable, "-m", "disdepth_ros.surround_depth_node", "--ros-args",
         "--params-file", str(REPO / "config" / "surround_depth.yaml"),
         *(["-p", "engine.backend:=torch", "-p", f"engine.checkpoint:={args.checkpoint}"] if args.checkpoint else
           ["-p", "engine.backend:=ground_truth", "-p", f"engine.gt_frames:={frames_path}"]),
         "-p", "engine.device:=cpu",
         "-p", f"engine.input_size:=[{ih}, {iw}]", "-p", f"cloud.stride:={args.stride}",
         "-p", "diagnostics_period:=0.5", "-p", f"cpu_threads:={args.cpu_threads}", "-p", "sync.queue_size:=3"],
        env=env, stdout=node_log, stderr=subprocess.STDOUT, cwd=REPO)
    rclpy.init()
    node = rclpy.create_node("bench_node_driver")
    rel = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {c: node.create_publisher(Image, f"/{c}/image_raw", rel) for c in frames.cameras}
    info_pubs = {c: node.create_publisher(CameraInfo, f"/{c}/camera_info", rel) for c in frames.cameras}
    clouds: dict[int, float] = {}
    sizes: list[int] = []
    diags: list = []
    node.create_subscription(PointCloud2, "/surround_depth/points",
                             lambda m: (clouds.setdefault(stamp_to_ns(m.header.stamp), time.monotonic()),
                                        sizes.append(len(m.data))), QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, rel)
    msgs = [[array_to_image(np.ascontiguousarray(frames.images[f, i][..., ::-1]), "bgr8", frame_id=frames.frame_ids[i])
             for i in range(6)] for f in range(frames.num_frames)]
    try:
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end and any(p.get_subscription_count() < 1 for p in pubs.values()):
            rclpy.spin_once(node, timeout_sec=0.1)
        for _ in range(20):  # let the node's publishers discover us too
            rclpy.spin_once(node, timeout_sec=0.1)
        print("node subscribed; publishing")
        sent: dict[int, float] = {}
        period = 1.0 / args.rate
        t_next = t_start = time.monotonic()
        node_ps = psutil.Process(node_proc.pid)
        rss: list[tuple[float, float]] = []
        next_rss = t_start
        steps = int(args.duration * args.rate) if args.duration > 0 else args.frames
        for k in range(steps):
            if time.monotonic() >= next_rss:
                rss.append((time.monotonic() - t_start, node_ps.memory_info().rss / 2**20))
                next_rss += args.rss_every
                if args.duration > 0 and len(rss) % 60 == 1:
                    print(f"soak {time.monotonic() - t_start:5.0f}/{args.duration:.0f} s: node RSS {rss[-1][1]:.0f} MiB, "
                          f"{len(clouds)} clouds", flush=True)
            ns = time.time_ns()
            stamp = ns_to_stamp(ns)
            for i, c in enumerate(frames.cameras):
                info_pubs[c].publish(make_camera_info(frames.K[i], (H, W), stamp=stamp, frame_id=frames.frame_ids[i]))
                m = msgs[k % frames.num_frames][i]
                m.header.stamp = stamp
                pubs[c].publish(m)
            sent[ns] = time.monotonic()
            t_next += period
            while (d := t_next - time.monotonic()) > 0:
                rclpy.spin_once(node, timeout_sec=min(d, 0.02))
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and len(clouds) < len(sent):
            rclpy.spin_once(node, timeout_sec=0.05)
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(10)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        node_log.close()

    lat = np.array([(clouds[s] - sent[s]) * 1e3 for s in sent if s in clouds])
    recv = sorted(clouds[s] for s in sent if s in clouds)
    thr = (len(recv) - 1) / (recv[-1] - recv[0]) if len(recv) > 1 else 0.0
    res: dict = {
        "command": " ".join([sys.executable, "benchmarks/bench_node.py", *(argv or sys.argv[1:])]),
        "cameras": 6, "image_size": [H, W], "depth_size": [ih, iw], "rate_hz": args.rate, "published_steps": len(sent),
        "shm_profile": not args.no_shm, "cpu_threads": args.cpu_threads, "clouds_received": len(lat),
        "cloud_mb_mean": float(np.mean(sizes) / 1e6) if sizes else 0.0,
        "external_latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "external_latency_p90_ms": float(np.percentile(lat, 90)) if len(lat) else None,
        "throughput_hz": thr,
    }
    if diags:
        last = diags[-1]
        kv = {s.name: {v.key: v.value for v in s.values} for s in last.status}
        pipe = next(v for k, v in kv.items() if k.endswith("pipeline"))
        res["node"] = {k: float(v) for k, v in pipe.items() if k.endswith("_ms") or k == "throughput_hz"}
        res["node"].update({k: int(pipe[k]) for k in ("sets_synced", "sets_processed", "sets_dropped_stale",
                                                     "sets_partial")})
        res["node"]["overhead_e2e_over_engine"] = res["node"]["e2e_p50_ms"] / res["node"]["engine_p50_ms"]
        res["images_received_per_camera"] = {k.split(": ")[-1]: int(v["received"]) for k, v in kv.items()
                                             if not k.endswith("pipeline")}
        res["frame_loss_images"] = int(sum(len(sent) - n for n in res["images_received_per_camera"].values()))
        parts = ("dropped_bad", "published", "dropped_stale", "dropped_error", "dropped_sync_overflow",
                 "dropped_sync_replaced", "pending")
        res["accounting"] = {
            k.split(": ")[-1]: {"sent": len(sent), **{p: int(v[p]) for p in ("received", *parts, "unaccounted")},
                                "identity_holds": int(v["received"]) == sum(int(v[p]) for p in parts)}
            for k, v in kv.items() if not k.endswith("pipeline")}
    if rss:
        mib = np.array([m for _, m in rss])
        res["node_rss_mib"] = {"first": float(mib[0]), "min": float(mib.min()), "max": float(mib.max()),
                               "last": float(mib[-1]), "samples": len(mib),
                               "last_minus_after_first_minute": float(mib[-1] - mib[min(len(mib) - 1, 60)])}
        (out / "rss.csv").write_text("t_s,rss_mib\n" + "".join(f"{t:.1f},{m:.1f}\n" for t, m in rss))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot([t for t, _ in rss], mib)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("node RSS (MiB)")
        ax.set_title(f"surround_depth_node soak: 6 x {W}x{H} at {args.rate:g} Hz")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "rss.png", dpi=100)
        plt.close(fig)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
