"""Approximate-time synchronisation of N keyed message streams (pure Python, no ROS).

:class:`ApproximateTimeSync` has the semantics of message_filters'
``ApproximateTimeSynchronizer(fs, queue_size, slop)`` (the rclpy implementation):

* each stream keeps a queue ``{stamp_ns: item}`` of at most ``queue_size`` entries; when
  a queue overflows its *oldest stamp* is dropped (a repeated stamp replaces the item);
* when an item arrives, every other stream's stamps within ``slop`` of it are collected
  and sorted by closeness; the combinations are tried in that order and the first whose
  spread ``max(stamps) - min(stamps)`` is ``< slop`` is emitted, and its items are removed
  from their queues. Unmatched items stay queued until they match or are pushed out.

On top of that it handles a stream that stops (a camera that dies). The caller passes a
monotonic receive time ``now_ns`` with each item (and to :meth:`poll`); a stream that has
received nothing for its timeout is *missing*: ``timeout_s``, or 2.5 periods of that stream
when it is slower (median of its last receive intervals), so a 2 Hz camera is not "missing"
between two of its frames under a 0.5 s timeout. Silence is counted from the stream's last
item or from the last (re)start, whichever is later: the first item ever, or the first after
*every* stream was silent for ``timeout_s`` (a paused bag), so the first camera of a time
step is never published alone just because the others had not started yet. With ``policy='wait'`` nothing changes
(sets are only emitted complete, exactly like message_filters). With
``policy='drop_camera'`` the missing streams are left out and sets over the present
streams are emitted, as long as at least ``min_streams`` are present; a stream that comes
back is included again from its next item.

Items are opaque. Emitted sets are ``SyncedSet(stamps={key: stamp_ns}, items={key: item})``
over the keys taking part (all keys unless some were missing).
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import statistics
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

MissingPolicy = Literal["wait", "drop_camera"]


@dataclasses.dataclass
class SyncedSet:
    """One synchronised time step: per key the stamp (ns) and item, in key order."""

    stamps: dict[Hashable, int]
    items: dict[Hashable, Any]

    @property
    def keys(self) -> list[Hashable]:
        return list(self.items)

    @property
    def spread_ns(self) -> int:
        return max(self.stamps.values()) - min(self.stamps.values())

    @property
    def newest_stamp_ns(self) -> int:
        return max(self.stamps.values())


@dataclasses.dataclass
class StreamStats:
    """Counters of one stream: received, emitted in a set, pushed out of a full queue."""

    received: int = 0
    emitted: int = 0
    overflowed: int = 0
    replaced: int = 0  # queued items replaced by a later item with the same stamp
    last_stamp_ns: int | None = None
    last_receive_ns: int | None = None
    intervals_ns: collections.deque = dataclasses.field(default_factory=lambda: collections.deque(maxlen=16))
    interval_ref_ns: int | None = None  # receive time the next interval is measured from


SLOW_STREAM_PERIODS = 2.5  # a stream slower than the timeout is missing after this many of its periods
PAUSE_PERIODS = 4.0  # a receive gap longer than this many periods is a pause, not a period sample


class ApproximateTimeSync:
    """message_filters-style approximate-time synchroniser over ``keys``.

    Args:
        keys: stream names (e.g. camera names); emitted sets keep this order.
        queue_size: items kept per stream (>= 1).
        slop_s: maximum spread of the stamps of one set, seconds (> 0).
        timeout_s: a stream silent this long (receive time) is missing; ``None`` = never.
        policy: ``'wait'`` (only complete sets) or ``'drop_camera'`` (sets over present streams).
        min_streams: with ``'drop_camera'``, the fewest streams a set may have.
        callback: called with each :class:`SyncedSet` (also returned by :meth:`add`/:meth:`poll`).

    Thread-safe: one lock guards the queues; the callback runs outside it.
    """

    def __init__(
        self,
        keys: Sequence[Hashable],
        queue_size: int,
        slop_s: float,
        *,
        timeout_s: float | None = None,
        policy: MissingPolicy = "wait",
        min_streams: int = 1,
        callback: Callable[[SyncedSet], None] | None = None,
    ):
        if not keys:
            raise ValueError("ApproximateTimeSync needs at least one key")
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate keys in {list(keys)}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop_s > 0:
            raise ValueError(f"slop must be > 0 seconds, got {slop_s}")
        if policy not in ("wait", "drop_camera"):
            raise ValueError(f"policy must be 'wait' or 'drop_camera', got {policy!r}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout must be > 0 seconds or None, got {timeout_s}")
        if not 1 <= min_streams <= len(keys):
            raise ValueError(f"min_streams must be in [1, {len(keys)}], got {min_streams}")
        self.keys = list(keys)
        self.queue_size = int(queue_size)
        self.slop_ns = int(round(slop_s * 1e9))
        self.timeout_ns = None if timeout_s is None else int(round(timeout_s * 1e9))
        self.policy = policy
        self.min_streams = int(min_streams)
        self.excluded: set[Hashable] = set()  # drop_camera: streams left out like missing ones (see exclude)
        self.callback = callback
        self.queues: dict[Hashable, dict[int, Any]] = {k: {} for k in self.keys}
        self.stats: dict[Hashable, StreamStats] = {k: StreamStats() for k in self.keys}
        self._start_ns: int | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API
    def add(self, key: Hashable, stamp_ns: int, item: Any, now_ns: int | None = None) -> list[SyncedSet]:
        """Queue ``item`` of stream ``key`` stamped ``stamp_ns``; return the sets this completes."""
        if key not in self.queues:
            raise KeyError(f"unknown stream {key!r} (streams: {', '.join(map(str, self.keys))})")
        stamp_ns = int(stamp_ns)
        with self._lock:
            if now_ns is not None and self.timeout_ns is not None:
                # first item ever, or first after every stream was silent: a (re)start. Streams
                # are not missing until they have been given a timeout from here to show up.
                refs = [(k, self._ref(k)) for k in self.keys]
                if self._start_ns is None or all(r is None or now_ns - r > self.timeout_ns_for(k) for k, r in refs):
                    self._start_ns = int(now_ns)
            st = self.stats[key]
            st.received += 1
            st.last_stamp_ns = stamp_ns
            if now_ns is not None:
                if st.interval_ref_ns is not None and now_ns > st.interval_ref_ns:
                    gap = int(now_ns) - st.interval_ref_ns
                    period = self._median_interval(key)
                    if period is None or gap <= PAUSE_PERIODS * period:  # a pause is not a period
                        st.intervals_ns.append(gap)
                st.last_receive_ns = st.interval_ref_ns = int(now_ns)
            queue = self.queues[key]
            if stamp_ns in queue:  # message_filters: a repeated stamp replaces the queued item
                st.replaced += 1
            queue[stamp_ns] = item
            while len(queue) > self.queue_size:
                del queue[min(queue)]
                st.overflowed += 1
            out = []
            if stamp_ns in queue:  # it may itself have been the oldest and pushed out
                found = self._match(key, stamp_ns, self._present(now_ns))
                if found is not None:
                    out.append(found)
            if self.policy == "drop_camera" and now_ns is not None:
                out.extend(self._flush(self._present(now_ns)))
        self._deliver(out)
        return out

    def poll(self, now_ns: int) -> list[SyncedSet]:
        """Re-check for missing streams at receive time ``now_ns`` (call periodically).

        With ``'drop_camera'`` this emits the sets that wait only for streams that have
        since gone missing. With ``'wait'`` it never emits anything.
        """
        with self._lock:
            out = self._flush(self._present(now_ns)) if self.policy == "drop_camera" else []
        self._deliver(out)
        return out

    def missing(self, now_ns: int) -> list[Hashable]:
        """Streams silent for longer than the timeout at receive time ``now_ns``."""
        with self._lock:
            present = self._present(now_ns)
        return [k for k in self.keys if k not in present]

    def exclude(self, key: Hashable, excluded: bool = True) -> None:
        """Leave stream ``key`` out of matching (``'drop_camera'`` only), as if it were missing:
        for a stream that publishes but whose stamps never fall within the slop of the others
        (a camera with a skewed clock), which would otherwise block every set. The sets the
        others were waiting with are emitted by the next ``add``/``poll``.
        ``excluded=False`` takes it back."""
        with self._lock:
            if excluded:
                self.excluded.add(key)  # its queued items stay (and are pushed out, counted as overflow)
            else:
                self.excluded.discard(key)

    def timeout_ns_for(self, key: Hashable) -> int | None:
        """The silence (ns) after which stream ``key`` is missing: the timeout, or
        SLOW_STREAM_PERIODS of its median receive interval when that is longer (of all
        streams' intervals while it has fewer than 3 of its own)."""
        if self.timeout_ns is None:
            return None
        period = self._median_interval(key)
        if period is None:
            return self.timeout_ns
        return max(self.timeout_ns, int(SLOW_STREAM_PERIODS * period))

    def _median_interval(self, key: Hashable) -> float | None:
        """Median receive interval (ns) of ``key`` (of all streams while it has fewer than 3), or None."""
        iv = list(self.stats[key].intervals_ns)
        if len(iv) < 3:  # too few of its own: the cameras of a rig usually share a rate
            iv = [d for st in self.stats.values() for d in st.intervals_ns]
        return statistics.median(iv) if iv else None

    def clear(self) -> None:
        with self._lock:
            for q in self.queues.values():
                q.clear()

    # ------------------------------------------------------------------ internals
    def _present(self, now_ns: int | None) -> list[Hashable]:
        """Keys taking part in matching at ``now_ns`` (all of them under 'wait')."""
        if self.policy == "wait":
            return list(self.keys)
        if self.timeout_ns is None or now_ns is None:
            return [k for k in self.keys if k not in self.excluded]
        present = []
        for k in self.keys:
            if k in self.excluded:
                continue
            ref = self._ref(k)
            if ref is None or now_ns - ref <= self.timeout_ns_for(k):
                present.append(k)
        return present

    def _ref(self, key: Hashable) -> int | None:
        """Receive time a stream's silence is measured from: its last item, or the last (re)start."""
        last = self.stats[key].last_receive_ns
        if last is None:
            return self._start_ns
        return last if self._start_ns is None else max(last, self._start_ns)

    def _match(self, key: Hashable, stamp_ns: int, present: list[Hashable]) -> SyncedSet | None:
        """message_filters' search around the new item ``(key, stamp_ns)`` over ``present`` keys."""
        if key not in present or len(present) < (self.min_streams if self.policy == "drop_camera" else 1):
            return None
        others = [k for k in present if k != key]
        candidates = []
        for k in others:
            near = sorted(
                ((s, abs(s - stamp_ns)) for s in self.queues[k] if abs(s - stamp_ns) <= self.slop_ns),
                key=lambda x: x[1],
            )
            if not near:
                return None
            candidates.append([s for s, _ in near])
        for combo in itertools.product(*candidates):
            stamps = dict(zip(others, combo, strict=True))
            stamps[key] = stamp_ns
            values = stamps.values()
            if max(values) - min(values) < self.slop_ns:
                ordered = {k: stamps[k] for k in self.keys if k in stamps}
                items = {k: self.queues[k].pop(s) for k, s in ordered.items()}
                for k in ordered:
                    self.stats[k].emitted += 1
                return SyncedSet(stamps=ordered, items=items)
        return None

    def _flush(self, present: list[Hashable]) -> list[SyncedSet]:
        """Emit every set now possible among ``present`` keys, oldest first.

        Needed when a stream goes missing: items of the others were queued waiting for it.
        """
        if len(present) < self.min_streams or len(present) == len(self.keys):
            return []
        out = []
        pivot = present[0]
        for stamp in sorted(self.queues[pivot]):
            if stamp not in self.queues[pivot]:
                continue
            found = self._match(pivot, stamp, present)
            if found is not None:
                out.append(found)
        return out

    def _deliver(self, sets: list[SyncedSet]) -> None:
        if self.callback is not None:
            for s in sets:
                self.callback(s)
