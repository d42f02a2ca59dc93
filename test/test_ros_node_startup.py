"""Start-up of the executables: Ctrl-C while starting is quiet (the start-up error cases are rows of
test_fault_injection.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from ros_harness import REPO, pick_domain_id, ros_env  # noqa: E402


def start(tmp_path, *ros_args):
    return subprocess.run([sys.executable, "-m", "disdepth_ros.surround_depth_node", "--ros-args", *ros_args],
                          capture_output=True, text=True, timeout=120, env=ros_env(pick_domain_id()), cwd=REPO)


def our_lines(res) -> list[str]:
    return [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("surround_depth_node: error:")]


@pytest.mark.parametrize(("module", "delay"), [
    pytest.param("surround_depth_node", 0.3, marks=pytest.mark.slow), ("surround_depth_node", 1.5),
    pytest.param("surround_depth_node", 3.0, marks=pytest.mark.slow),
    pytest.param("synthetic_cameras_node", 1.0, marks=pytest.mark.slow), ("synthetic_cameras_node", 4.0)])
def test_ctrl_c_during_start_up_is_quiet(module, delay, tmp_path):
    """SIGINT while Python imports torch/rclpy or the model loads: exit, no KeyboardInterrupt traceback."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", f"disdepth_ros.{module}", "--ros-args", "-p", "engine.device:=cpu"]
                            if module == "surround_depth_node" else [sys.executable, "-m", f"disdepth_ros.{module}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ros_env(pick_domain_id()),
                            cwd=REPO)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out


def test_running_executable_detection():
    from disdepth_ros.startup_signals import running_executable

    assert running_executable(["python", "-m", "disdepth_ros.surround_depth_node", "--ros-args"]) == "surround_depth_node"
    assert running_executable(["/ws/install/disdepth_ros/bin/python3", "/ws/lib/disdepth_ros/bag_player", "b"]) \
        == "bag_player"
    assert running_executable(["python", "-m", "pytest", "test/"]) is None
    assert running_executable(["python", "-m", "disdepth_ros.params"]) is None
