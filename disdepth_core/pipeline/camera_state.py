"""``CameraState``: one camera's counters and recent history, for accounting and diagnostics.

Identity kept by :meth:`~.surround_pipeline.SurroundPipeline.accounting`: received =
rejected (by cause) + published + dropped_stale + dropped_error + the synchroniser's drops
+ pending. Times are monotonic ns unless a name says otherwise.
"""

from __future__ import annotations

import collections


class CameraState:
    """Per-camera bookkeeping (written by the callbacks and the worker, read by diagnostics)."""

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
        """Receive rate over the last 50 images (0 when silent for longer than ``timeout_ns``)."""
        t = self.recv_times
        if len(t) < 2 or now_ns - t[-1] > timeout_ns:
            return 0.0
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9)
