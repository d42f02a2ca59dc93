"""``SurroundPipeline``: everything ``surround_depth_node`` does between its callbacks and its publishers.

No ROS here; the node is wiring around it. Threads: the executor thread calls
:meth:`~SurroundPipeline.on_image`, :meth:`~SurroundPipeline.on_camera_info` and
:meth:`~SurroundPipeline.poll` (checks, zero-copy, a compressed image's header only, then the
approximate-time synchroniser) -> :class:`~.latest_slot.LatestSlot` (one set, newest wins,
stale sets are counted) -> the inference worker runs :meth:`~SurroundPipeline.work`
(compressed images decoded, the batch assembled, one ``engine.infer`` for all cameras of the
set, then the depth, its CameraInfo, the per-pixel confidence and the merged cloud handed to an
:class:`OutputSink` with the input stamps). Bad input is reported per camera and cause (through
a :class:`~.warning_throttle.WarningThrottle`) and never stops the pipeline.
"""

from __future__ import annotations

import collections
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Protocol

import numpy as np
import torch

from ..errors import DisdepthError
from ..geometry import CameraRig, scale_intrinsics
from ..runtime.pointcloud import SurroundCloud, depth_to_cloud
from ..runtime.resize import nearest_indices
from ..sync import ApproximateTimeSync, SyncedSet
from .batch import Frame, blank_value
from .camera_pipeline import CameraPipeline
from .camera_state import CameraState
from .decoding import ImageError, stamp_to_ns
from .latest_slot import LatestSlot
from .node_params import SurroundDepthParams
from .out_of_sync import OutOfSyncMonitor
from .warning_throttle import WarningThrottle

COUNTERS = ("sets_synced", "sets_processed", "sets_dropped_stale", "sets_partial", "engine_errors",
            "processing_errors", "camera_outages", "resolution_changes", "batch_resolution_changes",
            "cameras_out_of_sync", "qos_incompatible")


class OutputSink(Protocol):
    """Where a processed set goes (the node: its publishers)."""

    def publish_depth(self, cam: str, frame_id: str, stamp, depth: np.ndarray, confidence: np.ndarray | None,
                      K: np.ndarray, size: tuple[int, int]) -> None:
        """``depth`` (H, W) float32 metres (REP 117 NaN/±Inf), ``confidence`` (H, W) float32 in [0, 1] or
        None, ``K`` (3, 3) of the depth image of ``size`` (H, W); ``stamp`` is the input image's."""

    def publish_cloud(self, cloud: SurroundCloud, stamp) -> None:
        """The set's merged cloud in the rig's base frame, stamped with its first camera's stamp."""


class SurroundPipeline:
    """The rig's cameras -> synchronised sets -> one batched ``engine`` call -> ``sink``.

    ``p``: the node's validated parameters; ``rig``: the rig restricted to ``p.cameras``;
    ``publish_confidence``: the sink takes confidence images (the model must have a bin head).
    """

    def __init__(self, p: SurroundDepthParams, rig: CameraRig, engine, sink: OutputSink, log: WarningThrottle,
                 *, publish_confidence: bool = False) -> None:
        self.p, self.rig, self.engine, self.sink, self.log = p, rig, engine, sink, log
        self.publish_confidence = publish_confidence
        self.cams = list(rig.names)
        self.state = {c: CameraState(c) for c in self.cams}
        self.camera_pipeline = CameraPipeline(rig, use_camera_info=p.input.use_camera_info, warn=log.warn)
        self.sync = ApproximateTimeSync(
            self.cams, p.sync.queue_size, p.sync.slop, timeout_s=p.sync.missing_timeout,
            policy=p.sync.missing_policy, min_streams=p.sync.min_cameras,
        )
        self.out_of_sync = OutOfSyncMonitor(self.state, p.sync.slop, may_exclude=p.sync.missing_policy == "drop_camera")
        self.slot = LatestSlot(on_drop=self._count_stale)
        self.counters: collections.Counter[str] = collections.Counter()
        self.batch_hw: tuple[int, int] | None = None
        self.e2e_ms: collections.deque[float] = collections.deque(maxlen=300)
        self.engine_ms: collections.deque[float] = collections.deque(maxlen=300)
        self.done_times: collections.deque[float] = collections.deque(maxlen=300)
        self.stage_ms: dict[str, collections.deque[float]] = collections.defaultdict(
            lambda: collections.deque(maxlen=300))
        self._in_worker: SyncedSet | None = None
        self._accounted_now: set[str] = set()  # cameras of the worker's set published or rejected
        self.start_ns = time.monotonic_ns()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """(Re)start taking input: a fresh hand-off slot and start time (after a lifecycle deactivate)."""
        self.slot = LatestSlot(on_drop=self._count_stale)
        self.start_ns = time.monotonic_ns()

    def stop(self) -> None:
        """Wake and end :meth:`work`."""
        self.slot.close()

    # ------------------------------------------------------------------ executor thread
    def _reject(self, cam: str, cause: str, detail: str) -> None:
        st = self.state[cam]
        st.rejected[cause] += 1
        st.last_problem = f"{cause}: {detail}"
        self.log.warn(cam, cause, f"{cam}: dropped image ({cause}): {detail}")

    def on_image(self, cam: str, msg, now_ns: int, *, compressed: bool = False) -> None:
        """One ``Image`` / ``CompressedImage`` of ``cam`` received at ``now_ns`` (monotonic)."""
        st = self.state[cam]
        st.received += 1
        st.recv_times.append(now_ns)
        try:  # checks only; a compressed image is decoded later, in the worker
            frame = self.camera_pipeline.frame(msg, now_ns, compressed=compressed)
        except ImageError as exc:
            self._reject(cam, exc.cause, str(exc))
            self._placeholder(cam, msg, now_ns)
            return
        if frame.decoded:
            self._check_blank(cam, frame.pixels)
        hw = frame.size
        if st.size is not None and hw != st.size:
            self.log.warn(cam, f"resolution {hw}",
                          f"{cam}: resolution changed from {st.size[1]}x{st.size[0]} to {hw[1]}x{hw[0]}; "
                          "images are resized to the batch size and intrinsics scaled")
            self.counters["resolution_changes"] += 1
        st.size = hw
        if frame.stamp_ns == st.last_stamp_ns:  # a driver that repeats stamps: the newest image wins
            self.log.warn(cam, "repeated stamp",
                          f"{cam}: repeated header stamp {frame.stamp_ns} ns: the synchroniser keeps the newest "
                          "image of a stamp (the other is counted in dropped_sync_replaced, or overflows if its "
                          "set is gone)")
        st.last_stamp_ns = frame.stamp_ns
        if st.missing:
            st.missing = False
            self.log.info(cam, "publishing again", f"{cam}: publishing again")
        event = self.out_of_sync.update(cam, frame.stamp_ns, now_ns)
        if event == "back":
            self.sync.exclude(cam, False)
            self.log.info(cam, "back in sync", f"{cam}: stamps within the slop again: back in the sets")
        elif event == "out":
            self.counters["cameras_out_of_sync"] += 1
            self.sync.exclude(cam)
        if st.out_of_sync:
            self._reject(cam, "stamps out of sync",
                         f"no image of the other cameras within the slop {self.p.sync.slop} s of its stamps "
                         f"(its clock is {st.offset_s:+.3f} s off theirs); left out of the sets so the others "
                         "keep flowing")
            return
        st.accepted += 1  # handed to the synchroniser: from here it is published, dropped or pending
        for s in self.sync.add(cam, frame.stamp_ns, frame, now_ns):
            self._hand_off(s)

    def _placeholder(self, cam: str, msg, now_ns: int) -> None:
        """A rejected image still tells its time step: queue a placeholder (None) under its stamp,
        so the other cameras' images of that step are published without it instead of waiting
        for it (one bad message must not remove the other five of its step)."""
        try:
            stamp_ns = stamp_to_ns(msg.header.stamp)
        except (AttributeError, TypeError, ValueError):
            return
        for s in self.sync.add(cam, stamp_ns, None, now_ns):
            self._hand_off(s)

    def _check_blank(self, cam: str, pixels: np.ndarray) -> None:
        """Processed anyway, but a lens cap / dead sensor is worth a word."""
        value = blank_value(pixels)
        if value is not None:
            self.state[cam].blank += 1
            self.log.warn(cam, "blank image", f"{cam}: blank image (every sampled pixel is {value}): lens "
                          "covered, sensor or driver fault? It is still processed")

    def on_camera_info(self, cam: str, msg) -> None:
        st = self.state[cam]
        try:
            self.camera_pipeline.camera_info(cam, msg)
        except ImageError as exc:
            st.info_rejected[exc.cause] += 1  # a CameraInfo, not an image: outside the image accounting
            st.last_problem = f"{exc.cause}: using the rig intrinsics"
            self.log.warn(cam, exc.cause, f"{cam}: {exc}; using the rig intrinsics")

    def _hand_off(self, s: SyncedSet) -> None:
        self.counters["sets_synced"] += 1
        if self.slot.put(s):
            self.counters["sets_dropped_stale"] += 1

    def poll(self, now_ns: int) -> None:
        """Periodic (every 50 ms, steady clock): emit the sets the missing-camera policy completes,
        report cameras that stopped or never started."""
        for s in self.sync.poll(now_ns):
            self._hand_off(s)
        timeout = self.p.sync.missing_timeout
        for cam in self.silent(now_ns):
            st = self.state[cam]
            if st.received == 0:
                if (now_ns - self.start_ns) / 1e9 > max(5.0, timeout):
                    topic = self.p.input.image_topic.format(camera=cam)
                    st.last_problem = f"no image received yet on {topic}"
                    self.log.warn(cam, "never published", f"{cam}: no image received yet on {topic}")
                continue
            if not st.missing:
                st.missing = True
                st.last_problem = f"no image for > {timeout} s"
                self.counters["camera_outages"] += 1
                policy = ("publishing the other cameras" if self.p.sync.missing_policy == "drop_camera"
                          else "waiting for it (policy 'wait': no output)")
                self.log.warn(cam, "stopped", f"{cam}: no image for > {timeout} s; {policy}")

    def silent(self, now_ns: int) -> list[str]:
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
            if now_ns - st.recv_times[-1] > timeout and newest - st.recv_times[-1] > min(timeout, now_ns - newest):
                out.append(c)
        return out

    # ------------------------------------------------------------------ inference worker
    def _count_stale(self, s: SyncedSet) -> None:
        """A synchronised set replaced in the hand-off before the worker took it (engine too slow)."""
        for cam in s.keys:
            if s.items[cam] is not None:  # a placeholder was counted when its image was rejected
                self.state[cam].dropped_stale += 1

    def work(self, stop: threading.Event) -> None:
        """The inference worker's loop until ``stop`` is set: take the newest set, process it."""
        while not stop.is_set():
            s = self.slot.take(timeout=0.1)
            if s is None:
                continue
            self._in_worker, self._accounted_now = s, set()
            try:
                self.process(s)
            except Exception as exc:  # never let the worker die; report and go on
                self.counters["processing_errors"] += 1
                self.log.warn("pipeline", type(exc).__name__,
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

    def process(self, s: SyncedSet) -> None:
        """One synchronised set: decode, batch at the set's most common size, one engine call, publish."""
        p = self.p
        frames: dict[str, Frame] = {c: s.items[c] for c in s.keys if s.items[c] is not None}
        self._accounted_now.update(c for c in s.keys if s.items[c] is None)  # placeholders of rejected images
        if not frames:
            return
        last_recv = max(f.recv_ns for f in frames.values())
        t_start = time.perf_counter()
        decoded, failed = self.camera_pipeline.decode(frames)  # compressed images: decoded here
        for cam, exc in failed.items():
            self._reject(cam, exc.cause, str(exc))
            self._accounted_now.add(cam)
            del frames[cam]
        for cam in decoded:
            self._check_blank(cam, frames[cam].pixels)
        if not frames:
            return
        cams = list(frames)
        b = self.camera_pipeline.batch(frames)
        if b.size != self.batch_hw:
            if self.batch_hw is not None:
                self.counters["batch_resolution_changes"] += 1
                self.log.info("pipeline", "batch resolution",
                              f"batch resolution changed from {self.batch_hw[1]}x{self.batch_hw[0]} to "
                              f"{b.size[1]}x{b.size[0]} (the size most cameras now send)")
            self.batch_hw = b.size
        bh, bw = b.size
        out_hw = tuple(self.engine.input_size) if p.output.resolution == "model" else (bh, bw)
        t_batch = time.perf_counter()
        try:
            result = self.engine.infer(b.images, output_size=out_hw)
        except (DisdepthError, RuntimeError, ValueError) as exc:
            self.counters["engine_errors"] += 1
            self.log.warn("engine", type(exc).__name__, f"engine failed on the set of {s.newest_stamp_ns} ns: {exc}")
            return
        t_engine = time.perf_counter()
        self.engine_ms.append(float(result.timings_ms.get("total", float("nan"))))
        depth = result.depth
        K_out = scale_intrinsics(torch.from_numpy(b.K), (bh, bw), out_hw)
        depth_np = depth.detach().to("cpu", torch.float32).numpy()
        conf = result.confidence
        conf_np = (conf.detach().to("cpu", torch.float32).numpy()
                   if conf is not None and self.publish_confidence else None)
        for j, (cam, f) in enumerate(frames.items()):
            frame_id = f.frame_id or self.rig.frame_ids[self.cams.index(cam)]
            self.sink.publish_depth(cam, frame_id, f.stamp, depth_np[j], None if conf_np is None else conf_np[j],
                                    K_out[j].numpy(), out_hw)
            st = self.state[cam]
            st.latency_ms.append((time.monotonic_ns() - f.recv_ns) / 1e6)
            st.published += 1
            self._accounted_now.add(cam)
            st.nan_fraction = float(np.isnan(depth_np[j]).mean())
        t_depth = time.perf_counter()
        if p.cloud.enabled:
            self.sink.publish_cloud(self._cloud(cams, b.images, depth, K_out, conf, (bh, bw), out_hw),
                                    frames[cams[0]].stamp)
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

    def _cloud(self, cams: list[str], images: np.ndarray, depth: torch.Tensor, K_out: torch.Tensor,
               conf: torch.Tensor | None, batch_hw: tuple[int, int], out_hw: tuple[int, int]) -> SurroundCloud:
        """The cameras' depth (N, H, W) at ``out_hw`` -> one cloud in the base frame (stride, range, voxel,
        confidence filter; colour of the nearest camera pixel, display only)."""
        c = self.p.cloud
        idx = [self.cams.index(cam) for cam in cams]
        colors = None
        if c.rgb:
            (bh, bw), (oh, ow) = batch_hw, out_hw
            colors = torch.from_numpy(images[:, nearest_indices(bh, oh)][:, :, nearest_indices(bw, ow)]).to(depth.device)
        return depth_to_cloud(
            depth, K_out.to(depth.device), self.rig.T_base_cam[idx].to(depth.device), colors=colors,
            stride=c.stride, max_range=c.max_range, voxel_size=c.voxel_size,
            confidence=conf, min_confidence=c.min_confidence if conf is not None else 0.0,
        )

    # ------------------------------------------------------------------ statistics
    def stats(self) -> dict[str, float]:
        """Latency percentiles (ms) of the last 300 sets, throughput (Hz) and per-stage medians (ms)."""
        def pct(d, q):
            return float(np.percentile(np.asarray(d), q)) if d else float("nan")

        t = list(self.done_times)
        thr = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        return {"e2e_p50_ms": pct(self.e2e_ms, 50), "e2e_p90_ms": pct(self.e2e_ms, 90),
                "engine_p50_ms": pct(self.engine_ms, 50), "engine_p90_ms": pct(self.engine_ms, 90),
                "throughput_hz": thr,
                **{f"stage_{k}_p50_ms": pct(v, 50) for k, v in list(self.stage_ms.items())}}

    def counts(self) -> Mapping[str, int]:
        return {k: self.counters[k] for k in COUNTERS}
