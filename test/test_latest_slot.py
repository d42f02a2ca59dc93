"""LatestSlot: one pending item, newest wins, drops counted, bounded memory."""

from __future__ import annotations

import threading
import time

from disdepth_core.pipeline.latest_slot import LatestSlot


def test_newest_wins_and_drops_are_counted():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.dropped == 2 and slot.take(0) == 3
    assert slot.take(0.01) is None


def test_worker_wakes_on_put_and_close():
    slot = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    time.sleep(0.05)
    slot.put("x")
    t.join(2)
    assert got == ["x"]
    t = threading.Thread(target=lambda: got.append(slot.take(5.0)))
    t.start()
    slot.close()
    t.join(2)
    assert not t.is_alive() and got == ["x", None]
