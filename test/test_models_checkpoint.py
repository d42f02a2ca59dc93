"""Student checkpoints: safetensors + YAML round trip (fp32, fp16) and clear errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from disdepth_core.config import save_config
from disdepth_core.errors import DisdepthError
from disdepth_core.models import ModelConfig, build_student, load_student, save_student
from disdepth_core.models.checkpoint import read_student_meta


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    cfg = ModelConfig(input_size=(64, 96), backbone="mobilenetv2", decoder_channels=[8, 16, 16, 24], num_bins=16,
                      lgconv_stages=[3, 4], lgconv_pool=2)
    m = build_student(cfg).eval()
    with torch.no_grad():  # non-trivial gates and BN statistics, so the round trip is meaningful
        for mod in m.modules():
            if hasattr(mod, "gamma"):
                mod.gamma.fill_(0.2)
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
    return m


def test_round_trip_fp32_exact(student, tmp_path):
    save_student(student, tmp_path / "ck", extra_meta={"step": 12})
    assert {p.name for p in (tmp_path / "ck").iterdir()} == {"model.safetensors", "config.yaml", "meta.json"}
    loaded = load_student(tmp_path / "ck")
    assert loaded.config == student.config
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), student(x))
    meta = read_student_meta(tmp_path / "ck")
    assert meta["step"] == 12 and meta["dtype"] == "float32"
    raw = (tmp_path / "ck" / "model.safetensors").read_bytes()[:8]
    assert not raw.startswith(b"\x80")  # not a pickle


def test_round_trip_fp16(student, tmp_path):
    save_student(student, tmp_path / "fp32")
    save_student(student, tmp_path / "fp16", fp16=True)
    size32 = (tmp_path / "fp32" / "model.safetensors").stat().st_size
    size16 = (tmp_path / "fp16" / "model.safetensors").stat().st_size
    assert size16 < 0.6 * size32
    loaded = load_student(tmp_path / "fp16")
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), student(x), rtol=1e-2, atol=0.1)


def test_errors_name_the_problem(student, tmp_path):
    with pytest.raises(DisdepthError, match="not found"):
        load_student(tmp_path / "nowhere")
    save_student(student, tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").rename(tmp_path / "ck" / "other.safetensors")
    with pytest.raises(DisdepthError, match="missing model.safetensors"):
        load_student(tmp_path / "ck")
    save_student(student, tmp_path / "mm")
    save_config(replace(student.config, num_bins=32), tmp_path / "mm" / "config.yaml")
    with pytest.raises(DisdepthError, match=r"model\.safetensors: does not match .*config\.yaml: key 'head\.logits\.weight'"):
        load_student(tmp_path / "mm")
    save_config(replace(student.config, lgconv_stages=[4]), tmp_path / "mm" / "config.yaml")
    with pytest.raises(DisdepthError, match=r"missing key 'encoder\.features\.7\.conv\.1\.0\.weight' \(7 missing, 70 unexpected\)"):
        load_student(tmp_path / "mm")
    (tmp_path / "mm" / "config.yaml").write_text("backbone: nope\n")
    with pytest.raises(DisdepthError, match=r"config\.yaml: key 'backbone'"):
        load_student(tmp_path / "mm")
    json.dumps(read_student_meta(tmp_path / "mm"))
