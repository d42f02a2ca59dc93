"""The one stamp-matching rule of eval-bag (disdepth_core/evaluation/stamp_match.py), on its own."""

from __future__ import annotations

from disdepth_core.evaluation.stamp_match import StampedStream, digest, stream_warnings


def add(st: StampedStream, stamp: int, value: str, recv: int):
    return st.add(stamp, value, recv_ns=recv, raw_digest=digest(f"{stamp}:{value}".encode()))


def test_repeated_stamps_get_arrival_occurrences_and_duplicates_are_dropped():
    st = StampedStream("/CAM_FRONT/depth_gt")
    assert add(st, 0, "a", 1) == (0, 0) and add(st, 0, "b", 2) == (0, 1) and add(st, 0, "b", 3) is None
    assert st.exact((0, 0)) == "a" and st.exact((0, 1)) == "b" and st.exact((0, 2)) is None  # never overwritten
    assert (st.repeated, st.duplicates) == (1, 1)
    w = stream_warnings([st, StampedStream("/quiet")])
    assert len(w) == 2 and "/CAM_FRONT/depth_gt 1" in w[0] and "arrival order" in w[0] and "/quiet" not in w[0]


def test_latest_and_nearest_rules():
    info = StampedStream("/CAM_FRONT/camera_info")
    for s in (100, 200, 300):
        add(info, s, f"K{s}", s)
    assert info.latest((200, 0)) == "K200" and info.latest((250, 0)) == "K200" and info.latest((50, 0)) == "K100"
    lidar = StampedStream("/LIDAR_TOP/points")
    for s, v in ((100, "p"), (160, "q0"), (160, "q1")):
        add(lidar, s, v, s)
    assert lidar.nearest(150, 20, occurrence=1) == ((160, 1), "q1")  # the step's occurrence
    assert lidar.nearest(150, 20, occurrence=5) == ((160, 1), "q1")  # else the latest of that stamp
    assert lidar.nearest(130, 30) == ((100, 0), "p")  # tie 30/30: the earlier stamp
    assert lidar.nearest(400, 20) is None


def test_prune_is_bounded_and_keeps_the_latest_as_fallback():
    info = StampedStream("/CAM_FRONT/camera_info")
    for k in range(1000):
        add(info, k * 10, f"K{k}", k * 10)
        info.prune(k * 10 - 100)
        assert len(info) <= 12
    assert info.latest((0, 0)) == "K988"  # older ones forgotten (but the newest of them); the earliest kept answers
    info.prune(10**9)
    assert len(info) == 1 and info.latest((10**12, 0)) == "K999"  # a latched CameraInfo stays usable
