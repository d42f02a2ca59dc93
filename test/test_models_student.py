"""DepthStudent: shapes and units, bins, ranges, gradients, aux outputs, config validation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from disdepth_core.config import from_dict, load_config
from disdepth_core.errors import ConfigError
from disdepth_core.models import ModelConfig, build_student, list_backbones
from disdepth_core.models.checkpoint import load_student, save_student
from disdepth_core.models.fuse import fold_batchnorm
from disdepth_core.models.heads import DepthBinHead
from disdepth_core.models.local_global_conv import LocalGlobalConv
from disdepth_core.models.registry import build_model, load_model_config, shipped_model_configs

H, W = 64, 96


def tiny_cfg(**kw) -> ModelConfig:
    return replace(ModelConfig(input_size=(H, W), decoder_channels=[8, 16, 16, 24], num_bins=16), **kw)


@pytest.mark.parametrize("backbone", list_backbones())
def test_every_backbone_depth_shape_and_range(backbone):
    cfg = tiny_cfg(backbone=backbone, d_min=1.0, d_max=50.0)
    m = build_student(cfg).eval()
    with torch.no_grad():
        out = m(torch.randn(3, 3, H, W), return_aux=True)
    assert out["depth"].shape == (3, H, W)
    assert out["depth"].min() >= 1.0 and out["depth"].max() <= 50.0
    assert [tuple(f.shape[1:]) for f in out["features"]] == [
        (c, H // s, W // s) for c, s in zip(m.feature_channels, m.feature_strides, strict=True)
    ]
    assert [tuple(f.shape[1:]) for f in out["decoder_features"]] == [
        (c, H // s, W // s) for c, s in zip(cfg.decoder_channels, (4, 8, 16, 32), strict=True)
    ]
    assert out["bin_probs"].shape == (3, 16, H // 4, W // 4)
    assert out["bin_centers"].shape == (3, 16)
    torch.testing.assert_close(out["bin_probs"].sum(1), torch.ones(3, H // 4, W // 4))


def test_plain_forward_equals_aux_depth():
    m = build_student(tiny_cfg()).eval()
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        assert torch.equal(m(x), m(x, return_aux=True)["depth"])
    assert m.config.backbone == "mobilenetv3_large"


def test_any_input_size_gives_full_resolution_depth():
    m = build_student(tiny_cfg(lgconv_pool=2)).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 70, 100)).shape == (1, 70, 100)


def test_bin_centers_strictly_increasing_inside_range():
    head = DepthBinHead([8, 8, 8, 32], num_bins=128, d_min=0.5, d_max=80.0)
    with torch.no_grad():
        for scale in (0.0, 1.0, 1e3):  # uniform, random, extreme (softmax saturates)
            for p in head.widths.parameters():
                p.normal_(0, 1).mul_(scale)
            c = head.bin_centers(torch.randn(4, 32, 2, 3) * 10)
            assert c.shape == (4, 128)
            assert (c.diff(dim=1) > 0).all()
            assert (c > 0.5).all() and (c < 80.0).all()


def test_bin_gaps_let_centres_pack_a_sub_range(tmp_path):
    """Without gaps the first bin starts at d_min, so c1 - c0 >= c0 - d_min; with gaps (N + 2 widths) the
    centres can sit under 0.5 m apart from 3 m on, which CKD's disparity-uniform teacher bins ask for near the car."""
    n, d_min, d_max = 16, 0.5, 80.0
    plain = DepthBinHead([8, 8, 8, 32], num_bins=n, d_min=d_min, d_max=d_max)
    with torch.no_grad():
        for p in plain.widths.parameters():
            p.normal_(0, 1).mul_(3.0)
        c = plain.bin_centers(torch.randn(8, 32, 2, 3))
    assert ((c[:, 1] - c[:, 0]) >= (c[:, 0] - d_min) - 1e-4).all()
    gapped = DepthBinHead([8, 8, 8, 32], num_bins=n, d_min=d_min, d_max=d_max, gaps=True)
    assert gapped.widths[-1].out_features == n + 2
    widths = torch.tensor([2.35] + [0.3] * n + [d_max - d_min - 2.35 - 0.3 * n])
    with torch.no_grad():
        gapped.widths[-1].weight.zero_()
        gapped.widths[-1].bias.copy_(widths.log())
        c = gapped.bin_centers(torch.randn(2, 32, 2, 3))
    assert c.shape == (2, n)
    assert abs(float(c[0, 0]) - 3.0) < 0.15 and float(c[0, 1] - c[0, 0]) < 0.5  # the width floor adds ~0.08 m
    assert (c.diff(dim=1) > 0).all() and (c > d_min).all() and (c < d_max).all()
    cfg = tiny_cfg(bin_gaps=True)
    model = build_student(cfg).eval()
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        out = model(x, return_aux=True)
        assert out["bin_centers"].shape == (1, cfg.num_bins)
        save_student(model, tmp_path / "s")  # the option travels in the checkpoint's config.yaml
        back = load_student(tmp_path / "s")
        assert back.config.bin_gaps and torch.allclose(back(x), out["depth"], atol=1e-5)


def test_log_spaced_bins_are_geometric_and_pack_near_the_car():
    """``spacing="log"``: uniform logits give geometric centres (constant ratio); with gaps, 0.1 m apart from 3 m."""
    n, d_min, d_max = 16, 0.5, 80.0
    head = DepthBinHead([8, 8, 8, 32], num_bins=n, d_min=d_min, d_max=d_max, spacing="log")
    with torch.no_grad():
        head.widths[-1].weight.zero_()
        head.widths[-1].bias.zero_()
        c = head.bin_centers(torch.randn(1, 32, 2, 3))[0]
    ratio = c[1:] / c[:-1]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-5)
    assert torch.allclose(c[0], torch.tensor(d_min * (d_max / d_min) ** (0.5 / n)), rtol=1e-5)
    gapped = DepthBinHead([8, 8, 8, 32], num_bins=n, d_min=d_min, d_max=d_max, gaps=True, spacing="log")
    log_w = [math.log(2.95 / d_min)] + [math.log(3.1 / 3.0)] * n
    log_w.append(math.log(d_max / d_min) - sum(log_w))
    with torch.no_grad():
        gapped.widths[-1].weight.zero_()
        gapped.widths[-1].bias.copy_(torch.tensor(log_w).log())
        c = gapped.bin_centers(torch.randn(1, 32, 2, 3))[0]
    assert abs(float(c[0]) - 3.0) < 0.1 and float(c[1] - c[0]) < 0.2
    assert (c.diff() > 0).all() and (c > d_min).all() and (c < d_max).all()
    with pytest.raises(ValueError, match="spacing"):
        DepthBinHead([8, 8, 8, 32], num_bins=n, d_min=d_min, d_max=d_max, spacing="linear")


def test_regression_head_range():
    m = build_student(tiny_cfg(head="regression", d_min=2.0, d_max=10.0)).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 3, H, W) * 50, return_aux=True)
    assert out["depth"].shape == (2, H, W)
    assert out["depth"].min() >= 2.0 and out["depth"].max() <= 10.0
    assert "bin_probs" not in out


@pytest.mark.parametrize("backbone,head", [("resnet18", "bins"), ("mobilenetv3_large", "bins"), ("regnet_y_400mf", "regression")])
def test_gradients_reach_every_trainable_parameter(backbone, head):
    torch.manual_seed(0)
    m = build_student(tiny_cfg(backbone=backbone, head=head, lgconv_stages=[3, 4], lgconv_pool=2)).train()
    for mod in m.modules():
        if isinstance(mod, LocalGlobalConv):
            mod.gamma.data.fill_(0.1)  # as after some training; at 0 the branch's own grads are 0
    out = m(torch.randn(2, 3, H, W), return_aux=True)
    target = torch.rand(2, H, W) * 40 + 1
    (out["depth"] - target).abs().mean().backward()
    dead = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not dead, dead[:5]


def test_fold_batchnorm_preserves_output():
    m = build_student(tiny_cfg(backbone="mobilenetv2")).eval()
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        ref = m(x)
        n = fold_batchnorm(m)
        assert n > 20
        torch.testing.assert_close(m(x), ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "data,key",
    [
        ({"backbone": "vgg16"}, "backbone"),
        ({"num_bins": 1}, "num_bins"),
        ({"d_min": 80.0, "d_max": 80.0}, "d_min"),
        ({"d_min": 100.0}, "d_min"),
        ({"head": "softmax"}, "head"),
        ({"decoder_channels": [8, 8]}, "decoder_channels"),
        ({"lgconv_stages": [0]}, "lgconv_stages[0]"),
        ({"input_size": [0, 96]}, "input_size[0]"),
        ({"typo_key": 1}, "typo_key"),
    ],
)
def test_bad_config_rejected_with_key(data, key):
    with pytest.raises(ConfigError) as exc:
        from_dict(ModelConfig, data, source="m.yaml")
    assert exc.value.key == key
    assert f"m.yaml: key '{key}'" in str(exc.value)


def test_bad_yaml_file_named(tmp_path):
    p = tmp_path / "student.yaml"
    p.write_text("backbone: resnet18\nnum_bins: 1\n")
    with pytest.raises(ConfigError, match=r"student\.yaml: key 'num_bins'"):
        load_config(ModelConfig, p)


def test_build_student_validates_direct_construction():
    with pytest.raises(ConfigError, match="d_min"):
        build_student(ModelConfig(d_min=5.0, d_max=1.0))


def test_shipped_configs_build():
    names = shipped_model_configs()
    assert "student_default" in names
    for name in names:
        cfg = load_model_config(name)
        assert cfg.pretrained is None
    m = build_model("student_default")
    assert m.config == load_model_config("student_default") == ModelConfig()  # dataclass defaults = shipped default
