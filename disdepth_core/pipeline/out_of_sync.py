"""``OutOfSyncMonitor``: find a camera whose stamps never come within the slop of the others'.

A camera with a skewed clock would, under message_filters' rule, block every set. Each
accepted stamp is marked *matched* when some other camera has a stamp within the slop of it
(whichever arrives second marks both). A stamp is *settled* once every other camera has a
later one. ``OUT_OF_SYNC_IMAGES`` settled unmatched stamps in a row declare the camera out of
sync (policy ``drop_camera`` only: it is then left out of the sets); its first matched stamp
takes it back. The clock offset reported is the camera's median (stamp - arrival) against the
other cameras' (a stamp alone is ambiguous by whole frame periods).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .camera_state import CameraState

OUT_OF_SYNC_IMAGES = 5  # consecutive settled images of a camera with no stamp of the others within the slop


class OutOfSyncMonitor:
    """Over the cameras' :class:`CameraState` (it writes their ``recent_stamps``, ``offset_s``, ``out_of_sync``)."""

    def __init__(self, states: Mapping[str, CameraState], slop_s: float, *, may_exclude: bool) -> None:
        self.states, self.slop_ns, self.may_exclude = states, slop_s * 1e9, may_exclude

    def update(self, cam: str, stamp_ns: int, recv_ns: int) -> str | None:
        """Record one accepted stamp of ``cam``; returns ``"out"`` when it just went out of sync,
        ``"back"`` when it just came back, else None (``states[cam].out_of_sync`` is the state)."""
        st = self.states[cam]
        others = [o for c, o in self.states.items() if c != cam and o.recent_stamps]
        entry = [stamp_ns, False]
        for o in others:
            for e in o.recent_stamps:
                if abs(e[0] - stamp_ns) < self.slop_ns:
                    e[1] = entry[1] = True
        st.recent_stamps.append(entry)
        st.stamp_minus_recv_s.append((stamp_ns - recv_ns) / 1e9)
        if not others:
            return None
        theirs = [d for o in others for d in o.stamp_minus_recv_s]
        st.offset_s = float(np.median(st.stamp_minus_recv_s) - np.median(theirs)) if theirs else 0.0
        if entry[1]:
            if st.out_of_sync:
                st.out_of_sync = False
                return "back"
            return None
        horizon = min(o.recent_stamps[-1][0] for o in others) - self.slop_ns  # older stamps are settled
        settled = [m for t, m in st.recent_stamps if t < horizon][-OUT_OF_SYNC_IMAGES:]
        if (not st.out_of_sync and self.may_exclude and len(settled) == OUT_OF_SYNC_IMAGES
                and not any(settled)):
            st.out_of_sync = True
            return "out"
        return None
