"""Training is measured as deployed (issue 17): held-out metrics per checkpoint through the
exported checkpoint and the inference engine, equal to what ``disdepth eval-bag`` reports on
the same street; the teacher-output cache; labelled subsets of a corpus."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from disdepth_core.config import from_dict
from disdepth_core.geometry import CameraRig
from disdepth_core.training.config import TrainConfig
from disdepth_core.training.trainer import train
from disdepth_core.world.config import small_world_config
from disdepth_core.world.export_bag import BagWriter
from disdepth_core.world.export_native import NativeWriter
from disdepth_core.world.sequence import WorldSequence

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 96)


def _street(seed: int, frames: int, out: Path, fmt: str) -> Path:
    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(*SIZE)
    seq = WorldSequence(rig, frames, seed=seed, cfg=small_world_config(rate_hz=1.0))
    w = NativeWriter(seq, out) if fmt == "native" else BagWriter(seq, out)
    w.begin()
    for f in seq:
        w.write(f)
    w.end()
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for s in (1, 2, 3):
        _street(s, 2, root / "train" / f"seed{s}", "native")
    _street(50, 2, root / "val" / "seed50", "native")
    _street(50, 2, root / "val_bag", "bag")  # the same held-out street as a bag
    return root


def _cfg(tmp: Path, root: Path, **kw) -> TrainConfig:
    data = {
        "stage": "student", "out_dir": str(tmp / "run"), "seed": 0, "steps": 6, "batch_size": 1, "log_every": 1,
        "ckpt_every": 3, "device": "cpu",
        "dataset": {"name": "synthetic", "root": str(root / "train"), "size": list(SIZE)},
        "val_dataset": {"name": "synthetic", "root": str(root / "val"), "size": list(SIZE)},
        "model": {"backbone": "resnet18", "input_size": list(SIZE), "num_bins": 16,
                  "decoder_channels": [8, 16, 16, 32]},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
    }
    for k, v in kw.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return from_dict(TrainConfig, data, source="test")


def test_trainer_held_out_metrics_equal_eval_bag_through_the_engine(tmp_path, corpus):
    out = train(_cfg(tmp_path, corpus), progress=False)
    with (out / "eval_history.csv").open() as fh:
        hist = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in hist] == [3, 6]
    assert (out / "eval_curve.png").read_bytes()[:4] == b"\x89PNG"
    final = json.loads((out / "eval" / "metrics.json").read_text())
    assert float(hist[-1]["metric_abs_rel"]) == pytest.approx(final["metric"]["all"]["abs_rel"], abs=1e-6)
    # the same street as a bag through the product's eval-bag command
    res = subprocess.run([sys.executable, "-m", "disdepth_core.cli", "eval-bag", str(corpus / "val_bag"),
                          "--checkpoint", str(out / "student"), "--gt", "depth", "--device", "cpu",
                          "--out", str(tmp_path / "evalbag"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    bag = json.loads((tmp_path / "evalbag" / "metrics.json").read_text())
    for k in ("abs_rel", "rmse", "a1"):
        assert bag["metric"]["all"][k] == pytest.approx(final["metric"]["all"][k], rel=1e-4, abs=1e-5), k
    # the confidence is scored on the held-out street exactly as eval-bag scores it, per checkpoint too
    conf = final["confidence"]
    assert set(conf["per_camera"]) == set(bag["confidence"]["per_camera"]) and conf["per_camera"]
    for k in ("ause", "ause_random", "ause_ratio"):
        assert conf["all"][k] == pytest.approx(bag["confidence"]["all"][k], rel=1e-3, abs=1e-5), k
    assert float(hist[-1]["confidence_ause_ratio"]) == pytest.approx(conf["all"]["ause_ratio"], abs=1e-6)
    assert "## Confidence (sparsification, AbsRel)" in (out / "eval" / "report.md").read_text()
    assert (out / "eval" / "sparsification_abs_rel.png").is_file()


def test_teacher_output_cache_fills_once_and_follows_the_teacher(tmp_path, corpus):
    from disdepth_core.models.teacher import build_teacher_model, save_teacher
    from disdepth_core.models.teacher_config import TEACHER_PRESETS

    tdir = save_teacher(build_teacher_model(TEACHER_PRESETS["tiny"], seed=0), tmp_path / "teacher")
    cache = tmp_path / "cache"
    kw = dict(teacher={"path": str(tdir), "arch": None}, distill={"output_kd": True, "ckd": True,
                                                                 "teacher_cache": str(cache)},
              val_dataset=None, steps=8)
    train(_cfg(tmp_path / "a", corpus, **kw), progress=False)
    (key_dir,) = list(cache.iterdir())
    files = sorted(p.name for p in key_dir.glob("*.npy"))
    assert len(files) == 6  # 3 streets x 2 frames, each computed once in 8 steps (batch 1)
    mtimes = {p: p.stat().st_mtime_ns for p in key_dir.glob("*.npy")}
    log = (tmp_path / "a" / "run" / "log.csv").read_text().splitlines()
    assert "output_kd" in log[0] and "ckd_kd" in log[0]
    # a second run reads the cache (files untouched) and trains identically to the first
    train(_cfg(tmp_path / "b", corpus, **kw), progress=False)
    assert {p: p.stat().st_mtime_ns for p in key_dir.glob("*.npy")} == mtimes
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "a" / "run" / "student" / "model.safetensors"))
    wb = load_file(str(tmp_path / "b" / "run" / "student" / "model.safetensors"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    # another teacher -> another key, never the stale entries
    save_teacher(build_teacher_model(TEACHER_PRESETS["tiny"], seed=1), tmp_path / "teacher")
    train(_cfg(tmp_path / "c", corpus, **{**kw, "steps": 1}), progress=False)
    assert len(list(cache.iterdir())) == 2


def test_labelled_subset_drop_or_keep_without_ground_truth(corpus):
    from disdepth_core.data.synthetic import SyntheticWorldDataset, is_labelled

    names = ["seed1", "seed2", "seed3"]
    labelled = [n for n in names if is_labelled(n, 2)]
    full = SyntheticWorldDataset(corpus / "train", gt="lidar")
    drop = SyntheticWorldDataset(corpus / "train", gt="lidar", labelled_every=2)
    keep = SyntheticWorldDataset(corpus / "train", gt="lidar", labelled_every=2, unlabelled="keep")
    assert len(full) == len(keep) == 6 and len(drop) == 2 * len(labelled)
    for i in range(len(keep)):
        s = keep[i]
        has = Path(s.meta["sequence"]).name in labelled
        assert bool(s.valid.any()) == has
        if not has:
            assert float(s.depth.abs().sum()) == 0.0
    # about one in N over many names, independent of order
    share = sum(is_labelled(f"seed{k}", 3) for k in range(10000, 10360)) / 360
    assert 0.25 < share < 0.42


def test_fill_cache_in_shards_covers_every_frame_once(tmp_path, corpus):
    from disdepth_core.models.teacher import build_teacher_model, save_teacher
    from disdepth_core.models.teacher_config import TEACHER_PRESETS
    from disdepth_core.training.teacher_cache import fill_cache

    tdir = save_teacher(build_teacher_model(TEACHER_PRESETS["tiny"], seed=0), tmp_path / "teacher")
    cfg = _cfg(tmp_path, corpus, teacher={"path": str(tdir), "arch": None}, val_dataset=None,
               distill={"output_kd": True, "teacher_cache": str(tmp_path / "cache")})
    a = fill_cache(cfg, shard=0, num_shards=2, progress=False)
    b = fill_cache(cfg, shard=1, num_shards=2, progress=False)
    assert (a.misses, b.misses) == (3, 3) and a.hits == b.hits == 0
    assert len(list(a.dir.glob("*.npy"))) == 6
    again = fill_cache(cfg, shard=0, num_shards=1, progress=False)
    assert (again.hits, again.misses) == (6, 0)


def test_cross_view_of_a_perfect_prediction_is_exactly_the_gt_floor():
    """Prediction and GT are compared on the same pixels (issue 17): predicting the GT scores
    the GT's own occlusion floor, whatever the prediction says at sky/invalid pixels."""
    from disdepth_core.evaluation.evaluate import EvalAccumulator

    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(*SIZE)
    f = WorldSequence(rig, 1, seed=11, cfg=small_world_config()).render(0)
    gt, valid = f.depth.float(), f.valid
    pred = torch.where(valid, gt, torch.full_like(gt, 3.0))  # nonsense where there is no GT
    acc = EvalAccumulator(rig.names, 0.1, 80.0)
    mask = valid & (gt >= 0.1) & (gt <= 80.0)
    acc.add(pred, gt, mask, K=rig.K_as(), T_base_cam=rig.T_as(), valid=valid)
    s = acc.summary("synthetic")
    assert s["cross_view_gt"] is not None and s["cross_view"] == pytest.approx(s["cross_view_gt"], abs=1e-9)
    assert s["cross_view_pixels"].startswith("evaluated GT pixels")


def test_reevaluate_rescores_a_finished_run_without_moving_its_depth_metrics(tmp_path, corpus):
    """``disdepth ablate --reevaluate``: a run finished before the held-out evaluation scored the
    confidence gets it, its depth metrics unchanged."""
    from disdepth_core.training.ablation import AblationConfig, reevaluate, run_ablation

    model = {"backbone": "resnet18", "input_size": list(SIZE), "num_bins": 16, "decoder_channels": [8, 16, 16, 32]}
    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "table"), "seeds": [0], "device": "cpu",
        "dataset": {"name": "synthetic", "root": str(corpus / "train"), "size": list(SIZE)},
        "val_dataset": {"name": "synthetic", "root": str(corpus / "val"), "size": list(SIZE)},
        "model": model, "student_budget": {"steps": 3, "batch_size": 1, "optim": {"lr": 1e-3, "warmup_steps": 1}},
        "rows": [{"name": "supervised"}],
    })
    run_ablation(ab, progress=False, rows=["supervised"], source="t.yaml")
    f = tmp_path / "runs" / "seed0" / "supervised" / "eval" / "metrics.json"
    old = json.loads(f.read_text())
    f.write_text(json.dumps({k: v for k, v in old.items() if k != "confidence"}))  # as evaluated before
    [(run, before, now)] = reevaluate(ab, progress=False)
    assert run == f.parent.parent and now == pytest.approx(before, abs=1e-7)
    new = json.loads(f.read_text())
    assert new["confidence"]["all"]["ause_ratio"] == pytest.approx(old["confidence"]["all"]["ause_ratio"], abs=1e-7)
    assert reevaluate(ab, rows=["supervised"], seeds=[0], progress=False)[0][0] == run
    with pytest.raises(Exception, match="unknown row"):
        reevaluate(ab, rows=["nope"], progress=False)
