"""Shared pytest setup: the --runslow switch and small fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The tests use the oracle backend of disdepth_core.sim (true depth, no model), which is opt-in;
# every node and CLI process they start inherits the switch. test_oracle_opt_in.py removes it.
os.environ["DISDEPTH_ENABLE_ORACLE"] = "1"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def nuscenes_rig_path() -> Path:
    return REPO / "config" / "rigs" / "nuscenes.yaml"


COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "out", "build", "install", "log", "__pycache__", "*.egg-info",
                                     ".*cache")


@pytest.fixture(scope="session")
def colcon_install(tmp_path_factory) -> Path:
    """``colcon build`` of this working tree in a fresh workspace; returns install/disdepth_ros."""
    colcon = Path(sys.executable).parent / "colcon"
    if not colcon.exists():
        colcon = shutil.which("colcon")
    assert colcon, "colcon is a dev dependency (colcon-common-extensions): install with .[dev]"
    ws = tmp_path_factory.mktemp("ws")
    shutil.copytree(REPO, ws / "src" / "disdepth_ros", ignore=COPY_IGNORE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMENT_", "COLCON_"))}
    res = subprocess.run(
        [str(colcon), "build", "--base-paths", "src"], cwd=ws, capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return ws / "install" / "disdepth_ros"


# ---------------------------------------------------------------- ROS tests (real processes over DDS)
@pytest.fixture(scope="module")
def env():
    """An isolated DDS environment for one test module (own domain, localhost, SHM profile); also
    applied to this process so its listener joins the same domain."""
    from ros_harness import pick_domain_id, ros_env

    e = ros_env(pick_domain_id())
    for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION", "FASTDDS_DEFAULT_PROFILES_FILE"):
        os.environ[k] = e[k]
    return e


@pytest.fixture(scope="module")
def ros(env):
    """(rclpy, context) initialised in that environment."""
    rclpy = pytest.importorskip("rclpy")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield rclpy, ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture
def procs():
    """Child processes a test starts; stopped (SIGINT, or SIGKILL if already dead) afterwards."""
    import signal

    started = []
    yield started
    for c in started:
        c.stop(signal.SIGKILL if not c.alive() else signal.SIGINT)


@pytest.fixture
def listener(ros):
    """A subscriber node in this process (ros_harness.Listener)."""
    import time

    from ros_harness import Listener

    rclpy, ctx = ros
    lis = Listener(rclpy, ctx, name=f"listener_{time.monotonic_ns() % 10**9}")
    yield lis
    lis.close()
