"""``WarningThrottle``: one log line per (who, cause), repeated at most every ``repeat_s`` with a count.

A bad camera at 12 Hz must not flood the log, and a second cause must not hide the first:
the first occurrence of each (who, cause) is logged at once, repeats at most every
``repeat_s`` seconds with the number of times so far. No ROS here: the node passes its
logger's ``warning`` and ``info``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

REPEAT_WARNING_S = 30.0  # a repeated (who, cause) line is logged again at most this often, s


class WarningThrottle:
    """``warning(text)`` / ``info(text)``: where the lines go (e.g. an rclpy logger's methods)."""

    def __init__(self, warning: Callable[[str], object], info: Callable[[str], object], *,
                 repeat_s: float = REPEAT_WARNING_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._warning, self._info = warning, info
        self._repeat_s, self._clock = repeat_s, clock
        self._seen: dict[tuple[str, str], list[float]] = {}  # (who, cause) -> [last logged at, count]
        self._lock = threading.Lock()

    def count(self, who: str, cause: str) -> int:
        """How many times (who, cause) was reported so far."""
        with self._lock:
            return int(self._seen.get((who, cause), [0.0, 0])[1])

    def warn(self, who: str, cause: str, text: str) -> None:
        self._emit(True, who, cause, text)

    def info(self, who: str, cause: str, text: str) -> None:
        self._emit(False, who, cause, text)

    def _emit(self, warning: bool, who: str, cause: str, text: str) -> None:
        now = self._clock()
        with self._lock:
            rec = self._seen.setdefault((who, cause), [-float("inf"), 0])
            rec[1] += 1
            if now - rec[0] < self._repeat_s:
                return
            count, rec[0] = rec[1], now
        text = f"{text}{f' ({count} times so far)' if count > 1 else ''}"
        # two call sites on purpose: rclpy refuses one call site logging at two severities
        if warning:
            self._warning(text)
        else:
            self._info(text)
