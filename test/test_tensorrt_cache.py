"""TensorRT engine cache: the key (stable, and changed by every input), the cache directory, the
atomic file write/read; with TensorRT and a GPU, the second start loads what the first built."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import pytest
import torch

from disdepth_core.errors import ConfigError, DisdepthError
from disdepth_core.runtime.tensorrt_cache import (
    BuildSettings,
    cache_file,
    cache_key,
    default_cache_dir,
    discard_cached,
    key_parts,
    read_cached,
    resolve_cache_dir,
    sha256_bytes,
    write_cached,
)

SETTINGS = BuildSettings(precision="fp16", min_batch=1, opt_batch=6, max_batch=6, input_size=(128, 224))
BASE = dict(onnx_sha256=sha256_bytes(b"model"), trt_version="10.3.0", gpu_name="NVIDIA H200",
            compute_capability=(9, 0), settings=SETTINGS)


def key(**changes):
    args = {**BASE, **changes}
    return cache_key(args["onnx_sha256"], args["trt_version"], args["gpu_name"], args["compute_capability"],
                     args["settings"])


def test_key_is_stable_and_hex():
    k = key()
    assert k == key() == key(settings=dataclasses.replace(SETTINGS)) and len(k) == 64
    assert int(k, 16) >= 0
    assert k == key(compute_capability=[9, 0], settings=dataclasses.replace(SETTINGS, input_size=[128, 224]))


@pytest.mark.parametrize("change", [
    dict(onnx_sha256=sha256_bytes(b"model!")),
    dict(trt_version="10.4.0"),
    dict(gpu_name="NVIDIA A100-SXM4-80GB"),
    dict(compute_capability=(8, 0)),
    dict(settings=dataclasses.replace(SETTINGS, precision="fp32")),
    dict(settings=dataclasses.replace(SETTINGS, opt_batch=3)),
    dict(settings=dataclasses.replace(SETTINGS, max_batch=12)),
    dict(settings=dataclasses.replace(SETTINGS, min_batch=2)),
    dict(settings=dataclasses.replace(SETTINGS, input_size=(96, 160))),
    dict(settings=dataclasses.replace(SETTINGS, workspace_gib=2.0)),
    dict(settings=dataclasses.replace(SETTINGS, precision="int8", calibration_sha256="ab" * 32)),
], ids=["onnx", "tensorrt", "gpu", "capability", "precision", "opt_batch", "max_batch", "min_batch", "input_size",
        "workspace", "int8_calibration"])
def test_every_input_changes_the_key(change):
    assert key(**change) != key()


def test_key_parts_say_what_went_in():
    parts = key_parts(**BASE)
    assert parts["tensorrt"] == "10.3.0" and parts["gpu"] == "NVIDIA H200" and parts["compute_capability"] == [9, 0]
    assert parts["settings"]["precision"] == "fp16" and parts["settings"]["input_size"] == [128, 224]


def test_build_settings_are_validated():
    with pytest.raises(ConfigError, match="precision.*bf16"):
        dataclasses.replace(SETTINGS, precision="bf16")
    with pytest.raises(ConfigError, match="batch.*1 <= min <= opt <= max, got 1, 8, 6"):
        dataclasses.replace(SETTINGS, opt_batch=8)
    with pytest.raises(ConfigError, match="calibration_sha256"):
        dataclasses.replace(SETTINGS, precision="int8")


def test_cache_directory(tmp_path):
    assert default_cache_dir({"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}) == Path("/x/cache/disdepth/tensorrt")
    assert default_cache_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/disdepth/tensorrt")
    assert default_cache_dir({"XDG_CACHE_HOME": "", "HOME": "/home/u"}) == Path("/home/u/.cache/disdepth/tensorrt")
    assert resolve_cache_dir("", {"HOME": "/home/u"}) == Path("/home/u/.cache/disdepth/tensorrt")
    assert resolve_cache_dir(str(tmp_path)) == tmp_path
    assert resolve_cache_dir("~/engines") == Path.home() / "engines"


def test_cache_file_names_and_rejects_a_bad_key(tmp_path):
    k = key()
    assert cache_file(tmp_path, k) == tmp_path / f"{k}.plan"
    for bad in ("", "../" + k[3:], k.upper(), k[:-1]):
        with pytest.raises(DisdepthError, match="not a TensorRT cache key"):
            cache_file(tmp_path, bad)


def test_write_read_round_trip_is_atomic(tmp_path):
    path = cache_file(tmp_path / "new" / "dir", key())
    assert read_cached(path) is None  # nothing cached yet
    data = os.urandom(100_000) + b"\x00engine"
    assert write_cached(path, data, key_parts(**BASE)) == path
    assert read_cached(path) == data
    assert path.with_suffix(".json").read_text().count('"gpu": "NVIDIA H200"') == 1
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, path.with_suffix(".json").name])
    write_cached(path, b"second", None)  # replaced whole
    assert read_cached(path) == b"second"
    discard_cached(path)
    assert read_cached(path) is None and not path.with_suffix(".json").exists()
    discard_cached(path)  # twice is fine


def test_empty_and_unwritable_cache_are_clear(tmp_path):
    path = cache_file(tmp_path, key())
    path.write_bytes(b"")
    assert read_cached(path) is None  # an empty file (a crash before the rename cannot leave one) is a miss
    with pytest.raises(DisdepthError, match="refusing to cache an empty engine"):
        write_cached(path, b"")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DisdepthError, match=r"cannot write .*set engine.cache_dir to a writable directory"):
        write_cached(cache_file(blocker / "sub", key()), b"x")


def test_checkpoint_export_is_byte_deterministic(tmp_path):
    """A checkpoint directory is exported at every start: same bytes, so the same cache key."""
    pytest.importorskip("onnx")
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student
    from disdepth_core.runtime.model_metadata import metadata_for_student
    from disdepth_core.runtime.onnx_export import export_student_onnx

    torch.manual_seed(0)
    cfg = ModelConfig(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96))
    model = build_student(cfg).eval()
    meta = metadata_for_student(cfg, cameras=["CAM_FRONT"])
    a = export_student_onnx(model, tmp_path / "a.onnx", meta).read_bytes()
    b = export_student_onnx(model, tmp_path / "b.onnx", meta).read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()


# ---------------------------------------------------------------------- TensorRT + GPU only
def _need_tensorrt():
    pytest.importorskip("tensorrt", reason="TensorRT is not installed here: the cached build is unverified")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA GPU: the cached build is unverified here")


def test_second_start_loads_the_cached_engine(tmp_path, caplog):
    _need_tensorrt()
    from disdepth_core.cli import main
    from disdepth_core.runtime.engine_config import EngineConfig
    from disdepth_core.runtime.factory import create_engine
    from disdepth_core.runtime.model_metadata import default_checkpoint
    from disdepth_core.runtime.self_check import run_self_check

    onnx_file = tmp_path / "student.onnx"
    assert main(["export", "--checkpoint", str(default_checkpoint()), "--out", str(onnx_file)]) == 0
    cfg = EngineConfig(backend="tensorrt", checkpoint=str(onnx_file), precision="fp16", cache_dir=str(tmp_path / "c"))
    with caplog.at_level(logging.INFO, logger="disdepth.runtime"):
        first = create_engine(cfg)
        assert "built and cached" in caplog.text
        caplog.clear()
        second = create_engine(cfg)
        assert "loaded cached" in caplog.text
    assert first.cache_path == second.cache_path and first.cache_path.is_file()
    assert first.cache_path.parent == tmp_path / "c"
    r = run_self_check(second, cfg)
    assert r.status == "passed", r.line()
    # a cached file TensorRT refuses is discarded and re-built
    first.cache_path.write_bytes(b"garbage")
    third = create_engine(cfg)
    assert third.cache_path == first.cache_path and read_cached(third.cache_path) != b"garbage"
