"""depth_to_cloud against analytic geometry (a box room around the vehicle, the ground plane)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disdepth_core.geometry import CameraRig
from disdepth_core.runtime.pointcloud import XYZ_DTYPE, XYZRGB_DTYPE, depth_to_cloud, pack_rgb, unpack_rgb

BOX_LO = np.array([-12.0, -9.0, 0.0])  # metres in base_link: ground at z = 0, walls, ceiling at 6 m
BOX_HI = np.array([15.0, 7.0, 6.0])


@pytest.fixture(scope="module")
def rig(nuscenes_rig_path) -> CameraRig:
    return CameraRig.from_yaml(nuscenes_rig_path).resized(45, 80)


def pixel_rays(rig: CameraRig):
    """Per camera: ray origins (N,3) and base-frame directions (N,H,W,3) with unit optical z."""
    H, W = rig.common_size()
    v, u = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    K = rig.K.numpy()
    T = rig.T_base_cam.numpy()
    dirs = []
    for i in range(len(rig)):
        d_cam = np.stack([(u - K[i, 0, 2]) / K[i, 0, 0], (v - K[i, 1, 2]) / K[i, 1, 1], np.ones_like(u)], -1)
        dirs.append(d_cam @ T[i, :3, :3].T)
    return T[:, :3, 3], np.stack(dirs)


def box_depth(rig: CameraRig):
    """Analytic z-depth of every pixel seeing the inside of the box (slab exit distance)."""
    origins, dirs = pixel_rays(rig)
    o = origins[:, None, None, :]
    with np.errstate(divide="ignore"):
        t_hi = np.where(dirs > 0, (BOX_HI - o) / dirs, np.inf)
        t_lo = np.where(dirs < 0, (BOX_LO - o) / dirs, np.inf)
    t = np.minimum(t_hi, t_lo).min(-1)  # optical z of the direction is 1, so t is the z-depth
    return t, origins[:, None, None, :] + t[..., None] * dirs


def test_box_room_points_are_exact(rig):
    depth, expected = box_depth(rig)
    cloud = depth_to_cloud(torch.from_numpy(depth), rig.K, rig.T_base_cam)
    H, W = rig.common_size()
    assert cloud.counts == [H * W] * len(rig)
    assert cloud.points.dtype == XYZ_DTYPE and cloud.point_step == 12
    xyz = cloud.xyz().astype(np.float64)
    np.testing.assert_allclose(xyz, expected.reshape(-1, 3), atol=2e-5 * 20)
    # every point lies on the box surface
    centre, half = (BOX_HI + BOX_LO) / 2, (BOX_HI - BOX_LO) / 2
    on_surface = np.abs((xyz - centre) / half).max(-1)
    np.testing.assert_allclose(on_surface, 1.0, atol=1e-5)


def test_ground_plane_stride_range_and_invalid(rig):
    origins, dirs = pixel_rays(rig)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -origins[:, None, None, 2] / dirs[..., 2]
    depth = np.where(t > 0, t, np.inf)  # rays above the horizon: +Inf (beyond range)
    depth[0, 40, 10] = np.nan  # an invalid pixel
    depth_t = torch.from_numpy(depth)
    stride, max_range = 3, 30.0
    cloud = depth_to_cloud(depth_t, rig.K, rig.T_base_cam, stride=stride, max_range=max_range)
    sub = depth[:, ::stride, ::stride]
    expect_counts = [int((np.isfinite(s) & (s <= max_range)).sum()) for s in sub]
    assert cloud.counts == expect_counts and sum(expect_counts) > 100
    xyz = cloud.xyz()
    assert np.abs(xyz[:, 2]).max() < 1e-4  # on the ground plane
    # points of camera 0 come from its own strided pixels, in row-major order
    keep = np.isfinite(sub[0]) & (sub[0] <= max_range)
    exp0 = (origins[0] + t[0, ::stride, ::stride, None] * dirs[0, ::stride, ::stride])[keep]
    np.testing.assert_allclose(cloud.camera(0).view(np.float32).reshape(-1, 3), exp0, atol=1e-4)


def test_rgb_packing_matches_depth_image_proc(rig):
    depth, _ = box_depth(rig)
    gen = torch.Generator().manual_seed(0)
    colors = torch.randint(0, 256, (*depth.shape, 3), dtype=torch.uint8, generator=gen)
    cloud = depth_to_cloud(torch.from_numpy(depth).float(), rig.K, rig.T_base_cam, colors=colors, stride=2)
    assert cloud.points.dtype == XYZRGB_DTYPE and cloud.point_step == 16 and cloud.has_rgb
    raw = np.frombuffer(cloud.points.tobytes(), dtype=np.uint8).reshape(-1, 16)
    exp = colors[:, ::2, ::2].reshape(-1, 3).numpy()
    # bytes 12..15 = b, g, r, 0
    np.testing.assert_array_equal(raw[:, 12], exp[:, 2])
    np.testing.assert_array_equal(raw[:, 13], exp[:, 1])
    np.testing.assert_array_equal(raw[:, 14], exp[:, 0])
    assert not raw[:, 15].any()
    np.testing.assert_array_equal(unpack_rgb(cloud.points["rgb"]), exp)
    assert pack_rgb(torch.tensor([[255, 0, 1]], dtype=torch.uint8)).view(torch.int32).item() == 0xFF0001


def test_voxel_keeps_one_point_per_voxel_across_cameras(rig):
    depth, _ = box_depth(rig)
    full = depth_to_cloud(torch.from_numpy(depth), rig.K, rig.T_base_cam)
    voxel = 0.5
    thin = depth_to_cloud(torch.from_numpy(depth), rig.K, rig.T_base_cam, voxel_size=voxel)
    keys_full = np.floor(full.xyz() / voxel).astype(np.int64)
    keys_thin = np.floor(thin.xyz() / voxel).astype(np.int64)
    assert len(np.unique(keys_thin, axis=0)) == len(keys_thin)  # one per voxel
    assert len(keys_thin) == len(np.unique(keys_full, axis=0))  # every occupied voxel kept
    assert sum(thin.counts) == len(keys_thin) and len(keys_thin) < len(keys_full)
    # kept points are original points (no averaging)
    full_set = {tuple(p) for p in full.xyz().round(5)}
    assert all(tuple(p) in full_set for p in thin.xyz().round(5))


def test_bad_shapes_raise(rig):
    with pytest.raises(ValueError, match=r"depth must be \(N, H, W\)"):
        depth_to_cloud(torch.zeros(45, 80), rig.K, rig.T_base_cam)
    with pytest.raises(ValueError, match="K must be"):
        depth_to_cloud(torch.zeros(2, 45, 80), rig.K, rig.T_base_cam)
    with pytest.raises(ValueError, match="colors must be uint8"):
        depth_to_cloud(torch.zeros(6, 45, 80), rig.K, rig.T_base_cam, colors=np.zeros((6, 45, 80, 3), np.float32))


def test_empty_cloud(rig):
    cloud = depth_to_cloud(torch.full((6, 45, 80), float("nan")), rig.K, rig.T_base_cam, voxel_size=0.2)
    assert cloud.counts == [0] * 6 and cloud.points.shape == (0,) and cloud.points.tobytes() == b""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(rig):
    depth, _ = box_depth(rig)
    d = torch.from_numpy(depth).float()
    cpu = depth_to_cloud(d, rig.K, rig.T_base_cam, stride=2, voxel_size=0.3)
    gpu = depth_to_cloud(d.cuda(), rig.K.cuda(), rig.T_base_cam.cuda(), stride=2, voxel_size=0.3)
    assert cpu.counts == gpu.counts
    np.testing.assert_allclose(cpu.xyz(), gpu.xyz(), atol=1e-4)
