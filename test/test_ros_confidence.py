"""The node's depth confidence over real DDS (issue 14): ``/<CAM>/depth/confidence`` with the depth image's
header and size and the engine's values, ``cloud.min_confidence`` thinning the cloud, and a model without
a confidence logging that once and not advertising the topic.

Publisher process -> node process (a tiny random bin-head student through the torch backend) ->
subscriber in this process, as in ``test_ros_node.py``.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
import torch

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from ros_harness import Child, Listener, assert_accounted, reliable  # noqa: E402

from disdepth_core.geometry import CameraRig  # noqa: E402
from disdepth_core.runtime.pointcloud import depth_to_cloud  # noqa: E402
from disdepth_core.sim.box_room import make_box_room_frames  # noqa: E402

H, W = 96, 160
RATE = 5.0
NUM_FRAMES = 6


@pytest.fixture(scope="module")
def scene(tmp_path_factory, nuscenes_rig_path):
    rig = CameraRig.from_yaml(nuscenes_rig_path).resized(H, W)
    frames = make_box_room_frames(rig, NUM_FRAMES, rate_hz=RATE)
    return rig, frames, frames.save(tmp_path_factory.mktemp("scene") / "frames.npz")


def stamp_ns(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def tiny_student(path, head="bins"):
    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student

    torch.manual_seed(0)
    model = build_student(ModelConfig(backbone="mobilenetv2", decoder_channels=[8, 16, 16, 32], num_bins=16,
                                      input_size=(H, W), head=head)).eval()
    if head == "bins":
        with torch.no_grad():  # a distribution that varies over the image, so the threshold bites
            model.head.logits.weight.normal_(0.0, 5.0)
    return save_student(model, path)


def test_node_publishes_confidence_with_the_depth_header_and_min_confidence_thins_the_cloud(
        env, scene, procs, tmp_path, ros):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image, PointCloud2

    from disdepth_core.pipeline.decoding import image_to_array, pointcloud2_to_array
    from disdepth_core.runtime.engine_config import EngineConfig
    from disdepth_core.runtime.factory import create_engine

    rig, frames, path = scene
    ckpt = tiny_student(tmp_path / "student")
    engine = create_engine(EngineConfig(backend="torch", checkpoint=str(ckpt), device="cpu"))
    expected = {int(s): engine.infer(frames.images[f], output_size=(H, W)) for f, s in enumerate(frames.stamps_ns)}
    all_conf = torch.cat([r.confidence.flatten() for r in expected.values()])
    threshold = float(all_conf.median())  # about half of the points go
    assert float(all_conf.max() - all_conf.min()) > 1e-4, "the test model's confidence must vary"

    rclpy, ctx = ros
    lis = Listener(rclpy, ctx, name=f"conf_listener_{time.monotonic_ns() % 10**9}")
    try:
        for c in rig.names:
            lis.sub(Image, f"/{c}/depth/image_raw", reliable())
            lis.sub(Image, f"/{c}/depth/confidence", reliable())
        lis.sub(PointCloud2, "/surround_depth/points", reliable())
        lis.sub(DiagnosticArray, "/diagnostics", reliable())
        node = Child("disdepth_ros.surround_depth_node",
                     ["--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=torch",
                      "-p", f"engine.checkpoint:={ckpt}", "-p", "engine.device:=cpu", "-p", "cloud.rgb:=false",
                      "-p", f"cloud.min_confidence:={threshold}"], env, tmp_path / "node.log")
        procs.append(node)
        outputs = [f"/{c}/depth/confidence" for c in rig.names] + ["/surround_depth/points"]
        assert lis.wait_matched(outputs, timeout=60), f"confidence topics never appeared\nnode log:\n{node.log()}"
        pub = Child("disdepth_ros.synthetic_cameras_node",
                    ["-p", f"frames:={path}", "-p", f"rate:={RATE}", "-p", "stamp_source:=frames",
                     "-p", "wait_for_subscribers:=1", "-p", "start_delay:=1.5", "-p", f"count:={NUM_FRAMES}"],
                    env, tmp_path / "pub.log")
        procs.append(pub)

        def complete():
            per = [{stamp_ns(m) for _, m in lis.msgs[f"/{c}/depth/{kind}"]} for c in rig.names
                   for kind in ("image_raw", "confidence")]
            clouds = {stamp_ns(m) for _, m in lis.msgs["/surround_depth/points"]}
            return set.intersection(*per, clouds)

        ok = lis.spin_until(lambda: len(complete()) >= 2, timeout=90)
        assert ok, f"outputs missing\nnode log:\n{node.log()}\npublisher log:\n{pub.log()}"
        assert "confidence on" in node.log()
        for stamp in sorted(complete())[:2]:
            res = expected[stamp]
            for i, cam in enumerate(rig.names):
                (d,) = [m for _, m in lis.msgs[f"/{cam}/depth/image_raw"] if stamp_ns(m) == stamp]
                (c,) = [m for _, m in lis.msgs[f"/{cam}/depth/confidence"] if stamp_ns(m) == stamp]
                assert c.header == d.header  # stamp and frame_id: exactly the depth's
                assert (c.encoding, c.height, c.width) == ("32FC1", d.height, d.width) == ("32FC1", H, W)
                np.testing.assert_allclose(image_to_array(c), res.confidence[i].numpy(), atol=1e-5, rtol=0)
            (cloud,) = [m for _, m in lis.msgs["/surround_depth/points"] if stamp_ns(m) == stamp]
            n = len(pointcloud2_to_array(cloud))
            K = torch.from_numpy(frames.K)  # CameraInfo K; images and depth are both H x W
            kw = dict(stride=2, max_range=50.0)
            full = sum(depth_to_cloud(res.depth, K, torch.from_numpy(frames.T_base_cam), **kw).counts)
            thin = sum(depth_to_cloud(res.depth, K, torch.from_numpy(frames.T_base_cam), confidence=res.confidence,
                                      min_confidence=threshold, **kw).counts)
            assert thin < 0.8 * full  # the threshold removes a real share ...
            assert abs(n - thin) <= max(3, 0.01 * thin), (n, thin, full)  # ... the node removes the same points
        pub.proc.wait(30)  # all frames sent: every image must be accounted for
        lis.spin_for(2.5)
        assert_accounted(lis.msgs["/diagnostics"][-1][1], rig.names)
        assert node.stop(signal.SIGINT) == 0, node.log()
    finally:
        lis.close()


def test_regression_model_logs_once_and_does_not_advertise_confidence(env, procs, tmp_path, ros):
    ckpt = tiny_student(tmp_path / "reg", head="regression")
    node = Child("disdepth_ros.surround_depth_node",
                 ["--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=torch",
                  "-p", f"engine.checkpoint:={ckpt}", "-p", "engine.device:=cpu", "-p", "cloud.min_confidence:=0.3"],
                 env, tmp_path / "node.log")
    procs.append(node)
    assert node.wait_log("confidence off", 60), node.log()
    log = node.log()
    assert log.count("the model gives no per-pixel confidence") == 1
    assert "/{camera}/depth/confidence not published; cloud.min_confidence 0.3 ignored" in log
    rclpy, ctx = ros
    lis = Listener(rclpy, ctx, name=f"conf_probe_{time.monotonic_ns() % 10**9}")
    try:
        assert lis.wait_matched(["/CAM_FRONT/depth/image_raw"], timeout=30), node.log()  # discovery done
        lis.spin_for(1.0)
        assert lis.node.count_publishers("/CAM_FRONT/depth/confidence") == 0
    finally:
        lis.close()
    assert node.stop(signal.SIGINT) == 0, node.log()
