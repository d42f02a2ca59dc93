"""Ctrl-C / SIGTERM while an executable of this package is still starting: exit quietly.

Importing torch, rclpy and loading the model takes seconds; a SIGINT in that window would
otherwise end in a ``KeyboardInterrupt`` traceback (issue 15). When the running program *is*
one of the package's executables (console script, or ``python -m disdepth_ros.<exe>``), the
package's ``__init__`` installs handlers that exit with 130 (SIGINT) / 143 (SIGTERM) and no
output; each executable replaces them with its clean-shutdown handler once ROS is up
(:mod:`disdepth_ros.shutdown`). A library import (tests, eval-bag) changes nothing. Stdlib only.
"""

from __future__ import annotations

import os
import signal
import sys

EXECUTABLES = ("surround_depth_node", "synthetic_cameras_node", "bag_player")


def running_executable(argv: list[str] | None = None) -> str | None:
    """The package executable this process runs (from the interpreter's original argv), or None."""
    argv = list(sys.orig_argv if argv is None else argv)
    for i, a in enumerate(argv):
        if a == "-m" and i + 1 < len(argv):
            mod = argv[i + 1]
            return mod.split(".", 1)[1] if mod.startswith("disdepth_ros.") and mod.split(".", 1)[1] in EXECUTABLES \
                else None
    for a in argv[:2]:  # console script: python /path/bin/<exe> (or the script as argv[0])
        if os.path.basename(a) in EXECUTABLES:
            return os.path.basename(a)
    return None


def _exit_quietly(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def quiet_interrupt_while_starting() -> bool:
    """Install the quiet start-up handlers if this process is one of the executables."""
    if running_executable() is None:
        return False
    signal.signal(signal.SIGINT, _exit_quietly)
    signal.signal(signal.SIGTERM, _exit_quietly)
    return True
