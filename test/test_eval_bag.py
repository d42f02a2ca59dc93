"""``disdepth eval-bag`` offline: perfect and scaled predictions, LiDAR vs dense GT, accounting, bad bags.

Bags are tiny synthetic-world drives (6 cameras 64x96, 3 frames) written with the world's bag
writer, or built message by message with rosbags for the fault cases.
"""

from __future__ import annotations

import csv
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
    assert all(b["scale"] == pytest.approx(0.7, abs=1e-6) for b in r["error_by_distance"] if b["pixels"])


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


def assert_identity(a: dict) -> None:
    """The accounting identities of eval-bag (docs/eval_bag.md), from metrics.json's ``accounting``."""
    assert a["steps_found"] == a["steps_evaluated"] + a["skipped_total"]
    for c in a["cameras"]:
        assert a["images_found"][c] == (a["images_evaluated"][c] + a["images_unsynced"][c] + a["images_corrupt"][c]
                                        + a["images_duplicate"][c] + sum(a["images_dropped"][c].values())), c


@pytest.mark.parametrize("fault", ["corrupt", "corrupt_header"])
def test_accounting_of_gap_corrupt_message_missing_info_and_missing_gt(tmp_path, world, rig, fault):
    """A corrupt image whose header stamp is readable is a placeholder in its set: the other five cameras of
    its step are evaluated (issue 15). Cut before the stamp, it is a skipped ``corrupt_message`` step."""
    _, _, fr = world
    bag = custom_bag(tmp_path / "faults", fr, 6, drop={(2, "CAM_BACK")}, **{fault: {(3, "CAM_FRONT")}}, no_depth={4},
                     info_from={"CAM_FRONT_LEFT": 1})
    src = BagSource(bag, rig, topics=BagTopics(gt="depth"), gt_wait_s=0.05)
    dense = {}
    r = evaluate_bag(src, lambda s: dense.setdefault(s.timestamp_ns, np.where(s.gt > 0, s.gt, np.nan)), progress=False)
    a = r["accounting"]
    assert_identity(a)
    readable = fault == "corrupt"
    assert a["steps_found"] == 6 and a["steps_evaluated"] == (3 if readable else 2)
    assert a["steps_partial"] == (1 if readable else 0)
    assert a["skipped"] == {"missing_camera_info": 1, "no_sync_partner": 1, "no_gt": 1,
                            **({} if readable else {"corrupt_message": 1})}
    assert a["images_corrupt"]["CAM_FRONT"] == 1 and a["corrupt_messages"] == {"/CAM_FRONT/image_raw": 1}
    assert a["images_found"]["CAM_BACK"] == 5 and a["images_found"]["CAM_FRONT"] == 6
    # every image once: the 5 partners of the gap never synchronised, steps 0 and 4 dropped for their reason
    assert a["images_evaluated"] == {c: 3 if readable and c != "CAM_FRONT" else 2 for c in fr.cameras}
    assert a["images_unsynced"]["CAM_BACK"] == (0 if readable else 1)
    assert sum(a["images_unsynced"].values()) == (5 if readable else 10)
    assert all(a["images_dropped"][c] == {"missing_camera_info": 1, "no_gt": 1} for c in fr.cameras)
    t0 = int(fr.stamps_ns[0])
    status = {row["timestamp_ns"]: row["status"] for row in r["per_frame"]}
    assert status == {t0: "skipped:missing_camera_info", t0 + 100_000_000: "evaluated",
                      t0 + 200_000_000: "skipped:no_sync_partner",
                      t0 + 300_000_000: "evaluated" if readable else "skipped:corrupt_message",
                      t0 + 400_000_000: "skipped:no_gt", t0 + 500_000_000: "evaluated"}
    assert [row["index"] for row in r["per_frame"]] == list(range(6))  # the bag step index, not evaluated steps
    assert r["metric"]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-7)
    if readable:
        assert r["metric"]["per_camera"]["CAM_FRONT"]["images"] == 2 and r["metric"]["all"]["images"] == 17


def run_cli(bag, frames_path, out, *extra) -> tuple[int, dict]:
    rc = main(["eval-bag", str(bag), "--backend", "ground_truth", "--gt-frames", str(frames_path), "--device", "cpu",
               "--out", str(out), "--quiet", *extra])
    return rc, json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else {}


@pytest.mark.parametrize("case", ["all_zero", "pairs"])
def test_repeated_stamps_are_matched_by_arrival_order_with_a_warning(tmp_path, world, capsys, case):
    """Issue 15 #2: all stamps zero / two steps per stamp. Every step is scored against its own truth
    (the ground_truth engine answers the truth of the image it sees: AbsRel 0 only if the GT is the
    step's), one prediction file per step, a warning saying arrival order was used."""
    _, frames_path, fr = world
    period = 100_000_000
    t0 = int(fr.stamps_ns[0])
    steps = 3 if case == "all_zero" else 6  # all_zero: frames must differ (equal stamp + bytes = a duplicate)
    stamp_of = (lambda k: 0) if case == "all_zero" else (lambda k: t0 + (k // 2) * 2 * period)
    bag = custom_bag(tmp_path / "bag", fr, steps, stamp_of=stamp_of)
    rc, m = run_cli(bag, frames_path, tmp_path / "out", "--save-predictions")
    err = capsys.readouterr().err
    assert rc == 0, err
    a = m["accounting"]
    assert_identity(a)
    assert a["steps_found"] == a["steps_evaluated"] == steps
    assert m["metric"]["all"]["abs_rel"] == pytest.approx(0.0, abs=1e-7) and m["metric"]["all"]["images"] == 6 * steps
    warn = [line for line in err.splitlines() if "warning:" in line]
    assert len(warn) == 2 and "repeat an earlier header stamp" in warn[0] and "/CAM_FRONT/image_raw" in warn[0]
    assert "matched by arrival order" in warn[0] and "/CAM_FRONT/camera_info" in warn[1]  # CameraInfo: identical
    assert any("repeat an earlier header stamp" in w for w in a["warnings"])
    files = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    assert len(files) == steps  # nothing overwritten
    if case == "all_zero":
        assert files == ["0.npz", "0_1.npz", "0_2.npz"]
    with open(tmp_path / "out" / "per_frame.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == list(range(steps))
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Warnings:" in report and "images = evaluated + never synchronised + corrupt + duplicate + dropped" in report
    assert m["accounting"]["image_identity"].startswith("images_found == images_evaluated + images_unsynced")


def test_duplicated_image_messages_are_counted(tmp_path, world, rig):
    """Issue 15 #6: an image message recorded twice is a duplicate (counted, ignored), not unaccounted."""
    _, _, fr = world
    bag = custom_bag(tmp_path / "dup", fr, 3, duplicate={(1, "CAM_FRONT"), (2, "CAM_BACK")})
    r = evaluate_bag(BagSource(bag, rig, topics=BagTopics(gt="depth")),
                     lambda s: np.where(s.gt > 0, s.gt, np.nan), progress=False)
    a = r["accounting"]
    assert_identity(a)
    assert a["images_found"]["CAM_FRONT"] == a["images_found"]["CAM_BACK"] == 4
    assert a["images_duplicate"] == {c: int(c in ("CAM_FRONT", "CAM_BACK")) for c in fr.cameras}
    assert a["images_evaluated"] == {c: 3 for c in fr.cameras} and a["steps_evaluated"] == 3
    assert a["duplicate_messages"] == {"/CAM_FRONT/image_raw": 1, "/CAM_BACK/image_raw": 1}
    assert a["warnings"] == ["duplicate messages (same stamp and bytes as an earlier one) ignored on 2 topic(s): "
                             "/CAM_FRONT/image_raw 1, /CAM_BACK/image_raw 1"]


def test_per_frame_csv_is_quoted_and_indexed_by_bag_step(tmp_path, world):
    """Issue 15 #6: a skip detail with commas stays one field; ``index`` is the bag step index."""
    _, frames_path, fr = world
    bag = custom_bag(tmp_path / "bag", fr, 4, drop={(1, "CAM_BACK"), (1, "CAM_FRONT")})
    rc, m = run_cli(bag, frames_path, tmp_path / "out")
    assert rc == 0
    with open(tmp_path / "out" / "per_frame.csv", newline="") as fh:
        table = list(csv.reader(fh))
    header, rows = table[0], table[1:]
    assert all(len(r) == len(header) for r in rows)
    rows = [dict(zip(header, r)) for r in rows]
    assert [r["index"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["status"] for r in rows] == ["evaluated", "skipped:no_sync_partner", "evaluated", "evaluated"]
    assert "," in rows[1]["detail"] and "no partner from CAM_FRONT, CAM_BACK" in rows[1]["detail"]
    assert_identity(m["accounting"])


def test_accounting_identity_is_enforced():
    from disdepth_core.evaluation.bag_source import AccountingError, BagAccounting

    a = BagAccounting(cameras=["CAM_FRONT"])
    a.images_found["CAM_FRONT"] = 2
    a.images_evaluated["CAM_FRONT"] = 1
    with pytest.raises(AccountingError, match="CAM_FRONT: images found 2"):
        a.to_json()
    a.images_dropped["CAM_FRONT"]["no_gt"] = 1
    assert a.to_json()["images_found"] == {"CAM_FRONT": 2}


def test_camera_info_storage_stays_bounded_on_a_long_bag(tmp_path, world, rig):
    """Issue 15: CameraInfo (and every other stream) is pruned with the images: 400 steps at 20 Hz keep
    at most gt_wait + 5 s of messages, and lookups stay correct."""
    _, _, fr = world
    bag = custom_bag(tmp_path / "long", fr, 400, cameras=["CAM_FRONT"], period_ns=50_000_000)
    src = BagSource(bag, rig, topics=BagTopics(gt="depth"), cameras=["CAM_FRONT"])
    held = []
    n = 0
    for step in src:
        held.append(src.buffered()["/CAM_FRONT/camera_info"])
        assert np.allclose(step.K[0], fr.K[0])
        n += 1
    assert n == 400
    assert max(held) <= 6.0 * 20 + 3 and max(held) < 400 / 2, max(held)
    assert max(src.buffered().values()) <= 6.0 * 20 + 3


def test_max_frames_is_accounted(world, rig):
    bag, _, _ = world
    src = BagSource(bag, rig, max_steps=2)
    r = evaluate_bag(src, lambda s: np.where(s.gt > 0, s.gt, np.nan), progress=False)
    assert r["accounting"]["steps_evaluated"] == 2 and r["accounting"]["skipped"] == {"max_frames": 1}


@pytest.mark.parametrize("case, expect", [
    ("missing", "bag not found"),
    ("truncated", "cannot be read"),
    ("tab_in_metadata", "cannot be read (ReaderError: Could not load YAML"),
    ("zero_messages", "the camera topics have no messages"),
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
    elif case == "tab_in_metadata":
        bag.mkdir()
        (bag / "metadata.yaml").write_text("rosbag2_bagfile_information:\n\tversion: 5\n")
    elif case == "zero_messages":
        custom_bag(bag, fr, 0)
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
    if case in ("truncated", "no_cameras", "wrong_type", "no_info", "no_gt", "zero_messages"):
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
