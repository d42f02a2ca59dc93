"""ONNX export parity: torch.onnx.export (TorchScript exporter, opset 17) + onnxruntime match
PyTorch within 1e-4 relative, for the default student and every backbone with/without LG-Conv.

The default suite exports the default student and one depthwise backbone with a pool-2 LG-Conv;
every backbone +/- LG-Conv (14 exports, about 1 min on 2 cores) runs with ``--runslow``."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from disdepth_core.models import ModelConfig, build_student, list_backbones
from disdepth_core.models.local_global_conv import LocalGlobalConv
from disdepth_core.models.registry import load_model_config

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

H, W = 64, 96


def export_and_compare(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Export ``model`` (eval) and return max |ort - torch| / max |torch|."""
    model.eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LocalGlobalConv):
                m.gamma.fill_(0.5)  # exercise the global branch, not just the identity
        ref = model(x).numpy()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=17, input_names=["image"],
                          output_names=["depth"])
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape == (x.shape[0], x.shape[2], x.shape[3])
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def test_default_student_onnx_parity():
    torch.manual_seed(0)
    cfg = replace(load_model_config("student_default"), input_size=(H, W))
    assert export_and_compare(build_student(cfg), torch.randn(2, 3, H, W)) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("backbone", list_backbones())
@pytest.mark.parametrize("lgconv", [[], [3, 4]])
def test_every_backbone_onnx_parity(backbone, lgconv):
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=backbone, lgconv_stages=lgconv, lgconv_pool=2 if lgconv else 1,
                      input_size=(H, W), decoder_channels=[8, 16, 16, 24], num_bins=16)
    assert export_and_compare(build_student(cfg), torch.randn(1, 3, H, W)) < 1e-4


def test_regression_head_pooled_lgconv_onnx_parity():
    cfg = ModelConfig(backbone="mobilenetv2", head="regression", lgconv_stages=[3, 4], lgconv_pool=2,
                      input_size=(H, W), decoder_channels=[8, 16, 16, 24])
    assert export_and_compare(build_student(cfg), torch.randn(1, 3, H, W)) < 1e-4


def test_log_spaced_gapped_bins_onnx_parity():
    """The head variant CKD's rows train (model.bin_spacing: log, bin_gaps) exports too (exp, slice)."""
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="mobilenetv2", bin_spacing="log", bin_gaps=True, input_size=(H, W),
                      decoder_channels=[8, 16, 16, 24], num_bins=16)
    assert export_and_compare(build_student(cfg), torch.randn(1, 3, H, W)) < 1e-4
