"""Sparsification curves and AUSE (issue 14) on hand-made examples, and in ``disdepth eval-bag``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bag_fixtures import REPO, world_bag

from disdepth_core.cli import main
from disdepth_core.evaluation.bag_eval import evaluate_bag, write_bag_report
from disdepth_core.evaluation.bag_source import BagSource, BagTopics
from disdepth_core.evaluation.sparsification import (
    FRACTIONS,
    SparsificationAccumulator,
    ause,
    sparsification_curves,
    verdict,
)
from disdepth_core.geometry import CameraRig

ERR = np.random.default_rng(0).uniform(0.0, 1.0, 1000)


def test_perfect_ranking_has_zero_ause_and_matches_the_oracle():
    c = sparsification_curves(ERR, -ERR)  # confidence = minus the error: a perfect ranking
    np.testing.assert_allclose(c["sparsification"], c["oracle"])
    assert ause(c["sparsification"], c["oracle"]) == pytest.approx(0.0, abs=1e-12)
    assert c["oracle"][0] == pytest.approx(ERR.mean()) and c["oracle"][-1] < 0.02  # the best 1 % are near 0
    assert np.all(np.diff(c["oracle"]) <= 1e-12)  # removing the worst first never raises the mean
    np.testing.assert_allclose(c["random"], ERR.mean())


def test_reversed_ranking_is_worse_than_random_and_constant_confidence_is_random():
    rev = sparsification_curves(ERR, ERR)  # most confident where the error is largest
    a_rev, a_rand = ause(rev["sparsification"], rev["oracle"]), ause(rev["random"], rev["oracle"])
    assert a_rev > a_rand > 0
    assert rev["sparsification"][-1] > 0.98  # only the worst 1 % left
    # a constant confidence: ties broken at random, so it scores like the random order (not the pixel order)
    const = sparsification_curves(np.sort(ERR), np.ones_like(ERR))
    a_const = ause(const["sparsification"], const["oracle"])
    assert a_const == pytest.approx(a_rand, rel=0.1)


def test_hand_computed_curve_of_ten_pixels():
    err = np.arange(10, dtype=np.float64)  # errors 0..9
    conf = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], np.float64)  # perfect
    c = sparsification_curves(err, conf)
    # x = 0.1 removes one pixel (error 9): mean of 0..8 = 4; x = 0.5 keeps 0..4: mean 2
    assert c["sparsification"][10] == pytest.approx(4.0) and c["sparsification"][50] == pytest.approx(2.0)
    assert c["sparsification"][99] == pytest.approx(0.0)  # 10 - floor(9.9) = 1 pixel kept: error 0
    with pytest.raises(ValueError, match="same number of pixels"):
        sparsification_curves(err, conf[:5])
    with pytest.raises(ValueError, match="no pixels"):
        sparsification_curves(np.zeros(0), np.zeros(0))


def test_accumulator_per_camera_verdicts_and_shapes():
    gt = torch.full((2, 20, 30), 10.0)
    noise = torch.rand(2, 20, 30, generator=torch.Generator().manual_seed(1))
    pred = gt * (1 + noise)  # AbsRel = noise
    conf = torch.stack([1 - noise[0], noise[1]])  # camera A ranks right, camera B backwards
    acc = SparsificationAccumulator(["A", "B"], 0.1, 80.0)
    mask = torch.ones(2, 20, 30, dtype=torch.bool)
    acc.add(pred, gt, mask, conf)
    acc.add(pred, gt, mask, None)  # a step without confidence is counted, not scored
    s = acc.summary()
    assert s["fractions"] == FRACTIONS.tolist() and s["steps_without_confidence"] == 1
    a, b = s["per_camera"]["A"], s["per_camera"]["B"]
    assert a["images"] == b["images"] == 1 and len(a["sparsification"]) == 100
    assert a["ause"] == pytest.approx(0.0, abs=1e-9) and a["better_than_random"]
    assert b["ause"] > b["ause_random"] and not b["better_than_random"]
    assert "does NOT rank errors better than random" in verdict(b) and verdict(a).startswith("ranks errors better")
    assert s["all"]["ause"] == pytest.approx((a["ause"] + b["ause"]) / 2)
    with pytest.raises(ValueError, match="must all be"):
        acc.add(pred, gt, mask, conf[:, :10])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return world_bag(tmp_path_factory.mktemp("world"))


def test_eval_bag_reports_ause_and_plot_and_says_when_not_better_than_random(world, tmp_path):
    """A predictor whose confidence is right on some cameras and backwards on the others."""
    bag, _, _ = world
    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")
    rng = np.random.default_rng(0)

    def predict(step):
        gt = np.where(step.gt > 0, step.gt, np.nan)
        rel = rng.uniform(0, 0.5, gt.shape).astype(np.float32)
        conf = np.where(np.arange(6)[:, None, None] < 3, 1 - rel, rel).astype(np.float32)  # last 3: backwards
        return (gt * (1 + rel)).astype(np.float32), conf

    r = evaluate_bag(BagSource(bag, rig, topics=BagTopics(gt="depth")), predict, progress=False)
    c = r["confidence"]
    assert [c["per_camera"][cam]["better_than_random"] for cam in rig.names] == [True] * 3 + [False] * 3
    # perfect ranking except where gt * (1 + rel) passes the 80 m cap (clamped: a smaller error than rel)
    assert all(c["per_camera"][cam]["ause"] < 0.05 * c["per_camera"][cam]["ause_random"] for cam in rig.names[:3])
    write_bag_report(r, tmp_path / "out", title="t", command="disdepth eval-bag x")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Confidence (sparsification, AbsRel)" in report
    assert f"does NOT rank errors better than random for {', '.join(rig.names[3:])}" in report
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["confidence"]["per_camera"]["CAM_BACK"]["ause"] > m["confidence"]["per_camera"]["CAM_BACK"]["ause_random"]
    assert (tmp_path / "out" / "sparsification_abs_rel.png").stat().st_size > 5000


def test_eval_bag_cli_with_a_bin_head_student_writes_ause_numbers_and_the_plot(world, tmp_path, capsys):
    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student

    bag, _, _ = world
    torch.manual_seed(0)
    ckpt = save_student(build_student(ModelConfig(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8,
                                                  input_size=(64, 96))).eval(), tmp_path / "ckpt")
    out = tmp_path / "out"
    assert main(["eval-bag", str(bag), "--checkpoint", str(ckpt), "--gt", "depth", "--device", "cpu", "--out",
                 str(out), "--quiet"]) == 0
    assert "confidence: AUSE" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())["confidence"]
    assert set(m["per_camera"]) == set(CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").names)
    for row in m["per_camera"].values():
        assert row["images"] == 3 and np.isfinite(row["ause"]) and row["ause_random"] > 0
        assert row["ause"] >= -1e-12  # never better than the oracle
    assert "AUSE" in (out / "report.md").read_text()
    assert (out / "sparsification_abs_rel.png").stat().st_size > 5000


def test_eval_bag_without_confidence_says_so(world, tmp_path):
    bag, _, _ = world
    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")
    r = evaluate_bag(BagSource(bag, rig, topics=BagTopics(gt="depth")),
                     lambda s: np.where(s.gt > 0, s.gt, np.nan).astype(np.float32), progress=False)
    assert r["confidence"] is None
    write_bag_report(r, tmp_path / "out", title="t", command="x")
    assert "No per-pixel confidence was evaluated" in (tmp_path / "out" / "report.md").read_text()
    assert not (tmp_path / "out" / "sparsification_abs_rel.png").exists()
