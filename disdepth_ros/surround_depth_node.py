"""``surround_depth_node``: six cameras -> one batched depth engine -> REP 118 depth, cloud, diagnostics.

Wiring over the ROS-free :mod:`disdepth_core.pipeline`. Threads: executor thread = image/CameraInfo
callbacks (:class:`CameraPipeline` checks, zero-copy; a compressed image's header only, then the
approximate-time synchroniser) -> :class:`LatestSlot` (one set, newest wins, stale sets are
counted) -> one inference worker thread (compressed images decoded, the batch assembled, one
``engine.infer`` for all cameras of the set, then depth images, their CameraInfo, the per-pixel
depth confidence (bin-head models) and the merged cloud are published with the input stamps).
Bad input is reported per camera and cause and never stops the node.
"""

from __future__ import annotations

import collections
import dataclasses
import sys
import threading
import time
import traceback
from typing import Any

import numpy as np
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
from disdepth_core.geometry import CameraRig, scale_intrinsics
from disdepth_core.paths import resolve_rig
from disdepth_core.pipeline.batch import Frame, blank_value
from disdepth_core.pipeline.camera_pipeline import CameraPipeline
from disdepth_core.pipeline.decoding import ImageError, stamp_to_ns
from disdepth_core.pipeline.latest_slot import LatestSlot
from disdepth_core.pipeline.qos_report import describe_qos, incompatible_qos_message
from disdepth_core.runtime.factory import create_engine
from disdepth_core.runtime.model_metadata import resolve_checkpoint
from disdepth_core.runtime.output_health import require_healthy_output
from disdepth_core.runtime.pointcloud import depth_to_cloud
from disdepth_core.runtime.resize import nearest_indices
from disdepth_core.runtime.self_check import require_self_check, run_self_check
from disdepth_core.sim.oracle_opt_in import ORACLE_BACKEND
from disdepth_core.sync import ApproximateTimeSync, SyncedSet

from .conversions import array_to_image, cloud_to_pointcloud2, depth_to_image, make_camera_info
from .params import declare_and_read_params
from .shutdown import init_with_stop_event

NODE_NAME = "surround_depth_node"
REPEAT_WARNING_S = 30.0  # a repeated (camera, cause) warning is logged again at most this often
OUT_OF_SYNC_IMAGES = 5  # consecutive images of a camera with no stamp of the others within the slop
NONFINITE_ERROR_FRACTION = 0.5  # a camera whose published depth is mostly NaN is an ERROR in diagnostics


class CameraState:
    """Per-camera bookkeeping for diagnostics and intrinsics."""

    def __init__(self, name: str):
        self.name = name
        self.received = 0
        self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter()  # images, by cause
        self.info_rejected: collections.Counter[str] = collections.Counter()  # CameraInfo messages, by cause
        self.recv_times: collections.deque[int] = collections.deque(maxlen=50)
        self.last_stamp_ns: int | None = None
        self.size: tuple[int, int] | None = None  # (H, W) of the last accepted image
        self.last_problem = ""
        self.missing = False
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=100)  # receive -> depth published
        self.recent_stamps: collections.deque[list] = collections.deque(maxlen=30)  # [stamp ns, matched]
        self.stamp_minus_recv_s: collections.deque[float] = collections.deque(maxlen=9)  # stamp - arrival
        self.out_of_sync = False
        self.offset_s = 0.0  # its clock minus the other cameras' (from stamp - arrival time), s
        self.nan_fraction = float("nan")  # of its last published depth image
        self.blank = 0  # accepted images whose sampled pixels are all equal (all black, all white)
        self.published = 0  # depth images published from its images
        self.dropped_stale = 0  # its set was replaced in the hand-off before inference
        self.dropped_error = 0  # its set failed in the engine or in processing

    def rate_hz(self, now_ns: int, timeout_ns: int) -> float:
        t = self.recv_times
        if len(t) < 2 or now_ns - t[-1] > timeout_ns:
            return 0.0
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)


class _SurroundDepth:
    """The node's behaviour, shared by the plain node and the managed (lifecycle) node.

    Phases: ``_configure`` (parameters checked, rig, engine loaded and warmed up, publishers)
    -> ``_activate`` (subscriptions, timers, inference worker) -> ``_deactivate`` (no input
    taken, worker stopped; the engine stays loaded) -> ``_cleanup`` (engine and publishers
    released). The plain node runs configure + activate in its constructor.
    """

    def _configure(self) -> None:
        """Read and check the parameters, load and warm up the engine, create the publishers."""
        self.p = declare_and_read_params(self)
        self._warned: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()
        p = self.p
        if p.cpu_threads > 0:
            torch.set_num_threads(p.cpu_threads)

        full_rig = CameraRig.from_yaml(resolve_rig(p.rig))
        try:
            self.rig = full_rig.subset(p.cameras)
        except KeyError as exc:
            raise DisdepthError(f"parameter 'cameras': {exc.args[0]}") from None
        self.cams = list(self.rig.names)
        self.state = {c: CameraState(c) for c in self.cams}
        self.pipeline = CameraPipeline(self.rig, use_camera_info=p.input.use_camera_info, warn=self._warn)

        # the engine checks an exported model's camera order against the node's cameras
        engine_cfg = p.engine if p.engine.cameras else dataclasses.replace(p.engine, cameras=list(p.cameras))
        self.engine = create_engine(engine_cfg)
        self.warmup_ms = self._warm_up()
        health = require_healthy_output(self.engine, p.engine.backend)
        if health is not None:
            self.get_logger().info(health.line())
        if p.engine.self_check:  # above tolerance: one-line DisdepthError, the node does not start
            check = require_self_check(run_self_check(self.engine, engine_cfg, tolerance=p.engine.self_check_tolerance))
            (self.get_logger().warning if check.level == "warning" else self.get_logger().info)(check.line())
        else:
            self.get_logger().info("self-check off (engine.self_check false)")
        self.sync = ApproximateTimeSync(
            self.cams, p.sync.queue_size, p.sync.slop, timeout_s=p.sync.missing_timeout,
            policy=p.sync.missing_policy, min_streams=p.sync.min_cameras,
        )
        self.slot = LatestSlot(on_drop=self._count_stale)
        self._in_worker: SyncedSet | None = None
        self._accounted_now: set[str] = set()  # cameras of the worker's set published or rejected
        self.batch_hw: tuple[int, int] | None = None
        self.counters = collections.Counter()
        self.e2e_ms: collections.deque[float] = collections.deque(maxlen=300)
        self.engine_ms: collections.deque[float] = collections.deque(maxlen=300)
        self.done_times: collections.deque[float] = collections.deque(maxlen=300)
        self.stage_ms = collections.defaultdict(lambda: collections.deque(maxlen=300))

        # ---- QoS
        self.in_qos = {
            "sensor_data": qos_profile_sensor_data,
            "reliable": QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE),
            "best_effort": QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT),
        }[p.input.qos]
        self.out_qos = QoSProfile(
            depth=p.output.qos_depth,
            reliability=ReliabilityPolicy.RELIABLE if p.output.qos == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        )

        # ---- publishers
        self.pub_depth = {c: self._advertise(Image, p.output.depth_topic.format(camera=c)) for c in self.cams}
        self.pub_info = {c: self._advertise(CameraInfo, p.output.depth_info_topic.format(camera=c)) for c in self.cams}
        self.pub_cloud = self._advertise(PointCloud2, p.cloud.topic) if p.cloud.enabled else None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # confidence: only a model with a bin head has one; without it the topic is not advertised
        self.has_confidence = bool(getattr(self.engine, "provides_confidence", False))
        self.pub_conf = ({c: self._advertise(Image, p.output.confidence_topic.format(camera=c)) for c in self.cams}
                         if p.output.confidence and self.has_confidence else {})
        if not self.has_confidence and (p.output.confidence or p.cloud.min_confidence > 0):
            self.get_logger().info(
                f"the model gives no per-pixel confidence (regression head, or an export without it): "
                f"{p.output.confidence_topic} not published"
                + (f"; cloud.min_confidence {p.cloud.min_confidence} ignored (all points kept)"
                   if p.cloud.min_confidence > 0 else ""))

        self.tf_status = self._publish_tf_static() if p.publish_tf_static else "disabled by publish_tf_static"
        if p.cloud.frame_id != self.rig.base_frame:
            self.get_logger().warning(
                f"cloud.frame_id '{p.cloud.frame_id}' differs from the rig's base frame '{self.rig.base_frame}': "
                "the rig extrinsics are used as given, relative to cloud.frame_id"
            )
        e = p.engine
        model = e.gt_frames if e.backend == ORACLE_BACKEND else str(resolve_checkpoint(e.checkpoint))
        self.get_logger().info(
            f"{len(self.cams)} cameras [{', '.join(self.cams)}] rig '{self.rig.name}'; engine {e.backend} on "
            f"{self.engine.device} model {model} input {self.engine.input_size[0]}x{self.engine.input_size[1]} "
            f"(warm-up {self.warmup_ms:.0f} ms); output "
            f"{p.output.depth_encoding} at {p.output.resolution} resolution, confidence "
            f"{'on' if self.pub_conf else 'off'}; cloud "
            f"{'on' if p.cloud.enabled else 'off'} (stride {p.cloud.stride}, max {p.cloud.max_range} m, "
            f"min confidence {p.cloud.min_confidence if self.has_confidence else 0}, "
            f"rgb {p.cloud.rgb}, frame {p.cloud.frame_id}); sync slop {p.sync.slop} s queue {p.sync.queue_size} "
            f"policy {p.sync.missing_policy} timeout {p.sync.missing_timeout} s; input QoS {p.input.qos} "
            f"({p.input.transport}), output QoS {p.output.qos}; /tf_static: {self.tf_status}"
        )

    def _warm_up(self) -> float:
        """One engine call on a black batch of all cameras at the network size; returns its time (ms).

        The first call pays for allocation, kernel selection and (ONNX Runtime, TensorRT) lazy
        initialisation; doing it here keeps that out of the first real frame's latency.
        """
        h, w = self.engine.input_size
        t0 = time.perf_counter()
        self.engine.infer(np.zeros((len(self.cams), h, w, 3), np.uint8))
        return (time.perf_counter() - t0) * 1e3

    def _activate(self) -> None:
        """Subscribe to the cameras, start the timers and the inference worker."""
        p = self.p
        self._subs = []
        for cam in self.cams:
            topic = p.input.image_topic.format(camera=cam)
            if p.input.transport == "compressed":
                topic = topic.rstrip("/") + "/compressed"
                self._subscribe(CompressedImage, topic, lambda m, c=cam: self._on_image(c, m, compressed=True))
            else:
                self._subscribe(Image, topic, lambda m, c=cam: self._on_image(c, m, compressed=False))
            if p.input.use_camera_info:
                self._subscribe(CameraInfo, p.input.camera_info_topic.format(camera=cam),
                                lambda m, c=cam: self._on_info(c, m))
        self._start_ns = time.monotonic_ns()
        # steady clock: on sim time (bag replay) a paused or finished bag must not stop the
        # missing-camera checks and the diagnostics
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timers = [self.create_timer(0.05, self._on_poll, clock=steady),
                        self.create_timer(p.diagnostics_period, self._publish_diagnostics, clock=steady)]
        self.slot = LatestSlot(on_drop=self._count_stale)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="inference", daemon=True)
        self._worker.start()
        self._active = True

    def _deactivate(self) -> None:
        """Stop taking input (subscriptions and timers destroyed) and stop the worker."""
        if not getattr(self, "_active", False):
            return
        for sub in self._subs:
            self.destroy_subscription(sub)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._subs, self._timers = [], []
        self._stop.set()
        self.slot.close()
        self._worker.join(timeout=5.0)
        self._active = False

    def _cleanup(self) -> None:
        """Release the engine and the publishers (after ``_deactivate``)."""
        self._deactivate()
        for pub in [*self.pub_depth.values(), *self.pub_info.values(), *self.pub_conf.values(), self.pub_cloud,
                    self.pub_diag]:
            if pub is not None:
                self.destroy_publisher(pub)
        self.pub_depth, self.pub_info, self.pub_cloud, self.pub_diag = {}, {}, None, None
        self.pub_conf = {}
        self.engine = None

    # ------------------------------------------------------------------ QoS
    def _subscribe(self, msg_type, topic: str, cb) -> None:
        qos = self.in_qos
        events = SubscriptionEventCallbacks(
            incompatible_qos=lambda info, t=topic, q=qos: self._on_incompatible(t, "subscription", q, info)
        )
        self._subs.append(self.create_subscription(msg_type, topic, cb, qos, event_callbacks=events))

    def _advertise(self, msg_type, topic: str):
        qos = self.out_qos
        events = PublisherEventCallbacks(
            incompatible_qos=lambda info, t=topic, q=qos: self._on_incompatible(t, "publisher", q, info)
        )
        return self.create_publisher(msg_type, topic, qos, event_callbacks=events)

    def _on_incompatible(self, topic: str, role: str, ours: QoSProfile, info: Any) -> None:
        peers = (self.get_publishers_info_by_topic(topic) if role == "subscription"
                 else self.get_subscriptions_info_by_topic(topic))
        theirs = sorted({describe_qos(e.qos_profile) for e in peers if e.node_name != self.get_name()})
        self._warn("qos", f"incompatible QoS {role} {topic}",
                   incompatible_qos_message(topic, role, ours, theirs, info.last_policy_kind))
        self.counters["qos_incompatible"] += 1

    # ------------------------------------------------------------------ warnings
    def _throttled(self, warning: bool, who: str, cause: str, text: str) -> None:
        """Log ``text`` the first time (who, cause) happens, then at most every REPEAT_WARNING_S with a count.

        (Two call sites on purpose: rclpy refuses one call site logging at two severities.)"""
        now = time.monotonic()
        with self._lock:
            rec = self._warned.setdefault((who, cause), [-1e9, 0])
            rec[1] += 1
            if now - rec[0] < REPEAT_WARNING_S:
                return
            count, rec[0] = rec[1], now
        text = f"{text}{f' ({count} times so far)' if count > 1 else ''}"
        if warning:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def _warn(self, who: str, cause: str, text: str) -> None:
        self._throttled(True, who, cause, text)

    def _info_throttled(self, who: str, cause: str, text: str) -> None:
        self._throttled(False, who, cause, text)

    def _reject(self, cam: str, cause: str, detail: str) -> None:
        st = self.state[cam]
        st.rejected[cause] += 1
        st.last_problem = f"{cause}: {detail}"
        self._warn(cam, cause, f"{cam}: dropped image ({cause}): {detail}")

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, cam: str, msg, compressed: bool) -> None:
        now = time.monotonic_ns()
        st = self.state[cam]
        st.received += 1
        st.recv_times.append(now)
        try:  # checks only; a compressed image is decoded later, in the worker
            frame = self.pipeline.frame(msg, now, compressed=compressed)
        except ImageError as exc:
            self._reject(cam, exc.cause, str(exc))
            self._placeholder(cam, msg, now)
            return
        if frame.decoded:
            self._check_blank(cam, frame.pixels)
        hw = frame.size
        if st.size is not None and hw != st.size:
            self._warn(cam, f"resolution {hw}",
                       f"{cam}: resolution changed from {st.size[1]}x{st.size[0]} to {hw[1]}x{hw[0]}; "
                       "images are resized to the batch size and intrinsics scaled")
            self.counters["resolution_changes"] += 1
        st.size = hw
        if frame.stamp_ns == st.last_stamp_ns:  # a driver that repeats stamps: the newest image wins
            self._warn(cam, "repeated stamp",
                       f"{cam}: repeated header stamp {frame.stamp_ns} ns: the synchroniser keeps the newest image "
                       "of a stamp (the other is counted in dropped_sync_replaced, or overflows if its set is gone)")
        st.last_stamp_ns = frame.stamp_ns
        if st.missing:
            st.missing = False
            self._info_throttled(cam, "publishing again", f"{cam}: publishing again")
        if self._out_of_sync(cam, st.last_stamp_ns, now):
            self._reject(cam, "stamps out of sync",
                         f"no image of the other cameras within the slop {self.p.sync.slop} s of its stamps "
                         f"(its clock is {st.offset_s:+.3f} s off theirs); left out of the sets so the others "
                         "keep flowing")
            return
        st.accepted += 1  # handed to the synchroniser: from here it is published, dropped or pending
        for s in self.sync.add(cam, st.last_stamp_ns, frame, now):
            self._hand_off(s)

    def _placeholder(self, cam: str, msg, now: int) -> None:
        """A rejected image still tells its time step: queue a placeholder (None) under its stamp,
        so the other cameras' images of that step are published without it instead of waiting
        for it (issue 15: one bad message must not remove the other five of its step)."""
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
        except (AttributeError, TypeError, ValueError):
            return
        for s in self.sync.add(cam, stamp_ns, None, now):
            self._hand_off(s)

    def _check_blank(self, cam: str, pixels: np.ndarray) -> None:
        """Processed anyway, but a lens cap / dead sensor is worth a word."""
        value = blank_value(pixels)
        if value is not None:
            self.state[cam].blank += 1
            self._warn(cam, "blank image", f"{cam}: blank image (every sampled pixel is {value}): lens "
                       "covered, sensor or driver fault? It is still processed")

    def _out_of_sync(self, cam: str, stamp_ns: int, recv_ns: int) -> bool:
        """True while camera ``cam``'s stamps never come within the slop of another camera's
        (a skewed clock: under message_filters' rule it would block every set).

        Each accepted stamp is marked *matched* when some other camera has a stamp within the
        slop of it (whichever arrives second marks both). A stamp is *settled* once every other
        camera has a later one. OUT_OF_SYNC_IMAGES settled unmatched stamps in a row declare the
        camera out of sync (``drop_camera`` only: it is then left out of the sets, counted as
        dropped); its first matched stamp takes it back.
        """
        st = self.state[cam]
        slop_ns = self.p.sync.slop * 1e9
        others = [o for c, o in self.state.items() if c != cam and o.recent_stamps]
        entry = [stamp_ns, False]
        for o in others:
            for e in o.recent_stamps:
                if abs(e[0] - stamp_ns) < slop_ns:
                    e[1] = entry[1] = True
        st.recent_stamps.append(entry)
        st.stamp_minus_recv_s.append((stamp_ns - recv_ns) / 1e9)
        if not others:
            return st.out_of_sync
        # clock offset: its (stamp - arrival) against the other cameras' (a stamp alone is
        # ambiguous by whole frame periods)
        theirs = [d for o in others for d in o.stamp_minus_recv_s]
        st.offset_s = float(np.median(st.stamp_minus_recv_s) - np.median(theirs)) if theirs else 0.0
        if entry[1]:
            if st.out_of_sync:
                st.out_of_sync = False
                self.sync.exclude(cam, False)
                self._info_throttled(cam, "back in sync", f"{cam}: stamps within the slop again: back in the sets")
            return False
        horizon = min(o.recent_stamps[-1][0] for o in others) - slop_ns  # older stamps are settled
        settled = [m for t, m in st.recent_stamps if t < horizon][-OUT_OF_SYNC_IMAGES:]
        if (not st.out_of_sync and len(settled) == OUT_OF_SYNC_IMAGES and not any(settled)
                and self.p.sync.missing_policy == "drop_camera"):
            st.out_of_sync = True
            self.counters["cameras_out_of_sync"] += 1
            self.sync.exclude(cam)
        return st.out_of_sync

    def _on_info(self, cam: str, msg: CameraInfo) -> None:
        st = self.state[cam]
        try:
            self.pipeline.camera_info(cam, msg)
        except ImageError as exc:
            st.info_rejected[exc.cause] += 1  # a CameraInfo, not an image: outside the image accounting
            st.last_problem = f"{exc.cause}: using the rig intrinsics"
            self._warn(cam, exc.cause, f"{cam}: {exc}; using the rig intrinsics")

    def _hand_off(self, s: SyncedSet) -> None:
        self.counters["sets_synced"] += 1
        if self.slot.put(s):
            self.counters["sets_dropped_stale"] += 1

    def _on_poll(self) -> None:
        now = time.monotonic_ns()
        for s in self.sync.poll(now):
            self._hand_off(s)
        timeout = self.p.sync.missing_timeout
        for cam in self._silent(now):
            st = self.state[cam]
            if st.received == 0:
                if (now - self._start_ns) / 1e9 > max(5.0, timeout):
                    topic = self.p.input.image_topic.format(camera=cam)
                    st.last_problem = f"no image received yet on {topic}"
                    self._warn(cam, "never published", f"{cam}: no image received yet on {topic}")
                continue
            if not st.missing:
                st.missing = True
                st.last_problem = f"no image for > {timeout} s"
                self.counters["camera_outages"] += 1
                policy = ("publishing the other cameras" if self.p.sync.missing_policy == "drop_camera"
                          else "waiting for it (policy 'wait': no output)")
                self._warn(cam, "stopped", f"{cam}: no image for > {timeout} s; {policy}")

    def _silent(self, now: int) -> list[str]:
        """Cameras without an image for longer than their missing timeout (or none at all yet):
        ``sync.missing_timeout``, or 2.5 periods of a camera slower than that (the synchroniser's rule)."""
        newest = max((st.recv_times[-1] for st in self.state.values() if st.recv_times), default=None)
        out = []
        for c, st in self.state.items():
            if not st.recv_times:
                out.append(c)
                continue
            timeout = self.sync.timeout_ns_for(c)
            # silent for its timeout *while the others kept publishing*: when every camera is quiet
            # (start-up at a low rate before the period is known, a paused bag) none is missing
            if now - st.recv_times[-1] > timeout and newest - st.recv_times[-1] > min(timeout, now - newest):
                out.append(c)
        return out

    # ------------------------------------------------------------------ inference worker
    def _count_stale(self, s: SyncedSet) -> None:
        """A synchronised set replaced in the hand-off before the worker took it (engine too slow)."""
        for cam in s.keys:
            if s.items[cam] is not None:  # a placeholder was counted when its image was rejected
                self.state[cam].dropped_stale += 1

    def _work(self) -> None:
        while not self._stop.is_set():
            s = self.slot.take(timeout=0.1)
            if s is None:
                continue
            self._in_worker, self._accounted_now = s, set()
            try:
                self._process(s)
            except Exception as exc:  # never let the worker die; report and go on
                self.counters["processing_errors"] += 1
                self._warn("pipeline", type(exc).__name__,
                           f"processing a set failed: {exc}\n{traceback.format_exc(limit=4)}")
            finally:
                for cam in s.keys:
                    if cam not in self._accounted_now:  # engine error or processing failure
                        self.state[cam].dropped_error += 1
                self._in_worker = None

    def accounting(self, cam: str) -> dict[str, int]:
        """Where every image of ``cam`` went. Identity (asserted in the tests, shown in
        diagnostics): received = rejected (by cause) + published + dropped_stale + dropped_error
        + dropped_sync_overflow + dropped_sync_replaced + pending (in the synchroniser's queue,
        the hand-off slot or the worker)."""
        st, sync = self.state[cam], self.sync.stats[cam]
        pending = sum(1 for item in list(self.sync.queues[cam].values()) if item is not None)
        waiting, working = self.slot.pending(), self._in_worker
        if waiting is not None and waiting.items.get(cam) is not None:
            pending += 1
        if working is not None and working.items.get(cam) is not None and cam not in self._accounted_now:
            pending += 1  # (a camera the worker already published is counted there)
        parts = {"rejected": sum(st.rejected.values()), "published": st.published, "dropped_stale": st.dropped_stale,
                 "dropped_error": st.dropped_error, "dropped_sync_overflow": sync.overflowed,
                 "dropped_sync_replaced": sync.replaced, "pending": pending}
        return {"received": st.received, **parts, "unaccounted": st.received - sum(parts.values())}

    def _process(self, s: SyncedSet) -> None:
        p = self.p
        frames: dict[str, Frame] = {c: s.items[c] for c in s.keys if s.items[c] is not None}
        self._accounted_now.update(c for c in s.keys if s.items[c] is None)  # placeholders of rejected images
        if not frames:
            return
        last_recv = max(f.recv_ns for f in frames.values())
        t_start = time.perf_counter()
        decoded, failed = self.pipeline.decode(frames)  # compressed images: decoded here, not in the callbacks
        for cam, exc in failed.items():
            self._reject(cam, exc.cause, str(exc))
            self._accounted_now.add(cam)
            del frames[cam]
        for cam in decoded:
            self._check_blank(cam, frames[cam].pixels)
        if not frames:
            return
        cams = list(frames)
        # the batch runs at the size most cameras of *this* set have (issue 15: never frozen at the
        # first set's size); the others are resized to it with their intrinsics scaled
        b = self.pipeline.batch(frames)
        if b.size != self.batch_hw:
            if self.batch_hw is not None:
                self.counters["batch_resolution_changes"] += 1
                hw = b.size
                self._info_throttled("pipeline", "batch resolution",
                                     f"batch resolution changed from {self.batch_hw[1]}x{self.batch_hw[0]} to "
                                     f"{hw[1]}x{hw[0]} (the size most cameras now send)")
            self.batch_hw = b.size
        bh, bw = b.size
        batch = b.images
        out_hw = tuple(self.engine.input_size) if p.output.resolution == "model" else (bh, bw)
        t_batch = time.perf_counter()
        try:
            result = self.engine.infer(batch, output_size=out_hw)
        except (DisdepthError, RuntimeError, ValueError) as exc:
            self.counters["engine_errors"] += 1
            self._warn("engine", type(exc).__name__, f"engine failed on the set of {s.newest_stamp_ns} ns: {exc}")
            return
        t_engine = time.perf_counter()
        self.engine_ms.append(float(result.timings_ms.get("total", float("nan"))))
        depth = result.depth
        K_out = scale_intrinsics(torch.from_numpy(b.K), (bh, bw), out_hw)
        depth_np = depth.detach().to("cpu", torch.float32).numpy()
        conf = result.confidence
        conf_np = conf.detach().to("cpu", torch.float32).numpy() if conf is not None and self.pub_conf else None
        for j, (cam, f) in enumerate(frames.items()):
            frame_id = f.frame_id or self.rig.frame_ids[self.cams.index(cam)]
            self.pub_depth[cam].publish(depth_to_image(depth_np[j], p.output.depth_encoding, stamp=f.stamp,
                                                       frame_id=frame_id))
            if conf_np is not None:  # the depth image's header and size exactly
                self.pub_conf[cam].publish(array_to_image(conf_np[j], "32FC1", stamp=f.stamp, frame_id=frame_id))
            self.pub_info[cam].publish(make_camera_info(K_out[j].numpy(), out_hw, stamp=f.stamp, frame_id=frame_id))
            self.state[cam].latency_ms.append((time.monotonic_ns() - f.recv_ns) / 1e6)
            self.state[cam].published += 1
            self._accounted_now.add(cam)
            self.state[cam].nan_fraction = float(np.isnan(depth_np[j]).mean())
        t_depth = time.perf_counter()
        if self.pub_cloud is not None:
            idx = [self.cams.index(c) for c in cams]
            colors = None
            if p.cloud.rgb:  # colour of the nearest camera pixel (display only: no resampling cost)
                colors = torch.from_numpy(batch[:, nearest_indices(bh, out_hw[0])][:, :, nearest_indices(bw, out_hw[1])])
                colors = colors.to(depth.device)
            cloud = depth_to_cloud(
                depth, K_out.to(depth.device), self.rig.T_base_cam[idx].to(depth.device), colors=colors,
                stride=p.cloud.stride, max_range=p.cloud.max_range, voxel_size=p.cloud.voxel_size,
                confidence=conf, min_confidence=p.cloud.min_confidence if conf is not None else 0.0,
            )
            self.pub_cloud.publish(cloud_to_pointcloud2(cloud, stamp=frames[cams[0]].stamp, frame_id=p.cloud.frame_id))
        done = time.monotonic_ns()
        t_done = time.perf_counter()
        for name, t0, t1 in (("batch", t_start, t_batch), ("engine_call", t_batch, t_engine),
                           ("depth_publish", t_engine, t_depth), ("cloud", t_depth, t_done)):
            self.stage_ms[name].append((t1 - t0) * 1e3)
        self.e2e_ms.append((done - last_recv) / 1e6)
        self.done_times.append(done / 1e9)
        self.counters["sets_processed"] += 1
        if len(cams) < len(self.cams):
            self.counters["sets_partial"] += 1

    # ------------------------------------------------------------------ tf, diagnostics
    def _publish_tf_static(self) -> str:
        try:
            from geometry_msgs.msg import TransformStamped
            from tf2_ros.static_transform_broadcaster import StaticTransformBroadcaster
        except ImportError:
            return "not published (tf2_ros is not importable here; publish the rig extrinsics yourself)"
        from disdepth_core.geometry import matrix_to_quaternion

        transforms = []
        for i in range(len(self.cams)):
            T = self.rig.T_base_cam[i]
            q = matrix_to_quaternion(T[:3, :3])
            t = TransformStamped()
            t.header.stamp = self.get_clock().now().to_msg()
            t.header.frame_id = self.p.cloud.frame_id
            t.child_frame_id = self.rig.frame_ids[i]
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in T[:3, 3])
            t.transform.rotation.w, t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z = (
                float(v) for v in q)
            transforms.append(t)
        self._tf_broadcaster = StaticTransformBroadcaster(self)
        self._tf_broadcaster.sendTransform(transforms)
        return f"published {len(transforms)} camera transforms from the rig"

    def stats(self) -> dict[str, float]:
        def pct(d, q):
            return float(np.percentile(np.asarray(d), q)) if d else float("nan")

        t = list(self.done_times)
        thr = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        return {"e2e_p50_ms": pct(self.e2e_ms, 50), "e2e_p90_ms": pct(self.e2e_ms, 90),
                "engine_p50_ms": pct(self.engine_ms, 50), "engine_p90_ms": pct(self.engine_ms, 90),
                "throughput_hz": thr,
                **{f"stage_{k}_p50_ms": pct(v, 50) for k, v in list(self.stage_ms.items())}}

    def _publish_diagnostics(self) -> None:
        now = time.monotonic_ns()
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        st_all = self.stats()
        pipe = DiagnosticStatus(name=f"{NODE_NAME}: pipeline", hardware_id=self.rig.name)
        values = {**{k: f"{v:.3f}" for k, v in st_all.items()},
                  **{k: str(self.counters[k]) for k in ("sets_synced", "sets_processed", "sets_dropped_stale",
                                                        "sets_partial", "engine_errors", "processing_errors",
                                                        "camera_outages", "resolution_changes", "batch_resolution_changes",
                                                        "cameras_out_of_sync", "qos_incompatible")}}
        missing = [c for c in self.cams if self.state[c].missing]
        values["missing_cameras"] = ",".join(missing)
        bad = self.counters["engine_errors"] + self.counters["processing_errors"]
        unsynced = [c for c in self.cams if self.state[c].out_of_sync]
        nonfinite = [c for c in self.cams
                     if self.state[c].nan_fraction > NONFINITE_ERROR_FRACTION and not self.state[c].missing]
        values["out_of_sync_cameras"] = ",".join(unsynced)
        pipe.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        pipe.level = (DiagnosticStatus.ERROR if nonfinite else
                      DiagnosticStatus.WARN if (missing or bad or unsynced) else DiagnosticStatus.OK)
        pipe.message = (f"non-finite depth from {', '.join(nonfinite)}" if nonfinite
                        else f"{len(missing)} camera(s) missing: {', '.join(missing)}" if missing
                        else f"camera(s) out of sync: {', '.join(unsynced)}" if unsynced
                        else f"e2e p50 {st_all['e2e_p50_ms']:.1f} ms, {st_all['throughput_hz']:.1f} Hz")
        statuses = [pipe]
        for cam in self.cams:
            st = self.state[cam]
            d = DiagnosticStatus(name=f"{NODE_NAME}: {cam}", hardware_id=cam)
            kv = {
                "rate_hz": f"{st.rate_hz(now, self.sync.timeout_ns_for(cam)):.2f}",
                "received": str(st.received),
                "accepted": str(st.accepted),
                "dropped_bad": str(sum(st.rejected.values())),
                **{k: str(v) for k, v in self.accounting(cam).items() if k not in ("received", "rejected")},
                "latency_p50_ms": f"{np.percentile(st.latency_ms, 50):.1f}" if st.latency_ms else "nan",
                "nan_fraction": f"{st.nan_fraction:.3f}",
                "blank_images": str(st.blank),
                "out_of_sync": str(st.out_of_sync).lower(),
                "stamp_offset_s": f"{st.offset_s:+.3f}",
                "last_stamp_ns": str(st.last_stamp_ns or 0),
                "intrinsics": self.pipeline.intrinsics.source(cam),
                **{f"dropped[{c}]": str(n) for c, n in st.rejected.items()},
                **{f"camera_info_ignored[{c}]": str(n) for c, n in st.info_rejected.items()},
            }
            d.values = [KeyValue(key=k, value=v) for k, v in kv.items()]
            if st.missing or st.received == 0:
                d.level, d.message = DiagnosticStatus.STALE, st.last_problem or "no image yet"
            elif st.nan_fraction > NONFINITE_ERROR_FRACTION:
                d.level = DiagnosticStatus.ERROR
                d.message = (f"published depth is {100 * st.nan_fraction:.0f}% NaN: the model's output is not "
                             "finite (a broken checkpoint?)")
            elif st.out_of_sync:
                d.level = DiagnosticStatus.WARN
                d.message = (f"stamps {st.offset_s:+.3f} s off the other cameras, outside the slop "
                             f"{self.p.sync.slop} s: left out of the sets")
            elif st.rejected or st.info_rejected:
                d.level, d.message = DiagnosticStatus.WARN, st.last_problem
            else:
                d.level, d.message = DiagnosticStatus.OK, "ok"
            statuses.append(d)
        arr.status = statuses
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

    configure = check parameters, load and warm up the engine, create publishers;
    activate = subscribe and start inference; deactivate = stop input and inference (the engine
    stays loaded, so activating again is instant); cleanup = release engine and publishers;
    shutdown = all of it. A configure that fails (bad parameter, missing checkpoint) logs one
    line and returns FAILURE, leaving the node unconfigured and able to try again.
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

    def shutdown(self) -> None:
        self._deactivate()


def main(args: list[str] | None = None) -> int:
    """Entry point: spin until SIGINT/SIGTERM, then stop the worker and shut down cleanly.

    ``--lifecycle`` (before any ``--ros-args``) runs the managed node instead of the plain one.
    """
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
    code = 0
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
    return code


if __name__ == "__main__":
    sys.exit(main())
