"""`disdepth export`: ONNX export + parity check (and that it fails on a corrupted file), metadata
embedded and checked by the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from disdepth_core.cli import main
from disdepth_core.config import ConfigError
from disdepth_core.models.checkpoint import save_student
from disdepth_core.models.config import ModelConfig
from disdepth_core.models.student import build_student
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import create_engine
from disdepth_core.runtime.model_metadata import config_hash
from disdepth_core.runtime.onnx_export import read_onnx_metadata, sample_images

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TINY = dict(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    model = build_student(ModelConfig(**TINY)).eval()
    ckpt = save_student(model, d / "ckpt")
    out = d / "tiny.onnx"
    rc = main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--batch", "6", "--size", "64x96",
               "--out", str(out)])
    assert rc == 0
    return ckpt, model, out


def test_export_writes_metadata_and_report(exported, capsys):
    ckpt, model, out = exported
    meta = read_onnx_metadata(out)
    assert meta.input_size == (64, 96) and meta.batch == 6
    assert meta.depth_range == (0.5, 80.0) and meta.mean == model.config.mean
    assert meta.cameras[0] == "CAM_FRONT" and len(meta.cameras) == 6
    assert meta.config_hash == config_hash(model.config)
    report = json.loads((out.parent / "tiny.onnx.export.json").read_text())
    par = report["parity"][0]
    assert par["passed"] and par["max_abs_error"] < 1e-3 and par["batch"] == 6
    assert report["metadata"]["config_hash"] == meta.config_hash


def test_exported_onnx_runs_in_engine_and_dynamic_batch(exported):
    ckpt, model, out = exported
    eng = create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(out), device="cpu",
                                     min_depth=0.01, max_depth=1000.0))
    imgs = sample_images(3, (64, 96), seed=5)  # batch 3 on a model exported with batch 6
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        ref = model(model.normalize(x))
    torch.testing.assert_close(eng.infer(imgs).depth, ref, atol=1e-4, rtol=1e-4)


def test_engine_rejects_metadata_mismatch(exported):
    _, _, out = exported
    with pytest.raises(ConfigError, match=r"engine.input_size.*\[96, 160\] does not match the input size \[64, 96\]"):
        create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(out), device="cpu", input_size=(96, 160)))
    with pytest.raises(ConfigError, match="engine.cameras.*does not match"):
        create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(out), device="cpu",
                                   cameras=["CAM_BACK", "CAM_FRONT"]))
    with pytest.raises(ConfigError, match="engine.min_depth"):
        create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(out), device="cpu",
                                   min_depth=90.0, max_depth=100.0))


def test_parity_check_fails_on_corrupted_onnx(exported, tmp_path, capsys):
    ckpt, _, out = exported
    proto = onnx.load(str(out))
    from onnx import numpy_helper

    # add noise (as large as its spread) to the weights of the last convolution (the depth head's)
    names = {i.name for i in proto.graph.initializer}
    conv = [n for n in proto.graph.node if n.op_type == "Conv" and n.input[1] in names][-1]
    init = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    w = numpy_helper.to_array(init).copy()
    w += np.random.default_rng(0).normal(0, w.std(), w.shape).astype(w.dtype)
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    rc = main(["export", "--checkpoint", str(ckpt), "--verify-only", "--out", str(bad), "--size", "64x96"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "parity FAILED" in err[0] and "max abs error" in err[0]
    report = json.loads((tmp_path / "bad.onnx.export.json").read_text())
    assert report["parity"][0]["passed"] is False and report["parity"][0]["max_abs_error"] > 1e-3
    # the intact file still passes the same check
    assert main(["export", "--checkpoint", str(ckpt), "--verify-only", "--out", str(out)]) == 0


def test_export_argument_errors(exported, capsys):
    ckpt, _, out = exported
    assert main(["export", "--checkpoint", str(ckpt), "--fp16", "--out", str(out)]) == 1
    assert "apply to --format tensorrt" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(ckpt), "--size", "50x96", "--out", str(out)]) == 1
    assert "multiples of 32" in capsys.readouterr().err
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        rc = main(["export", "--checkpoint", str(ckpt), "--format", "tensorrt", "--size", "64x96",
                   "--out", str(out.parent / "t.plan")])
        assert rc == 1
        assert "TensorRT Python package is not installed" in capsys.readouterr().err
