"""Teachers: HF depth models from a local directory (save_pretrained -> load_teacher), features at
known strides, output kinds, and one-line errors for every bad directory."""

from __future__ import annotations

import json

import pytest
import torch

from disdepth_core.errors import CapabilityError, ConfigError, DisdepthError
from disdepth_core.models.teacher import DepthTeacher, build_tiny_teacher, load_teacher, save_teacher
from disdepth_core.models.teacher_config import TEACHER_PRESETS, teacher_preset

pytest.importorskip("transformers")

H, W = 64, 96


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("teacher")
    save_teacher(build_tiny_teacher(seed=3), d)
    return d


def test_save_load_round_trip_identical(tiny_dir):
    built = DepthTeacher(build_tiny_teacher(seed=3)).eval()
    loaded = load_teacher(tiny_dir)
    assert loaded.source == str(tiny_dir)
    assert not any(p.requires_grad for p in loaded.parameters())
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        a, b = built(x), loaded(x)
    assert torch.equal(a["output"], b["output"])
    for fa, fb in zip(a["features"], b["features"], strict=True):
        assert torch.equal(fa, fb)
    # A differently seeded model really differs (the comparison above can fail).
    with torch.no_grad():
        c = DepthTeacher(build_tiny_teacher(seed=4))(x)
    assert not torch.allclose(c["output"], a["output"])


def test_outputs_and_features_at_known_strides(tiny_dir):
    t = load_teacher(tiny_dir)
    assert t.output_kind == "relative_disparity"
    assert t.feature_strides == [4, 8, 16, 32]
    assert t.input_size(H, W) == (14 * 4, 14 * 6)
    with torch.no_grad():
        out = t(torch.randn(2, 3, H, W))
    assert out["output"].shape == (2, H, W)
    for f, c, s in zip(out["features"], t.feature_channels, t.feature_strides, strict=True):
        assert tuple(f.shape) == (2, c, H // s, W // s)
    assert [tuple(f.shape[-2:]) for f in out["fused"]] == [(H // s, W // s) for s in (2, 4, 8, 16)]
    for f, c in zip(out["hidden_states"], t.hidden_channels, strict=True):
        assert tuple(f.shape) == (2, c, H // 16, W // 16)


def test_metric_teacher_output_kind(tmp_path):
    save_teacher(build_tiny_teacher(depth_estimation_type="metric", max_depth=80), tmp_path)
    t = load_teacher(tmp_path)
    assert t.output_kind == "metric_depth" and t.max_depth == 80
    with torch.no_grad():
        out = t(torch.randn(1, 3, H, W))["output"]
    assert out.min() >= 0 and out.max() <= 80


def test_dpt_with_dinov2_backbone(tmp_path):
    tf = pytest.importorskip("transformers")
    bc = tf.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, image_size=56,
                         out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    cfg = tf.DPTConfig(backbone_config=bc, hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16)
    save_teacher(tf.DPTForDepthEstimation(cfg), tmp_path)
    t = load_teacher(tmp_path)
    assert t.model_type == "dpt" and t.patch_size == 14
    with torch.no_grad():
        out = t(torch.randn(1, 3, H, W))
    assert out["output"].shape == (1, H, W)
    assert [tuple(f.shape[-2:]) for f in out["features"]] == [(H // s, W // s) for s in (4, 8, 16, 32)]


def test_bad_directories(tiny_dir, tmp_path):
    with pytest.raises(DisdepthError, match="teacher directory not found"):
        load_teacher(tmp_path / "missing")
    with pytest.raises(DisdepthError, match="no config.json"):
        load_teacher(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "model.safetensors").write_bytes((tiny_dir / "model.safetensors").read_bytes())
    with pytest.raises(DisdepthError, match="model_type 'bert' is not a supported depth model"):
        load_teacher(tmp_path)
    cfg = json.loads((tiny_dir / "config.json").read_text())
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DisdepthError, match="no weights file"):
        load_teacher(tmp_path)
    (tmp_path / "model.safetensors").write_bytes((tiny_dir / "model.safetensors").read_bytes())
    cfg["fusion_hidden_size"] = 24
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DisdepthError, match="weights do not match config.json: .* mismatched keys, first 'head"):
        load_teacher(tmp_path)


def test_presets_and_arch_validation():
    assert {"tiny", "da_v2_small", "da_v2_base"} <= set(TEACHER_PRESETS)
    with pytest.raises(ConfigError, match="num_heads"):
        teacher_preset("tiny", num_heads=3)
    with pytest.raises(ConfigError, match="teacher"):
        teacher_preset("giant")


def test_square_only_dpt_is_refused(tmp_path):
    tf = pytest.importorskip("transformers")
    cfg = tf.DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
                       backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16)
    save_teacher(tf.DPTForDepthEstimation(cfg), tmp_path)
    t = load_teacher(tmp_path)
    with pytest.raises(CapabilityError, match="square"):
        t(torch.randn(1, 3, H, W))
    with torch.no_grad():
        assert t(torch.randn(1, 3, H, H))["output"].shape == (1, H, H)


def test_teacher_from_shipped_config(repo_root, tmp_path):
    from disdepth_core.config import load_config
    from disdepth_core.models.teacher import teacher_from_config
    from disdepth_core.models.teacher_config import TeacherConfig

    cfg = load_config(TeacherConfig, repo_root / "config" / "teacher" / "tiny.yaml")
    assert cfg.arch == TEACHER_PRESETS["tiny"]
    built = teacher_from_config(cfg)
    save_teacher(built.model, tmp_path)
    loaded = teacher_from_config(TeacherConfig(path=str(tmp_path)))
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        assert torch.equal(built(x)["output"], loaded(x)["output"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch:\n  num_heads: 0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: key 'arch\.num_heads'"):
        load_config(TeacherConfig, bad)


def test_running_a_teacher_at_another_stride_than_it_was_trained_at_warns(tiny_dir, tmp_path):
    import json
    import shutil
    import warnings

    d = tmp_path / "t"
    shutil.copytree(tiny_dir, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_teacher(d, grid_stride=16)  # no provenance: nothing to compare with
    (d / "disdepth_teacher.json").write_text(json.dumps({"grid_stride": 12}))
    with pytest.warns(UserWarning, match="trained at grid stride 12 and runs at 16"):
        load_teacher(d, grid_stride=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_teacher(d, grid_stride=12).grid_stride == 12
