"""Engine self-check: the built-in image set, the error metric, an honest ONNX export passes, a
corrupted one fails, skipped cases say why, and `disdepth export` prints and enforces it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from onnx_faults import scale_initializer

from disdepth_core.cli import main
from disdepth_core.errors import DisdepthError
from disdepth_core.models.checkpoint import load_student, save_student
from disdepth_core.models.student import build_student
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import create_engine
from disdepth_core.runtime.model_metadata import default_checkpoint
from disdepth_core.runtime.self_check import (
    DEFAULT_TOLERANCE,
    relative_depth_errors,
    require_self_check,
    run_self_check,
    summarize_errors,
)
from disdepth_core.runtime.self_check_images import IMAGE_FILE, load_self_check_images, render_self_check_images

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")



@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The shipped student (small: 128x224 MobileNetV3) and its `disdepth export` ONNX file.

    A trained model, not a random one: a random student predicts nearly the same depth
    everywhere, so a corrupted weight would hardly move it.
    """
    ckpt = default_checkpoint()
    if not (ckpt / "model.safetensors").is_file():
        pytest.skip(f"the shipped student is missing ({ckpt})")
    out = tmp_path_factory.mktemp("selfcheck") / "student.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    return ckpt, out


def _check(path, **kw):
    cfg = EngineConfig(backend="onnxruntime", checkpoint=str(path), device="cpu")
    return run_self_check(create_engine(cfg), cfg, **kw)


# ---------------------------------------------------------------------- the image set
def test_image_set_is_small_and_is_what_the_world_renders():
    images = load_self_check_images()
    assert images.dtype == np.uint8 and images.shape == (6, 128, 224, 3)
    assert IMAGE_FILE.stat().st_size < 300_000
    assert images.std() > 20 and len({im.tobytes() for im in images}) == 6  # real, distinct scenes
    np.testing.assert_array_equal(render_self_check_images(), images)  # the regeneration recipe holds


def test_image_set_errors_name_the_file(tmp_path):
    with pytest.raises(DisdepthError, match="self-check image set not found: .*nope.npz"):
        load_self_check_images(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(DisdepthError, match=r"bad.npz: images must be uint8 \(N, H, W, 3\)"):
        load_self_check_images(bad)


# ---------------------------------------------------------------------- the metric
def test_relative_error_clamps_range_ends_and_counts_nan_mismatch():
    ref = np.array([[[10.0, 80.0, 0.5, np.nan, 20.0]]])
    got = np.array([[[11.0, np.inf, -np.inf, np.nan, np.nan]]])
    rel = relative_depth_errors(got, ref, (0.5, 80.0))
    np.testing.assert_allclose(rel[0, 0], [0.1, 0.0, 0.0, 0.0, 1.0])
    with pytest.raises(DisdepthError, match="differ in shape"):
        relative_depth_errors(got[:, :, :3], ref, (0.5, 80.0))


def test_summary_is_worst_image_percentile():
    rel = np.zeros((3, 10, 10))
    rel[1, 0, :5] = 0.5  # 5 % of image 1's pixels far off: its p99 is 0.5
    rel[2] = 0.01  # image 2 uniformly 1 % off
    med, p99, mx, worst = summarize_errors(rel)
    assert (med, p99, mx, worst) == (pytest.approx(0.01), pytest.approx(0.5), 0.5, 1)


# ---------------------------------------------------------------------- engine vs PyTorch
def test_honest_onnx_export_passes_with_margin(exported):
    ckpt, out = exported
    r = _check(out)
    assert r.status == "passed" and r.passed and r.images == 6
    assert r.p99_rel_error < DEFAULT_TOLERANCE / 100 and r.median_rel_error <= r.p99_rel_error
    assert r.backend == "onnxruntime" and r.version == ort.__version__ and r.reference == str(ckpt)
    line = r.line()
    assert line.startswith(f"self-check passed: onnxruntime {ort.__version__}: p99 relative depth error ")
    assert "<= tolerance 0.02 on 6 built-in images" in line and "\n" not in line
    assert require_self_check(r) is r


def test_checkpoint_directory_engine_is_checked_against_itself(exported):
    ckpt, _ = exported  # onnxruntime exports the directory to a temporary ONNX file
    r = _check(ckpt)
    assert r.status == "passed" and r.reference == str(ckpt) and r.p99_rel_error < 1e-4


def test_corrupted_onnx_fails_with_one_line(exported, tmp_path):
    _, out = exported
    bad = tmp_path / "bad.onnx"
    scale_initializer(out, bad, 1.2)  # one convolution 20 % off (10 % gave the shipped default p99 0.0998)
    r = _check(bad)
    assert r.status == "failed" and not r.passed and r.level == "error"
    assert r.p99_rel_error > 5 * DEFAULT_TOLERANCE, r.line()
    line = r.line()
    assert line.startswith(f"self-check failed: onnxruntime {ort.__version__}: p99 relative depth error ")
    assert "> tolerance 0.02" in line and "\n" not in line
    with pytest.raises(DisdepthError, match="^self-check failed: onnxruntime"):
        require_self_check(r)
    # the same engine passes when the tolerance is above what it measured
    assert _check(bad, tolerance=r.p99_rel_error * 1.01).status == "passed"


def test_check_leaves_the_engine_unplanned(exported):
    _, out = exported
    eng = create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(out), device="cpu"))
    run_self_check(eng, EngineConfig(backend="onnxruntime", checkpoint=str(out)))
    assert eng.plan is None and eng.replans == 0


def test_torch_backend_has_nothing_to_compare(exported):
    ckpt, _ = exported
    cfg = EngineConfig(backend="torch", checkpoint=str(ckpt), device="cpu")
    r = run_self_check(create_engine(cfg), cfg)
    assert r.status == "skipped" and r.passed and r.level == "info"
    assert r.line() == (f"self-check skipped: torch {torch.__version__}: the deployed engine is the PyTorch "
                        "reference itself; nothing to compare")


def test_ground_truth_stand_in_has_no_network_to_compare(tmp_path, nuscenes_rig_path):
    from disdepth_core.geometry import CameraRig
    from disdepth_core.sim.box_room import make_box_room_frames

    frames = make_box_room_frames(CameraRig.from_yaml(nuscenes_rig_path).resized(24, 40), 2)
    cfg = EngineConfig(backend="ground_truth", gt_frames=str(frames.save(tmp_path / "f.npz")), device="cpu")
    r = run_self_check(create_engine(cfg), cfg)
    assert r.status == "skipped" and r.level == "info" and "test-only stand-in without a network" in r.reason


def test_missing_or_changed_weights_skip_with_a_reason(exported, tmp_path):
    ckpt, out = exported
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(out, lonely)  # no export report beside it
    r = _check(lonely)
    assert r.status == "skipped" and r.passed and r.level == "warning"
    assert "no PyTorch weights for" in r.line() and "lonely.onnx.export.json is missing" in r.line()

    moved = tmp_path / "moved.onnx"
    shutil.copy(out, moved)
    report = json.loads((out.parent / "student.onnx.export.json").read_text())
    (tmp_path / "moved.onnx.export.json").write_text(json.dumps({**report, "checkpoint": str(tmp_path / "gone")}))
    r = _check(moved)
    assert r.status == "skipped" and "which is not on this machine); the check did not run" in r.reason

    torch.manual_seed(0)
    other = save_student(build_student(load_student(ckpt).config).eval(), tmp_path / "retrained")  # same config
    (tmp_path / "moved.onnx.export.json").write_text(json.dumps({**report, "checkpoint": str(other)}))
    r = _check(moved)
    assert r.status == "skipped" and "holds other weights than were exported" in r.reason


def test_bad_tolerance_is_an_error(exported):
    _, out = exported
    with pytest.raises(DisdepthError, match="tolerance must be > 0"):
        _check(out, tolerance=0.0)


# ---------------------------------------------------------------------- disdepth export
def test_export_prints_the_self_check_and_records_it(exported, tmp_path, capsys):
    ckpt, _ = exported
    out = tmp_path / "again.onnx"
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(s.startswith(f"self-check passed: onnxruntime {ort.__version__}:") for s in lines), lines
    report = json.loads((tmp_path / "again.onnx.export.json").read_text())
    assert report["self_check"][0]["status"] == "passed" and report["weights_sha256"]


def test_export_fails_on_a_corrupted_model(exported, tmp_path, capsys):
    ckpt, out = exported
    bad = tmp_path / "bad.onnx"
    scale_initializer(out, bad, 1.1)  # one convolution 10 % off
    rc = main(["export", "--checkpoint", str(ckpt), "--verify-only", "--out", str(bad)])
    cap = capsys.readouterr()
    assert rc == 1
    (line,) = [s for s in cap.out.splitlines() if s.startswith("self-check failed: onnxruntime")]
    assert "> tolerance 0.02" in line
    assert len(cap.err.strip().splitlines()) == 1  # the parity check, which runs first, names it too
    report = json.loads((tmp_path / "bad.onnx.export.json").read_text())
    assert report["self_check"][0]["status"] == "failed"


def test_export_enforces_the_self_check_on_its_own(exported, capsys):
    ckpt, out = exported  # intact file: parity passes, a self-check tolerance below fp32 noise does not
    rc = main(["export", "--checkpoint", str(ckpt), "--verify-only", "--self-check-tolerance", "1e-9",
               "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1
    assert err[0].startswith(f"disdepth export: error: self-check failed: onnxruntime {ort.__version__}: ")
    assert "> tolerance 1e-09" in err[0]
    assert main(["export", "--checkpoint", str(ckpt), "--verify-only", "--self-check-tolerance", "0",
                 "--out", str(out)]) == 1
    assert "--self-check-tolerance must be > 0" in capsys.readouterr().err
