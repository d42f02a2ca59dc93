"""The node's ROS-free pipeline (``disdepth_core.pipeline.surround_pipeline``), driven directly.

Real pieces: a tiny bin-head student through the real torch engine, image messages in the
real ``sensor_msgs`` layout (rosbags types), the real synchroniser and worker thread. The node
adds only ROS wiring around this (covered over DDS in ``test_ros_node*.py``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from disdepth_core import bag_messages as bm
from disdepth_core.geometry import CameraRig
from disdepth_core.models.checkpoint import save_student
from disdepth_core.models.config import ModelConfig
from disdepth_core.models.student import build_student
from disdepth_core.paths import resolve_rig
from disdepth_core.pipeline.camera_state import CameraState
from disdepth_core.pipeline.diagnostics_report import diagnostics
from disdepth_core.pipeline.engine_startup import start_engine, startup_summary
from disdepth_core.pipeline.node_params import NUSCENES_CAMERAS, params_from_flat
from disdepth_core.pipeline.out_of_sync import OUT_OF_SYNC_IMAGES, OutOfSyncMonitor
from disdepth_core.pipeline.surround_pipeline import SurroundPipeline
from disdepth_core.pipeline.warning_throttle import WarningThrottle

TINY = dict(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96))


class RecordingSink:
    """Keeps what the pipeline publishes (the node's publishers, without DDS)."""

    def __init__(self):
        self.depth, self.clouds = [], []

    def publish_depth(self, cam, frame_id, stamp, depth, confidence, K, size):
        self.depth.append((cam, frame_id, bm.stamp_ns(type("H", (), {"stamp": stamp})()), depth, confidence, K, size))

    def publish_cloud(self, cloud, stamp):
        self.clouds.append(cloud)


class Lines:
    def __init__(self):
        self.warnings, self.infos = [], []


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    return save_student(build_student(ModelConfig(**TINY)).eval(), tmp_path_factory.mktemp("pl") / "ckpt")


def _pipeline(ckpt, **flat):
    p = params_from_flat({"engine.backend": "torch", "engine.checkpoint": str(ckpt), "engine.device": "cpu",
                          "engine.self_check": False, **flat})
    lines = Lines()
    engine, warmup_ms = start_engine(p, info=lines.infos.append, warning=lines.warnings.append)
    rig = CameraRig.from_yaml(resolve_rig(p.rig)).subset(p.cameras)
    log = WarningThrottle(lines.warnings.append, lines.infos.append)
    sink = RecordingSink()
    pl = SurroundPipeline(p, rig, engine, sink, log, publish_confidence=True)
    return pl, sink, lines, warmup_ms


def _image(cam_index: int, step: int, hw=(90, 160)):
    rng = np.random.default_rng(100 * step + cam_index)
    return bm.image_msg(rng.integers(0, 255, (*hw, 3), dtype=np.uint8), 1_000_000_000 + step * 100_000_000,
                        f"cam{cam_index}")


def _run(pl: SurroundPipeline, feed, until, timeout=60.0):
    stop = threading.Event()
    worker = threading.Thread(target=pl.work, args=(stop,), daemon=True)
    worker.start()
    try:
        feed()
        t_end = time.monotonic() + timeout
        while not until() and time.monotonic() < t_end:
            pl.poll(time.monotonic_ns())
            time.sleep(0.02)
    finally:
        stop.set()
        pl.stop()
        worker.join(timeout=10)


def test_sets_go_through_one_engine_call_and_every_image_is_accounted_for(tiny_ckpt):
    pl, sink, lines, warmup_ms = _pipeline(tiny_ckpt)
    assert warmup_ms > 0 and any("self-check off" in s for s in lines.infos)
    bad_cam = NUSCENES_CAMERAS[2]

    def feed():
        for step in range(3):
            for i, cam in enumerate(NUSCENES_CAMERAS):
                msg = _image(i, step)
                if cam == bad_cam and step == 1:
                    msg.encoding = "yuv422"  # a driver misconfigured for one frame
                pl.on_image(cam, msg, time.monotonic_ns())
            time.sleep(0.3)  # one set at a time: none replaced as stale in the hand-off

    _run(pl, feed, until=lambda: len(sink.depth) >= 17)
    assert len(sink.depth) == 17  # 3 steps x 6 cameras, less the bad image
    assert len(sink.clouds) == 3
    published = {(cam, stamp) for cam, _, stamp, *_ in sink.depth}
    assert (bad_cam, 1_100_000_000) not in published and (NUSCENES_CAMERAS[0], 1_100_000_000) in published
    for cam, frame_id, _, depth, conf, K, size in sink.depth:
        assert depth.shape == conf.shape == size == (64, 96) and K.shape == (3, 3)
        assert frame_id == f"cam{NUSCENES_CAMERAS.index(cam)}"
        assert np.isfinite(depth).all() and ((conf >= 0) & (conf <= 1)).all()
    for cam in NUSCENES_CAMERAS:
        acc = pl.accounting(cam)
        assert acc["unaccounted"] == 0 and acc["received"] == 3
        assert acc["published"] == (2 if cam == bad_cam else 3)
    assert pl.state[bad_cam].rejected and sum(pl.state[bad_cam].rejected.values()) == 1
    assert sum("dropped image" in w and bad_cam in w for w in lines.warnings) == 1
    reports = {r.name.split(": ")[1]: r for r in diagnostics(pl)}
    assert reports[bad_cam].level == "WARN" and reports[NUSCENES_CAMERAS[0]].level == "OK"
    assert reports["pipeline"].values["sets_processed"] == "3" and reports["pipeline"].level == "OK"
    line = startup_summary(pl.p, pl.rig, pl.engine, 1.0, confidence=True, has_confidence=True, tf_status="off")
    assert "6 cameras" in line and "engine torch" in line


def test_a_camera_with_a_skewed_clock_goes_out_of_sync_and_comes_back():
    states = {c: CameraState(c) for c in ("a", "b", "c")}
    mon = OutOfSyncMonitor(states, slop_s=0.02, may_exclude=True)
    period, skew = 100_000_000, 450_000_000  # 10 Hz; camera c stamps 0.45 s ahead (half a period off)
    events = []
    for k in range(OUT_OF_SYNC_IMAGES + 10):
        t = k * period
        for cam in ("a", "b"):
            assert mon.update(cam, t, t) is None
        events.append(mon.update("c", t + skew, t))
    assert "out" in events and states["c"].out_of_sync
    assert events[:OUT_OF_SYNC_IMAGES] == [None] * OUT_OF_SYNC_IMAGES  # not before five settled stamps
    assert states["c"].offset_s == pytest.approx(0.45)
    assert not states["a"].out_of_sync
    t = (OUT_OF_SYNC_IMAGES + 10) * period
    mon.update("a", t, t)
    assert mon.update("c", t, t) == "back" and not states["c"].out_of_sync


def test_the_wait_policy_never_excludes_a_camera():
    states = {c: CameraState(c) for c in ("a", "b")}
    mon = OutOfSyncMonitor(states, slop_s=0.02, may_exclude=False)
    for k in range(3 * OUT_OF_SYNC_IMAGES):
        t = k * 100_000_000
        mon.update("a", t, t)
        assert mon.update("b", t + 450_000_000, t) is None
    assert not states["b"].out_of_sync


def test_warning_throttle_logs_each_cause_once_then_repeats_with_a_count():
    now = [0.0]
    lines = Lines()
    log = WarningThrottle(lines.warnings.append, lines.infos.append, repeat_s=30.0, clock=lambda: now[0])
    for _ in range(5):
        log.warn("cam", "bad encoding", "cam: bad")
    log.warn("cam", "blank image", "cam: blank")  # another cause is not hidden by the first
    log.info("cam", "publishing again", "cam: again")
    assert lines.warnings == ["cam: bad", "cam: blank"] and lines.infos == ["cam: again"]
    now[0] = 31.0
    log.warn("cam", "bad encoding", "cam: bad")
    assert lines.warnings[-1] == "cam: bad (6 times so far)" and log.count("cam", "bad encoding") == 6
