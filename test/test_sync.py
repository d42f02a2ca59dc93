"""ApproximateTimeSync: message_filters semantics, missing-camera policies."""

from __future__ import annotations

import itertools
import random

import pytest

from disdepth_core.sync import ApproximateTimeSync

MS = 1_000_000
CAMS = ["F", "FR", "BR", "B", "BL", "FL"]


class ReferenceApproximateTimeSynchronizer:
    """Literal port of rclpy message_filters.ApproximateTimeSynchronizer.add (the spec)."""

    def __init__(self, n, queue_size, slop_ns):
        self.queues = [{} for _ in range(n)]
        self.queue_size = queue_size
        self.slop = slop_ns
        self.out = []

    def add(self, index, stamp, msg):
        my_queue = self.queues[index]
        my_queue[stamp] = msg
        while len(my_queue) > self.queue_size:
            del my_queue[min(my_queue)]
        search_queues = self.queues[:index] + self.queues[index + 1 :]
        stamps = []
        for queue in search_queues:
            topic_stamps = []
            for s in queue:
                stamp_delta = abs(s - stamp)
                if stamp_delta > self.slop:
                    continue
                topic_stamps.append((s, stamp_delta))
            if not topic_stamps:
                return
            topic_stamps = sorted(topic_stamps, key=lambda x: x[1])
            stamps.append(topic_stamps)
        for vv in itertools.product(*[list(zip(*s, strict=True))[0] for s in stamps]):
            vv = list(vv)
            vv.insert(index, stamp)
            qt = list(zip(self.queues, vv, strict=True))
            if (max(vv) - min(vv)) < self.slop and len([1 for q, t in qt if t not in q]) == 0:
                self.out.append([q[t] for q, t in qt])
                for q, t in qt:
                    del q[t]
                break


def test_complete_sets_in_order():
    sync = ApproximateTimeSync(CAMS, queue_size=5, slop_s=0.02)
    got = []
    for f in range(4):
        for i, c in enumerate(CAMS):
            got += sync.add(c, f * 100 * MS + i * MS, (c, f))
    assert len(got) == 4
    for f, s in enumerate(got):
        assert s.keys == CAMS
        assert [s.items[c] for c in CAMS] == [(c, f) for c in CAMS]
        assert s.spread_ns == 5 * MS
    assert all(not q for q in sync.queues.values())


def test_slop_is_strict_on_spread():
    sync = ApproximateTimeSync(["a", "b"], queue_size=5, slop_s=0.010)
    assert sync.add("a", 0, 1) == []
    assert sync.add("b", 10 * MS, 2) == []  # spread == slop: not < slop
    assert sync.add("b", 9 * MS, 3)[0].items == {"a": 1, "b": 3}
    # the unmatched item stays queued until pushed out
    assert 10 * MS in sync.queues["b"]


def test_prefers_closest_stamp():
    sync = ApproximateTimeSync(["a", "b"], queue_size=5, slop_s=0.050)
    sync.add("b", 0, "b0")
    sync.add("b", 30 * MS, "b30")
    s = sync.add("a", 25 * MS, "a25")[0]
    assert s.items == {"a": "a25", "b": "b30"}


def test_queue_overflow_drops_oldest_and_counts():
    sync = ApproximateTimeSync(["a", "b"], queue_size=3, slop_s=0.005)
    for k in range(5):
        sync.add("a", k * 100 * MS, k)
    assert sorted(sync.queues["a"]) == [200 * MS, 300 * MS, 400 * MS]
    assert sync.stats["a"].overflowed == 2
    assert sync.add("b", 0, "late") == []  # its partner was pushed out
    assert sync.add("b", 300 * MS + MS, "ok")[0].items == {"a": 3, "b": "ok"}


def test_out_of_order_arrival_still_matches():
    sync = ApproximateTimeSync(["a", "b", "c"], queue_size=10, slop_s=0.01)
    got = []
    got += sync.add("a", 200 * MS, "a2")
    got += sync.add("a", 100 * MS, "a1")
    got += sync.add("b", 100 * MS, "b1")
    got += sync.add("c", 200 * MS, "c2")
    got += sync.add("b", 200 * MS, "b2")
    got += sync.add("c", 101 * MS, "c1")
    assert [sorted(s.items.values()) for s in got] == [["a2", "b2", "c2"], ["a1", "b1", "c1"]]


def test_repeated_stamp_replaces_item():
    sync = ApproximateTimeSync(["a", "b"], queue_size=3, slop_s=0.01)
    sync.add("a", 0, "old")
    sync.add("a", 0, "new")
    assert sync.add("b", 0, "b")[0].items["a"] == "new"


@pytest.mark.parametrize("seed", range(8))
def test_matches_message_filters_reference(seed):
    """Random jittered, reordered, dropped streams: identical output to the reference port."""
    rng = random.Random(seed)
    n = rng.choice([2, 3, 6])
    queue_size = rng.choice([1, 2, 5, 10])
    slop_ms = rng.choice([3, 10, 40])
    events = []
    for f in range(40):
        for i in range(n):
            if rng.random() < 0.1:
                continue  # lost message
            jitter = max(1, int(slop_ms * 0.4))
            stamp = f * 50 * MS + rng.randint(-jitter, jitter) * MS
            arrival = stamp + rng.randint(0, 60) * MS
            events.append((arrival, i, stamp))
    events.sort()
    ref = ReferenceApproximateTimeSynchronizer(n, queue_size, slop_ms * MS)
    sync = ApproximateTimeSync(list(range(n)), queue_size, slop_ms / 1000)
    ours = []
    for _, i, stamp in events:
        msg = (i, stamp)
        ref.add(i, stamp, msg)
        ours += [list(s.items.values()) for s in sync.add(i, stamp, msg)]
    assert ours == ref.out
    assert len(ours) > 0


def test_wait_policy_stalls_when_a_camera_stops():
    sync = ApproximateTimeSync(CAMS, queue_size=3, slop_s=0.01, timeout_s=0.2, policy="wait")
    got = []
    for f in range(10):
        t = f * 100 * MS
        for c in CAMS:
            if c == "B" and f >= 3:
                continue
            got += sync.add(c, t, f, now_ns=t)
        got += sync.poll(t + 50 * MS)
    assert len(got) == 3
    assert sync.missing(10 * 100 * MS) == []  # 'wait' never declares a camera missing


def test_drop_camera_policy_publishes_present_cameras():
    sync = ApproximateTimeSync(CAMS, queue_size=3, slop_s=0.01, timeout_s=0.25, policy="drop_camera")
    got = []
    for f in range(12):
        t = f * 100 * MS
        for c in CAMS:
            if c == "B" and 3 <= f < 8:
                continue  # camera B is dead for frames 3..7
            got += sync.add(c, t, f, now_ns=t)
        got += sync.poll(t + 50 * MS)
    frames = {}
    for s in got:
        f = next(iter(s.items.values()))
        assert all(v == f for v in s.items.values())  # never mixes time steps
        frames[f] = s.keys
    assert sorted(frames) == list(range(12))  # no time step lost, only its camera B
    for f in range(12):
        assert ("B" in frames[f]) == (f < 3 or f >= 8), (f, frames[f])
    assert sync.missing(11 * 100 * MS) == []


def test_drop_camera_flushes_sets_waiting_for_the_dead_camera():
    sync = ApproximateTimeSync(["a", "b", "c"], queue_size=5, slop_s=0.01, timeout_s=0.3, policy="drop_camera")
    sync.add("c", 0, "c0", now_ns=0)
    assert sync.add("a", 100 * MS, "a1", now_ns=100 * MS) == []
    assert sync.add("b", 100 * MS, "b1", now_ns=100 * MS) == []  # waiting for c
    assert sync.poll(200 * MS) == []
    got = sync.poll(400 * MS)  # c silent for 0.4 s > 0.3 s
    assert [s.items for s in got] == [{"a": "a1", "b": "b1"}]
    assert sync.missing(400 * MS) == ["c"]


def test_min_streams_limits_partial_sets():
    sync = ApproximateTimeSync(["a", "b", "c"], queue_size=5, slop_s=0.01, timeout_s=0.1, policy="drop_camera",
                               min_streams=2)
    got = []
    for f in range(5):
        t = f * 100 * MS + 200 * MS
        got += sync.add("a", t, f, now_ns=t)  # b and c never publish
    assert got == []
    assert sorted(sync.missing(700 * MS)) == ["b", "c"]


def test_callback_and_bad_arguments():
    seen = []
    sync = ApproximateTimeSync(["a", "b"], 2, 0.01, callback=seen.append)
    sync.add("a", 0, 1)
    sync.add("b", 0, 2)
    assert len(seen) == 1
    with pytest.raises(KeyError, match="unknown stream 'z'"):
        sync.add("z", 0, 0)
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimeSync(["a"], 2, 0.0)
    with pytest.raises(ValueError, match="policy"):
        ApproximateTimeSync(["a"], 2, 0.1, policy="later")
    with pytest.raises(ValueError, match="duplicate"):
        ApproximateTimeSync(["a", "a"], 2, 0.1)


def test_drop_camera_start_and_restart_do_not_publish_the_first_camera_alone():
    sync = ApproximateTimeSync(["a", "b", "c"], queue_size=5, slop_s=0.01, timeout_s=0.3, policy="drop_camera")
    assert sync.poll(0) == []
    # nothing for 5 s (node up, cameras not yet): the first image of a time step must wait for the others
    t0 = 5_000 * MS
    assert sync.add("a", t0, "a0", now_ns=t0) == []
    assert sync.add("b", t0, "b0", now_ns=t0 + 2 * MS) == []
    assert [s.keys for s in sync.add("c", t0, "c0", now_ns=t0 + 4 * MS)] == [["a", "b", "c"]]
    for k in (1, 2, 3):  # a few steps at 10 Hz: the period is known
        t = t0 + k * 100 * MS
        got = sync.add("a", t, k, now_ns=t) + sync.add("b", t, k, now_ns=t + 2 * MS) + sync.add("c", t, k, now_ns=t + 4 * MS)
        assert [s.keys for s in got] == [["a", "b", "c"]]
    t0 += 300 * MS
    # everything pauses for 2 s (bag paused), then restarts: again no lonely first camera, and the
    # pause is not taken for a period (c is still missing after the base timeout below)
    t1 = t0 + 2_000 * MS
    assert sync.poll(t1) == []
    assert sync.add("b", t1, "b1", now_ns=t1) == []
    assert sync.add("a", t1, "a1", now_ns=t1 + MS) == []
    assert [s.keys for s in sync.add("c", t1, "c1", now_ns=t1 + 2 * MS)] == [["a", "b", "c"]]
    # then c stops: its partners are published without it once it is silent for the timeout
    t2 = t1 + 100 * MS
    assert sync.add("a", t2, "a2", now_ns=t2) == []
    assert sync.add("b", t2, "b2", now_ns=t2) == []
    assert sync.poll(t1 + 250 * MS) == []
    assert [s.keys for s in sync.poll(t1 + 320 * MS)] == [["a", "b"]]


def test_slow_cameras_are_not_missing_between_their_frames():
    """2 Hz cameras under the default 0.5 s timeout (issue 15): every set complete, none partial;
    a camera that really stops is still declared missing, after 2.5 of its periods."""
    sync = ApproximateTimeSync(CAMS, queue_size=10, slop_s=0.05, timeout_s=0.5, policy="drop_camera")
    got = []
    period = 500 * MS
    rng = random.Random(3)
    events = []  # (receive time, camera, frame): delivery jitter of up to 80 ms per image
    for f in range(12):
        events += [(f * period + rng.randrange(0, 80) * MS, c, f) for c in CAMS]
    events.sort()
    polls = iter(range(0, 12 * period, 50 * MS))  # the node polls every 50 ms
    next_poll = next(polls)
    for now, c, f in events:
        while next_poll is not None and next_poll < now:
            got += sync.poll(next_poll)
            next_poll = next(polls, None)
        got += sync.add(c, f * period, f, now_ns=now)
    assert [len(s.keys) for s in got] == [len(CAMS)] * 12, [s.keys for s in got]
    assert abs(sync.timeout_ns_for(CAMS[0]) - 2.5 * period) < 0.1 * period
    t_stop = 12 * period
    for c in CAMS[1:]:  # the first camera stops
        sync.add(c, t_stop, 12, now_ns=t_stop)
    assert sync.missing(t_stop) == []
    assert sync.missing(11 * period + 3 * period) == [CAMS[0]]


def test_excluded_stream_no_longer_blocks_the_others():
    sync = ApproximateTimeSync(["a", "b", "c"], queue_size=10, slop_s=0.05, timeout_s=0.5, policy="drop_camera")
    got = []
    for f in range(6):  # c publishes, but 300 ms behind at 4 Hz: never within the slop
        t = f * 250 * MS
        got += sync.add("a", t, f, now_ns=t) + sync.add("b", t, f, now_ns=t) + sync.add("c", t - 300 * MS, f, now_ns=t)
    assert got == []  # message_filters semantics: a present but unmatched stream blocks every set
    sync.exclude("c")
    t = 6 * 250 * MS
    got = sync.add("a", t, 6, now_ns=t) + sync.add("b", t, 6, now_ns=t)
    assert [s.keys for s in got][-1] == ["a", "b"] and len(got) >= 2  # queued steps flushed, then the new one
    sync.exclude("c", False)
    t = 7 * 250 * MS
    got = sync.add("a", t, 7, now_ns=t) + sync.add("b", t, 7, now_ns=t) + sync.add("c", t, 7, now_ns=t)
    assert [s.keys for s in got] == [["a", "b", "c"]]
