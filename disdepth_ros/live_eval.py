"""``disdepth eval-bag --live``: replay a bag through a running ``surround_depth_node`` and record its depth.

Real processes over real DDS: the node (``python -m disdepth_ros.surround_depth_node``) and the
player (``python -m disdepth_ros.bag_player``) run as children; this process subscribes to
``/<CAM>/depth/image_raw`` (reliable) and keeps every depth image by (camera, header stamp).
The node runs with the shipped parameters plus the evaluation's engine, rig, cameras, sync
settings and ``output.resolution: camera`` (depth at the image size, as offline). Isolation as
in the tests: its own ``ROS_DOMAIN_ID`` (random unless ``domain_id``), localhost discovery and
the shipped Fast DDS shared-memory profile.

Loaded by ``disdepth eval-bag --live`` through its entry point (setup.py): this module needs rclpy;
``disdepth_core`` never imports it.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from disdepth_core.errors import DisdepthError
from disdepth_core.paths import config_path, share_dir

NODE_MODULE = "disdepth_ros.surround_depth_node"
PLAYER_MODULE = "disdepth_ros.bag_player"
DEPTH_TOPIC = "/{camera}/depth/image_raw"


@dataclasses.dataclass
class LiveRecording:
    """What the node published: depth ``{(camera, stamp_ns): (H, W) float32 metres}`` and the logs."""

    depth: dict[tuple[str, int], np.ndarray]
    node_log: Path
    player_log: Path
    player_rc: int | None
    wall_s: float


def isolated_env(domain_id: int | None = None) -> dict[str, str]:
    """Environment for the children (and this process): own domain, localhost discovery, SHM profile."""
    env = dict(os.environ)
    root = Path(__file__).resolve().parent.parent
    env.update({
        "ROS_DOMAIN_ID": str(domain_id if domain_id is not None else 1 + (os.getpid() * 7 + random.randrange(1000)) % 100),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONPATH": os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_COLORIZED_OUTPUT": "0",
    })
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    profile = config_path("fastdds_shm.xml")
    if profile.is_file():
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    return env


def node_arguments(*, rig_path: str, cameras: list[str], engine, image_topic: str, camera_info_topic: str,
                   sync) -> list[str]:
    """``--ros-args`` of the node: shipped parameters + the evaluation's engine, rig, topics and sync."""
    p = {
        "rig": rig_path,
        "cameras": "[" + ",".join(cameras) + "]",
        "engine.backend": engine.backend,
        "engine.device": engine.device,
        "engine.precision": engine.precision,
        "engine.input_size": f"[{engine.input_size[0]},{engine.input_size[1]}]",
        "engine.min_depth": repr(float(engine.min_depth)),
        "engine.max_depth": repr(float(engine.max_depth)),
        "input.image_topic": image_topic,
        "input.camera_info_topic": camera_info_topic,
        "output.resolution": "camera",
        "output.depth_encoding": "32FC1",
        "cloud.enabled": "false",
        "sync.slop": repr(float(sync.slop)),
        "sync.queue_size": str(int(sync.queue_size)),
        "sync.missing_timeout": repr(float(sync.missing_timeout)),
        "sync.missing_policy": sync.missing_policy,
        "sync.min_cameras": str(int(min(sync.min_cameras, len(cameras)))),
    }
    if engine.checkpoint:
        p["engine.checkpoint"] = str(Path(engine.checkpoint).expanduser().resolve())
    if engine.gt_frames:
        p["engine.gt_frames"] = str(Path(engine.gt_frames).resolve())
    args = ["--params-file", str(config_path("surround_depth.yaml"))]
    for k, v in p.items():
        args += ["-p", f"{k}:={v}"]
    return args


class _Child:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=share_dir())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 5) -> str:
        if not self._fh.closed:
            self._fh.flush()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-n:])

    def stop(self, timeout: float = 10.0) -> int | None:
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                code = None
        self._fh.close()
        return code


def record_live(bag: str | Path, *, rig_path: str, cameras: list[str], engine, image_topic: str,
                camera_info_topic: str, sync, rate: float = 1.0, timeout_s: float = 120.0, log_dir: str | Path,
                idle_s: float = 5.0, domain_id: int | None = None, progress: bool = True) -> LiveRecording:
    """Start the node, wait for its depth publishers, play the bag (image + CameraInfo topics only),
    and record depth until the player has finished and nothing new arrived for ``idle_s``.

    The ``disdepth eval-bag --live`` plugin (entry point group ``disdepth.eval_bag_live`` in setup.py)."""
    import importlib.util

    if importlib.util.find_spec("rclpy") is None:
        raise DisdepthError("--live needs ROS 2 (rclpy is not importable here); run without --live for the "
                            "offline evaluation")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from disdepth_core.pipeline.decoding import image_to_array, stamp_to_ns

    if not rate > 0:
        raise DisdepthError(f"--live-rate must be > 0, got {rate}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = isolated_env(domain_id)
    for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if k in env:
            os.environ[k] = env[k]
    t_start = time.monotonic()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node(f"eval_bag_recorder_{os.getpid()}", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    depth: dict[tuple[str, int], np.ndarray] = {}
    last_rx = [time.monotonic()]

    def on_depth(msg, cam):
        d = image_to_array(msg)
        depth[(cam, stamp_to_ns(msg.header.stamp))] = np.array(d, dtype=np.float32)
        last_rx[0] = time.monotonic()

    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    subs = [node.create_subscription(Image, DEPTH_TOPIC.format(camera=c), lambda m, c=c: on_depth(m, c), qos)
            for c in cameras]
    node_child = _Child([sys.executable, "-m", NODE_MODULE, "--ros-args",
                         *node_arguments(rig_path=rig_path, cameras=cameras, engine=engine, image_topic=image_topic,
                                         camera_info_topic=camera_info_topic, sync=sync)], env, log_dir / "node.log")
    player = None
    try:
        deadline = t_start + timeout_s
        while not all(s.get_publisher_count() > 0 for s in subs):  # the node is up: its publishers matched ours
            if not node_child.alive():
                raise DisdepthError(f"surround_depth_node exited ({node_child.proc.returncode}): {node_child.tail()}")
            if time.monotonic() > deadline:
                raise DisdepthError(f"surround_depth_node did not come up within {timeout_s:.0f} s: {node_child.tail()}")
            executor.spin_once(timeout_sec=0.05)
        topics = [t.format(camera=c) for c in cameras for t in (image_topic, camera_info_topic)]
        player = _Child([sys.executable, "-m", PLAYER_MODULE, str(Path(bag).resolve()), "--rate", repr(float(rate)),
                         "--topics", *topics, "--wait-for-subscribers", "1", "--delay", "0.5"],
                        env, log_dir / "player.log")
        if progress:
            print(f"live: node up, playing {bag} at rate {rate} (logs in {log_dir})", file=sys.stderr)
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if not player.alive() and time.monotonic() - last_rx[0] > idle_s:
                break
            if not node_child.alive():
                raise DisdepthError(f"surround_depth_node died during the replay: {node_child.tail()}")
        player_rc = player.stop()
        if player_rc not in (0, None) and not depth:
            raise DisdepthError(f"bag_player failed ({player_rc}): {player.tail()}")
    finally:
        if player is not None and player.alive():
            player.stop()
        node_child.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    return LiveRecording(depth=depth, node_log=node_child.log_path, player_log=log_dir / "player.log",
                         player_rc=player_rc, wall_s=time.monotonic() - t_start)
