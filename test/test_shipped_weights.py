"""The shipped students: weights/student_default (the best on held-out streets), weights/student_supervised
(no KD) and weights/student_distilled (its KD twin).

They are produced by ``disdepth ablate --config config/ablation/corpus_teacher_stride12.yaml`` (its
``export`` section), distilled from ``weights/teacher_synthetic`` (a local fp16 Hugging Face directory:
the teacher trained by ``config/ablation/corpus.yaml``, which that config extends, and continued by
``tools/train_corpus_teacher.py``). These tests check what a user relies on: small fp16 safetensors with a
config, the same architecture and budget for both, their recorded evaluation, and that the
default one is a trained metric-depth model (far better than the same network untrained on a
held-out world frame it never saw).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from disdepth_core.config import load_config
from disdepth_core.models.checkpoint import load_student, read_student_meta
from disdepth_core.runtime.model_metadata import default_checkpoint
from disdepth_core.training.ablation import AblationConfig

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "weights" / "student_default"
SUPERVISED = REPO / "weights" / "student_supervised"
DISTILLED = REPO / "weights" / "student_distilled"
TEACHER = REPO / "weights" / "teacher_synthetic"
SHIP_CONFIG = REPO / "config" / "ablation" / "corpus_teacher_stride12.yaml"
TEACHER_CONFIG = REPO / "config" / "ablation" / "corpus.yaml"  # the config SHIP_CONFIG extends


@pytest.mark.parametrize("d", [DEFAULT, SUPERVISED, DISTILLED], ids=["default", "supervised", "distilled"])
def test_shipped_student_is_small_fp16_safetensors_with_config_and_eval(d):
    w = d / "model.safetensors"
    assert w.stat().st_size <= 10 * 2**20, f"{w} is {w.stat().st_size / 2**20:.1f} MiB"
    tensors = load_file(str(w))
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    meta = read_student_meta(d)
    assert meta["dtype"] == "float16" and meta["trained_by"] == f"disdepth ablate --config {SHIP_CONFIG.relative_to(REPO)}"
    ev = json.loads((d / "eval" / "metrics.json").read_text())
    assert meta["eval_held_out"]["abs_rel"] == ev["metric"]["all"]["abs_rel"]
    model = load_student(d)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_default_is_the_best_held_out_row_and_twin_and_distilled_differ_only_in_distillation():
    ab = load_config(AblationConfig, SHIP_CONFIG)
    exports = {e.to: e for e in ab.export}
    assert set(exports) == {"weights/student_default", "weights/student_supervised", "weights/student_distilled"}
    assert exports["weights/student_default"].row == "best"
    d, a, b = read_student_meta(DEFAULT), read_student_meta(DISTILLED), read_student_meta(SUPERVISED)
    assert b["row"] == exports["weights/student_supervised"].row and a["row"] == exports["weights/student_distilled"].row
    # the default is the row with the lowest recorded held-out AbsRel among the shipped candidates
    assert d["row"] in (a["row"], b["row"])
    assert d["eval_held_out"]["abs_rel"] == min(a["eval_held_out"]["abs_rel"], b["eval_held_out"]["abs_rel"])
    assert d["chosen_by"].startswith("lowest held-out metric AbsRel")
    for k in ("seed", "steps", "batch_size", "train_data"):
        assert a[k] == b[k], k
    assert (DISTILLED / "config.yaml").read_text() == (SUPERVISED / "config.yaml").read_text()
    assert b["distill"]["feature_kd"] == "off" and not b["distill"]["ckd"] and not b["distill"]["vrkd"]
    assert not b["distill"]["output_kd"]
    assert a["distill"] != b["distill"]
    # the same labelled streets; the distilled student also sees the unlabelled ones (KD terms only)
    assert a["labelled_every"] == b["labelled_every"] > 1
    assert a["row_dataset"].get("unlabelled") == "keep" and b["row_dataset"].get("unlabelled", "drop") == "drop"


def test_shipped_teacher_is_a_loadable_fp16_depth_anything_with_its_eval():
    from disdepth_core.models.teacher import load_teacher

    tensors = load_file(str(TEACHER / "model.safetensors"))
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    info = json.loads((TEACHER / "disdepth_teacher.json").read_text())
    ev = json.loads((TEACHER / "eval" / "metrics.json").read_text())
    assert info["eval_held_out_affine_aligned"]["abs_rel"] == ev["metric"]["all"]["abs_rel"]
    # trained by the ablation, or continued from such a teacher (each link names its command)
    link = info
    while link.get("init"):
        assert link["trained_by"].startswith("python tools/train_corpus_teacher.py")
        assert "--init" in link["trained_by"] and link["init"]["from"]
        link = link["init"]
    assert link["trained_by"] == f"disdepth ablate --config {TEACHER_CONFIG.relative_to(REPO)}"
    # the students were distilled from it at the grid stride it was trained at
    assert yaml.safe_load(SHIP_CONFIG.read_text())["extends"] == TEACHER_CONFIG.name
    assert load_config(AblationConfig, SHIP_CONFIG).teacher.grid_stride == info["grid_stride"]
    t = load_teacher(TEACHER, grid_stride=info["grid_stride"])
    assert t.model_type == "depth_anything" and t.output_kind == "relative_disparity"
    assert all(p.dtype == torch.float32 for p in t.parameters())
    with torch.inference_mode():
        out = t(torch.randn(2, 3, 64, 96))
    assert out["output"].shape == (2, 64, 96) and torch.isfinite(out["output"]).all()


def test_default_checkpoint_is_the_shipped_default_student():
    assert default_checkpoint().resolve() == DEFAULT.resolve()


def test_default_student_predicts_metric_depth_on_an_unseen_world_frame(nuscenes_rig_path):
    """A held-out seed (not in the training or validation worlds): trained weights must beat the
    same architecture with its initial weights by a wide margin, in metres (no rescaling)."""
    from disdepth_core.evaluation.metrics import depth_metrics
    from disdepth_core.geometry import CameraRig
    from disdepth_core.models.student import build_student
    from disdepth_core.world import WorldSequence

    trained = load_student(DEFAULT)
    h, w = trained.config.input_size
    frame = WorldSequence(CameraRig.from_yaml(nuscenes_rig_path).resized(h, w), frames=1, seed=424242).render(0)
    x = frame.rgb.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(trained.config.mean).view(1, 3, 1, 1)
    std = torch.tensor(trained.config.std).view(1, 3, 1, 1)
    x = (x - mean) / std
    torch.manual_seed(0)
    untrained = build_student(trained.config).eval()
    def score(model):
        with torch.inference_mode():
            m, _ = depth_metrics(model(x), frame.depth, frame.valid, min_depth=0.1, max_depth=80.0)
        return {k: float(v.mean()) for k, v in m.items()}

    ours, init = score(trained), score(untrained)
    assert ours["abs_rel"] < 0.3 and ours["abs_rel"] < 0.5 * init["abs_rel"], (ours, init)
    assert ours["a1"] > 0.6 and ours["a1"] > init["a1"] + 0.3, (ours, init)
