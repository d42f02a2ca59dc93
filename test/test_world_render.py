"""Geometric truth of the synthetic world: depth is exact z-depth, consistent across views and with the LiDAR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disdepth_core.geometry import (
    CameraRig,
    backproject,
    depth_to_base_points,
    in_image,
    invert_transform,
    project,
    transform_points,
)
from disdepth_core.world import WorldSequence
from disdepth_core.world.config import small_world_config
from disdepth_core.world.primitives import BOX, CYLINDER, PLANE, SPHERE
from disdepth_core.world.truth import depth_at

SIZE = (64, 112)


@pytest.fixture(scope="module")
def seq(nuscenes_rig_path):
    rig = CameraRig.from_yaml(nuscenes_rig_path).resized(*SIZE)
    return WorldSequence(rig, frames=3, seed=7, cfg=small_world_config())


@pytest.fixture(scope="module")
def frame(seq):
    return seq.render(2)


def _prims_world(seq, time_s):
    p = seq.scene.prims
    return p.center + p.group_velocity[p.group] * time_s, p.R, p.half


def _surface(frame):
    return torch.where(frame.prim >= 0, frame.prim * 8 + frame.face, torch.full_like(frame.prim, -1))


def test_images_depth_and_mask_are_well_formed(seq, frame):
    V, H, W = len(seq.rig), *SIZE
    assert frame.rgb.shape == (V, H, W, 3) and frame.rgb.dtype == torch.uint8
    assert frame.depth.shape == (V, H, W) and frame.depth.dtype == torch.float32
    assert frame.valid.any() and (~frame.valid).any(), "expected both surfaces and sky"
    assert (frame.depth[~frame.valid] == 0).all()
    assert (frame.depth[frame.valid] > 0).all()
    # validity = ray length within the visibility limit (depth is z, so z <= range)
    assert frame.depth.max() <= seq.cfg.max_range_m
    # the top image row of the front camera looks into the sky somewhere
    assert (~frame.valid[0, 0]).any()
    # the image has real texture, not flat colours
    assert frame.rgb.float().std() > 20


def test_ground_pixels_backproject_to_base_z0(seq, frame):
    rig = seq.rig
    pts = depth_to_base_points(frame.depth.double(), rig.K, rig.T_base_cam)  # (V, H, W, 3)
    ground = frame.valid & (frame.prim == 0)
    assert ground.sum() > 1000
    z = pts[ground][:, 2]
    assert z.abs().max() < 2e-3, f"ground points off z=0 by {z.abs().max():.4g} m"
    # if the depth were ray length instead of z-depth, off-axis ground points would be far below z=0
    ray_len = frame.depth.double() * backproject(torch.ones(SIZE, dtype=torch.float64), rig.K[0]).norm(dim=-1)
    pts_wrong = depth_to_base_points(ray_len, rig.K, rig.T_base_cam)
    assert pts_wrong[ground][:, 2].abs().max() > 0.05


def test_object_pixels_lie_on_their_primitive_surface(seq, frame):
    rig = seq.rig
    pts = depth_to_base_points(frame.depth.double(), rig.K, rig.T_base_cam)
    world = transform_points(frame.T_world_base, pts.reshape(-1, 3))
    c, R, h = _prims_world(seq, frame.index / seq.cfg.rate_hz)
    prim = frame.prim.reshape(-1)
    kind = seq.scene.prims.kind
    dist = frame.depth.reshape(-1).double()
    counts = {}
    for k in (BOX, CYLINDER, SPHERE):
        sel = (prim >= 0) & (kind[prim.clamp_min(0)] == k)
        idx = torch.nonzero(sel)[:, 0]
        counts[k] = idx.numel()
        if idx.numel() == 0:
            continue
        p = prim[idx]
        local = ((world[idx] - c[p])[:, None, :] @ R[p])[:, 0, :]
        tol = 1e-4 + 2e-5 * dist[idx]
        if k == BOX:
            out = (local.abs() - h[p]).amax(-1)  # 0 on a face, < 0 inside, > 0 outside
            assert out.abs().max() < tol.max(), f"box pixels off their faces by {out.abs().max():.3g} m"
            assert (out.abs() <= tol).all()
        elif k == CYLINDER:
            radial = local[:, :2].norm(dim=-1) - h[p, 0]
            cap = local[:, 2].abs() - h[p, 2]
            on_side = (radial.abs() <= tol) & (cap <= tol)
            on_cap = (cap.abs() <= tol) & (radial <= tol)
            assert (on_side | on_cap).all()
        else:
            assert ((local.norm(dim=-1) - h[p, 0]).abs() <= tol).all()
    assert counts[BOX] > 500, counts


def test_adjacent_views_agree_in_their_overlap(seq, frame):
    rig = seq.rig
    K, T = rig.K, rig.T_base_cam
    masks = rig.overlap_masks()
    surf = _surface(frame)
    kinds = seq.scene.prims.kind
    planar = (frame.prim >= 0) & ((kinds[frame.prim.clamp_min(0)] == BOX) | (kinds[frame.prim.clamp_min(0)] == PLANE))
    for p, (i, j) in enumerate(rig.adjacent_pairs()):
        compared = 0
        for a, b, m in ((i, j, masks[p, 0]), (j, i, masks[p, 1])):
            sel = m & frame.valid[a] & planar[a]
            pts_a = backproject(frame.depth[a].double(), K[a])[sel]
            pts_b = transform_points(invert_transform(T[b]) @ T[a], pts_a)
            uv, z = project(pts_b, K[b])
            zb, ok = depth_at(frame.depth[b], surf[b], uv)
            ok &= in_image(uv, *SIZE) & (surf[b][uv[:, 1].round().long().clamp(0, SIZE[0] - 1),
                                                 uv[:, 0].round().long().clamp(0, SIZE[1] - 1)] == surf[a][sel])
            rel = ((zb - z).abs() / z)[ok]
            compared += int(ok.sum())
            if ok.any():
                assert rel.max() < 1e-3, f"{rig.names[a]} -> {rig.names[b]}: max rel error {rel.max():.3g}"
        assert compared >= 20, f"pair {rig.names[i]}/{rig.names[j]}: only {compared} comparable pixels"


def test_lidar_agrees_with_camera_depth(seq, frame):
    rig = seq.rig
    pts = frame.lidar
    assert pts.shape[1] == 5 and pts.shape[0] > 2000
    rng = pts[:, :3].norm(dim=-1)
    lc = seq.cfg.lidar
    assert rng.min() >= lc.min_range_m and rng.max() <= lc.max_range_m
    assert set(pts[:, 4].long().unique().tolist()) <= set(range(lc.beams))
    assert (pts[:, 3] >= 0).all() and (pts[:, 3] <= 255).all()
    base = transform_points(seq.T_base_lidar, pts[:, :3].double())
    surf = _surface(frame)
    checked = 0
    for c in range(len(rig)):
        cam = transform_points(invert_transform(rig.T_base_cam[c]), base)
        uv, z = project(cam, rig.K[c])
        zc, ok = depth_at(frame.depth[c], surf[c], uv)
        ok &= in_image(uv, *SIZE)
        # same primitive (not an object the camera sees in front of the LiDAR's point: parallax occlusion)
        r, col = uv[:, 1].round().long().clamp(0, SIZE[0] - 1), uv[:, 0].round().long().clamp(0, SIZE[1] - 1)
        ok &= (z > 1.0) & (surf[c][r, col] == frame.lidar_prim * 8 + frame.lidar_face)
        rel = ((zc - z).abs() / z)[ok]
        kind = seq.scene.prims.kind[frame.lidar_prim[ok]]
        planar = (kind == BOX) | (kind == PLANE)
        checked += int(ok.sum())
        if ok.any():
            # planar faces: exact; curved ones: 1/z is not bilinear across a pixel, so 1 %
            assert rel[planar].max() < 1e-3, f"{rig.names[c]}: LiDAR vs depth differ by {rel[planar].max():.3g}"
            assert (rel < 0.01).float().mean() > 0.99
    assert checked > 300


def test_rendering_is_deterministic_and_order_independent(seq, frame):
    other = WorldSequence(seq.rig, frames=3, seed=7, cfg=small_world_config())
    again = other.render(2)  # rendered without frames 0 and 1 first
    assert torch.equal(again.rgb, frame.rgb)
    assert torch.equal(again.depth, frame.depth)
    assert torch.equal(again.lidar, frame.lidar)
    different = WorldSequence(seq.rig, frames=3, seed=8, cfg=small_world_config()).render(2)
    assert not torch.equal(different.depth, frame.depth)


def test_ego_moves_forward_with_increasing_timestamps(seq):
    poses = [seq.ego_pose(i) for i in range(3)]
    stamps = [seq.timestamp_ns(i) for i in range(3)]
    assert stamps[1] - stamps[0] == int(1e9 / seq.cfg.rate_hz)
    dx = poses[2][0, 3] - poses[0][0, 3]
    assert 0.2 * 7.0 * 0.9 < dx < 0.2 * 12.0 * 1.1  # ego speed range over two frames


def test_point_cloud_of_true_depth_is_exact_on_world_geometry(seq, frame):
    """runtime.pointcloud on the world's exact depth: ground points at z = 0, box points on their faces."""
    from disdepth_core.runtime.pointcloud import depth_to_cloud

    depth = torch.where(frame.valid, frame.depth, torch.full_like(frame.depth, float("nan")))
    ground = frame.valid & (frame.prim == 0)
    # the cloud keeps valid pixels in (camera, row, column) order: rebuild that index per point
    cloud = depth_to_cloud(depth, seq.rig.K_as(), seq.rig.T_as(), colors=frame.rgb)
    assert sum(cloud.counts) == int(frame.valid.sum())
    is_ground = ground[frame.valid].numpy()
    z = cloud.points["z"]
    assert abs(z[is_ground]).max() < 2e-3
    assert z[~is_ground].max() > 1.0  # buildings, vehicles and trees stand above the road
    # colours come from the same pixels
    rgb = cloud.points["rgb"].view(np.uint32)
    r = (rgb >> 16) & 255
    assert np.array_equal(r, frame.rgb[frame.valid][:, 0].numpy().astype(np.uint32))
