"""Depth engines (torch, onnxruntime, tensorrt guard): parity with the model, on-device processing,
re-planning on shape changes, and one-line errors. A tiny student keeps it fast."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from disdepth_core.errors import CapabilityError, ConfigError, DisdepthError
from disdepth_core.models.checkpoint import save_student
from disdepth_core.models.config import ModelConfig
from disdepth_core.models.student import build_student
from disdepth_core.runtime.engine_api import DepthEngine
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import create_engine
from disdepth_core.runtime.model_metadata import DEFAULT_STUDENT_DIR
from disdepth_core.runtime.onnx_export import sample_images
from disdepth_core.runtime.processing import postprocess_depth, preprocess_images

TINY = dict(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96),
            mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_student(ModelConfig(**TINY)).eval()
    return save_student(model, tmp_path_factory.mktemp("ckpt") / "tiny"), model


# ---------------------------------------------------------------------- reference numpy processing
def _aa_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear (triangle) weights, antialiased when shrinking, pixel centres at +0.5."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    inv = 1.0 / support
    Wm = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = scale * (i + 0.5)
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j - centre + 0.5) * inv))
        Wm[i, lo:hi] = w / w.sum()
    return Wm


def reference_preprocess(images: np.ndarray, size, mean, std) -> np.ndarray:
    x = images.astype(np.float64) / 255.0  # (N, H, W, 3)
    Wh, Ww = _aa_weights(images.shape[1], size[0]), _aa_weights(images.shape[2], size[1])
    x = np.einsum("ih,nhwc,jw->ncij", Wh, x, Ww)
    return (x - np.array(mean)[None, :, None, None]) / np.array(std)[None, :, None, None]


@pytest.mark.parametrize("src,dst", [((90, 160), (64, 96)), ((30, 50), (64, 96)), ((64, 96), (64, 96))])
def test_preprocess_matches_numpy_reference(src, dst):
    imgs = sample_images(2, src, seed=3)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    got = preprocess_images(torch.from_numpy(imgs), dst, torch.tensor(mean).view(1, 3, 1, 1),
                            torch.tensor(std).view(1, 3, 1, 1))
    assert got.shape == (2, 3, *dst) and got.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(got.numpy(), reference_preprocess(imgs, dst, mean, std), atol=2e-5)


def test_postprocess_rep117_rule():
    d = torch.tensor([[[1.0, 0.2, 90.0], [float("nan"), 0.0, -3.0], [0.5, 80.0, float("inf")]]])
    out = postprocess_depth(d, (3, 3), 0.5, 80.0)
    exp = torch.tensor([[[1.0, -np.inf, np.inf], [np.nan, np.nan, np.nan], [0.5, 80.0, np.nan]]])
    torch.testing.assert_close(out, exp, equal_nan=True)
    up = postprocess_depth(torch.full((2, 4, 6), 7.0), (8, 12), 0.5, 80.0, mode="nearest")
    assert up.shape == (2, 8, 12) and torch.all(up == 7.0)


# ---------------------------------------------------------------------- engines vs the model
def _model_reference(model, imgs, size):
    mcfg = model.config
    x = preprocess_images(torch.from_numpy(imgs), size, torch.tensor(mcfg.mean).view(1, 3, 1, 1),
                          torch.tensor(mcfg.std).view(1, 3, 1, 1), channels_last=False)
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_engine_equals_model_forward(tiny_ckpt, backend):
    path, model = tiny_ckpt
    eng = create_engine(EngineConfig(backend=backend, checkpoint=str(path), device="cpu",
                                     min_depth=0.01, max_depth=1000.0))
    assert isinstance(eng, DepthEngine) and eng.input_size == (64, 96)
    imgs = sample_images(6, (64, 96), seed=1)
    res = eng.infer(imgs)
    assert res.depth.dtype == torch.float32 and res.depth.shape == (6, 64, 96)
    assert set(res.timings_ms) >= {"preprocess", "network", "postprocess", "total"}
    ref = _model_reference(model, imgs, (64, 96))
    torch.testing.assert_close(res.depth, ref, atol=1e-4, rtol=1e-4)
    # camera size != network size: output comes back at camera size, equal to upsampled model output
    big = sample_images(6, (90, 150), seed=2)
    res2 = eng.infer(torch.from_numpy(big), output_size=(45, 75))
    ref2 = torch.nn.functional.interpolate(_model_reference(model, big, (64, 96))[:, None], size=(45, 75),
                                           mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(res2.depth, ref2, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_resolution_and_batch_change_mid_stream(tiny_ckpt, backend, caplog):
    path, model = tiny_ckpt
    eng = create_engine(EngineConfig(backend=backend, checkpoint=str(path), device="cpu",
                                     min_depth=0.01, max_depth=1000.0))
    a = sample_images(6, (72, 128), seed=4)
    b = sample_images(5, (96, 112), seed=5)  # one camera dropped, and another resolution
    with caplog.at_level(logging.INFO, logger="disdepth.runtime"):
        ra = eng.infer(a)
        rb = eng.infer(b)
        ra2 = eng.infer(a)
    assert ra.depth.shape == (6, 72, 128) and rb.depth.shape == (5, 96, 112)
    assert eng.replans == 2
    assert sum("re-planned" in r.message for r in caplog.records) == 2
    torch.testing.assert_close(ra.depth, ra2.depth)
    ref_b = torch.nn.functional.interpolate(_model_reference(model, b, (64, 96))[:, None], size=(96, 112),
                                            mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(rb.depth, ref_b, atol=1e-4, rtol=1e-4)


def test_torch_engine_bf16_close_to_fp32(tiny_ckpt):
    path, model = tiny_ckpt
    imgs = sample_images(2, (64, 96), seed=6)
    cfg = EngineConfig(backend="torch", checkpoint=str(path), device="cpu", min_depth=0.01, max_depth=1000.0)
    d32 = create_engine(cfg).infer(imgs).depth
    d16 = create_engine(dataclasses.replace(cfg, precision="bf16")).infer(imgs).depth
    rel = ((d16 - d32).abs() / d32.abs()).median()
    assert rel < 0.05
    with pytest.raises(ConfigError, match="engine.precision.*fp16 needs a CUDA device"):
        create_engine(dataclasses.replace(cfg, precision="fp16"))


# ---------------------------------------------------------------------- errors
def test_missing_checkpoint_errors(tmp_path, monkeypatch):
    with pytest.raises(DisdepthError, match="engine.checkpoint not found: .*nowhere"):
        create_engine(EngineConfig(backend="torch", checkpoint=str(tmp_path / "nowhere"), device="cpu"))
    import disdepth_core.runtime.model_metadata as mm

    monkeypatch.setattr(mm, "default_checkpoint", lambda: tmp_path / DEFAULT_STUDENT_DIR)
    with pytest.raises(DisdepthError, match=f"shipped student {DEFAULT_STUDENT_DIR}/ is missing"):
        create_engine(EngineConfig(backend="torch", device="cpu"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DisdepthError, match="missing config.yaml"):
        create_engine(EngineConfig(backend="torch", checkpoint=str(tmp_path / "empty"), device="cpu"))


def test_bad_input_is_one_line_error(tiny_ckpt):
    eng = create_engine(EngineConfig(backend="torch", checkpoint=str(tiny_ckpt[0]), device="cpu"))
    with pytest.raises(DisdepthError, match=r"uint8 \(N, H, W, 3\) RGB, got float32"):
        eng.infer(np.zeros((6, 32, 32, 3), np.float32))
    with pytest.raises(DisdepthError, match=r"got uint8 \(6, 32, 32\)"):
        eng.infer(np.zeros((6, 32, 32), np.uint8))


def test_unavailable_backends_are_clear():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(CapabilityError, match="backend tensorrt: the TensorRT Python package is not installed"):
            create_engine(EngineConfig(backend="tensorrt", checkpoint="x.plan"))
    if not torch.cuda.is_available():
        with pytest.raises(CapabilityError, match="CUDA is not available"):
            create_engine(EngineConfig(backend="torch", device="cuda"))
    with pytest.raises(CapabilityError, match="engine.ort_providers: NoSuchExecutionProvider not available"):
        from disdepth_core.runtime.ort_engine import choose_providers

        choose_providers(["NoSuchExecutionProvider"], torch.device("cpu"), "fp32")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_torch_engine_cuda(tiny_ckpt, precision):
    path, model = tiny_ckpt
    eng = create_engine(EngineConfig(backend="torch", checkpoint=str(path), device="cuda", precision=precision,
                                     min_depth=0.01, max_depth=1000.0))
    imgs = sample_images(6, (90, 160), seed=7)
    res = eng.infer(imgs)
    assert res.depth.device.type == "cuda" and res.depth.dtype == torch.float32
    ref = _model_reference(model, imgs, (64, 96))
    ref = torch.nn.functional.interpolate(ref[:, None], size=(90, 160), mode="bilinear", align_corners=False)[:, 0]
    tol = 1e-3 if precision == "fp32" else 5e-2
    torch.testing.assert_close(res.depth.cpu(), ref, atol=tol * 10, rtol=tol)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_torch_engine_cuda_compiled_replans(tiny_ckpt):
    path, model = tiny_ckpt
    eng = create_engine(EngineConfig(backend="torch", checkpoint=str(path), device="cuda", compile=True,
                                     min_depth=0.01, max_depth=1000.0))
    for n, hw in ((6, (64, 96)), (6, (64, 96)), (4, (80, 120)), (6, (64, 96))):
        imgs = sample_images(n, hw, seed=n)
        ref = _model_reference(model, imgs, (64, 96))
        ref = torch.nn.functional.interpolate(ref[:, None], size=hw, mode="bilinear", align_corners=False)[:, 0]
        torch.testing.assert_close(eng.infer(imgs).depth.cpu(), ref, atol=1e-2, rtol=1e-3)


def test_tensorrt_engine_matches_onnxruntime(tiny_ckpt, tmp_path):
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU")
    from disdepth_core.cli import main

    plan = tmp_path / "tiny.plan"
    assert main(["export", "--checkpoint", str(tiny_ckpt[0]), "--format", "tensorrt", "--batch", "6",
                 "--size", "64x96", "--fp16", "--out", str(plan)]) == 0
    eng = create_engine(EngineConfig(backend="tensorrt", checkpoint=str(plan), min_depth=0.01, max_depth=1000.0))
    imgs = sample_images(6, (64, 96), seed=8)
    ref = _model_reference(tiny_ckpt[1], imgs, (64, 96))
    torch.testing.assert_close(eng.infer(imgs).depth.cpu(), ref, atol=0.5, rtol=5e-2)
