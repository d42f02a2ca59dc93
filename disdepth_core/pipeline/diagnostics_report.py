"""The node's diagnostics as plain data: one pipeline status and one status per camera (no ROS).

The node turns each :class:`DiagnosticReport` into a ``diagnostic_msgs/DiagnosticStatus`` on
``/diagnostics``. Levels: ``ERROR`` when a camera's published depth is mostly NaN (a broken
model), ``STALE`` for a camera without images, ``WARN`` for missing / out-of-sync cameras,
rejected input or engine errors, else ``OK``.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .surround_pipeline import SurroundPipeline

NODE_NAME = "surround_depth_node"
NONFINITE_ERROR_FRACTION = 0.5  # a camera whose published depth is mostly NaN is an ERROR in diagnostics


@dataclasses.dataclass
class DiagnosticReport:
    """``level``: ``OK`` | ``WARN`` | ``ERROR`` | ``STALE``; ``values``: key -> text."""

    name: str
    hardware_id: str
    level: str
    message: str
    values: dict[str, str]


def pipeline_report(pl: SurroundPipeline) -> DiagnosticReport:
    """Latency, throughput, stage times, set counters and the missing / out-of-sync cameras."""
    stats = pl.stats()
    values = {**{k: f"{v:.3f}" for k, v in stats.items()}, **{k: str(v) for k, v in pl.counts().items()}}
    missing = [c for c in pl.cams if pl.state[c].missing]
    unsynced = [c for c in pl.cams if pl.state[c].out_of_sync]
    nonfinite = [c for c in pl.cams
                 if pl.state[c].nan_fraction > NONFINITE_ERROR_FRACTION and not pl.state[c].missing]
    values["missing_cameras"] = ",".join(missing)
    values["out_of_sync_cameras"] = ",".join(unsynced)
    bad = pl.counters["engine_errors"] + pl.counters["processing_errors"]
    level = "ERROR" if nonfinite else "WARN" if (missing or bad or unsynced) else "OK"
    message = (f"non-finite depth from {', '.join(nonfinite)}" if nonfinite
               else f"{len(missing)} camera(s) missing: {', '.join(missing)}" if missing
               else f"camera(s) out of sync: {', '.join(unsynced)}" if unsynced
               else f"e2e p50 {stats['e2e_p50_ms']:.1f} ms, {stats['throughput_hz']:.1f} Hz")
    return DiagnosticReport(f"{NODE_NAME}: pipeline", pl.rig.name, level, message, values)


def camera_report(pl: SurroundPipeline, cam: str, now_ns: int) -> DiagnosticReport:
    """One camera: rate, the accounting identity, latency, NaN fraction, sync, intrinsics source, causes."""
    st = pl.state[cam]
    values = {
        "rate_hz": f"{st.rate_hz(now_ns, pl.sync.timeout_ns_for(cam)):.2f}",
        "received": str(st.received),
        "accepted": str(st.accepted),
        "dropped_bad": str(sum(st.rejected.values())),
        **{k: str(v) for k, v in pl.accounting(cam).items() if k not in ("received", "rejected")},
        "latency_p50_ms": f"{np.percentile(st.latency_ms, 50):.1f}" if st.latency_ms else "nan",
        "nan_fraction": f"{st.nan_fraction:.3f}",
        "blank_images": str(st.blank),
        "out_of_sync": str(st.out_of_sync).lower(),
        "stamp_offset_s": f"{st.offset_s:+.3f}",
        "last_stamp_ns": str(st.last_stamp_ns or 0),
        "intrinsics": pl.camera_pipeline.intrinsics.source(cam),
        **{f"dropped[{c}]": str(n) for c, n in st.rejected.items()},
        **{f"camera_info_ignored[{c}]": str(n) for c, n in st.info_rejected.items()},
    }
    if st.missing or st.received == 0:
        level, message = "STALE", st.last_problem or "no image yet"
    elif st.nan_fraction > NONFINITE_ERROR_FRACTION:
        level = "ERROR"
        message = (f"published depth is {100 * st.nan_fraction:.0f}% NaN: the model's output is not finite "
                   "(a broken checkpoint?)")
    elif st.out_of_sync:
        level = "WARN"
        message = (f"stamps {st.offset_s:+.3f} s off the other cameras, outside the slop {pl.p.sync.slop} s: "
                   "left out of the sets")
    elif st.rejected or st.info_rejected:
        level, message = "WARN", st.last_problem
    else:
        level, message = "OK", "ok"
    return DiagnosticReport(f"{NODE_NAME}: {cam}", cam, level, message, values)


def diagnostics(pl: SurroundPipeline, now_ns: int | None = None) -> list[DiagnosticReport]:
    """The pipeline's report, then one per camera in rig order."""
    now_ns = time.monotonic_ns() if now_ns is None else now_ns
    return [pipeline_report(pl), *(camera_report(pl, c, now_ns) for c in pl.cams)]
