"""Per-pixel confidence (issue 14): derivation from the bin distribution, engines (torch, onnxruntime,
ground truth), old exports without it, the point cloud's min_confidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disdepth_core.models.checkpoint import save_student
from disdepth_core.models.confidence import DepthWithConfidence, bin_confidence, has_confidence
from disdepth_core.models.config import ModelConfig
from disdepth_core.models.student import build_student
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import create_engine
from disdepth_core.runtime.onnx_export import sample_images
from disdepth_core.runtime.pointcloud import depth_to_cloud
from disdepth_core.runtime.processing import postprocess_confidence

TINY = dict(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(3)
    model = build_student(ModelConfig(**TINY)).eval()
    with torch.no_grad():  # a non-uniform distribution, so confidence varies over the image
        model.head.logits.weight.normal_(0.0, 5.0)
        model.head.logits.bias.normal_(0.0, 2.0)
    return save_student(model, tmp_path_factory.mktemp("conf") / "ckpt"), model


def test_peaked_distribution_is_more_confident_and_in_range():
    centers = torch.tensor([[1.0, 2.0, 4.0, 8.0, 16.0]])
    peaked = torch.tensor([0.01, 0.02, 0.94, 0.02, 0.01])
    spread = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.2])
    two_modes = torch.tensor([0.5, 0.0, 0.0, 0.0, 0.5])
    probs = torch.stack([peaked, spread, two_modes, torch.eye(5)[2]], 0).T[None, :, None, :]  # (1, 5, 1, 4)
    depth = torch.einsum("bnhw,bn->bhw", probs, centers)
    c = bin_confidence(probs, centers, depth)
    assert c.shape == (1, 1, 4) and c.dtype == torch.float32
    assert ((c >= 0) & (c <= 1)).all()
    assert c[0, 0, 3] == pytest.approx(1.0)  # all mass on one bin: sigma 0
    assert c[0, 0, 0] > c[0, 0, 1] > 0  # peaked > flat
    assert c[0, 0, 2] < c[0, 0, 0]  # two far-apart modes: the mean is between them, low confidence
    # sigma / d exactly: the flat case
    d = depth[0, 0, 1]
    sigma = torch.sqrt((spread * (centers[0] - d) ** 2).sum())
    assert c[0, 0, 1] == pytest.approx(float(1 / (1 + sigma / d)), rel=1e-5)
    with pytest.raises(ValueError, match=r"probs \(B, N, h, w\)"):
        bin_confidence(probs[0], centers, depth)


def test_student_module_shapes_and_regression_head_has_none(tiny_ckpt):
    _, model = tiny_ckpt
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        d, c = DepthWithConfidence(model)(x)
        torch.testing.assert_close(d, model(x))  # same depth as the plain student
    assert c.shape == (2, 64, 96) and float(c.min()) >= 0 and float(c.max()) <= 1 and float(c.std()) > 1e-4
    reg = build_student(ModelConfig(**{**TINY, "head": "regression"})).eval()
    assert has_confidence(model) and not has_confidence(reg)
    with pytest.raises(ValueError, match="needs a bin head.*RegressionHead"):
        DepthWithConfidence(reg)


def test_postprocess_confidence_follows_depth_resize_and_zeroes_invalid():
    conf = torch.tensor([[[0.2, 0.8], [1.0, 0.4]]])
    depth = torch.tensor([[[float("nan"), 5.0, 5.0, float("inf")]] * 4])
    out = postprocess_confidence(conf, depth, mode="nearest")
    assert out.shape == (1, 4, 4)
    assert out[0, 0, 0] == 0.0  # NaN depth -> 0
    assert out[0, 0, 3] == pytest.approx(0.8) and out[0, 3, 1] == pytest.approx(1.0)  # +Inf keeps its value
    bil = postprocess_confidence(conf, torch.ones(1, 4, 4))
    ref = torch.nn.functional.interpolate(conf[:, None], size=(4, 4), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(bil, ref)


def test_torch_and_onnxruntime_engines_agree_on_confidence(tiny_ckpt, tmp_path):
    pytest.importorskip("onnxruntime")
    from disdepth_core.cli import main

    ckpt, _ = tiny_ckpt
    imgs = sample_images(6, (90, 150), seed=4)
    cfg = EngineConfig(backend="torch", checkpoint=str(ckpt), device="cpu")
    t = create_engine(cfg)
    assert t.provides_confidence
    rt = t.infer(imgs, output_size=(45, 75))
    assert rt.confidence.shape == rt.depth.shape == (6, 45, 75) and rt.confidence.dtype == torch.float32
    assert float(rt.confidence.std()) > 1e-4  # not a constant
    onnx_file = tmp_path / "tiny.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--size", "64x96", "--out", str(onnx_file)]) == 0
    o = create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(onnx_file), device="cpu"))
    assert o.provides_confidence
    ro = o.infer(imgs, output_size=(45, 75))
    torch.testing.assert_close(ro.confidence, rt.confidence, atol=2e-5, rtol=0)
    torch.testing.assert_close(ro.depth, rt.depth, atol=1e-3, rtol=1e-4)
    import json

    parity = json.loads((tmp_path / "tiny.onnx.export.json").read_text())["parity"][0]
    assert parity["passed"] and parity["confidence_max_abs_error"] < 2e-5


def test_onnx_export_without_confidence_output_still_loads_and_gives_none(tiny_ckpt, tmp_path):
    """An export from before issue 14: one output, no 'outputs' entry in its metadata."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import dataclasses

    from disdepth_core.runtime.model_metadata import METADATA_PREFIX, metadata_for_student
    from disdepth_core.runtime.onnx_export import export_student_onnx

    ckpt, model = tiny_ckpt
    meta = dataclasses.replace(metadata_for_student(model.config), outputs=["depth"])
    path = export_student_onnx(model, tmp_path / "old.onnx", meta)
    proto = onnx.load(str(path))
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_PREFIX + "outputs"]
    del proto.metadata_props[:]
    for k, v in keep:
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(path))
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["depth"]
    eng = create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(path), device="cpu"))
    res = eng.infer(sample_images(2, (64, 96), seed=1))
    assert not eng.provides_confidence and res.confidence is None and res.depth.shape == (2, 64, 96)


def test_regression_student_gives_no_confidence(tmp_path):
    torch.manual_seed(0)
    ckpt = save_student(build_student(ModelConfig(**{**TINY, "head": "regression"})).eval(), tmp_path / "reg")
    eng = create_engine(EngineConfig(backend="torch", checkpoint=str(ckpt), device="cpu"))
    res = eng.infer(sample_images(2, (64, 96), seed=1))
    assert not eng.provides_confidence and res.confidence is None


def test_ground_truth_engine_confidence_is_one_where_depth_exists(tmp_path):
    from disdepth_core.sim.frames_file import GroundTruthFrames

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (1, 2, 8, 12, 3), dtype=np.uint8)
    depth = rng.uniform(1, 100, (1, 2, 8, 12)).astype(np.float32)
    depth[0, 0, :2] = 0  # no truth
    fr = GroundTruthFrames(cameras=["A", "B"], images=images, depth=depth, K=np.tile(np.eye(3), (2, 1, 1)),
                           T_base_cam=np.tile(np.eye(4), (2, 1, 1)), stamps_ns=np.array([0]))
    path = fr.save(tmp_path / "f.npz")
    res = create_engine(EngineConfig(backend="ground_truth", gt_frames=str(path), device="cpu")).infer(images[0])
    np.testing.assert_array_equal(res.confidence.numpy(), (~np.isnan(res.depth.numpy())).astype(np.float32))
    assert res.confidence[0, :2].sum() == 0 and res.confidence[1].min() == 1.0


def test_min_confidence_drops_cloud_points():
    from disdepth_core.geometry import CameraRig

    rig = CameraRig.from_yaml("config/rigs/nuscenes.yaml").resized(9, 16)
    depth = torch.full((6, 9, 16), 10.0)
    conf = torch.rand(6, 9, 16, generator=torch.Generator().manual_seed(0))
    full = depth_to_cloud(depth, rig.K, rig.T_base_cam, confidence=conf)  # threshold 0: keep all
    assert len(full.points) == 6 * 9 * 16
    kept = depth_to_cloud(depth, rig.K, rig.T_base_cam, confidence=conf, min_confidence=0.5)
    assert kept.counts == (conf >= 0.5).reshape(6, -1).sum(1).tolist()
    mask = (conf >= 0.5).reshape(6, -1)
    exp = full.xyz().reshape(6, -1, 3)[mask.numpy()]
    np.testing.assert_array_equal(kept.xyz(), exp)  # exactly the confident points, in order
    strided = depth_to_cloud(depth, rig.K, rig.T_base_cam, confidence=conf, min_confidence=0.5, stride=2)
    assert sum(strided.counts) == int((conf[:, ::2, ::2] >= 0.5).sum())
    with pytest.raises(ValueError, match="needs a confidence map"):
        depth_to_cloud(depth, rig.K, rig.T_base_cam, min_confidence=0.5)
    with pytest.raises(ValueError, match=r"confidence must be \(6, 9, 16\)"):
        depth_to_cloud(depth, rig.K, rig.T_base_cam, confidence=conf[:, :4], min_confidence=0.5)
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        depth_to_cloud(depth, rig.K, rig.T_base_cam, confidence=conf, min_confidence=1.5)
