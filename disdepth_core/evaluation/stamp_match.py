"""Matching bag messages by header stamp: one rule for images, dense ground truth, CameraInfo and LiDAR.

Bags repeat header stamps: a driver that never sets them (all zero), a stalled clock, a message
recorded twice. Keying by the stamp alone overwrites silently (a step scored against another
frame's ground truth, predictions written over each other), so every stream (one topic) is a
:class:`StampedStream` and follows one rule:

1. **Key** = ``(stamp_ns, occurrence)``; occurrence = how many earlier messages of the stream had
   the same stamp, i.e. repeated stamps are told apart by arrival order. Nothing is overwritten.
2. **Duplicate** = the same stamp *and* the same bytes as an earlier message of the stream: dropped
   and counted (no key). Only a changed payload makes a repeated stamp a new message.
3. **Exact** (dense ground truth): the image keyed ``(s, k)`` takes its camera's depth ``(s, k)`` --
   the k-th image stamped ``s`` goes with the k-th depth image stamped ``s`` -- or none.
4. **Latest** (CameraInfo): the exact key, else the latest key before it, else the earliest kept.
5. **Nearest** (LiDAR, one stream for every camera): the sweep whose stamp is nearest the step's
   within the sync slop (ties: the earlier stamp); of the sweeps with that stamp, the one with the
   step's occurrence, else the latest.

Streams that repeat stamps or carry duplicates are reported (:func:`stream_warnings`: the caller
prints a warning saying that arrival order was used). Memory stays bounded: :meth:`prune`
forgets messages received before a horizon, keeping the latest of them as rule 4's fallback.
"""

from __future__ import annotations

import bisect
import zlib

Key = tuple[int, int]


def digest(raw: bytes) -> tuple[int, int]:
    """Cheap identity of a serialised message (length, CRC-32) for rule 2."""
    return len(raw), zlib.crc32(raw)


class StampedStream:
    """Messages of one topic sorted by ``(stamp_ns, occurrence)`` (see the module docstring).

    ``add`` returns the message's key, or None for a duplicate; ``exact`` / ``latest`` / ``nearest``
    are rules 3-5. ``repeated`` and ``duplicates`` count rule 1 and 2 events for the warnings.
    """

    def __init__(self, topic: str):
        self.topic = topic
        self._keys: list[Key] = []
        self._entries: list[tuple[int, tuple[int, int], object]] = []  # (recv_ns, digest, value), as _keys
        self._seen: dict[int, list[int]] = {}  # stamp -> [messages so far, last receive time]
        self.repeated = 0
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, stamp_ns: int, value, *, recv_ns: int, raw_digest: tuple[int, int]) -> Key | None:
        s = int(stamp_ns)
        lo, hi = bisect.bisect_left(self._keys, (s, 0)), bisect.bisect_left(self._keys, (s + 1, 0))
        if any(self._entries[i][1] == raw_digest for i in range(lo, hi)):
            self.duplicates += 1
            return None
        seen = self._seen.setdefault(s, [0, recv_ns])
        key = (s, seen[0])
        if seen[0]:
            self.repeated += 1
        seen[0] += 1
        seen[1] = int(recv_ns)
        i = bisect.bisect_left(self._keys, key)
        self._keys.insert(i, key)
        self._entries.insert(i, (int(recv_ns), raw_digest, value))
        return key

    def exact(self, key: Key):
        """Rule 3: the value keyed ``key``, else None."""
        i = bisect.bisect_left(self._keys, tuple(key))
        return self._entries[i][2] if i < len(self._keys) and self._keys[i] == tuple(key) else None

    def latest(self, key: Key):
        """Rule 4: the value at ``key``, else the latest before it, else the earliest kept; None when empty."""
        if not self._keys:
            return None
        i = bisect.bisect_right(self._keys, tuple(key)) - 1
        return self._entries[max(i, 0)][2]

    def nearest(self, stamp_ns: int, tolerance_ns: int, occurrence: int = 0) -> tuple[Key, object] | None:
        """Rule 5: ``(key, value)`` of the nearest stamp within ``tolerance_ns``, else None."""
        i = bisect.bisect_left(self._keys, (int(stamp_ns), 0))
        cands = [self._keys[j][0] for j in (i - 1, i) if 0 <= j < len(self._keys)]
        cands = [s for s in cands if abs(s - stamp_ns) <= tolerance_ns]
        if not cands:
            return None
        s = min(cands, key=lambda c: (abs(c - stamp_ns), c))
        lo, hi = bisect.bisect_left(self._keys, (s, 0)), bisect.bisect_left(self._keys, (s + 1, 0))
        j = next((j for j in range(lo, hi) if self._keys[j][1] == occurrence), hi - 1)
        return self._keys[j], self._entries[j][2]

    def prune(self, horizon_ns: int) -> None:
        """Forget messages received before ``horizon_ns``, except the latest-keyed of them (rule 4's fallback)."""
        old = [j for j, e in enumerate(self._entries) if e[0] < horizon_ns]
        if len(old) > 1:
            drop = set(old[:-1])  # old[-1] has the largest key of the old ones (the lists are key-sorted)
            self._keys = [k for j, k in enumerate(self._keys) if j not in drop]
            self._entries = [e for j, e in enumerate(self._entries) if j not in drop]
        kept = {k[0] for k in self._keys}  # a kept stamp keeps its count: keys stay unique
        for s in [s for s, (_, last) in self._seen.items() if last < horizon_ns and s not in kept]:
            del self._seen[s]


def stream_warnings(streams) -> list[str]:
    """At most two lines over ``streams``: the topics that repeat stamps (rule 1) and carry duplicates (rule 2)."""
    def listing(pairs):
        items = [f"{t} {n}" for t, n in pairs if n]
        return f"{len(items)} topic(s): " + ", ".join(items[:8]) + (f", ... {len(items) - 8} more" if len(items) > 8 else "")

    out = []
    rep = [(st.topic, st.repeated) for st in streams]
    if any(n for _, n in rep):
        out.append("messages repeat an earlier header stamp on " + listing(rep) + "; matched by arrival order "
                   "within each camera (the k-th image stamped s takes the k-th depth / CameraInfo stamped s)")
    dup = [(st.topic, st.duplicates) for st in streams]
    if any(n for _, n in dup):
        out.append("duplicate messages (same stamp and bytes as an earlier one) ignored on " + listing(dup))
    return out
