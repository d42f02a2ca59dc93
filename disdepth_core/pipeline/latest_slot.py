"""``LatestSlot``: a one-item hand-off between the callbacks and the inference worker.

Putting a new item while the previous one is still waiting replaces it (and counts it as
dropped): the worker always gets the newest set, memory stays bounded, and a slow engine
sheds load instead of building latency. No ROS here (the node imports it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestSlot:
    """``on_drop(item)`` (optional) is called with every item replaced before it was taken."""

    def __init__(self, on_drop: Callable[[Any], None] | None = None) -> None:
        self._on_drop = on_drop
        self._item: Any = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0
        self.put_count = 0

    def put(self, item: Any) -> bool:
        """Store ``item``; returns True if it replaced an item the worker had not taken."""
        with self._cond:
            replaced = self._full
            if replaced:
                self.dropped += 1
                if self._on_drop is not None:
                    self._on_drop(self._item)
            self._item, self._full = item, True
            self.put_count += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` s for an item; returns it, or None on timeout/close."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def pending(self) -> Any:
        """The item waiting to be taken, or None."""
        with self._cond:
            return self._item if self._full else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
