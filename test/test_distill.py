"""``disdepth distill``: bags -> extraction -> cached teacher -> student -> held-out eval -> ONNX -> launch line,
and the one-line refusals of bags it cannot train from."""

from __future__ import annotations

import json

import pytest
import yaml
from bag_fixtures import custom_bag, world_bag

from disdepth_core.cli import main as cli
from disdepth_core.models.teacher import build_tiny_teacher, save_teacher

pytest.importorskip("rosbags")
pytest.importorskip("onnxruntime")

TINY_RUN = {"steps": 3, "batch_size": 1, "ckpt_every": 2, "checkpoint_eval_samples": 2, "device": "cpu",
            "model": {"backbone": "resnet18", "num_bins": 8, "decoder_channels": [8, 8, 8, 8], "input_size": [64, 96]}}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return world_bag(tmp_path_factory.mktemp("world"), frames=2)[2]


@pytest.fixture(scope="module")
def drive(tmp_path_factory, frames):
    """4 s at 10 Hz, dense depth_gt, /tf_static."""
    return custom_bag(tmp_path_factory.mktemp("drive") / "drive", frames, 40)


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    rel = save_teacher(build_tiny_teacher(seed=0), root / "relative")
    metric = save_teacher(build_tiny_teacher(seed=0, depth_estimation_type="metric", max_depth=80), root / "metric")
    return rel, metric


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    from disdepth_core.paths import config_path

    d = yaml.safe_load(config_path("distill", "default.yaml").read_text())
    d.update({k: v for k, v in TINY_RUN.items() if k != "model"})
    d["model"].update(TINY_RUN["model"])
    p = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_one_command_from_bag_to_a_deployable_evaluated_student(tmp_path, drive, teachers, tiny_config, capsys):
    out = tmp_path / "out"
    argv = ["distill", str(drive), "--teacher", str(teachers[0]), "--out", str(out), "--config", str(tiny_config),
            "--size", "64x96", "--every", "0.3", "--heldout", "0.25", "--gap", "0.4"]
    assert cli(argv) == 0
    printed = capsys.readouterr().out
    s = json.loads((out / "distill.json").read_text())
    assert s["extraction"]["kept"]["train"] > 0 and s["extraction"]["kept"]["val"] > 0
    assert s["extraction"]["labels"] == ["depth"] and s["teacher"]["output"] == "relative_disparity"
    assert set(s["held_out"]) >= {"abs_rel", "rmse", "a1"}  # evaluated through the engine on the held-out tail
    assert (out / "student_run" / "student" / "model.safetensors").is_file()
    report = json.loads((out / "student.onnx.export.json").read_text())
    assert report  # the parity check ran (the export fails above tolerance)
    assert any(f.suffix == ".npy" for f in (out / "teacher_cache").rglob("*"))  # teacher outputs cached
    launch = f"ros2 launch disdepth_ros surround_depth.launch.py checkpoint:={(out / 'student.onnx').resolve()}"
    assert launch in printed and launch in s["launch"]
    # resumable: the same command again trains nothing and gives the same summary
    mtime = (out / "student_run" / "student" / "model.safetensors").stat().st_mtime_ns
    assert cli(argv) == 0
    assert (out / "student_run" / "student" / "model.safetensors").stat().st_mtime_ns == mtime


def test_cameras_only_bags_need_a_metric_teacher(tmp_path, drive, teachers, tiny_config, capsys):
    base = ["distill", str(drive), "--out", str(tmp_path / "o"), "--config", str(tiny_config), "--gt", "none",
            "--size", "64x96", "--heldout", "0"]
    assert cli([*base, "--teacher", str(teachers[0])]) == 1
    err = capsys.readouterr().err.strip()
    assert "no metric labels" in err and "metric teacher" in err and str(teachers[0]) in err and "\n" not in err
    assert cli([*base, "--teacher", str(teachers[1])]) == 0
    s = json.loads((tmp_path / "o" / "distill.json").read_text())
    assert s["teacher_labels"] is True and s["extraction"]["labels"] == ["none"] and s["held_out"] is None


def test_a_missing_camera_is_named_with_the_way_out(tmp_path, frames, teachers, capsys):
    bag = custom_bag(tmp_path / "five", frames, 10, cameras=frames.cameras[:5])
    assert cli(["distill", str(bag), "--teacher", str(teachers[0]), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    missing = frames.cameras[5]
    assert f"no images for {missing}" in err and f"/{missing}/image_raw" in err and "--cameras" in err
    assert "\n" not in err


def test_a_bag_without_cameras_is_refused_listing_what_it_holds(tmp_path, frames, teachers, capsys):
    bag = custom_bag(tmp_path / "chatter", frames, 0, topics_override={"/chatter": "std_msgs/msg/String"})
    assert cli(["distill", str(bag), "--teacher", str(teachers[0]), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no camera topics" in err and "/chatter" in err and "\n" not in err
    assert not (tmp_path / "o" / "student").exists()


def test_missing_extrinsics_need_the_users_rig(tmp_path, frames, teachers, capsys):
    bag = custom_bag(tmp_path / "no_tf", frames, 10, tf_static=False)
    assert cli(["distill", str(bag), "--teacher", str(teachers[0]), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert "/tf_static" in err and "--rig FILE" in err and "\n" not in err


@pytest.mark.slow
def test_distill_runs_data_parallel_under_torchrun(tmp_path, drive, teachers, tiny_config):
    """Two gloo ranks: rank 0 extracts while rank 1 waits, both train (identical weights), rank 0 exports."""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29581",
         "-m", "disdepth_core.cli", "distill", str(drive), "--teacher", str(teachers[0]), "--out", str(out),
         "--config", str(tiny_config), "--size", "64x96", "--every", "0.3", "--heldout", "0.25", "--gap", "0.4",
         "--steps", "4"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = out / "student_run"
    digests = [json.loads((run / f"ddp_rank{r}.json").read_text()) for r in (0, 1)]
    assert digests[0]["world"] == 2 and digests[0]["sha256"] == digests[1]["sha256"]
    s = json.loads((out / "distill.json").read_text())
    assert s["extraction"]["kept"]["train"] > 0 and (out / "student.onnx").is_file()
    assert res.stdout.count("deploy: ros2 launch") == 1  # rank 0 alone speaks


@pytest.mark.slow
def test_distill_from_a_nuscenes_layout_dataset_converted_to_bags(tmp_path, teachers, tiny_config):
    """The nuScenes input form: ``disdepth nuscenes-bag`` then the same ``disdepth distill`` command."""
    pytest.importorskip("nuscenes")
    assert cli(["world", "--out", str(tmp_path / "nus"), "--frames", "30", "--size", "64x96", "--format", "nuscenes",
                "--quiet"]) == 0
    assert cli(["nuscenes-bag", str(tmp_path / "nus"), "--version", "v1.0-synthetic", "--out", str(tmp_path / "bags"),
                "--quiet"]) == 0
    bags = sorted(str(p) for p in (tmp_path / "bags").iterdir())
    out = tmp_path / "out"
    assert cli(["distill", *bags, "--teacher", str(teachers[0]), "--out", str(out), "--config", str(tiny_config),
                "--size", "64x96", "--every", "0.3", "--heldout", "0.25", "--gap", "0.4"]) == 0
    s = json.loads((out / "distill.json").read_text())
    assert s["extraction"]["labels"] == ["lidar"] and s["extraction"]["kept"]["train"] > 0
    assert s["bags"][0]["cameras"] and len(s["bags"][0]["cameras"]) == 6 and (out / "student.onnx").is_file()


def test_the_student_runs_the_teacher_at_the_stride_it_was_trained_at(tmp_path, teachers, tiny_config):
    import shutil
    from pathlib import Path

    from disdepth_core.training.distill_bags import DistillRequest, training_config

    teacher = Path(shutil.copytree(teachers[0], tmp_path / "teacher"))
    req = DistillRequest(bags=[], teacher=teacher, out=tmp_path / "o", rig=Path("config/rigs/nuscenes.yaml"),
                         config=Path(tiny_config))
    assert training_config(req, tmp_path, False, False).teacher.grid_stride == 16  # no provenance: the default
    (teacher / "disdepth_teacher.json").write_text(json.dumps({"grid_stride": 12}))
    assert training_config(req, tmp_path, False, False).teacher.grid_stride == 12
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(yaml.safe_dump({**yaml.safe_load(Path(tiny_config).read_text()), "teacher": {"grid_stride": 8}}))
    req.config = explicit
    assert training_config(req, tmp_path, False, False).teacher.grid_stride == 8  # the user's config wins
