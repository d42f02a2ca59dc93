"""``synthetic_cameras_node``: a live multi-camera source with known truth, for demos and tests.

Publishes, per camera and time step, ``/<CAM>/image_raw`` (or ``.../compressed``),
``/<CAM>/camera_info`` and the true depth ``/<CAM>/depth_gt`` (32FC1 metres, NaN = no
truth), plus the LiDAR scan ``/LIDAR_TOP/points`` where the sequence has one, at ``rate``
Hz, looping over a sequence of :class:`GroundTruthFrames`. The sequence comes from a frames
file (``frames`` parameter), or, with ``frames`` empty, is made on start at ``size`` for the
``rig``: ``source: world`` renders the synthetic street world (``disdepth_core.world``;
seconds per frame on a CPU, so it is rendered once, before publishing, and can be kept
with ``save_frames``), ``source: box_room`` the instant analytic box room.
All cameras of one time step carry the same stamp: the frames' own stamps
(``stamp_source: frames``, for tests that must know which frame is which) or the node clock.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from disdepth_core.errors import DisdepthError
from disdepth_core.geometry import CameraRig
from disdepth_core.paths import resolve_rig
from disdepth_core.runtime.box_room import make_box_room_frames
from disdepth_core.runtime.gt_frames import GroundTruthFrames

from .conversions import (
    array_to_image,
    depth_to_image,
    make_camera_info,
    ns_to_stamp,
    points_to_pointcloud2,
    rgb_to_compressed,
)
from .shutdown import init_with_stop_event

LIDAR_FIELDS = ["x", "y", "z", "intensity", "ring"]

NODE_NAME = "synthetic_cameras_node"

PARAMS = {
    # name: (default, description)
    "frames": ("", "frames .npz (GroundTruthFrames); empty = make the sequence from 'source'"),
    "source": ("world", "without frames: world (synthetic street, rendered on start) | box_room (analytic)"),
    "seed": (0, "world seed"),
    "save_frames": ("", "write the made sequence to this .npz (reuse it with 'frames' and the GT engine)"),
    "rig": ("nuscenes", "rig for the made sequence (when frames is empty)"),
    "size": ([96, 160], "(H, W) of the made sequence"),
    "num_frames": (10, "time steps of the made sequence (looped)"),
    "cameras": ([""], "cameras to publish ([''] = all of the sequence)"),
    "rate": (10.0, "time steps per second"),
    "count": (0, "time steps to publish, then exit; 0 = loop forever"),
    "encoding": ("bgr8", "image encoding: bgr8 | rgb8 | mono8"),
    "transport": ("raw", "raw (Image) | png | jpeg (CompressedImage on <topic>/compressed)"),
    "publish_camera_info": (True, "publish /<CAM>/camera_info"),
    "publish_gt_depth": (True, "publish /<CAM>/depth_gt (32FC1 true depth)"),
    "publish_lidar": (True, "publish the LiDAR scan (PointCloud2 x y z intensity ring) when the sequence has one"),
    "stamp_source": ("now", "now (node clock at publish) | frames (the sequence's stamps)"),
    "qos": ("reliable", "reliable | best_effort"),
    "wait_for_subscribers": (0, "before starting, wait until every image topic has this many subscribers"),
    "start_delay": (0.0, "seconds to wait after that (lets the downstream discover its own peers)"),
}


class SyntheticCamerasNode(Node):
    def __init__(self):
        super().__init__(NODE_NAME)
        v = {k: self.declare_parameter(k, d, ParameterDescriptor(description=h, dynamic_typing=True)).value
             for k, (d, h) in PARAMS.items()}
        self.v = v
        if v["encoding"] not in ("bgr8", "rgb8", "mono8"):
            raise DisdepthError(f"parameter 'encoding': expected bgr8, rgb8 or mono8, got {v['encoding']!r}")
        if v["transport"] not in ("raw", "png", "jpeg"):
            raise DisdepthError(f"parameter 'transport': expected raw, png or jpeg, got {v['transport']!r}")
        if not float(v["rate"]) > 0:
            raise DisdepthError(f"parameter 'rate': expected > 0, got {v['rate']}")
        if v["frames"]:
            self.frames = GroundTruthFrames.load(v["frames"])
        else:
            self.frames = self._make_sequence()
            if v["save_frames"]:
                self.get_logger().info(f"saved the sequence to {self.frames.save(v['save_frames'])}")
        fr = self.frames
        wanted = [c for c in v["cameras"] if c] or fr.cameras
        unknown = [c for c in wanted if c not in fr.cameras]
        if unknown:
            raise DisdepthError(f"parameter 'cameras': {unknown} not in the sequence ({', '.join(fr.cameras)})")
        self.cam_idx = [fr.cameras.index(c) for c in wanted]
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if v["qos"] == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
        raw = v["transport"] == "raw"
        self.pub_img = {i: self.create_publisher(Image if raw else CompressedImage,
                                                 f"/{fr.cameras[i]}/image_raw" + ("" if raw else "/compressed"), qos)
                        for i in self.cam_idx}
        self.pub_info = {i: self.create_publisher(CameraInfo, f"/{fr.cameras[i]}/camera_info", qos)
                         for i in self.cam_idx} if v["publish_camera_info"] else {}
        self.pub_gt = {i: self.create_publisher(Image, f"/{fr.cameras[i]}/depth_gt", qos)
                       for i in self.cam_idx} if v["publish_gt_depth"] else {}
        self.pub_lidar = (self.create_publisher(PointCloud2, fr.lidar_topic, qos)
                          if fr.has_lidar and v["publish_lidar"] else None)
        self.step = 0
        self.done = threading.Event()
        self.get_logger().info(
            f"{len(self.cam_idx)} cameras, {fr.num_frames} frames of {fr.size[1]}x{fr.size[0]} "
            f"({'file ' + v['frames'] if v['frames'] else v['source']}) at {v['rate']} Hz, "
            f"LiDAR {'on ' + fr.lidar_topic if self.pub_lidar else 'off'}, "
            f"{v['encoding']} {v['transport']}, stamps from {v['stamp_source']}"
        )

    def _make_sequence(self) -> GroundTruthFrames:
        v = self.v
        h, w = (int(x) for x in v["size"])
        rig = CameraRig.from_yaml(resolve_rig(v["rig"])).resized(h, w)
        n = int(v["num_frames"])
        if v["source"] == "box_room":
            return make_box_room_frames(rig, n, rate_hz=float(v["rate"]))
        if v["source"] != "world":
            raise DisdepthError(f"parameter 'source': expected world or box_room, got {v['source']!r}")
        from disdepth_core.world.config import WorldConfig
        from disdepth_core.world.sequence import WorldSequence

        seq = WorldSequence(rig, n, seed=int(v["seed"]), cfg=WorldConfig(rate_hz=float(v["rate"])))
        self.get_logger().info(f"rendering {n} world frames of {w}x{h} x {len(rig)} cameras before publishing")
        t0 = time.monotonic()
        return GroundTruthFrames.from_world(
            seq, progress=lambda i, k: self.get_logger().info(f"rendered {i}/{k} ({time.monotonic() - t0:.1f} s)"))

    def wait_for_subscribers(self, executor, stop: threading.Event) -> None:
        n = int(self.v["wait_for_subscribers"])
        if n > 0:
            while not stop.is_set() and any(p.get_subscription_count() < n for p in self.pub_img.values()):
                executor.spin_once(timeout_sec=0.05)
        t_end = time.monotonic() + float(self.v["start_delay"])
        while not stop.is_set() and time.monotonic() < t_end:
            executor.spin_once(timeout_sec=0.05)

    def publish_step(self) -> None:
        fr, v = self.frames, self.v
        f = self.step % fr.num_frames
        if v["stamp_source"] == "frames":
            period = int(1e9 / float(v["rate"]))
            ns = int(fr.stamps_ns[f]) + (self.step // fr.num_frames) * fr.num_frames * period
        else:
            ns = self.get_clock().now().nanoseconds
        stamp = ns_to_stamp(ns)
        for i in self.cam_idx:
            rgb = fr.images[f, i]
            fid = fr.frame_ids[i]
            if v["transport"] != "raw":
                msg = rgb_to_compressed(rgb, v["transport"], stamp=stamp, frame_id=fid)
            elif v["encoding"] == "bgr8":
                msg = array_to_image(np.ascontiguousarray(rgb[..., ::-1]), "bgr8", stamp=stamp, frame_id=fid)
            elif v["encoding"] == "mono8":
                msg = array_to_image(np.ascontiguousarray(rgb[..., 1]), "mono8", stamp=stamp, frame_id=fid)
            else:
                msg = array_to_image(rgb, "rgb8", stamp=stamp, frame_id=fid)
            if i in self.pub_info:  # before the image, so that a consumer has it when the image arrives
                self.pub_info[i].publish(make_camera_info(fr.K[i], fr.size, stamp=stamp, frame_id=fid))
            self.pub_img[i].publish(msg)
            if i in self.pub_gt:
                d = np.where(fr.depth[f, i] > 0, fr.depth[f, i], np.nan).astype(np.float32)
                self.pub_gt[i].publish(depth_to_image(d, "32FC1", stamp=stamp, frame_id=fid))
        if self.pub_lidar is not None:
            self.pub_lidar.publish(points_to_pointcloud2(fr.lidar(f), LIDAR_FIELDS, stamp=stamp,
                                                         frame_id=fr.lidar_frame_id))
        self.step += 1
        if int(v["count"]) and self.step >= int(v["count"]):
            self.done.set()


def main(args: list[str] | None = None) -> int:
    stop = init_with_stop_event(args if args is not None else sys.argv)
    node = None
    try:
        try:
            node = SyntheticCamerasNode()
        except DisdepthError as exc:
            print(f"{NODE_NAME}: error: {exc}", file=sys.stderr)
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        node.wait_for_subscribers(executor, stop)
        period = 1.0 / float(node.v["rate"])
        t_next = time.monotonic()
        while not stop.is_set() and not node.done.is_set() and rclpy.ok():
            node.publish_step()
            t_next += period
            while not stop.is_set() and (delay := t_next - time.monotonic()) > 0:
                executor.spin_once(timeout_sec=min(delay, 0.05))
        node.get_logger().info(f"published {node.step} time steps")
        if node.done.is_set():
            time.sleep(0.5)  # let reliable writers deliver the last samples
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
