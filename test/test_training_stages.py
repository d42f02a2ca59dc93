"""The training stages against the trainer's interface (``TrainingStage``), the refusal to distil
from an untrained teacher, and ``teacher_target`` checked against the teacher (path or arch)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from disdepth_core.config import from_dict
from disdepth_core.errors import ConfigError
from disdepth_core.models.teacher import build_teacher_model, save_teacher
from disdepth_core.models.teacher_config import TEACHER_PRESETS
from disdepth_core.training.config import TrainConfig
from disdepth_core.training.stage import TrainingStage
from disdepth_core.training.stages import STAGES

SIZE = [28, 42]
TINY = dataclasses.asdict(TEACHER_PRESETS["tiny"])
MODEL = {"backbone": "resnet18", "input_size": SIZE, "num_bins": 8, "decoder_channels": [8, 8, 8, 8]}


def config(**kw) -> TrainConfig:
    return from_dict(TrainConfig, {"device": "cpu", "model": MODEL, **kw})


def built(stage: str, **kw) -> TrainingStage:
    return STAGES[stage](config(stage=stage, **kw), torch.device("cpu"))


@pytest.mark.parametrize("stage, kw", [
    ("teacher", {"teacher": {"arch": TINY}}),
    ("acclimate", {"teacher": {"arch": TINY, "allow_untrained": True}}),
    ("student", {}),
    ("student", {"teacher": {"arch": TINY, "allow_untrained": True}, "distill": {"feature_kd": "attentive"}}),
])
def test_every_stage_is_a_training_stage(stage, kw):
    s = built(stage, **kw)
    assert isinstance(s, TrainingStage)
    assert any(m is s.trainable for m in s.modules.values())
    # every parameter the optimiser gets belongs to the trainable module (it is what DDP wraps and clips)
    owned = {id(p) for p in s.trainable.parameters()}
    grouped = [p for g in s.param_groups(config().optim) for p in g["params"]]
    assert grouped and all(id(p) in owned for p in grouped)
    assert s.predictor_align in ("none", "disparity")
    reference = s.reference_predictor()
    assert (reference is not None) == (stage == "acclimate")
    if reference is not None:
        predict, align = reference
        assert align == "disparity"  # the tiny teacher is relative
        assert predict(torch.rand(1, 3, *SIZE)).shape == (1, *SIZE)


def test_teacher_stage_scores_relative_output_as_disparity():
    assert built("teacher", teacher={"arch": TINY}).predictor_align == "disparity"
    metric = {**TINY, "depth_estimation_type": "metric", "max_depth": 80}
    assert built("teacher", teacher={"arch": metric}).predictor_align == "none"


@pytest.mark.parametrize("stage, distill", [("acclimate", {}), ("student", {"ckd": True}),
                                            ("student", {"output_kd": True})])
def test_distilling_from_an_untrained_teacher_is_refused(stage, distill):
    with pytest.raises(ConfigError) as e:
        config(stage=stage, teacher={"arch": TINY}, distill=distill)
    assert e.value.key == "teacher.arch" and "untrained" in str(e.value) and "teacher.allow_untrained" in str(e.value)
    assert "\n" not in str(e.value)
    config(stage=stage, teacher={"arch": TINY, "allow_untrained": True}, distill=distill)  # the tests' opt-in
    config(stage="teacher", teacher={"arch": TINY})  # fitting a teacher from scratch is what that stage is for
    config(stage="student", teacher={"arch": TINY})  # no KD term: the teacher is never used


@pytest.fixture(scope="module")
def relative_teacher_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher") / "teacher"
    save_teacher(build_teacher_model(TEACHER_PRESETS["tiny"], seed=0), d)
    return d


def test_teacher_target_is_checked_against_a_teacher_loaded_from_path(relative_teacher_dir):
    with pytest.raises(ConfigError) as e:
        built("teacher", teacher={"path": str(relative_teacher_dir)}, teacher_target="metric")
    msg = str(e.value)
    assert e.value.key == "teacher_target" and "teacher.path" in msg and str(relative_teacher_dir) in msg
    for target in ("relative", "auto"):
        s = built("teacher", teacher={"path": str(relative_teacher_dir)}, teacher_target=target)
        assert s.teacher.output_kind == "relative_disparity"
    # teacher.output_kind overrides the loaded config; the target is checked against that
    s = built("teacher", teacher={"path": str(relative_teacher_dir), "output_kind": "metric_depth"},
              teacher_target="metric")
    assert s.predictor_align == "none"
    with pytest.raises(ConfigError, match="teacher.output_kind"):
        built("teacher", teacher={"path": str(relative_teacher_dir), "output_kind": "metric_depth"},
              teacher_target="relative")


def test_teacher_target_is_checked_against_an_arch():
    with pytest.raises(ConfigError, match="teacher.arch.depth_estimation_type") as e:
        built("teacher", teacher={"arch": TINY}, teacher_target="metric")
    assert e.value.key == "teacher_target"
    metric = {**TINY, "depth_estimation_type": "metric", "max_depth": 80}
    assert built("teacher", teacher={"arch": metric}, teacher_target="metric").teacher.output_kind == "metric_depth"


def _teacher_batch():
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(0)
    depth = torch.rand(1, 2, *SIZE, generator=g) * 30 + 2
    valid = torch.ones_like(depth, dtype=torch.bool)
    valid[..., :8, :] = False  # the top rows: sky (a dense render has no depth there)
    return SimpleNamespace(images=torch.rand(1, 2, 3, *SIZE, generator=g), depth=depth * valid, valid=valid)


@pytest.mark.parametrize("loss", ["ssi_disparity", "ssi_relative"])
def test_teacher_sky_depth_supervises_the_sky_as_far(loss):
    """With teacher_sky_depth the sky's prediction enters the teacher's loss (and gets a gradient); without, it
    does not."""
    batch = _teacher_batch()
    for sky, counted in ((0.0, False), (100.0, True)):
        s = built("teacher", teacher={"arch": TINY}, teacher_loss=loss, teacher_sky_depth=sky)
        out = {}

        def keep(module, args, result, out=out):
            result["output"].retain_grad()
            out.update(result)

        s.teacher.register_forward_hook(keep)
        s.losses(batch)["total"].backward()
        sky_grad = out["output"].grad[:, :8].abs().sum().item()
        assert (sky_grad > 0) == counted, (sky, sky_grad)


def test_teacher_sky_depth_needs_dense_depth():
    with pytest.raises(ConfigError) as e:
        config(stage="teacher", teacher={"arch": TINY}, teacher_sky_depth=100.0,
               dataset={"name": "synthetic", "gt_source": "lidar"})
    assert e.value.key == "teacher_sky_depth" and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="teacher_loss"):
        config(stage="teacher", teacher={"arch": TINY}, teacher_loss="l2")


def test_teacher_labels_supervise_unlabelled_pixels_with_a_metric_teacher():
    from types import SimpleNamespace

    metric = {**TINY, "depth_estimation_type": "metric", "max_depth": 80}
    g = torch.Generator().manual_seed(0)
    batch = SimpleNamespace(images=torch.rand(1, 2, 3, *SIZE, generator=g), depth=torch.zeros(1, 2, *SIZE),
                            valid=torch.zeros(1, 2, *SIZE, dtype=torch.bool), meta=[{}])
    plain = built("student", teacher={"arch": metric, "allow_untrained": True}, distill={"output_kd": True})
    assert plain.losses(batch)["depth"].item() == 0.0  # no label, no depth term
    s = built("student", teacher={"arch": metric, "allow_untrained": True}, distill={"teacher_labels": True})
    terms = s.losses(batch)
    assert terms["depth"].item() > 0
    terms["total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in s.student.parameters())
    with pytest.raises(ConfigError) as e:
        built("student", teacher={"arch": TINY, "allow_untrained": True}, distill={"teacher_labels": True})
    assert e.value.key == "distill.teacher_labels" and "metric teacher" in str(e.value)


def test_student_starts_from_a_checkpoint_and_refuses_another_architecture(tmp_path):
    """``init_from``: fine-tuning a shipped student for another rig starts from its weights exactly."""
    from disdepth_core.config import ConfigError
    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student
    from disdepth_core.training.config import TrainConfig
    from disdepth_core.training.stages import StudentStage

    arch = dict(backbone="resnet18", num_bins=8, decoder_channels=[8, 8, 8, 8], input_size=(64, 96))
    torch.manual_seed(5)
    src = build_student(ModelConfig(**arch)).eval()
    ckpt = save_student(src, tmp_path / "src", fp16=True)
    cfg = TrainConfig(stage="student", model=ModelConfig(**{**arch, "input_size": (128, 224)}), init_from=str(ckpt))
    stage = StudentStage(cfg, torch.device("cpu"))
    got = stage.model.student.state_dict()
    for k, v in src.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(got[k], v.half().float()), k  # the checkpoint's (fp16) weights, not a fresh init
    fresh = StudentStage(TrainConfig(stage="student", model=ModelConfig(**arch)), torch.device("cpu"))
    assert not torch.equal(fresh.model.student.state_dict()["head.logits.weight"], got["head.logits.weight"])
    with pytest.raises(ConfigError, match="init_from.*num_bins 8 vs model.num_bins 16"):
        StudentStage(TrainConfig(stage="student", model=ModelConfig(**{**arch, "num_bins": 16}), init_from=str(ckpt)),
                     torch.device("cpu"))


def test_spread_calibration_trains_the_bin_head_and_needs_one():
    """``distill.confidence_weight``: a ``confidence`` term on the label pixels whose gradient reaches the
    bin logits; a regression head has no distribution to calibrate and is refused naming the key."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(1)
    valid = torch.rand(1, 2, *SIZE, generator=g) > 0.7
    batch = SimpleNamespace(images=torch.rand(1, 2, 3, *SIZE, generator=g),
                            depth=torch.where(valid, 2 + 30 * torch.rand(1, 2, *SIZE, generator=g), 0.0),
                            valid=valid, meta=[{}])
    s = built("student", distill={"confidence_weight": 1.0})
    terms = s.losses(batch)
    assert terms["confidence"].item() > 0
    assert terms["total"].item() == pytest.approx(terms["depth"].item() + terms["confidence"].item(), rel=1e-6)
    terms["confidence"].backward()
    assert s.student.head.logits.weight.grad.abs().sum() > 0
    assert "confidence" not in built("student").losses(batch)  # off by default
    with pytest.raises(ConfigError) as e:
        built("student", model={**MODEL, "head": "regression"}, distill={"confidence_weight": 1.0})
    assert e.value.key == "distill.confidence_weight" and "RegressionHead" in str(e.value)
