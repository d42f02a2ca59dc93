"""Training: a real run on a miniature nuScenes-format dataset, exact resume, DDP with gloo, eval CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from disdepth_core.config import load_config
from disdepth_core.models.teacher_config import TEACHER_PRESETS
from disdepth_core.training.batching import step_indices
from disdepth_core.training.config import TrainConfig
from disdepth_core.training.trainer import train

pytest.importorskip("nuscenes")

SIZE = (64, 96)


@pytest.fixture(scope="module")
def nuscenes_root(tmp_path_factory):
    from miniature_datasets import write_nuscenes

    root = tmp_path_factory.mktemp("nus")
    write_nuscenes(root, version="v1.0-mini", scenes={"scene-0061": 3, "scene-0103": 2}, size=SIZE)
    return root


def make_config(tmp_path: Path, root: Path, **distill) -> Path:
    data = {"name": "nuscenes", "root": str(root), "version": "v1.0-mini", "split": "all", "size": list(SIZE)}
    cfg = {
        "stage": "student",
        "out_dir": str(tmp_path / "run"),
        "seed": 3,
        "steps": 4,
        "batch_size": 1,
        "log_every": 1,
        "ckpt_every": 2,
        "device": "cpu",
        "dataset": data,
        "model": {"backbone": "resnet18", "input_size": list(SIZE), "num_bins": 16, "decoder_channels": [8, 16, 16, 32]},
        # a random tiny teacher: these tests check the mechanics of KD, not what a trained teacher teaches
        "teacher": {"arch": dataclasses.asdict(TEACHER_PRESETS["tiny"]), "allow_untrained": True},
        "distill": distill,
        "optim": {"lr": 1e-3, "warmup_steps": 1},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    p = tmp_path / "train.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "student" / "model.safetensors"))


def test_step_indices_cover_each_epoch_and_split_ranks():
    seen = [i for s in range(5) for i in step_indices(10, s, 2, seed=1)]
    assert sorted(seen) == list(range(10))  # one epoch = a permutation
    r0 = step_indices(10, 0, 2, seed=1, rank=0, world_size=2)
    r1 = step_indices(10, 0, 2, seed=1, rank=1, world_size=2)
    assert r0 + r1 == step_indices(10, 0, 4, seed=1)


def test_student_run_with_all_distillation_terms(tmp_path, nuscenes_root):
    cfg_path = make_config(tmp_path, nuscenes_root, feature_kd="attentive", ckd=True, vrkd=True)
    cfg = load_config(TrainConfig, cfg_path)
    out = train(cfg, progress=False)
    assert (out / "student" / "model.safetensors").is_file() and (out / "student" / "config.yaml").is_file()
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    rows = (out / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    for term in ("depth", "feature_kd", "ckd_kd", "ckd_cross", "ckd_chamfer", "vrkd", "total"):
        assert term in header
    assert len(rows) == 1 + 4
    assert (out / "checkpoints" / "last" / "state.safetensors").is_file()


def test_resume_is_exact(tmp_path, nuscenes_root):
    a = load_config(TrainConfig, make_config(tmp_path / "a", nuscenes_root))
    train(a, progress=False)
    b = load_config(TrainConfig, make_config(tmp_path / "b", nuscenes_root))
    train(b, progress=False, stop_after=2)
    assert not (Path(b.out_dir) / "student").exists()
    assert json.loads((Path(b.out_dir) / "checkpoints" / "last" / "state.json").read_text())["step"] == 2
    train(b, progress=False)  # resumes at step 2
    wa, wb = weights(Path(a.out_dir)), weights(Path(b.out_dir))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bad_config_names_key(tmp_path, nuscenes_root):
    p = make_config(tmp_path, nuscenes_root, ckd=True)
    data = yaml.safe_load(p.read_text())
    data["model"]["head"] = "regression"
    p.write_text(yaml.safe_dump(data))
    res = subprocess.run([sys.executable, "-m", "disdepth_core.cli", "train", "--config", str(p)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "key 'distill.ckd'" in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.slow
def test_ddp_two_gloo_processes_end_with_identical_weights(tmp_path, nuscenes_root):
    cfg_path = make_config(tmp_path, nuscenes_root, feature_kd="attentive")
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29577",
         "-m", "disdepth_core.cli", "train", "--config", str(cfg_path)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "run"
    digests = [json.loads((run / f"ddp_rank{r}.json").read_text())["sha256"] for r in (0, 1)]
    assert digests[0] == digests[1]
    # and training moved the weights (the digest differs from the initial weights')
    assert (run / "student" / "model.safetensors").is_file()
