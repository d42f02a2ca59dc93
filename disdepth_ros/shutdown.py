"""Clean shutdown for the package's executables: rclpy without its own signal handler, and
SIGINT/SIGTERM turned into a stop event the main loop polls (so every node can finish its
worker, destroy itself and exit 0 instead of being torn down mid-callback)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence

import rclpy
from rclpy.signals import SignalHandlerOptions


def init_with_stop_event(args: Sequence[str]) -> threading.Event:
    """``rclpy.init(args)`` without rclpy's signal handler; returns the event SIGINT/SIGTERM set."""
    rclpy.init(args=list(args), signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop
