"""nuScenes loader (through nuscenes-devkit) on a miniature database in the real table format."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from miniature_datasets import write_nuscenes

from disdepth_core.data.dataset_config import NUSCENES_CAMERAS, DatasetConfig
from disdepth_core.data.registry import build_dataset
from disdepth_core.data.sample import collate_samples
from disdepth_core.errors import DisdepthError
from disdepth_core.geometry import depth_to_base_points, transform_points

pytest.importorskip("nuscenes")

SIZE = (90, 160)


@pytest.fixture(scope="module")
def nusc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuscenes")
    # mini_train holds scene-0061, mini_val scene-0103 (the devkit's official lists)
    info = write_nuscenes(root, version="v1.0-mini", scenes={"scene-0061": 3, "scene-0103": 2}, size=SIZE)
    return root, info


def _cfg(root, **kw):
    return DatasetConfig(name="nuscenes", root=str(root), version="v1.0-mini", split=kw.pop("split", "mini_train"),
                         **kw)


def _world_error(s, info, cam, compensate=True):
    """Distance from each GT pixel's 3D point (global frame) to the nearest world point, and the tolerance."""
    pts = depth_to_base_points(s.depth[cam:cam + 1].double(), s.K[cam:cam + 1].double(),
                               s.T_base_cam[cam:cam + 1].double())[s.valid[cam:cam + 1]]
    ts = (s.meta["camera_timestamps_ns"][cam] if compensate else s.meta["lidar_timestamp_ns"]) // 1000
    glob = transform_points(info["T_global_ego"][ts], pts)
    world = torch.from_numpy(info["world"])
    dist = torch.cdist(glob, world, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    z = s.depth[cam][s.valid[cam]].double()
    tol = z * 0.75 / s.K[cam, 0, 0].item() + 0.02
    return dist, tol


def test_official_splits_sample_counts_and_shapes(nusc_root):
    root, _ = nusc_root
    train = build_dataset(_cfg(root))
    val = build_dataset(_cfg(root, split="mini_val"))
    assert len(train) == 3 and len(val) == 2 and len(build_dataset(_cfg(root, split="all"))) == 5
    s = train[1]
    assert s.cameras == NUSCENES_CAMERAS and s.images.shape == (6, 3, *SIZE) and s.depth.shape == (6, *SIZE)
    assert s.meta["scene"] == "scene-0061" and s.K.dtype == torch.float32
    assert all(s.valid[i].sum() > 30 for i in range(6))
    d = s.depth[s.valid]
    assert d.min() >= 0.1 and d.max() <= 80.0 and d.max() > 10.0  # metres; the ring wall at 15 m
    assert val[1].meta["scene"] == "scene-0103" and val[1].valid.sum() > 300
    batch = collate_samples([train[0], train[2]])
    assert batch.images.shape == (2, 6, 3, *SIZE)


def test_calibration_matches_tables_and_rig(nusc_root):
    root, _ = nusc_root
    ds = build_dataset(_cfg(root))
    rig = ds.rig(0)
    s = ds[0]
    assert rig.names == NUSCENES_CAMERAS and rig.sizes == [SIZE] * 6
    assert torch.allclose(rig.K.float(), s.K) and torch.allclose(rig.T_base_cam.float(), s.T_base_cam, atol=1e-6)
    cs = json.loads((root / "v1.0-mini" / "calibrated_sensor.json").read_text())
    front = next(r for r in cs if r["camera_intrinsic"] and abs(r["translation"][0] - 1.7) < 1e-6)
    assert torch.allclose(s.T_base_cam[0, :3, 3].double(), torch.tensor(front["translation"], dtype=torch.float64), atol=1e-6)
    # the headings of the six cameras go clockwise from the front, as the rig's adjacency expects
    yaws = rig.yaws_deg()
    assert abs(yaws[0]) < 1 and abs(abs(yaws[3]) - 180) < 1 and yaws[1] < 0 < yaws[5]


def test_lidar_gt_is_ego_motion_compensated(nusc_root):
    root, info = nusc_root
    s = build_dataset(_cfg(root))[2]
    for cam in range(6):
        dist, tol = _world_error(s, info, cam)
        assert torch.all(dist <= tol), (cam, float((dist - tol).max()))
    # the check can fail: the camera 60 ms after the LiDAR sees the car 1.2 m further on
    dist, tol = _world_error(s, info, 3, compensate=False)
    assert (dist > tol).float().mean() > 0.5


def test_resize_to_training_resolution(nusc_root):
    root, _ = nusc_root
    native = build_dataset(_cfg(root))[0]
    s = build_dataset(_cfg(root, size=(44, 80), cameras=["CAM_FRONT", "CAM_BACK"]))[0]
    assert s.images.shape == (2, 3, 44, 80) and s.cameras == ["CAM_FRONT", "CAM_BACK"]
    assert s.K[1, 0, 0].item() == pytest.approx(native.K[3, 0, 0].item() * 0.5, rel=1e-5)
    assert set(s.depth[1][s.valid[1]].tolist()) <= set(native.depth[3][native.valid[3]].tolist())


def test_errors(nusc_root, tmp_path):
    root, _ = nusc_root
    with pytest.raises(DisdepthError, match="v1.0-trainval with sample.json.*versions found: v1.0-mini"):
        build_dataset(DatasetConfig(name="nuscenes", root=str(root), split="train"))
    with pytest.raises(DisdepthError, match="none of the 150 scenes of split 'test'"):
        build_dataset(_cfg(root, split="test"))
    with pytest.raises(DisdepthError, match="unknown split 'bogus'"):
        build_dataset(_cfg(root, split="bogus"))
    with pytest.raises(DisdepthError, match="expected the nuScenes directory"):
        build_dataset(_cfg(tmp_path / "missing"))


def test_custom_splits_json(nusc_root):
    root, _ = nusc_root
    custom = root / "v1.0-mini" / "splits.json"
    custom.write_text(json.dumps({"my_val": ["scene-0103"]}))
    try:
        assert len(build_dataset(_cfg(root, split="my_val"))) == 2
    finally:
        custom.unlink()


def test_corrupt_lidar_and_image_skipped(tmp_path, caplog):
    write_nuscenes(tmp_path, scenes={"scene-0061": 3}, size=(45, 80), corrupt=("LIDAR_TOP", 1))
    ds = build_dataset(_cfg(tmp_path))
    with caplog.at_level(logging.WARNING, logger="disdepth.data"):
        out = [ds[i] for i in range(3)]
    assert ds.num_corrupt == 1 and "pcd.bin" in ds.corrupt[1]
    assert out[1].meta["skipped_corrupt"] == [1] and out[1].meta["index"] == 2
    assert "skipping unreadable sample 1" in caplog.text
    root2 = tmp_path / "img"
    write_nuscenes(root2, scenes={"scene-0061": 2}, size=(45, 80), corrupt=("CAM_BACK", 0))
    ds2 = build_dataset(_cfg(root2))
    assert ds2[0].meta["index"] == 1 and "CAM_BACK" in ds2.corrupt[0]
    assert np.isfinite(ds2[1].depth.numpy()).all()


def test_projection_agrees_with_the_devkit(nusc_root):
    """Our GT against nuscenes-devkit's own map_pointcloud_to_image for every camera."""
    root, _ = nusc_root
    ds = build_dataset(_cfg(root))
    s = ds[1]
    sample = ds.nusc.get("sample", s.meta["sample_token"])
    for c, ch in enumerate(NUSCENES_CAMERAS):
        pts, depths, _ = ds.nusc.explorer.map_pointcloud_to_image(sample["data"]["LIDAR_TOP"], sample["data"][ch],
                                                                   min_dist=1.0)
        u = np.round(pts[0]).astype(int)
        v = np.round(pts[1]).astype(int)
        keep = (u >= 0) & (u < SIZE[1]) & (v >= 0) & (v < SIZE[0]) & (depths <= 80.0)
        assert keep.sum() > 30
        devkit = np.full(SIZE, np.inf)
        np.minimum.at(devkit, (v[keep], u[keep]), depths[keep])  # nearest point per pixel
        hit = np.isfinite(devkit)
        ours = s.depth[c].numpy()
        # equal, except where a point the devkit drops (it keeps only 1 < u < W - 1) is nearer
        assert np.all(ours[hit] <= devkit[hit] + 1e-4)
        assert np.mean(np.abs(ours[hit] - devkit[hit]) < 1e-4) > 0.99
        rows, cols = np.nonzero(~hit & (ours > 0))  # pixels only we fill: the devkit's 1-pixel margin
        margin = (cols <= 1) | (cols >= SIZE[1] - 2) | (rows <= 1) | (rows >= SIZE[0] - 2)
        assert np.all(margin | (ours[rows, cols] < 1.0))
