"""KITTI raw loader on a miniature KITTI written in the real layout."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from miniature_datasets import write_kitti_raw

from disdepth_core.data.dataset_config import DatasetConfig
from disdepth_core.data.registry import build_dataset
from disdepth_core.data.splits import split_path
from disdepth_core.errors import DisdepthError
from disdepth_core.geometry import depth_to_base_points

# three frames that are in the Eigen test list, one drive that is not
EIGEN_FRAMES = [("2011_09_26/2011_09_26_drive_0002_sync", 69), ("2011_09_26/2011_09_26_drive_0002_sync", 54),
                ("2011_09_26/2011_09_26_drive_0009_sync", 16)]
SMALL = (94, 311)  # a quarter of 375x1242


@pytest.fixture(scope="module")
def kitti_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("kitti")
    info = write_kitti_raw(root, EIGEN_FRAMES + [("2011_09_26/2011_09_26_drive_0001_sync", 0)], size=SMALL)
    return root, info


def _cfg(root, **kw):
    return DatasetConfig(name="kitti", root=str(root), split=kw.pop("split", "eigen_test"), **kw)


def test_eigen_list_is_the_697_file_list():
    lines = split_path("eigen_test_files.txt").read_text().splitlines()
    assert len(lines) == 697 and len(set(lines)) == 697
    assert lines[0] == "2011_09_26/2011_09_26_drive_0002_sync 0000000069 l"
    assert lines[-1] == "2011_10_03/2011_10_03_drive_0047_sync 0000000768 l"
    assert len({ln.split()[0] for ln in lines}) == 28


def test_eigen_split_counts_missing_and_loads_metres(kitti_root, caplog):
    root, _ = kitti_root
    with caplog.at_level(logging.WARNING, logger="disdepth.data"):
        ds = build_dataset(_cfg(root))
    assert len(ds) == 3 and len(ds.missing) == 694
    assert "694 of 697" in caplog.text
    s = ds[0]
    assert s.images.shape == (1, 3, *SMALL) and s.depth.shape == (1, *SMALL)
    assert s.cameras == ["kitti_cam"] and s.meta["frame"] == 69
    d = s.depth[s.valid]
    assert d.numel() > 200 and d.min() > 0 and d.max() <= 80.0  # metres, 80 m cap
    assert 2.0 < d.median() < 25.0  # the ring world's wall at 20 m and ground


def test_annotated_and_velodyne_gt_agree(kitti_root):
    root, _ = kitti_root
    a = build_dataset(_cfg(root, gt_source="annotated"))[1]
    v = build_dataset(_cfg(root, gt_source="velodyne"))[1]
    both = a.valid & v.valid
    assert both.sum() > 0.95 * v.valid.sum()
    assert (a.depth[both] - v.depth[both]).abs().max() <= 1 / 256  # uint16 / 256 quantisation


def test_gt_backprojects_onto_velodyne_points(kitti_root):
    root, info = kitti_root
    ds = build_dataset(_cfg(root, gt_source="velodyne"))
    s = ds[2]
    pts = depth_to_base_points(s.depth.double(), s.K.double(), s.T_base_cam.double())[s.valid]
    velo = torch.from_numpy(info["velodyne"][(s.meta["drive"], s.meta["frame"])][:, :3].astype(np.float64))
    dist = torch.cdist(pts, velo, compute_mode="donot_use_mm_for_euclid_dist").min(1).values
    fx = s.K[0, 0, 0].item()
    tol = pts.norm(dim=1) * 0.75 / fx + 1e-3  # pixel rounding of the projection
    assert torch.all(dist <= tol)
    # and the base frame is the Velodyne one: the camera sits ~0.27 m behind the scanner's origin
    assert s.T_base_cam[0, 0, 3].item() == pytest.approx(0.27, abs=0.05)


def test_resize_scales_intrinsics_and_keeps_depth_values(kitti_root):
    root, _ = kitti_root
    native = build_dataset(_cfg(root))[0]
    small = build_dataset(_cfg(root, size=(47, 155)))[0]
    assert small.images.shape[-2:] == (47, 155)
    assert small.K[0, 0, 0] == pytest.approx(native.K[0, 0, 0].item() * 155 / 311, rel=1e-5)
    assert small.K[0, 1, 2] == pytest.approx((native.K[0, 1, 2].item() + 0.5) * 47 / 94 - 0.5, rel=1e-5)
    assert set(small.depth[small.valid].tolist()) <= set(native.depth[native.valid].tolist())


def test_kb_crop_on_full_resolution(tmp_path):
    write_kitti_raw(tmp_path, EIGEN_FRAMES[:1])
    s = build_dataset(_cfg(tmp_path, kb_crop=True))[0]
    assert s.size == (352, 1216)
    assert s.meta["window"] == (23.0, 13.0, 352.0, 1216.0) and s.meta["orig_size"] == (375, 1242)
    assert s.K[0, 0, 2].item() == pytest.approx(609.5593 - 13, abs=1e-3)


def test_split_all_and_split_file(kitti_root, tmp_path):
    root, _ = kitti_root
    assert len(build_dataset(_cfg(root, split="all"))) == 4
    f = tmp_path / "list.txt"
    f.write_text("2011_09_26/2011_09_26_drive_0001_sync 0000000000 r\n")
    ds = build_dataset(_cfg(root, split="train", split_file=str(f)))
    assert len(ds) == 1 and ds[0].meta["side"] == "r"
    with pytest.raises(DisdepthError, match="no stored list for split 'train'"):
        build_dataset(_cfg(root, split="train"))
    f.write_text("garbage line\n")
    with pytest.raises(DisdepthError, match="line 1"):
        build_dataset(_cfg(root, split="train", split_file=str(f)))


def test_wrong_root_names_expected_file(tmp_path):
    with pytest.raises(DisdepthError, match="calib_cam_to_cam.txt"):
        build_dataset(_cfg(tmp_path))
    with pytest.raises(DisdepthError, match="expected the KITTI raw directory"):
        build_dataset(_cfg(tmp_path / "nope"))


def test_corrupt_files_are_skipped_and_counted(tmp_path, caplog):
    write_kitti_raw(tmp_path, EIGEN_FRAMES, size=SMALL)
    img = tmp_path / EIGEN_FRAMES[1][0] / "image_02" / "data" / f"{EIGEN_FRAMES[1][1]:010d}.png"
    img.write_bytes(img.read_bytes()[:64])
    ds = build_dataset(_cfg(tmp_path))
    with caplog.at_level(logging.WARNING, logger="disdepth.data"):
        samples = [ds[i] for i in range(len(ds))]
        _ = ds[1]
    assert ds.num_corrupt == 1 and 1 in ds.corrupt and "not a readable image" in ds.corrupt[1]
    assert samples[1].meta["index"] == 2 and samples[1].meta["skipped_corrupt"] == [1]
    assert caplog.text.count("skipping unreadable sample") == 1  # warned once
    strict = build_dataset(_cfg(tmp_path, on_corrupt="error"))
    with pytest.raises(DisdepthError, match="0000000054.png"):
        strict[1]
