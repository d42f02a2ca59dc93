"""``surround_depth_node``: six cameras -> one batched depth engine -> REP 118 depth, cloud, diagnostics.

Wiring only: the behaviour (checks, synchroniser, latest-only hand-off, batch, engine call,
accounting, diagnostics) is :class:`~disdepth_core.pipeline.surround_pipeline.SurroundPipeline`,
ROS-free. Here: parameters, QoS, subscriptions, publishers, timers, the inference worker thread,
``/tf_static`` and the lifecycle transitions.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from disdepth_core.errors import DisdepthError
from disdepth_core.geometry import CameraRig, matrix_to_quaternion
from disdepth_core.paths import resolve_rig
from disdepth_core.pipeline.decoding import compressed_topic
from disdepth_core.pipeline.diagnostics_report import NODE_NAME, diagnostics
from disdepth_core.pipeline.engine_startup import start_engine, startup_summary
from disdepth_core.pipeline.qos_report import describe_qos, incompatible_qos_message
from disdepth_core.pipeline.surround_pipeline import SurroundPipeline
from disdepth_core.pipeline.warning_throttle import WarningThrottle

from .conversions import array_to_image, cloud_to_pointcloud2, depth_to_image, make_camera_info
from .params import declare_and_read_params
from .shutdown import init_with_stop_event

LEVELS = {"OK": DiagnosticStatus.OK, "WARN": DiagnosticStatus.WARN, "ERROR": DiagnosticStatus.ERROR,
          "STALE": DiagnosticStatus.STALE}


class _SurroundDepth:
    """Shared by the plain node and the managed (lifecycle) node. Phases: ``_configure``
    (parameters, rig, engine loaded and warmed up, publishers) -> ``_activate`` (subscriptions,
    timers, worker) -> ``_deactivate`` (input and worker stopped, engine kept) -> ``_cleanup``."""

    def _configure(self) -> None:
        self.p = p = declare_and_read_params(self)
        if p.cpu_threads > 0:
            torch.set_num_threads(p.cpu_threads)
        try:
            self.rig = CameraRig.from_yaml(resolve_rig(p.rig)).subset(p.cameras)
        except KeyError as exc:
            raise DisdepthError(f"parameter 'cameras': {exc.args[0]}") from None
        log = self.get_logger()
        self.engine, warmup_ms = start_engine(p, info=log.info, warning=log.warning)
        self.log = WarningThrottle(log.warning, log.info)
        self.in_qos = {
            "sensor_data": qos_profile_sensor_data,
            "reliable": QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE),
            "best_effort": QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT),
        }[p.input.qos]
        self.out_qos = QoSProfile(depth=p.output.qos_depth, reliability=(
            ReliabilityPolicy.RELIABLE if p.output.qos == "reliable" else ReliabilityPolicy.BEST_EFFORT))
        cams = list(self.rig.names)
        self.pub_depth = {c: self._advertise(Image, p.output.depth_topic.format(camera=c)) for c in cams}
        self.pub_info = {c: self._advertise(CameraInfo, p.output.depth_info_topic.format(camera=c)) for c in cams}
        self.pub_cloud = self._advertise(PointCloud2, p.cloud.topic) if p.cloud.enabled else None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        has_conf = bool(getattr(self.engine, "provides_confidence", False))  # bin-head models only
        self.pub_conf = ({c: self._advertise(Image, p.output.confidence_topic.format(camera=c)) for c in cams}
                         if p.output.confidence and has_conf else {})
        if not has_conf and (p.output.confidence or p.cloud.min_confidence > 0):
            log.info(f"the model gives no per-pixel confidence (regression head, or an export without it): "
                     f"{p.output.confidence_topic} not published"
                     + (f"; cloud.min_confidence {p.cloud.min_confidence} ignored (all points kept)"
                        if p.cloud.min_confidence > 0 else ""))
        self.pipeline = SurroundPipeline(p, self.rig, self.engine, self, self.log, publish_confidence=bool(self.pub_conf))
        tf_status = self._publish_tf_static() if p.publish_tf_static else "disabled by publish_tf_static"
        if p.cloud.frame_id != self.rig.base_frame:
            log.warning(f"cloud.frame_id '{p.cloud.frame_id}' differs from the rig's base frame "
                        f"'{self.rig.base_frame}': the rig extrinsics are used as given, relative to cloud.frame_id")
        log.info(startup_summary(p, self.rig, self.engine, warmup_ms, confidence=bool(self.pub_conf),
                                 has_confidence=has_conf, tf_status=tf_status))

    def _activate(self) -> None:
        p, pl = self.p, self.pipeline
        self._subs = []
        for cam in pl.cams:
            topic = p.input.image_topic.format(camera=cam)
            if p.input.transport == "compressed":
                self._subscribe(CompressedImage, compressed_topic(topic),
                                lambda m, c=cam: pl.on_image(c, m, time.monotonic_ns(), compressed=True))
            else:
                self._subscribe(Image, topic, lambda m, c=cam: pl.on_image(c, m, time.monotonic_ns()))
            if p.input.use_camera_info:
                self._subscribe(CameraInfo, p.input.camera_info_topic.format(camera=cam),
                                lambda m, c=cam: pl.on_camera_info(c, m))
        pl.start()
        # steady clock: on sim time (bag replay) a paused or finished bag must not stop the
        # missing-camera checks and the diagnostics
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers = [self.create_timer(0.05, lambda: pl.poll(time.monotonic_ns()), clock=steady),
                        self.create_timer(p.diagnostics_period, self._publish_diagnostics, clock=steady)]
        self._stop = threading.Event()
        self._worker = threading.Thread(target=pl.work, args=(self._stop,), name="inference", daemon=True)
        self._worker.start()
        self._active = True

    def _deactivate(self) -> None:
        if not getattr(self, "_active", False):
            return
        for sub in self._subs:
            self.destroy_subscription(sub)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._subs, self._timers = [], []
        self._stop.set()
        self.pipeline.stop()
        self._worker.join(timeout=5.0)
        self._active = False

    def _cleanup(self) -> None:
        self._deactivate()
        for pub in [*self.pub_depth.values(), *self.pub_info.values(), *self.pub_conf.values(), self.pub_cloud,
                    self.pub_diag]:
            if pub is not None:
                self.destroy_publisher(pub)
        self.pub_depth, self.pub_info, self.pub_conf, self.pub_cloud, self.pub_diag = {}, {}, {}, None, None
        self.engine = self.pipeline = None

    # ------------------------------------------------------------------ QoS
    def _subscribe(self, msg_type, topic: str, cb) -> None:
        qos = self.in_qos
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda info, t=topic, q=qos: self._on_incompatible(t, "subscription", q, info))
        self._subs.append(self.create_subscription(msg_type, topic, cb, qos, event_callbacks=events))

    def _advertise(self, msg_type, topic: str):
        qos = self.out_qos
        events = PublisherEventCallbacks(
            incompatible_qos=lambda info, t=topic, q=qos: self._on_incompatible(t, "publisher", q, info))
        return self.create_publisher(msg_type, topic, qos, event_callbacks=events)

    def _on_incompatible(self, topic: str, role: str, ours: QoSProfile, info: Any) -> None:
        peers = (self.get_publishers_info_by_topic(topic) if role == "subscription"
                 else self.get_subscriptions_info_by_topic(topic))
        theirs = sorted({describe_qos(e.qos_profile) for e in peers if e.node_name != self.get_name()})
        self.log.warn("qos", f"incompatible QoS {role} {topic}",
                      incompatible_qos_message(topic, role, ours, theirs, info.last_policy_kind))
        if self.pipeline is not None:
            self.pipeline.counters["qos_incompatible"] += 1

    # ------------------------------------------------------------------ OutputSink
    def publish_depth(self, cam, frame_id, stamp, depth, confidence, K, size) -> None:
        self.pub_depth[cam].publish(depth_to_image(depth, self.p.output.depth_encoding, stamp=stamp, frame_id=frame_id))
        if confidence is not None:  # the depth image's header and size exactly
            self.pub_conf[cam].publish(array_to_image(confidence, "32FC1", stamp=stamp, frame_id=frame_id))
        self.pub_info[cam].publish(make_camera_info(K, size, stamp=stamp, frame_id=frame_id))

    def publish_cloud(self, cloud, stamp) -> None:
        self.pub_cloud.publish(cloud_to_pointcloud2(cloud, stamp=stamp, frame_id=self.p.cloud.frame_id))

    # ------------------------------------------------------------------ tf, diagnostics
    def _publish_tf_static(self) -> str:
        try:
            from geometry_msgs.msg import TransformStamped
            from tf2_ros.static_transform_broadcaster import StaticTransformBroadcaster
        except ImportError:
            return "not published (tf2_ros is not importable here; publish the rig extrinsics yourself)"
        transforms = []
        for i, child in enumerate(self.rig.frame_ids):
            T = self.rig.T_base_cam[i]
            t = TransformStamped()
            t.header.stamp = self.get_clock().now().to_msg()
            t.header.frame_id, t.child_frame_id = self.p.cloud.frame_id, child
            tr, rot = t.transform.translation, t.transform.rotation
            tr.x, tr.y, tr.z = (float(v) for v in T[:3, 3])
            rot.w, rot.x, rot.y, rot.z = (float(v) for v in matrix_to_quaternion(T[:3, :3]))
            transforms.append(t)
        self._tf_broadcaster = StaticTransformBroadcaster(self)
        self._tf_broadcaster.sendTransform(transforms)
        return f"published {len(transforms)} camera transforms from the rig"

    def _publish_diagnostics(self) -> None:
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [DiagnosticStatus(name=r.name, hardware_id=r.hardware_id, level=LEVELS[r.level], message=r.message,
                                       values=[KeyValue(key=k, value=v) for k, v in r.values.items()])
                      for r in diagnostics(self.pipeline)]
        self.pub_diag.publish(arr)

    def shutdown(self) -> None:
        """Stop the worker (the node is destroyed by the caller)."""
        self._deactivate()


class SurroundDepthNode(_SurroundDepth, Node):
    """The plain node (the default): configured and active from construction until shutdown."""

    def __init__(self, **kwargs):
        Node.__init__(self, NODE_NAME, **kwargs)
        self._active = False
        self._configure()
        self._activate()


class SurroundDepthLifecycleNode(_SurroundDepth, LifecycleNode):
    """The managed node (``--lifecycle``), driven through the standard ``lifecycle_msgs`` services.

    configure = parameters, engine loaded and warmed up, publishers; activate = subscribe and
    infer; deactivate = stop input and inference (engine kept: activating again is instant);
    cleanup = release engine and publishers. A failed configure logs one line and returns
    FAILURE, leaving the node unconfigured and able to try again.
    """

    def __init__(self, **kwargs):
        LifecycleNode.__init__(self, NODE_NAME, **kwargs)
        self._active = False
        self.engine = None
        self.get_logger().info("managed node: waiting for 'configure' (lifecycle_msgs/srv/ChangeState)")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except DisdepthError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.engine = None
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activate()
        self.get_logger().info("active: subscribed to the cameras")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self.get_logger().info("inactive: input and inference stopped, engine kept")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        self.get_logger().info("unconfigured: engine released")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.engine is not None:
            self._cleanup()
        return super().on_shutdown(state)


def main(args: list[str] | None = None) -> int:
    """Spin until SIGINT/SIGTERM, then stop the worker and shut down cleanly.
    ``--lifecycle`` (before any ``--ros-args``) runs the managed node instead of the plain one."""
    argv = list(args if args is not None else sys.argv)
    ros_at = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    lifecycle = "--lifecycle" in argv[1:ros_at]
    if lifecycle:
        argv.remove("--lifecycle")
    try:
        stop = init_with_stop_event(argv)
    except Exception as exc:  # rclpy's RCLError for an unreadable params file / bad --ros-args
        print(f"{NODE_NAME}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    node = None
    try:
        try:
            node = SurroundDepthLifecycleNode() if lifecycle else SurroundDepthNode()
        except DisdepthError as exc:
            print(f"{NODE_NAME}: error: {exc}", file=sys.stderr)
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        node.get_logger().info("shutting down")
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
