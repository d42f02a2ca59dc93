"""The dataset configs drive the real commands: `disdepth train`/`disdepth eval` on miniature datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from disdepth_core.config import load_config
from disdepth_core.data.registry import load_dataset_config
from disdepth_core.training.config import TrainConfig

REPO = Path(__file__).resolve().parent.parent
DATASETS = ["nuscenes", "ddad", "kitti", "nyu"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "disdepth_core.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=REPO)


@pytest.mark.parametrize("ds", DATASETS)
def test_shipped_train_and_eval_configs_load(ds):
    cfg = load_config(TrainConfig, REPO / "config" / "train" / f"{ds}.yaml")
    assert cfg.dataset.name == ds and cfg.stage == "student"
    assert tuple(cfg.model.input_size) == tuple(cfg.dataset.size)
    ev = load_dataset_config(REPO / "config" / "eval" / f"{ds}.yaml")
    assert ev.name == ds


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    import torch

    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student

    torch.manual_seed(0)
    cfg = ModelConfig(backbone="mobilenetv2", lgconv_stages=[4], decoder_channels=[8, 16, 16, 32], num_bins=16,
                      input_size=(64, 96), d_min=0.1, d_max=200.0)
    return save_student(build_student(cfg).eval(), tmp_path_factory.mktemp("ckpt") / "student")


def write_miniature(ds: str, root: Path) -> list[str]:
    """Write a miniature dataset; returns extra eval arguments (split, version)."""
    import miniature_datasets as mini

    if ds == "nuscenes":
        mini.write_nuscenes(root, version="v1.0-mini", scenes={"scene-0103": 2}, size=(90, 160))
        return ["--version", "v1.0-mini", "--split", "all"]
    if ds == "ddad":
        mini.write_ddad(root, scenes={"000150": (1, 2)}, size=(76, 121))
        return ["--split", "val"]
    if ds == "kitti":
        mini.write_kitti_raw(root, [("2011_09_26/2011_09_26_drive_0002_sync", 69)])
        return []
    mini.write_nyu_labeled(root, num_images=20, size=(48, 64), test_indices=[1, 3])
    return []


@pytest.mark.parametrize("ds", DATASETS)
def test_eval_command_with_shipped_eval_config(ds, tmp_path, tiny_student):
    root = tmp_path / ds
    root.mkdir()
    extra = write_miniature(ds, root)
    out = tmp_path / "eval"
    res = cli("eval", "--checkpoint", str(tiny_student), "--dataset", ds, "--root", str(root),
              "--config", str(REPO / "config" / "eval" / f"{ds}.yaml"), "--size", "64x96", "--device", "cpu",
              "--out", str(out), *extra)
    assert res.returncode == 0, res.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == ds and m["samples"] >= 1
    assert m["metric"]["all"]["images"] >= 1 and m["metric"]["all"]["abs_rel"] > 0
    for mode in ("metric", "median"):
        for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "cross_view"):
            assert k in m[mode]["all"]
    for f in ("report.md", "per_camera.png", "error_vs_distance.png", "mosaic_0.png", "per_frame.csv"):
        assert (out / f).is_file(), f
    if ds == "nuscenes":
        assert set(m["metric"]["per_camera"]) == {"CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK",
                                                  "CAM_BACK_LEFT", "CAM_FRONT_LEFT"}
        assert m["cross_view"] == m["cross_view"]  # a number (not NaN) for the surround rig


def test_train_command_with_shipped_nuscenes_config(tmp_path):
    from miniature_datasets import write_nuscenes

    root = tmp_path / "nus"
    write_nuscenes(root, version="v1.0-mini", scenes={"scene-0061": 2}, size=(90, 160))
    data = yaml.safe_load((REPO / "config" / "train" / "nuscenes.yaml").read_text())
    data["dataset"].update(size=[64, 96], version="v1.0-mini", split="all")
    data["model"]["input_size"] = [64, 96]
    data.update(steps=1, batch_size=1)
    cfg = tmp_path / "train.yaml"
    cfg.write_text(yaml.safe_dump(data))
    res = cli("train", "--config", str(cfg), "--root", str(root), "--out", str(tmp_path / "run"), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "run" / "student" / "model.safetensors").is_file()
    res = cli("train", "--config", str(REPO / "config" / "train" / "nuscenes.yaml"), "--device", "cpu")
    assert res.returncode == 1 and "root" in res.stderr and res.stderr.count("\n") == 1
