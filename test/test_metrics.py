"""Depth metrics and cross-view consistency against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from disdepth_core.evaluation import DepthMetricAccumulator, cross_view_consistency, depth_metrics, median_scale
from disdepth_core.geometry import CameraRig
from disdepth_core.paths import config_path


def test_metrics_hand_computed():
    gt = torch.tensor([[[1.0, 2.0], [4.0, 10.0]]])
    pred = torch.tensor([[[1.1, 1.0], [4.0, 100.0]]])
    valid = torch.tensor([[[True, True], [True, False]]])
    m, has = depth_metrics(pred, gt, valid, max_depth=80.0)
    assert bool(has[0])
    # pixels used: (1.1 vs 1), (1 vs 2), (4 vs 4)
    assert m["abs_rel"][0].item() == pytest.approx((0.1 + 0.5 + 0.0) / 3)
    assert m["sq_rel"][0].item() == pytest.approx((0.01 / 1 + 1.0 / 2 + 0) / 3)
    assert m["rmse"][0].item() == pytest.approx(math.sqrt((0.01 + 1.0 + 0) / 3))
    assert m["rmse_log"][0].item() == pytest.approx(math.sqrt((math.log(1.1) ** 2 + math.log(0.5) ** 2) / 3))
    assert m["a1"][0].item() == pytest.approx(2 / 3)  # ratios 1.1, 2.0, 1.0
    assert m["a2"][0].item() == pytest.approx(2 / 3)  # 2.0 > 1.5625
    assert m["a3"][0].item() == pytest.approx(2 / 3)  # 1.25^3 = 1.953 < 2.0: the 2x pixel fails a3 too


def test_a3_threshold_exact():
    gt = torch.tensor([[[1.0, 1.0]]])
    pred = torch.tensor([[[1.95, 1.96]]])
    m, _ = depth_metrics(pred, gt, torch.ones(1, 1, 2, dtype=torch.bool))
    assert m["a3"][0].item() == pytest.approx(0.5)
    assert m["a2"][0].item() == pytest.approx(0.0)


def test_perfect_and_scaled_predictions():
    g = torch.Generator().manual_seed(0)
    gt = 1 + 50 * torch.rand(3, 8, 8, generator=g)
    valid = torch.rand(3, 8, 8, generator=g) > 0.3
    m, _ = depth_metrics(gt.clone(), gt, valid)
    assert all(m["abs_rel"] == 0) and all(m["a1"] == 1)
    m, _ = depth_metrics(gt * 1.5, gt, valid, max_depth=1e3)
    assert torch.allclose(m["abs_rel"], torch.full((3,), 0.5, dtype=torch.float64))
    assert torch.allclose(m["a1"], torch.zeros(3, dtype=torch.float64))
    m, _ = depth_metrics(gt * 1.5, gt, valid, max_depth=1e3, median_scaling=True)
    assert m["abs_rel"].max() < 1e-6 and m["a1"].min() == 1
    assert torch.allclose(median_scale(gt * 2, gt, valid).float(), torch.full((3,), 0.5), atol=1e-6)


def test_caps_and_non_finite_predictions():
    gt = torch.tensor([[[5.0, 90.0, 0.0]]])
    pred = torch.tensor([[[float("inf"), 5.0, 5.0]]])
    m, has = depth_metrics(pred, gt, torch.ones(1, 1, 3, dtype=torch.bool), max_depth=80.0)
    # only the 5 m pixel counts (90 m beyond cap, 0 invalid); Inf prediction -> 80 m
    assert m["abs_rel"][0].item() == pytest.approx(75 / 5)
    m, has = depth_metrics(pred, torch.zeros(1, 1, 3), torch.ones(1, 1, 3, dtype=torch.bool))
    assert not bool(has[0]) and math.isnan(m["rmse"][0].item())


def test_accumulator_means_of_camera_means():
    acc = DepthMetricAccumulator(["A", "B"], max_depth=100.0)
    gt = torch.full((2, 4, 4), 10.0)
    valid = torch.ones(2, 4, 4, dtype=torch.bool)
    # step 1: A perfect, B +10 %; step 2: A +20 %, B has no GT
    acc.update(torch.stack([gt[0], gt[1] * 1.1]), gt, valid)
    acc.update(torch.stack([gt[0] * 1.2, gt[1]]), gt, torch.stack([valid[0], ~valid[1]]))
    s = acc.summary()
    assert s["metric"]["per_camera"]["A"]["abs_rel"] == pytest.approx(0.1)
    assert s["metric"]["per_camera"]["B"]["abs_rel"] == pytest.approx(0.1)
    assert s["metric"]["per_camera"]["A"]["images"] == 2 and s["metric"]["per_camera"]["B"]["images"] == 1
    assert s["metric"]["all"]["abs_rel"] == pytest.approx(0.1)
    assert s["median"]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-9)


def _plane_depth(rig: CameraRig, height: float = 0.0) -> torch.Tensor:
    """Exact z-depth of the ground plane z = height for every camera of ``rig`` (inf above horizon)."""
    from disdepth_core.geometry import backproject

    H, W = rig.common_size()
    rays = backproject(torch.ones(len(rig), H, W, dtype=torch.float64), rig.K)  # z = 1
    R = rig.T_base_cam[:, :3, :3]
    t = rig.T_base_cam[:, :3, 3]
    dz = torch.einsum("nij,nhwj->nhwi", R, rays)[..., 2]  # base-z change per unit camera-z
    s = (height - t[:, 2, None, None]) / dz
    return torch.where(s > 0, s, torch.full_like(s, float("inf")))


def test_cross_view_consistency_zero_on_exact_geometry_and_positive_when_wrong():
    rig = CameraRig.from_yaml(config_path("rigs", "nuscenes.yaml")).resized(90, 160)
    depth = _plane_depth(rig)
    masks = rig.overlap_masks()
    pairs = rig.adjacent_pairs()
    cv, n = cross_view_consistency(depth, rig.K, rig.T_base_cam, pairs, masks, max_depth=80.0)
    assert n > 1000 and cv < 0.03  # nearest-pixel sampling error only (shrinks with resolution)
    cv_bad, n_bad = cross_view_consistency(depth * torch.linspace(0.7, 1.3, 6)[:, None, None].double(), rig.K, rig.T_base_cam, pairs, masks)
    assert n_bad > 0 and cv_bad > 3 * cv


def test_disparity_alignment_recovers_depth_from_affine_disparity():
    from disdepth_core.evaluation.evaluate import disparity_aligned_depth

    g = torch.Generator().manual_seed(1)
    gt = 2 + 60 * torch.rand(2, 8, 8, generator=g)
    mask = torch.rand(2, 8, 8, generator=g) > 0.2
    rel = torch.stack([3.0 / gt[0] + 0.5, 0.2 / gt[1] - 0.001])  # unknown scale and shift per image
    d = disparity_aligned_depth(rel, gt, mask, 0.1, 80.0)
    assert torch.allclose(d[mask], gt[mask], rtol=1e-4)
    # plain inversion with median scaling would not recover it
    inv = 1.0 / rel
    inv = inv * (gt[mask].median() / inv[mask].median())
    assert not torch.allclose(inv[mask], gt[mask], rtol=1e-2)
