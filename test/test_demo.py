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


@pytest.mark.slow  # 96 s; the shipped-student demo test below runs the same job in the default suite
@pytest.mark.ros
def test_demo_end_to_end_with_a_student(tmp_path):
    """Smoke run of the main job at a tiny size: synthetic bag -> bag_player -> node -> evaluation; a
    second run reuses the bag."""
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
    assert "seed1000" in res.stdout  # a world seed the student never saw
    # a second run reuses the bag
    res = demo("--out", str(out), "--frames", "1", "--size", "64x96", "--bag-frames", "3", "--checkpoint", str(ckpt))
    assert res.returncode == 0 and "reusing the bag" in res.stdout


@pytest.mark.ros
def test_demo_runs_the_shipped_student_by_default(tmp_path):
    """`make demo`'s path at a tiny size: no --checkpoint -> weights/student_default, on a drive whose
    world seed is none of the student's training or validation seeds."""
    from disdepth_core.models.checkpoint import read_student_meta
    from disdepth_core.runtime.model_metadata import default_checkpoint

    out = tmp_path / "demo"
    res = demo("--out", str(out), "--frames", "1", "--size", "64x96", "--bag-frames", "2")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"({default_checkpoint()})" in res.stdout
    world = read_student_meta(default_checkpoint())["train_data"]["world"]
    seed = int(next(p for p in out.iterdir() if p.name.startswith("bag_")).name.rsplit("seed", 1)[1])
    assert seed not in world["train_seeds"] + world["val_seeds"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "live" and m["accounting"]["steps_evaluated"] == 2
    for f in ("report.md", "metrics.json", "mosaic.png", "bev.png"):
        assert (out / f).is_file(), f


def test_demo_bag_seed_skips_training_seed_ranges(tmp_path):
    import json as _json

    from disdepth_core.commands.demo import held_out_seed

    d = tmp_path / "student"
    d.mkdir()
    (d / "meta.json").write_text(_json.dumps({"train_data": {"world": {
        "train_seeds": [1000], "val_seeds": [], "train_seed_range": [1001, 5], "val_seed_range": [1006, 2]}}}))
    assert held_out_seed(d, 0) == 1008
