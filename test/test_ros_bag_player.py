"""bag_player: a bag written with rosbags is played over DDS with its timing, rate, /clock and topic filter."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from ros_harness import Child, Listener, pick_domain_id, ros_env  # noqa: E402

SPACING_NS = 100_000_000  # 10 Hz in the bag
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from disdepth_ros.conversions import array_to_image, make_camera_info, ns_to_stamp

    ts = get_typestore(Stores.ROS2_KILTED)
    path = tmp_path_factory.mktemp("bag") / "cams"
    rng = np.random.default_rng(0)
    images = []
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c_img = w.add_connection("/CAM_FRONT/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        c_info = w.add_connection("/CAM_FRONT/camera_info", "sensor_msgs/msg/CameraInfo", typestore=ts)
        for k in range(5):
            t = T0 + k * SPACING_NS
            img = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
            images.append(img)
            w.write(c_info, t, serialize_message(make_camera_info(np.eye(3), (12, 20), stamp=ns_to_stamp(t))))
            w.write(c_img, t, serialize_message(array_to_image(img, "bgr8", stamp=ns_to_stamp(t), frame_id="cam")))
    return path, images


def test_bag_player_plays_raw_cdr_with_timing_rate_clock_and_topic_filter(bag, tmp_path):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image

    from disdepth_core.pipeline.decoding import image_to_array, stamp_to_ns

    path, images = bag
    env = ros_env(pick_domain_id())
    for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION", "FASTDDS_DEFAULT_PROFILES_FILE"):
        os.environ[k] = env[k]
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    lis = Listener(rclpy, ctx, name="bag_listener")
    child = None
    try:
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        lis.sub(Image, "/CAM_FRONT/image_raw", qos)
        lis.sub(CameraInfo, "/CAM_FRONT/camera_info", qos)
        lis.sub(Clock, "/clock", QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
        child = Child("disdepth_ros.bag_player", [], env, tmp_path / "player.log", args=[
            str(path), "--rate", "2.0", "--clock", "50", "--topics", "/CAM_FRONT/image_raw", "/not/in/bag",
            "--wait-for-subscribers", "1", "--delay", "1.0"])
        msgs = lis.msgs["/CAM_FRONT/image_raw"]
        assert lis.spin_until(lambda: len(msgs) >= 5, timeout=30), child.log()
        assert lis.spin_until(lambda: child.proc.poll() is not None, timeout=10)
        assert child.proc.returncode == 0, child.log()
        for k, (_, m) in enumerate(msgs):
            assert stamp_to_ns(m.header.stamp) == T0 + k * SPACING_NS and m.header.frame_id == "cam"
            np.testing.assert_array_equal(image_to_array(m), images[k])  # bytes unchanged
        span = msgs[-1][0] - msgs[0][0]
        # 4 gaps of 100 ms at rate 2 -> 200 ms; generous bounds: timing honoured, not dumped at once
        assert 0.15 < span < 1.0, span
        assert not lis.msgs["/CAM_FRONT/camera_info"]  # not selected
        clocks = [stamp_to_ns(m.clock) for _, m in lis.msgs["/clock"]]
        assert len(clocks) >= 5 and clocks == sorted(clocks)
        assert T0 <= clocks[0] and clocks[-1] == T0 + 4 * SPACING_NS
        assert "topics not in the bag: /not/in/bag" in child.log()
    finally:
        if child is not None:
            child.stop(signal.SIGINT)
        lis.close()
        rclpy.shutdown(context=ctx)
        time.sleep(0.1)
