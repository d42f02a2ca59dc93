"""Camera-rig geometry: projections, intrinsics scaling, overlaps and rig validation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from disdepth_core.config import ConfigError
from disdepth_core.geometry import (
    CameraRig,
    backproject,
    crop_intrinsics,
    depth_to_base_points,
    in_image,
    invert_transform,
    is_rotation_matrix,
    matrix_to_quaternion,
    project,
    quaternion_to_matrix,
    scale_intrinsics,
    transform_points,
    yaw_pitch_roll_to_optical_rotation,
)
from disdepth_core.paths import config_path

RIGS = sorted(config_path("rigs").glob("*.yaml"))


@pytest.fixture(scope="module")
def rig():
    return CameraRig.from_yaml(config_path("rigs", "nuscenes.yaml"))


def test_shipped_rigs_load_and_are_orthonormal():
    assert {p.stem for p in RIGS} >= {"nuscenes", "ddad"}
    for p in RIGS:
        r = CameraRig.from_yaml(p)
        assert len(r) == 6
        for i in range(len(r)):
            assert is_rotation_matrix(r.T_base_cam[i, :3, :3], tol=1e-6)
            # optical z axis is horizontal-ish, y axis points down (REP 103 optical frame)
            assert r.T_base_cam[i, 2, 1] < -0.9


def test_nuscenes_rig_layout(rig):
    assert rig.names == ["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT"]
    assert rig.sizes == [(900, 1600)] * 6
    assert rig.K[3, 0, 0] < rig.K[0, 0, 0]  # CAM_BACK is wider
    # front camera looks along +x: its optical z axis in base_link is (1, 0, 0)
    assert torch.allclose(rig.T_base_cam[0, :3, 2], torch.tensor([1.0, 0, 0], dtype=torch.float64), atol=1e-6)
    # front-right camera looks to the right (negative y)
    assert rig.T_base_cam[1, 1, 2] < 0
    assert rig.frame_ids[0] == "CAM_FRONT_optical_frame"


def test_adjacent_pairs_form_the_ring(rig):
    pairs = rig.adjacent_pairs()
    assert pairs == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)]
    # a permuted rig still pairs by heading, not by file order
    perm = rig.subset(["CAM_BACK", "CAM_FRONT", "CAM_FRONT_LEFT", "CAM_BACK_RIGHT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT"])
    named = {frozenset((perm.names[i], perm.names[j])) for i, j in perm.adjacent_pairs()}
    assert named == {frozenset((rig.names[i], rig.names[j])) for i, j in pairs}


def test_project_backproject_identity(rig):
    g = torch.Generator().manual_seed(0)
    H, W = rig.sizes[0]
    depth = 0.5 + 79.5 * torch.rand(6, H // 10, W // 10, generator=g, dtype=torch.float64)
    r = rig.resized(H // 10, W // 10)
    pts = backproject(depth, r.K)
    uv, z = project(pts.reshape(6, -1, 3), r.K)
    v, u = torch.meshgrid(torch.arange(H // 10), torch.arange(W // 10), indexing="ij")
    grid = torch.stack([u, v], -1).reshape(1, -1, 2).double()
    assert (uv - grid).abs().max() < 1e-5
    assert (z - depth.reshape(6, -1)).abs().max() < 1e-9
    # and through base_link and back
    base = depth_to_base_points(depth, r.K, r.T_base_cam).reshape(6, -1, 3)
    cam = transform_points(invert_transform(r.T_base_cam), base)
    uv2, _ = project(cam, r.K)
    assert (uv2 - grid).abs().max() < 1e-5


def test_project_behind_camera_is_nan():
    K = torch.eye(3, dtype=torch.float64)
    uv, z = project(torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 2.0]], dtype=torch.float64), K)
    assert torch.isnan(uv[0]).all() and not torch.isnan(uv[1]).any()


def test_point_in_front_of_two_adjacent_cameras_lands_in_both_overlap_masks(rig):
    size = (90, 160)
    r = rig.resized(*size)
    masks = r.overlap_masks(size, depth_range=(1.0, 80.0), num_depths=32)
    pairs = r.adjacent_pairs()
    assert masks.shape == (6, 2, *size)
    checked = 0
    for p, (i, j) in enumerate(pairs):
        # a point 20 m away in the middle of the two cameras' shared horizontal field of view
        yi, yj = (math.radians(float(r.yaws_deg()[k])) for k in (i, j))
        yj = yi + math.remainder(yj - yi, 2 * math.pi)
        hi, hj = (math.atan(size[1] / 2 / float(r.K[k, 0, 0])) for k in (i, j))
        lo, hi_ = max(yi - hi, yj - hj), min(yi + hi, yj + hj)
        assert lo < hi_, "adjacent cameras must share some field of view"
        mid = (lo + hi_) / 2
        point = torch.tensor([[20 * math.cos(mid), 20 * math.sin(mid), 1.5]], dtype=torch.float64)
        for side, k in enumerate((i, j)):
            uv, z = project(transform_points(invert_transform(r.T_base_cam[k]), point), r.K[k])
            assert z[0] > 0 and in_image(uv, *size)[0], (r.names[k], uv)
            u, v = (int(round(float(c))) for c in uv[0])
            assert masks[p, side, v, u], (r.names[k], u, v)
            checked += 1
        # a point straight ahead of camera i only (its own heading, 30 m) is not in the overlap
        point = torch.tensor([[30 * math.cos(yi), 30 * math.sin(yi), 1.5]], dtype=torch.float64)
        uv, _ = project(transform_points(invert_transform(r.T_base_cam[i]), point), r.K[i])
        u, v = (int(round(float(c))) for c in uv[0])
        assert not masks[p, 0, v, u]
    assert checked == 12


def test_intrinsics_scaling_matches_resized_image():
    H, W = 90, 160
    K = torch.tensor([[100.0, 0, 81.3], [0, 95.0, 44.2], [0, 0, 1]], dtype=torch.float64)
    # image whose pixel values are their own (u, v) coordinates
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    img = torch.stack([u, v])[None]
    pts = torch.tensor([[0.3, -0.2, 5.0], [-1.0, 0.4, 7.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    uv_full, _ = project(pts, K)
    # area resize by an integer factor, and bilinear resize by a fractional one
    for (h, w), mode in (((45, 80), "area"), ((36, 64), "bilinear"), ((120, 200), "bilinear")):
        kw = {} if mode == "area" else {"align_corners": False}
        small = F.interpolate(img, size=(h, w), mode=mode, **kw)[0]
        Ks = scale_intrinsics(K, (H, W), (h, w))
        uv_small, _ = project(pts, Ks)
        # the resized image holds, where the point projects with the scaled K, the
        # full-resolution coordinate where it projects with the original K
        for (uf, vf), (us, vs) in zip(uv_full.tolist(), uv_small.tolist()):
            grid = torch.tensor([[[[(us + 0.5) / w * 2 - 1, (vs + 0.5) / h * 2 - 1]]]], dtype=torch.float64)
            val = F.grid_sample(small[None], grid, align_corners=False)[0, :, 0, 0]
            assert abs(float(val[0]) - uf) < 1e-6 and abs(float(val[1]) - vf) < 1e-6, (mode, h, w)
    # crop shifts the principal point by the crop offset
    Kc = crop_intrinsics(K, top=10, left=20)
    uc, _ = project(pts, Kc)
    assert torch.allclose(uc, uv_full - torch.tensor([20.0, 10.0], dtype=torch.float64))


def test_rig_resized_keeps_rays(rig):
    r = rig.resized(180, 320)
    assert r.sizes == [(180, 320)] * 6
    # the centre ray of the full image is the centre ray of the resized one
    full = backproject(torch.ones(1, 900, 1600, dtype=torch.float64), rig.K[:1])
    small = backproject(torch.ones(1, 180, 320, dtype=torch.float64), r.K[:1])
    # pixel (2, 2) of the small image covers full pixels 10..14 -> centre 12
    assert torch.allclose(small[0, 2, 2], full[0, 12, 12], atol=1e-9)


def test_quaternion_round_trip():
    for yaw in (-170.0, -55.0, 0.0, 30.0, 110.0, 180.0):
        for pitch in (-5.0, 0.0, 7.0):
            R = yaw_pitch_roll_to_optical_rotation(yaw, pitch, 2.0)
            assert is_rotation_matrix(R, 1e-9)
            q = matrix_to_quaternion(R)
            assert torch.allclose(quaternion_to_matrix(q), R, atol=1e-9)


def _mutated(tmp_path, fn):
    data = yaml.safe_load(config_path("rigs", "nuscenes.yaml").read_text())
    fn(data)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_bad_rig_files_rejected(tmp_path):
    def non_orthonormal(d):
        d["cameras"][2].pop("quaternion_wxyz")
        d["cameras"][2]["rotation_matrix"] = [[1, 0, 0], [0, 1, 0.2], [0, 0, 1]]

    def negative_focal(d):
        d["cameras"][4]["fx"] = -1266.0

    def missing_camera_field(d):
        del d["cameras"][1]["cy"]

    def no_cameras(d):
        d["cameras"] = []

    def duplicate(d):
        d["cameras"][5]["name"] = "CAM_FRONT"

    def unnormalised_quat(d):
        d["cameras"][0]["quaternion_wxyz"] = [1.0, 1.0, 0.0, 0.0]

    cases = [
        (non_orthonormal, "cameras[2].rotation_matrix", "orthonormal"),
        (negative_focal, "cameras[4].fx", "> 0"),
        (missing_camera_field, "cameras[1].cy", "missing required key"),
        (no_cameras, "cameras", "at least one camera"),
        (duplicate, "cameras[5].name", "duplicate"),
        (unnormalised_quat, "cameras[0].quaternion_wxyz", "unit norm"),
    ]
    for fn, key, words in cases:
        p = _mutated(tmp_path, fn)
        with pytest.raises(ConfigError) as info:
            CameraRig.from_yaml(p)
        msg = str(info.value)
        assert str(p) in msg and f"key '{key}'" in msg and words in msg, msg


def test_rig_config_round_trip(rig, tmp_path):
    from disdepth_core.config import save_config

    save_config(rig.to_config(), tmp_path / "rig.yaml")
    again = CameraRig.from_yaml(tmp_path / "rig.yaml")
    assert again.names == rig.names and again.sizes == rig.sizes
    assert torch.allclose(again.K, rig.K) and torch.allclose(again.T_base_cam, rig.T_base_cam, atol=1e-7)


def test_geometry_is_device_and_dtype_agnostic(rig):
    r = rig.resized(9, 16)
    d32 = torch.full((6, 9, 16), 10.0)
    pts = depth_to_base_points(d32, r.K_as(dtype=torch.float32), r.T_as(dtype=torch.float32))
    assert pts.dtype == torch.float32 and pts.shape == (6, 9, 16, 3)
    pts64 = depth_to_base_points(d32.double(), r.K, r.T_base_cam)
    assert torch.allclose(pts.double(), pts64, atol=1e-4)
