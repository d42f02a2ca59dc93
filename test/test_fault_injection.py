"""Fault injection at the process level: one table of cases -> expected behaviour (issue 15).

Each case builds its bad input in a temporary directory and runs a real executable the way a
user does (``surround_depth_node``, ``bag_player``, ``disdepth ...``). Expected: the exit code,
exactly one line of ours naming the problem, never a traceback. Runtime faults of the running
node (bad images, silent or skewed cameras, resolution changes) are in test_ros_node.py; bag
contents faults of eval-bag in test_eval_bag.py. Add a row here for every new start-up fault.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from ros_harness import REPO, pick_domain_id, ros_env  # noqa: E402

NODE = [sys.executable, "-m", "disdepth_ros.surround_depth_node"]
PLAYER = [sys.executable, "-m", "disdepth_ros.bag_player"]
CLI = [sys.executable, "-m", "disdepth_core.cli"]


@dataclasses.dataclass
class Case:
    name: str
    command: Callable[[Path], list[str]]  # tmp dir -> argv (builds the fault there)
    prefix: str  # how our one line starts
    names: Callable[[Path], list[str]]  # what the line must mention
    code: int = 1


def params_file(tmp: Path, text: str) -> Path:
    f = tmp / "params.yaml"
    f.write_text(text)
    return f


def bag_dir_with_tab(tmp: Path) -> Path:
    b = tmp / "bag"
    b.mkdir()
    (b / "metadata.yaml").write_text("rosbag2_bagfile_information:\n\tversion: 5\n")
    return b


def not_mcap(tmp: Path) -> Path:
    f = tmp / "x.mcap"
    f.write_bytes(b"garbage, not an MCAP file")
    return f


def empty_dir(tmp: Path) -> Path:
    (tmp / "bag").mkdir()
    return tmp / "bag"


def nan_student(tmp: Path) -> Path:
    """The shipped student with every weight NaN (a corrupted training run)."""
    from disdepth_core.models.checkpoint import load_student, save_student

    m = load_student(REPO / "weights" / "student_default")
    for p in m.parameters():
        p.data.fill_(float("nan"))
    return save_student(m.eval(), tmp / "nan_student")


def corrupted_onnx(tmp: Path) -> Path:
    """`disdepth export` of the shipped student, then one convolution's weights 10 % off."""
    from onnx_faults import scale_initializer

    from disdepth_core.cli import main

    good = tmp / "student.onnx"
    assert main(["export", "--checkpoint", str(REPO / "weights" / "student_default"), "--out", str(good)]) == 0
    scale_initializer(good, tmp / "bad.onnx", 1.1)
    return tmp / "bad.onnx"


CASES = [
    Case("node: misspelt -p", lambda t: [*NODE, "--ros-args", "-p", "engine.chekpoint:=/x"],
         "surround_depth_node: error:", lambda t: ["unknown parameter 'engine.chekpoint'", "'engine.checkpoint'"]),
    Case("node: misspelt key in params file",
         lambda t: [*NODE, "--ros-args", "--params-file", str(params_file(t, yaml.safe_dump(
             {"surround_depth_node": {"ros__parameters": {"cloud": {"strid": 4}}}})))],
         "surround_depth_node: error:", lambda t: ["unknown parameter 'cloud.strid'", "'cloud.stride'"]),
    Case("node: params file with a tab",
         lambda t: [*NODE, "--ros-args", "--params-file", str(params_file(t, "/**:\n  ros__parameters:\n\tx: 1\n"))],
         "surround_depth_node: error:", lambda t: [str(t / "params.yaml"), "params file"]),
    Case("node: params file missing", lambda t: [*NODE, "--ros-args", "--params-file", str(t / "none.yaml")],
         "surround_depth_node: error:", lambda t: [str(t / "none.yaml")]),
    Case("node: bad value", lambda t: [*NODE, "--ros-args", "-p", "output.depth_encoding:=mono8"],
         "surround_depth_node: error:", lambda t: ["output.depth_encoding"]),
    Case("node: checkpoint missing", lambda t: [*NODE, "--ros-args", "-p", f"engine.checkpoint:={t / 'nope'}"],
         "surround_depth_node: error:", lambda t: [str(t / "nope")]),
    Case("node: checkpoint with NaN weights",
         lambda t: [*NODE, "--ros-args", "-p", f"engine.checkpoint:={nan_student(t)}", "-p", "engine.device:=cpu"],
         "surround_depth_node: error:", lambda t: ["output health FAILED", "NaN fraction 1.000"]),
    Case("node: corrupted ONNX export (self-check)",
         lambda t: [*NODE, "--ros-args", "-p", "engine.backend:=onnxruntime", "-p", f"engine.checkpoint:={corrupted_onnx(t)}",
                    "-p", "engine.device:=cpu"],
         "surround_depth_node: error:", lambda t: ["self-check failed: onnxruntime", "> tolerance 0.02"]),
    Case("bag_player: tab in metadata.yaml", lambda t: [*PLAYER, str(bag_dir_with_tab(t))],
         "bag_player: error:", lambda t: [str(t / "bag"), "metadata.yaml"]),
    Case("bag_player: not an MCAP file", lambda t: [*PLAYER, str(not_mcap(t))],
         "bag_player: error:", lambda t: [str(t / "x.mcap")]),
    Case("bag_player: missing bag", lambda t: [*PLAYER, str(t / "nobag")],
         "bag_player: error:", lambda t: [str(t / "nobag")]),
    Case("bag_player: empty directory", lambda t: [*PLAYER, str(empty_dir(t))],
         "bag_player: error:", lambda t: [str(t / "bag")]),
    Case("eval-bag: tab in metadata.yaml", lambda t: [*CLI, "eval-bag", str(bag_dir_with_tab(t))],
         "disdepth eval-bag: error:", lambda t: [str(t / "bag")]),
    Case("eval-bag: missing bag", lambda t: [*CLI, "eval-bag", str(t / "nobag")],
         "disdepth eval-bag: error:", lambda t: [str(t / "nobag")]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fault(case, tmp_path):
    res = subprocess.run(case.command(tmp_path), capture_output=True, text=True, timeout=120,
                         env=ros_env(pick_domain_id()), cwd=REPO)
    out = res.stdout + res.stderr
    assert res.returncode == case.code, out
    ours = [ln for ln in out.splitlines() if ln.startswith(case.prefix)]
    assert len(ours) == 1, out
    for text in case.names(tmp_path):
        assert text in ours[0], (text, ours[0])
    assert "Traceback" not in out, out
