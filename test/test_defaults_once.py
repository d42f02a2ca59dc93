"""Each configurable default is written once, in its config dataclass: the losses take the
configured hyper-parameters without defaults of their own, and the library classes' keyword
defaults are the config's (a second, different literal is what made CKD's chamfer weight 0.1 in
the loss but 0.01 in training)."""

from __future__ import annotations

import inspect

import pytest

from disdepth_core.losses import (
    attentive_kd_loss,
    cross_interaction_kd_loss,
    pooled_overlap_features,
    soft_bin_targets,
    spatial_attention,
    view_relational_kd_loss,
)
from disdepth_core.models.teacher import DepthTeacher, load_teacher
from disdepth_core.models.teacher_config import TeacherConfig
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.ort_engine import OnnxRuntimeEngine
from disdepth_core.runtime.tensorrt_engine import TensorRTEngine
from disdepth_core.runtime.torch_engine import TorchEngine
from disdepth_core.training.config import DistillConfig


def default(fn, name):
    return inspect.signature(fn).parameters[name].default


@pytest.mark.parametrize("fn, params", [
    (spatial_attention, ["tau"]),
    (attentive_kd_loss, ["tau", "attention_transfer"]),
    (soft_bin_targets, ["sigma"]),
    (cross_interaction_kd_loss, ["sigma", "kd_weight", "cross_weight", "chamfer_weight"]),
    (pooled_overlap_features, ["k"]),
    (view_relational_kd_loss, ["k", "tau"]),
])
def test_configured_loss_parameters_have_no_default_in_the_loss(fn, params):
    for p in params:
        assert default(fn, p) is inspect.Parameter.empty, f"{fn.__name__}({p}=...) repeats a DistillConfig default"


def test_distill_config_holds_the_ckd_chamfer_weight_training_used():
    assert DistillConfig().ckd_chamfer_weight == 0.01


def test_engine_keyword_defaults_are_the_engine_config():
    cfg = EngineConfig()
    for engine in (TorchEngine, OnnxRuntimeEngine, TensorRTEngine):
        assert default(engine, "depth_range") == (cfg.min_depth, cfg.max_depth), engine.__name__
        assert default(engine, "upsample") == cfg.upsample, engine.__name__
    for engine in (TorchEngine, OnnxRuntimeEngine):  # a TensorRT plan is built fp16 unless told otherwise
        assert default(engine, "precision") == cfg.precision, engine.__name__
    assert default(TorchEngine, "compile") == cfg.compile


def test_teacher_keyword_defaults_are_the_teacher_config():
    cfg = TeacherConfig()
    for fn in (DepthTeacher, load_teacher):
        assert default(fn, "grid_stride") == cfg.grid_stride
        assert default(fn, "output_kind") == cfg.output_kind


def test_synthetic_dataset_keyword_defaults_are_the_dataset_config():
    from disdepth_core.data.dataset_config import DATASET_DEFAULTS, DatasetConfig
    from disdepth_core.data.synthetic import SyntheticWorldDataset

    d, cfg = DATASET_DEFAULTS["synthetic"], DatasetConfig()
    assert default(SyntheticWorldDataset, "min_depth") == d.min_depth
    assert default(SyntheticWorldDataset, "max_depth") == d.max_depth
    assert default(SyntheticWorldDataset, "gt") == d.gt_source
    assert default(SyntheticWorldDataset, "labelled_every") == cfg.labelled_every
    assert default(SyntheticWorldDataset, "unlabelled") == cfg.unlabelled
