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
Parameters: :class:`~disdepth_ros.synthetic_cameras_params.SyntheticCamerasParams` (typed,
validated; a bad value exits 1 with one line naming the parameter).
"""

from __future__ import annotations

import dataclasses
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
from disdepth_core.sim.box_room import make_box_room_frames
from disdepth_core.sim.frames_file import GroundTruthFrames

from .conversions import (
    array_to_image,
    depth_to_image,
    make_camera_info,
    ns_to_stamp,
    points_to_pointcloud2,
    rgb_to_compressed,
)
from .shutdown import init_with_stop_event
from .synthetic_cameras_params import SyntheticCamerasParams, ros_default, synthetic_params_from_values

LIDAR_FIELDS = ["x", "y", "z", "intensity", "ring"]

NODE_NAME = "synthetic_cameras_node"



class StartupInterrupted(Exception):
    """SIGINT/SIGTERM arrived while the node was still rendering its frames."""


class SyntheticCamerasNode(Node):
    def __init__(self, stop: threading.Event | None = None):
        self._stop_event = stop
        super().__init__(NODE_NAME)
        values = {}
        for f in dataclasses.fields(SyntheticCamerasParams):
            desc = ParameterDescriptor(description=f.metadata.get("help", ""), dynamic_typing=True)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            values[f.name] = self.declare_parameter(f.name, ros_default(default), desc).value
        self.p = p = synthetic_params_from_values(values)
        if p.frames:
            self.frames = GroundTruthFrames.load(p.frames)
        else:
            self.frames = self._make_sequence()
            if p.save_frames:
                self.get_logger().info(f"saved the sequence to {self.frames.save(p.save_frames)}")
        fr = self.frames
        wanted = p.cameras or fr.cameras
        unknown = [c for c in wanted if c not in fr.cameras]
        if unknown:
            raise DisdepthError(f"parameter 'cameras': {unknown} not in the sequence ({', '.join(fr.cameras)})")
        self.cam_idx = [fr.cameras.index(c) for c in wanted]
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE if p.qos == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT)
        raw = p.transport == "raw"
        self.pub_img = {i: self.create_publisher(Image if raw else CompressedImage,
                                                 f"/{fr.cameras[i]}/image_raw" + ("" if raw else "/compressed"), qos)
                        for i in self.cam_idx}
        self.pub_info = {i: self.create_publisher(CameraInfo, f"/{fr.cameras[i]}/camera_info", qos)
                         for i in self.cam_idx} if p.publish_camera_info else {}
        self.pub_gt = {i: self.create_publisher(Image, f"/{fr.cameras[i]}/depth_gt", qos)
                       for i in self.cam_idx} if p.publish_gt_depth else {}
        self.pub_lidar = (self.create_publisher(PointCloud2, fr.lidar_topic, qos)
                          if fr.has_lidar and p.publish_lidar else None)
        self.step = 0
        self.done = threading.Event()
        self.get_logger().info(
            f"{len(self.cam_idx)} cameras, {fr.num_frames} frames of {fr.size[1]}x{fr.size[0]} "
            f"({'file ' + p.frames if p.frames else p.source}) at {p.rate} Hz, "
            f"LiDAR {'on ' + fr.lidar_topic if self.pub_lidar else 'off'}, "
            f"{p.encoding} {p.transport}, stamps from {p.stamp_source}"
        )

    def _make_sequence(self) -> GroundTruthFrames:
        p = self.p
        h, w = p.size
        rig = CameraRig.from_yaml(resolve_rig(p.rig)).resized(h, w)
        n = p.num_frames
        if p.source == "box_room":
            return make_box_room_frames(rig, n, rate_hz=p.rate)
        from disdepth_core.world.config import WorldConfig
        from disdepth_core.world.sequence import WorldSequence

        seq = WorldSequence(rig, n, seed=p.seed, cfg=WorldConfig(rate_hz=p.rate))
        self.get_logger().info(f"rendering {n} world frames of {w}x{h} x {len(rig)} cameras before publishing")
        t0 = time.monotonic()

        def progress(i: int, k: int) -> None:
            if self._stop_event is not None and self._stop_event.is_set():  # Ctrl-C while rendering
                raise StartupInterrupted
            self.get_logger().info(f"rendered {i}/{k} ({time.monotonic() - t0:.1f} s)")

        return GroundTruthFrames.from_world(seq, progress=progress)

    def wait_for_subscribers(self, executor, stop: threading.Event) -> None:
        n = self.p.wait_for_subscribers
        if n > 0:
            while not stop.is_set() and any(p.get_subscription_count() < n for p in self.pub_img.values()):
                executor.spin_once(timeout_sec=0.05)
        t_end = time.monotonic() + self.p.start_delay
        while not stop.is_set() and time.monotonic() < t_end:
            executor.spin_once(timeout_sec=0.05)

    def publish_step(self) -> None:
        fr, p = self.frames, self.p
        f = self.step % fr.num_frames
        if p.stamp_source == "frames":
            period = int(1e9 / p.rate)
            ns = int(fr.stamps_ns[f]) + (self.step // fr.num_frames) * fr.num_frames * period
        else:
            ns = self.get_clock().now().nanoseconds
        stamp = ns_to_stamp(ns)
        for i in self.cam_idx:
            rgb = fr.images[f, i]
            fid = fr.frame_ids[i]
            if p.transport != "raw":
                msg = rgb_to_compressed(rgb, p.transport, stamp=stamp, frame_id=fid)
            elif p.encoding == "bgr8":
                msg = array_to_image(np.ascontiguousarray(rgb[..., ::-1]), "bgr8", stamp=stamp, frame_id=fid)
            elif p.encoding == "mono8":
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
        if p.count and self.step >= p.count:
            self.done.set()


def main(args: list[str] | None = None) -> int:
    stop = init_with_stop_event(args if args is not None else sys.argv)
    node = None
    try:
        try:
            node = SyntheticCamerasNode(stop=stop)
        except StartupInterrupted:
            return 0
        except DisdepthError as exc:
            print(f"{NODE_NAME}: error: {exc}", file=sys.stderr)
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        node.wait_for_subscribers(executor, stop)
        period = 1.0 / node.p.rate
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
