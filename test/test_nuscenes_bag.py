"""``disdepth nuscenes-bag``: a nuScenes-layout dataset -> bags that eval-bag and distill read like any other."""

from __future__ import annotations

import json

import pytest

from disdepth_core.cli import main as cli

pytest.importorskip("nuscenes")
pytest.importorskip("rosbags")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The same synthetic drive as a nuScenes export and as a native bag (12 frames, 64x96)."""
    root = tmp_path_factory.mktemp("nus")
    for fmt in ("nuscenes", "bag"):
        assert cli(["world", "--out", str(root / fmt), "--frames", "12", "--size", "64x96", "--format", fmt,
                    "--quiet"]) == 0
    assert cli(["nuscenes-bag", str(root / "nuscenes"), "--version", "v1.0-synthetic", "--out", str(root / "bags"),
                "--quiet"]) == 0
    (bag,) = sorted((root / "bags").iterdir())
    return root, bag


def test_converted_scene_has_every_sensor_and_is_resumable(scene, capsys):
    from disdepth_core.evaluation.bag_source import open_bag

    root, bag = scene
    _, inv = open_bag(bag)
    assert inv.topics["/CAM_FRONT/image_raw/compressed"] == ("sensor_msgs/msg/CompressedImage", 12)
    assert inv.topics["/CAM_BACK/camera_info"][1] == 12 and inv.topics["/LIDAR_TOP/points"][1] == 12
    assert inv.topics["/tf_static"][1] == 1
    capsys.readouterr()
    assert cli(["nuscenes-bag", str(root / "nuscenes"), "--version", "v1.0-synthetic", "--out", str(root / "bags"),
                "--quiet"]) == 0
    assert "exists, kept" in capsys.readouterr().out


def test_converted_bag_evaluates_like_the_native_bag_of_the_same_drive(scene, tmp_path):
    """Same drive, same LiDAR labels and extrinsics: only the JPEG compression differs."""
    root, bag = scene
    res = {}
    for name, b in (("converted", bag), ("native", root / "bag")):
        assert cli(["eval-bag", str(b), "--checkpoint", "weights/student_default", "--input-size", "64x96",
                    "--device", "cpu", "--gt", "lidar", "--quiet", "--out", str(tmp_path / name)]) == 0
        res[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    a, b = res["converted"], res["native"]
    assert a["accounting"]["steps_evaluated"] == b["accounting"]["steps_evaluated"] == 12
    assert all(v.startswith("/tf_static") for v in a["extrinsics"].values())  # from the bag, not the rig
    assert a["metric"]["all"]["abs_rel"] == pytest.approx(b["metric"]["all"]["abs_rel"], abs=0.01)


def test_unknown_scene_is_one_line(scene, capsys):
    root, _ = scene
    assert cli(["nuscenes-bag", str(root / "nuscenes"), "--version", "v1.0-synthetic", "--out",
                str(root / "other"), "--scenes", "scene-0999"]) == 1
    err = capsys.readouterr().err.strip()
    assert "scene-0999" in err and "\n" not in err
    assert cli(["nuscenes-bag", str(root / "nuscenes"), "--version", "v1.0-mini", "--out", str(root / "o2")]) == 1
    assert "v1.0-synthetic" in capsys.readouterr().err  # names the versions it found
