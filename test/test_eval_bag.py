"""``disdepth eval-bag`` offline: perfect and scaled predictions, LiDAR vs dense GT, accounting, bad bags.

Bags are tiny synthetic-world drives (6 cameras 64x96, 3 frames) written with the world's bag
writer, or built message by message with rosbags for the fault cases.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from bag_fixtures import REPO, custom_bag, world_bag

from disdepth_core.cli import main
from disdepth_core.evaluation.bag_eval import evaluate_bag
from disdepth_core.evaluation.bag_source import BagSource, BagTopics
from disdepth_core.geometry import CameraRig

EVAL_KEYS = {"metric", "median", "cross_view", "cross_view_gt", "error_by_distance", "depth_range", "samples", "dataset"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return world_bag(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def rig():
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")


def gt_scaled(dense: dict, scale: float):
    """A predictor that answers ``scale`` x the dense ground truth of the step (NaN where none)."""
    return lambda s: np.where(dense[s.timestamp_ns] > 0, dense[s.timestamp_ns] * scale, np.nan).astype(np.float32)


def test_ground_truth_as_prediction_is_perfect_sqlite3_with_outputs(tmp_path, world):
    """The CLI end to end on a sqlite3 bag, the test-only ground_truth engine as the model."""
    bag, frames_path, fr = world_bag(tmp_path / "w", storage="sqlite3")
    out = tmp_path / "out"
    rc = main(["eval-bag", str(bag), "--backend", "ground_truth", "--gt-frames", str(frames_path), "--device", "cpu",
               "--out", str(out), "--save-predictions", "--quiet"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert EVAL_KEYS <= set(m)  # the keys of `disdepth eval`, plus the bag's own
    for mode in ("metric", "median"):
        assert m[mode]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-7)
        assert m[mode]["all"]["a1"] == 1.0 and m[mode]["all"]["images"] == 18
    assert m["accounting"]["steps_found"] == m["accounting"]["steps_evaluated"] == 3
    assert m["accounting"]["skipped_total"] == 0 and m["bag"]["storage"] == "sqlite3"
    assert m["cross_view"] == pytest.approx(m["cross_view_gt"], rel=1e-6)  # GT's own floor
    # predictions: float32 metres keyed by bag stamp and camera, equal to the truth where it exists
    for f, stamp in enumerate(fr.stamps_ns):
        with np.load(out / "predictions" / f"{int(stamp)}.npz") as z:
            for i, cam in enumerate(fr.cameras):
                assert z[cam].dtype == np.float32 and int(z[f"stamp_ns.{cam}"]) == int(stamp)
                g = fr.depth[f, i]
                ok = (g > 0) & (g <= 80)
                np.testing.assert_array_equal(z[cam][ok], g[ok])
    report = (out / "report.md").read_text()
    assert "disdepth eval-bag" in report and str(bag) in report and "sqlite3" in report and "ground_truth" in report
    assert "Time steps found: **3**, evaluated: **3**" in report
    # the perfect engine's confidence (1 wherever it has depth): no error to rank, said so
    assert all(r["ause"] == 0.0 and r["ause_random"] == 0.0 for r in m["confidence"]["per_camera"].values())
    assert "Nothing to rank for CAM_FRONT" in report and "does NOT rank" not in report
    lines = (out / "per_frame.csv").read_text().strip().splitlines()
    assert len(lines) == 4 and "status" in lines[0]
    for png in ("bev.png", "mosaic_0.png", "per_camera.png", "error_vs_distance.png"):
        assert (out / png).stat().st_size > 1000


def test_constant_scale_error_gives_expected_metrics_and_perfect_median_scaled(world, rig):
    bag, _, _ = world
    dense = {s.timestamp_ns: s.gt for s in BagSource(bag, rig, topics=BagTopics(gt="depth"))}
    r = evaluate_bag(BagSource(bag, rig, topics=BagTopics(gt="depth")), gt_scaled(dense, 0.7), progress=False)
    m, med = r["metric"]["all"], r["median"]["all"]
    assert m["abs_rel"] == pytest.approx(0.3, abs=1e-5)
    assert m["rmse_log"] == pytest.approx(-np.log(0.7), abs=1e-5)
    assert (m["a1"], m["a2"], m["a3"]) == (0.0, 1.0, 1.0)  # ratio 1/0.7 = 1.43: above 1.25, below 1.5625
    assert med["abs_rel"] == pytest.approx(0.0, abs=1e-6) and med["a1"] == 1.0
    assert all(b["abs_rel"] == pytest.approx(0.3, abs=1e-5) for b in r["error_by_distance"] if b["pixels"])


def test_lidar_and_dense_ground_truth_agree(world, rig):
    """Same prediction scored against dense depth_gt and against the LiDAR projected with /tf_static.

    They differ only where a LiDAR return lands on a pixel whose centre sees another depth (edges,
    the LiDAR's other viewpoint): measured |dAbsRel| 0.014-0.024, |d delta1| 0.022-0.024 here.
    """
    bag, _, _ = world
    dense = {s.timestamp_ns: s.gt for s in BagSource(bag, rig, topics=BagTopics(gt="depth"))}
    lidar_src = BagSource(bag, rig, topics=BagTopics(gt="lidar"))
    assert lidar_src.extrinsics_source["/LIDAR_TOP/points"].startswith("/tf_static")
    for scale in (1.0, 0.9):
        d = evaluate_bag(BagSource(bag, rig, topics=BagTopics(gt="depth")), gt_scaled(dense, scale), progress=False)
        src = BagSource(bag, rig, topics=BagTopics(gt="lidar"))
        li = evaluate_bag(src, gt_scaled(dense, scale), progress=False)
        assert li["gt_source"] == "lidar" and li["accounting"]["steps_evaluated"] == 3
        for k, tol in (("abs_rel", 0.04), ("a1", 0.04)):  # rmse_log is dominated by the few edge pixels
            assert li["metric"]["all"][k] == pytest.approx(d["metric"]["all"][k], abs=tol), (scale, k)
        assert li["median"]["all"]["abs_rel"] < 0.05


def test_accounting_of_gap_corrupt_message_missing_info_and_missing_gt(tmp_path, world, rig):
    _, _, fr = world
    bag = custom_bag(tmp_path / "faults", fr, 6, drop={(2, "CAM_BACK")}, corrupt={(3, "CAM_FRONT")}, no_depth={4},
                     info_from={"CAM_FRONT_LEFT": 1})
    src = BagSource(bag, rig, topics=BagTopics(gt="depth"), gt_wait_s=0.05)
    dense = {}
    r = evaluate_bag(src, lambda s: dense.setdefault(s.timestamp_ns, np.where(s.gt > 0, s.gt, np.nan)), progress=False)
    a = r["accounting"]
    assert a["steps_found"] == 6 and a["steps_evaluated"] == 2
    assert a["skipped"] == {"missing_camera_info": 1, "no_sync_partner": 1, "corrupt_message": 1, "no_gt": 1}
    assert a["steps_found"] == a["steps_evaluated"] + a["skipped_total"]
    assert a["images_corrupt"]["CAM_FRONT"] == 1 and a["corrupt_messages"] == {"/CAM_FRONT/image_raw": 1}
    assert a["images_found"]["CAM_BACK"] == 5 and a["images_found"]["CAM_FRONT"] == 6
    # the 5 partners of the gap and of the corrupt image were never synchronised
    assert sum(a["images_unsynced"].values()) == 10 and a["images_unsynced"]["CAM_BACK"] == 1
    t0 = int(fr.stamps_ns[0])
    status = {row["timestamp_ns"]: row["status"] for row in r["per_frame"]}
    assert status == {t0: "skipped:missing_camera_info", t0 + 100_000_000: "evaluated",
                      t0 + 200_000_000: "skipped:no_sync_partner", t0 + 300_000_000: "skipped:corrupt_message",
                      t0 + 400_000_000: "skipped:no_gt", t0 + 500_000_000: "evaluated"}
    assert r["metric"]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-7)


def test_max_frames_is_accounted(world, rig):
    bag, _, _ = world
    src = BagSource(bag, rig, max_steps=2)
    r = evaluate_bag(src, lambda s: np.where(s.gt > 0, s.gt, np.nan), progress=False)
    assert r["accounting"]["steps_evaluated"] == 2 and r["accounting"]["skipped"] == {"max_frames": 1}


@pytest.mark.parametrize("case, expect", [
    ("missing", "bag not found"),
    ("truncated", "cannot be read"),
    ("no_cameras", "no camera topics"),
    ("wrong_type", "has type sensor_msgs/msg/CameraInfo, expected sensor_msgs/msg/Image"),
    ("no_info", "no CameraInfo for CAM_FRONT (/CAM_FRONT/camera_info)"),
    ("no_gt", "no ground truth"),
])
def test_bad_bags_give_one_line_listing_the_contents(tmp_path, world, capsys, case, expect):
    src_bag, _, fr = world
    bag = tmp_path / "bad"
    if case == "truncated":
        shutil.copytree(src_bag, bag)
        mcap = next(bag.glob("*.mcap"))
        with open(mcap, "r+b") as fh:
            fh.truncate(mcap.stat().st_size // 2)
    elif case == "no_cameras":
        custom_bag(bag, fr, 0, topics_override={"/chatter": "std_msgs/msg/String"})
    elif case == "wrong_type":
        custom_bag(bag, fr, 0, topics_override={"/CAM_FRONT/image_raw": "sensor_msgs/msg/CameraInfo"})
    elif case == "no_info":
        custom_bag(bag, fr, 0, topics_override={"/CAM_FRONT/image_raw": "sensor_msgs/msg/Image"})
    elif case == "no_gt":
        custom_bag(bag, fr, 0, topics_override={"/CAM_FRONT/image_raw": "sensor_msgs/msg/Image",
                                                "/CAM_FRONT/camera_info": "sensor_msgs/msg/CameraInfo"})
    rc = main(["eval-bag", str(bag), "--backend", "ground_truth", "--gt-frames", "unused.npz", "--quiet",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and expect in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if case in ("truncated", "no_cameras", "wrong_type", "no_info", "no_gt"):
        assert "/CAM_FRONT/image_raw (sensor_msgs/msg/" in err or "/chatter (std_msgs/msg/String, 1)" in err


def test_live_frames_that_never_came_back_are_skipped_and_listed(world, rig):
    """RecordedPredictor (what --live evaluates): a missing (camera, stamp) skips its step, counted."""
    from disdepth_core.evaluation.bag_eval import RecordedPredictor

    bag, _, fr = world
    recorded = {(cam, int(fr.stamps_ns[f])): np.where(fr.depth[f, i] > 0, fr.depth[f, i], np.nan).astype(np.float32)
                for f in range(fr.num_frames) for i, cam in enumerate(fr.cameras)}
    del recorded[("CAM_BACK", int(fr.stamps_ns[1]))]
    pred = RecordedPredictor(recorded)
    r = evaluate_bag(BagSource(bag, rig), pred, progress=False)
    assert r["accounting"]["skipped"] == {"no_live_output": 1} and r["accounting"]["steps_evaluated"] == 2
    assert pred.missing_keys == {("CAM_BACK", int(fr.stamps_ns[1]))} and len(pred.used) == 12
    assert r["metric"]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-7)
