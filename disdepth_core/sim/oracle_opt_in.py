"""The oracle backend is opt-in: without ``DISDEPTH_ENABLE_ORACLE=1`` in the environment nothing builds it.

An environment variable rather than a parameter: the switch has to reach every process a test or
benchmark starts (the node under ``ros2 launch``, ``eval-bag --live``, the test harness), and it
must never be a value a user can put in a params file by copying an example. Importing this
module costs nothing (no torch), so command-line parsers can use it.
"""

from __future__ import annotations

import os

from ..errors import DisdepthError

ORACLE_BACKEND = "ground_truth"
OPT_IN_ENV = "DISDEPTH_ENABLE_ORACLE"


def oracle_enabled() -> bool:
    """Whether this process opted in to the oracle backend (``DISDEPTH_ENABLE_ORACLE=1``)."""
    return os.environ.get(OPT_IN_ENV, "") == "1"


def require_oracle(key: str = "engine.backend") -> None:
    """One-line :class:`DisdepthError` naming ``key`` unless the process opted in."""
    if not oracle_enabled():
        raise DisdepthError(
            f"{key} {ORACLE_BACKEND!r} is the test-only oracle (true depth looked up in a frames file, no model) "
            f"and is off; tests and plumbing checks opt in with {OPT_IN_ENV}=1 in the environment "
            "(a depth model: torch, onnxruntime or tensorrt)"
        )
