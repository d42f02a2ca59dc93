"""Geometry-consistent transforms: resize, crop, flip keep GT re-projecting onto the same 3D points."""

from __future__ import annotations

import math

import pytest
import torch

from disdepth_core.data.eval_crops import crop_box, crop_region_mask, eval_mask
from disdepth_core.data.sample import SurroundSample
from disdepth_core.data.transforms import (
    color_jitter,
    crop_sample,
    hflip_sample,
    random_scale_crop,
    resize_depth,
    resize_sample,
)
from disdepth_core.geometry import backproject, project


def _sample(n=1, H=60, W=80, density=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    depth = 2.0 + 30.0 * torch.rand(n, H, W, generator=g, dtype=torch.float64)
    valid = torch.rand(n, H, W, generator=g) < density
    depth = torch.where(valid, depth, torch.zeros_like(depth))
    K = torch.tensor([[70.0, 0.0, 41.3], [0.0, 72.0, 28.9], [0.0, 0.0, 1.0]], dtype=torch.float64).repeat(n, 1, 1)
    return SurroundSample(
        images=torch.rand(n, 3, H, W, generator=g),
        depth=depth,
        valid=valid,
        K=K,
        T_base_cam=torch.eye(4, dtype=torch.float64).repeat(n, 1, 1),
        cameras=[f"c{i}" for i in range(n)],
    )


def _points(s: SurroundSample) -> torch.Tensor:
    """Camera-frame 3D points (M, 3) of the valid GT pixels."""
    pts = backproject(s.depth.to(torch.float64), s.K.to(torch.float64))
    return pts[s.valid]


def _nearest_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").min(1).values


@pytest.mark.parametrize("size", [(30, 40), (45, 50), (120, 160), (61, 79)])
def test_scatter_resize_keeps_exact_depths_and_reprojects(size):
    s = _sample()
    r = resize_sample(s, size, "scatter")
    assert r.size == size and r.images.shape == (1, 3, *size)
    src_vals = set(s.depth[s.valid].tolist())
    assert set(r.depth[r.valid].tolist()) <= src_vals  # no invented values
    if size[0] >= 60 and size[1] >= 80:  # upsampling: every point survives
        assert int(r.valid.sum()) == int(s.valid.sum())
    # Each resized GT pixel back-projects (with the scaled K) close to a source 3D point:
    # the error is at most the pixel rounding, half a target pixel in each direction.
    p_src, p_dst = _points(s), _points(r)
    z = p_dst[:, 2]
    fx = r.K[0, 0, 0].item()
    tol = z * (0.5 * math.sqrt(2) / fx) * 1.01 + 1e-9
    assert torch.all(_nearest_dist(p_dst, p_src) <= tol)


def test_scatter_resize_keeps_nearest_surface():
    depth = torch.zeros(1, 4, 4, dtype=torch.float64)
    depth[0, 0, 0], depth[0, 0, 1], depth[0, 1, 0] = 5.0, 3.0, 9.0
    d, v = resize_depth(depth, depth > 0, (2, 2), "scatter")
    assert d[0, 0, 0] == 3.0 and v.sum() == 1


def test_nearest_resize_dense_exact_values():
    s = _sample(density=1.0)
    d, v = resize_depth(s.depth, s.valid, (30, 40), "nearest")
    # nearest-exact: target pixel j takes source floor((j + 0.5) * 2) = 2j + 1
    assert torch.equal(d, s.depth[:, 1::2, 1::2])
    assert v.all()


def test_crop_shifts_principal_point_and_keeps_points():
    s = _sample()
    c = crop_sample(s, 7, 11, 40, 50)
    assert c.size == (40, 50)
    assert torch.allclose(c.K[0, 0, 2], s.K[0, 0, 2] - 11) and torch.allclose(c.K[0, 1, 2], s.K[0, 1, 2] - 7)
    # cropped GT re-projects exactly onto the same camera-frame points
    p = _points(c)
    assert p.shape[0] == int(s.valid[:, 7:47, 11:61].sum())
    assert torch.allclose(_nearest_dist(p, _points(s)), torch.zeros(len(p), dtype=p.dtype), atol=1e-5)
    assert c.meta["window"] == (7.0, 11.0, 40.0, 50.0)
    with pytest.raises(ValueError):
        crop_sample(s, 30, 0, 40, 50)


def test_hflip_updates_cx_and_mirrors_geometry():
    s = _sample()
    f = hflip_sample(s)
    W = s.size[1]
    assert torch.allclose(f.K[0, 0, 2], torch.tensor(W - 1 - 41.3, dtype=f.K.dtype))
    # A GT point mirrored in the optical frame (x -> -x) projects to its flipped pixel.
    pts = _points(s)
    mirrored = pts * torch.tensor([-1.0, 1.0, 1.0], dtype=pts.dtype)
    uv, z = project(mirrored, f.K[0])
    u = torch.round(uv[:, 0]).long()
    v = torch.round(uv[:, 1]).long()
    assert torch.allclose(f.depth[0, v, u], z)
    assert torch.equal(hflip_sample(f).images, s.images)
    with pytest.raises(ValueError, match="rig"):
        hflip_sample(_sample(n=2))


def test_color_jitter_changes_only_pixels():
    s = _sample(n=2)
    j = color_jitter(s, 0.4, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(j.images, s.images)
    assert j.images.min() >= 0 and j.images.max() <= 1
    assert torch.equal(j.depth, s.depth) and torch.equal(j.K, s.K)


def test_random_scale_crop_keeps_size_and_reprojection():
    s = _sample()
    r = random_scale_crop(s, 1.5, "scatter", generator=torch.Generator().manual_seed(3))
    assert r.size == s.size
    p = _points(r)
    tol = p[:, 2] * (0.5 * math.sqrt(2) / r.K[0, 0, 0].item()) * 1.01 + 1e-9
    assert torch.all(_nearest_dist(p, _points(s)) <= tol)


def test_eval_crops_match_standard_boxes():
    # monodepth2's Garg crop at 375x1242 and BTS's NYU Eigen crop
    assert crop_box("kitti", "garg", (375, 1242)) == (153, 371, 44, 1197)
    assert crop_box("kitti", "eigen", (375, 1242)) == (124, 342, 44, 1197)
    assert crop_box("nyu", "default", (480, 640)) == (45, 471, 41, 601)
    assert crop_box("nuscenes", "default", (900, 1600)) is None
    m = crop_region_mask((480, 640), "nyu")
    assert m.sum() == (471 - 45) * (601 - 41) and m[45, 41] and not m[44, 41] and not m[45, 601]
    with pytest.raises(ValueError):
        crop_box("nuscenes", "garg", (900, 1600))


def test_eval_mask_caps_and_window():
    d = torch.full((375, 1242), 50.0)
    d[200, 600] = 85.0  # beyond the 80 m KITTI cap
    d[300, 600] = 0.0
    m = eval_mask(d, "kitti", "garg")
    assert not m[200, 600] and not m[300, 600] and m[250, 600] and not m[100, 600]
    # the same crop after a kb-crop (352x1216 window) lands on the same original pixels
    top, left = 375 - 352, (1242 - 1216) // 2
    sub = eval_mask(d[top:, left:left + 1216], "kitti", "garg", orig_size=(375, 1242),
                    window=(top, left, 352, 1216))
    assert torch.equal(sub, m[top:, left:left + 1216])
    # and after halving the resolution, the crop boundary rows stay within one pixel
    half = crop_region_mask((176, 608), "kitti", "garg", orig_size=(375, 1242), window=(top, left, 352, 1216))
    rows = torch.nonzero(half.any(1)).ravel()
    assert abs((rows[0].item() * 2 + top) - 153) <= 2
    assert eval_mask(torch.full((4, 4), 150.0), "ddad").all()
    assert not eval_mask(torch.full((4, 4), 150.0), "nuscenes").any()
