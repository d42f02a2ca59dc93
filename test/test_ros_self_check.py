"""surround_depth_node start-up self-check, real node process: an honest ONNX export starts and logs
the check, a corrupted one is refused with one line and exit 1, ``engine.self_check false`` skips it."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from onnx_faults import scale_initializer

pytest.importorskip("rclpy")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.ros

from ros_harness import REPO, Child, pick_domain_id, ros_env  # noqa: E402

from disdepth_core.cli import main as disdepth  # noqa: E402
from disdepth_core.runtime.model_metadata import default_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """The shipped student exported by `disdepth export`, and a copy with one convolution 10 % off."""
    if not (default_checkpoint() / "model.safetensors").is_file():
        pytest.skip("the shipped student is missing")
    d = tmp_path_factory.mktemp("node_selfcheck")
    good = d / "student.onnx"
    assert disdepth(["export", "--out", str(good)]) == 0
    bad = d / "corrupted.onnx"
    scale_initializer(good, bad, 1.1)
    return good, bad


def node_args(model, *extra):
    return ["--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=onnxruntime",
            "-p", f"engine.checkpoint:={model}", "-p", "engine.device:=cpu", *extra]


def run_node(*ros_args):
    return subprocess.run([sys.executable, "-m", "disdepth_ros.surround_depth_node", "--ros-args", *ros_args],
                          capture_output=True, text=True, timeout=120, env=ros_env(pick_domain_id()), cwd=REPO)


def test_corrupted_engine_is_refused_with_one_line(onnx_files):
    _, bad = onnx_files
    res = run_node(*node_args(bad))
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, res.stderr
    assert errors[0].startswith(f"surround_depth_node: error: self-check failed: onnxruntime {ort.__version__}: "
                                "p99 relative depth error "), errors[0]
    assert "> tolerance 0.02 on 6 built-in images" in errors[0]
    assert "Traceback" not in res.stderr


def test_tolerance_parameter_decides(onnx_files):
    _, bad = onnx_files
    res = run_node(*node_args(bad, "-p", "engine.self_check_tolerance:=0.0"))
    assert res.returncode == 1 and "engine.self_check_tolerance" in res.stderr and "Traceback" not in res.stderr


def test_honest_export_starts_and_logs_the_check(onnx_files, tmp_path):
    good, _ = onnx_files
    node = Child("disdepth_ros.surround_depth_node", node_args(good), ros_env(pick_domain_id()), tmp_path / "n.log")
    try:
        assert node.wait_log(f"self-check passed: onnxruntime {ort.__version__}: p99 relative depth error", 90), \
            node.log()
        assert node.wait_log("6 cameras [", 30), node.log()
    finally:
        code = node.stop(signal.SIGTERM)
    assert code == 0, node.log()


def test_self_check_off_starts_even_a_corrupted_engine(onnx_files, tmp_path):
    _, bad = onnx_files
    node = Child("disdepth_ros.surround_depth_node", node_args(bad, "-p", "engine.self_check:=false"),
                 ros_env(pick_domain_id()), tmp_path / "n.log")
    try:
        assert node.wait_log("self-check off (engine.self_check false)", 90), node.log()
        assert node.wait_log("6 cameras [", 30), node.log()
    finally:
        code = node.stop(signal.SIGTERM)
    assert code == 0, node.log()
    assert "self-check failed" not in node.log()
