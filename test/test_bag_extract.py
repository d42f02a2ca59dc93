"""Bags as training data (data/bag_extract.py): sub-sampled and split by time, every set accounted for,
read back by the synthetic dataset exactly as the bag holds them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bag_fixtures import REPO, custom_bag, world_bag

from disdepth_core.data.bag_extract import ExtractionSettings, extract_bags
from disdepth_core.data.synthetic import SyntheticWorldDataset
from disdepth_core.errors import DisdepthError
from disdepth_core.evaluation.bag_source import BagTopics
from disdepth_core.geometry import CameraRig

pytest.importorskip("rosbags")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return world_bag(tmp_path_factory.mktemp("world"), frames=2)


@pytest.fixture(scope="module")
def rig():
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")


@pytest.fixture(scope="module")
def drive(tmp_path_factory, world):
    """A 4 s drive at 10 Hz (40 sets) with dense depth_gt; one image missing at step 5."""
    _, _, fr = world
    return custom_bag(tmp_path_factory.mktemp("drive") / "drive", fr, 40, drop={(5, fr.cameras[2])}), fr


def test_sets_are_subsampled_and_split_by_time_with_a_gap(tmp_path, drive, rig):
    bag, fr = drive
    s = ExtractionSettings(every_s=0.5, heldout_fraction=0.25, gap_s=0.4)
    doc = extract_bags([bag], tmp_path, rig, s, progress=False)
    b = doc["bags"]["drive"]
    assert b["gt"] == "depth" and b["cameras"] == fr.cameras
    # every set is kept or skipped with a reason; the accounting identities hold (to_json checks them)
    assert b["sets_found"] == sum(b["kept"].values()) + sum(b["skipped"].values())
    # the set missing an image never forms (the node's synchroniser); the others are thinned and split
    assert b["skipped"]["no_sync_partner"] == 1 and b["skipped"]["subsampled"] > 0 and b["skipped"]["split_gap"] > 0
    stamps = {}
    for split in ("train", "val"):
        poses = json.loads((tmp_path / split / "drive" / "poses.json").read_text())["frames"]
        stamps[split] = [p["timestamp_ns"] for p in poses]
        assert len(stamps[split]) == b["kept"][split] > 0
        assert all(b - a >= 0.5e9 for a, b in zip(stamps[split], stamps[split][1:]))
    assert max(stamps["train"]) + 0.4e9 <= min(stamps["val"])  # no held-out frame near a training one
    t0 = int(fr.stamps_ns[0])
    assert min(stamps["val"]) >= t0 + 0.75 * 3.9e9 - 1  # the last quarter of the drive's time


def test_extracted_frames_are_the_bag_frames(tmp_path, drive, rig):
    bag, fr = drive
    extract_bags([bag], tmp_path, rig, ExtractionSettings(every_s=0.0, heldout_fraction=0.0), progress=False)
    ds = SyntheticWorldDataset(tmp_path / "train", gt="render")
    assert len(ds) == 39  # 40 sets, one incomplete
    sample = ds[0]  # step 0 = frame 0 of fr
    np.testing.assert_array_equal((sample.images * 255).round().byte().permute(0, 2, 3, 1).numpy(), fr.images[0])
    dense = fr.depth[0]
    np.testing.assert_allclose(sample.depth.numpy(), np.where(dense > 0, dense, 0), rtol=1e-6)
    np.testing.assert_array_equal(sample.valid.numpy(), dense > 0)
    np.testing.assert_allclose(sample.K.numpy(), fr.K, rtol=1e-6)  # K_as gives float32
    np.testing.assert_allclose(sample.T_base_cam.numpy(), fr.T_base_cam, atol=1e-6)  # from /tf_static


def test_lidar_labels_from_a_world_bag(tmp_path, world, rig):
    bag, _, fr = world
    doc = extract_bags([bag], tmp_path, rig, ExtractionSettings(every_s=0.0, heldout_fraction=0.0, gt="lidar"),
                       progress=False)
    assert doc["labels"] == ["lidar"]
    s = SyntheticWorldDataset(tmp_path / "train", gt="render")[0]
    frac = s.valid.float().mean().item()
    assert 0.005 < frac < 0.5  # sparse
    dense = fr.depth[0]
    v = s.valid.numpy() & (dense > 0)
    rel = np.abs(s.depth.numpy()[v] - dense[v]) / dense[v]
    assert np.median(rel) < 0.02


def test_cameras_only_bag_gives_unlabelled_frames_and_a_depth_request_is_refused(tmp_path, drive, rig):
    bag, fr = drive
    no_gt = BagTopics(depth_gt="/{camera}/not_recorded")
    doc = extract_bags([bag], tmp_path / "a", rig, ExtractionSettings(heldout_fraction=0.0), topics=no_gt,
                       progress=False)
    assert doc["labels"] == ["none"]
    s = SyntheticWorldDataset(tmp_path / "a" / "train", gt="render")[0]
    assert not s.valid.any() and s.images.shape[0] == 6
    with pytest.raises(DisdepthError) as e:
        extract_bags([bag], tmp_path / "b", rig, ExtractionSettings(gt="depth"), topics=no_gt, progress=False)
    assert "/not_recorded" in str(e.value) and "\n" not in str(e.value)


def test_extraction_resumes_and_redoes_a_bag_when_the_settings_change(tmp_path, drive, rig):
    bag, _ = drive
    s = ExtractionSettings(every_s=1.0, heldout_fraction=0.0)
    extract_bags([bag], tmp_path, rig, s, progress=False)
    poses = tmp_path / "train" / "drive" / "poses.json"
    before = poses.stat().st_mtime_ns
    extract_bags([bag], tmp_path, rig, s, progress=False)
    assert poses.stat().st_mtime_ns == before  # same bag, same settings: not read again
    doc = extract_bags([bag], tmp_path, rig, ExtractionSettings(every_s=2.0, heldout_fraction=0.0), progress=False)
    assert len(json.loads(poses.read_text())["frames"]) == doc["kept"]["train"] == 2


@pytest.mark.parametrize("settings, match", [
    (ExtractionSettings(every_s=-1), "--every"),
    (ExtractionSettings(heldout_fraction=1.0), "--heldout"),
])
def test_bad_settings_name_the_option(tmp_path, drive, rig, settings, match):
    with pytest.raises(DisdepthError, match=match):
        extract_bags([drive[0]], tmp_path, rig, settings, progress=False)


def test_accounting_without_per_step_records_counts_the_same_and_keeps_nothing_per_step():
    """Extraction of a long drive keeps counts only: the same identities and JSON, no record per skipped set."""
    from disdepth_core.evaluation.bag_source import BagAccounting

    docs = []
    for records in (True, False):
        acc = BagAccounting(cameras=["CAM_FRONT"], per_step_records=records)
        acc.images_found["CAM_FRONT"] = 3
        acc.steps_found = 3
        for i in range(3):
            acc.skip(i * 100, "subsampled", "too soon", cameras=["CAM_FRONT"])
        assert len(acc.skipped_steps) == (3 if records else 0)
        docs.append(acc.to_json())
    assert docs[0] == docs[1] and docs[1]["skipped"] == {"subsampled": 3}
