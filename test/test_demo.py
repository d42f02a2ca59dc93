"""`disdepth demo`: the world part always, the end-to-end part (bag -> node -> evaluation) with a student."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def demo(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "disdepth_core.cli", "demo", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def test_demo_without_a_student_draws_the_world_and_says_so(tmp_path):
    from disdepth_core.runtime.model_metadata import default_checkpoint

    if default_checkpoint().exists():
        pytest.skip("a shipped student exists: the end-to-end test covers the demo")
    res = demo("--out", str(tmp_path), "--frames", "1", "--size", "64x96")
    assert res.returncode == 0, res.stderr[-2000:]
    for f in ("surround_mosaic.png", "lidar_bev.png", "rig_bev.png", "rig.txt"):
        assert (tmp_path / f).read_bytes()[:4] in (b"\x89PNG", b"rig ")
    assert "no distilled student is shipped yet" in res.stdout


@pytest.mark.ros
def test_demo_end_to_end_with_a_student(tmp_path):
    """CI smoke run of the main job at a tiny size: synthetic bag -> bag_player -> node -> evaluation."""
    import torch

    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student

    torch.manual_seed(0)
    cfg = ModelConfig(backbone="mobilenetv2", lgconv_stages=[4], decoder_channels=[8, 16, 16, 32], num_bins=16,
                      input_size=(64, 96))
    ckpt = save_student(build_student(cfg).eval(), tmp_path / "student")
    out = tmp_path / "demo"
    res = demo("--out", str(out), "--frames", "1", "--size", "64x96", "--bag-frames", "3", "--checkpoint", str(ckpt))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for f in ("report.md", "metrics.json", "mosaic.png", "bev.png", "surround_mosaic.png"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "live" and m["accounting"]["steps_evaluated"] >= 2
    assert 0 < m["metric"]["all"]["abs_rel"] < 10
    assert "ros2 launch disdepth_ros replay.launch.py" in res.stdout
    # a second run reuses the bag
    res = demo("--out", str(out), "--frames", "1", "--size", "64x96", "--bag-frames", "3", "--checkpoint", str(ckpt))
    assert res.returncode == 0 and "reusing the bag" in res.stdout
