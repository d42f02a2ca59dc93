"""The oracle backend (``disdepth_core.sim.oracle_engine``, name ``ground_truth``) is opt-in:
without ``DISDEPTH_ENABLE_ORACLE=1`` ``create_engine``, ``disdepth eval-bag`` and the node refuse
it with one line, and no user-facing help offers it. With the opt-in (conftest.py sets it for
every test) the tests that use it as a perfect model run: test_engine_factory.py,
test_eval_bag.py, test_ros_node.py..."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from disdepth_core.cli import main
from disdepth_core.errors import DisdepthError
from disdepth_core.pipeline.node_params import flatten_params
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import available_backends, create_engine
from disdepth_core.sim.oracle_opt_in import OPT_IN_ENV

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_opt_in(monkeypatch):
    monkeypatch.delenv(OPT_IN_ENV, raising=False)


def test_create_engine_refuses_the_oracle_without_opt_in(no_opt_in, tmp_path):
    with pytest.raises(DisdepthError) as info:
        create_engine(EngineConfig(backend="ground_truth", gt_frames=str(tmp_path / "f.npz"), device="cpu"))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("engine.backend 'ground_truth' is the test-only oracle")
    assert f"{OPT_IN_ENV}=1" in msg
    assert "ground_truth" not in available_backends()


def test_eval_bag_refuses_the_oracle_without_opt_in(no_opt_in, tmp_path, capsys):
    rc = main(["eval-bag", str(tmp_path / "bag"), "--backend", "ground_truth", "--gt-frames", "f.npz", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith("disdepth eval-bag: error: --backend 'ground_truth' is the test-only oracle"), err[0]
    assert f"{OPT_IN_ENV}=1" in err[0]


def test_no_help_offers_the_oracle(capsys):
    with pytest.raises(SystemExit):
        main(["eval-bag", "--help"])
    out = capsys.readouterr().out
    assert "--backend {torch,onnxruntime,tensorrt}" in out
    assert "ground_truth" not in out and "--gt-frames" not in out
    backend = next(p for p in flatten_params() if p.name == "engine.backend")
    assert "torch | onnxruntime | tensorrt" in backend.description
    assert "ground_truth" not in backend.description + backend.constraints
    assert "ground_truth" not in (REPO / "config" / "surround_depth.yaml").read_text()


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed")
@pytest.mark.parametrize("name", ["surround_depth.launch.py", "synthetic_demo.launch.py", "replay.launch.py"])
def test_no_launch_argument_offers_the_oracle(name):
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), REPO / "launch" / name)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    descriptions = [e.description for e in mod.generate_launch_description().entities
                    if isinstance(e, DeclareLaunchArgument)]
    assert descriptions and not [d for d in descriptions if "ground_truth" in d]


@pytest.mark.ros
def test_node_refuses_the_oracle_without_opt_in(tmp_path):
    pytest.importorskip("rclpy")
    from ros_harness import pick_domain_id, ros_env

    env = ros_env(pick_domain_id())
    del env[OPT_IN_ENV]
    res = subprocess.run([sys.executable, "-m", "disdepth_ros.surround_depth_node", "--ros-args",
                          "--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=ground_truth",
                          "-p", f"engine.gt_frames:={tmp_path / 'f.npz'}", "-p", "engine.device:=cpu"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, res.stderr
    assert errors[0].startswith("surround_depth_node: error: engine.backend 'ground_truth' is the test-only oracle")
    assert "Traceback" not in res.stderr
