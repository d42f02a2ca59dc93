"""disdepth_core.pipeline: one ROS-free path from messages to the engine batch, for the node and eval-bag."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bag_fixtures import REPO, world_bag

from disdepth_core import bag_messages as bm
from disdepth_core.config import ConfigError
from disdepth_core.evaluation.bag_source import BagSource, BagTopics
from disdepth_core.geometry import CameraRig, scale_intrinsics
from disdepth_core.pipeline.batch import Frame, assemble_batch, batch_size
from disdepth_core.pipeline.camera_pipeline import CameraPipeline
from disdepth_core.pipeline.decoding import ImageError, compressed_to_rgb, image_to_rgb
from disdepth_core.pipeline.intrinsics import IntrinsicsTracker, camera_info_to_K
from disdepth_core.pipeline.node_params import SurroundDepthParams, load_node_params
from disdepth_core.pipeline.sync_settings import SyncSettings
from disdepth_core.sync import ApproximateTimeSync

RNG = np.random.default_rng(0)


def rig():
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")


def test_node_pipeline_and_eval_bag_give_identical_batches(tmp_path):
    """The same world bag through the node's CameraPipeline (+ its synchroniser, in bag order) and
    through BagSource: the same sets, the same pixels, the same K."""
    bag, _, fr = world_bag(tmp_path / "w", frames=3)
    r = rig()
    steps = list(BagSource(bag, r, topics=BagTopics(gt="depth")))
    assert len(steps) == 3

    sc = SyncSettings.node_defaults()
    pipe = CameraPipeline(r)
    sync = ApproximateTimeSync(list(r.names), sc.queue_size, sc.slop, timeout_s=sc.missing_timeout,
                               policy=sc.missing_policy, min_streams=sc.min_cameras)
    from rosbags.rosbag2 import Reader

    node_batches = {}
    with Reader(bag) as reader:
        for conn, recv, raw in reader.messages():
            topic = conn.topic.strip("/").split("/")
            cam, kind = topic[0], "/".join(topic[1:])
            if cam not in r.names or kind not in ("image_raw", "camera_info"):
                continue
            msg = bm.deserialize(raw, conn.msgtype)
            if kind == "camera_info":
                pipe.camera_info(cam, msg)
                continue
            frame = pipe.frame(msg, recv)
            for s in sync.add(cam, frame.stamp_ns, frame, recv):
                frames = {c: s.items[c] for c in s.keys}
                node_batches[tuple(sorted(s.stamps.items()))] = (list(frames), pipe.batch(frames))
    assert len(node_batches) == len(steps)
    for step in steps:
        cams, b = node_batches[tuple(sorted(step.stamps_ns.items()))]
        idx = [step.cameras.index(c) for c in cams]
        assert step.present[idx].all() and len(cams) == int(step.present.sum())
        assert b.images.dtype == np.uint8 and b.images.shape == step.images[idx].shape
        np.testing.assert_array_equal(b.images, step.images[idx])
        np.testing.assert_array_equal(b.K, step.K[idx])
        np.testing.assert_array_equal(b.images, fr.images[step.index][idx])  # the frames' own pixels


def test_decoding_is_the_same_on_rosbags_messages():
    rgb = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    msg = bm.deserialize(bm.serialize(bm.image_msg(rgb, 5, "cam")), bm.IMAGE)  # bgr8 on the wire
    np.testing.assert_array_equal(image_to_rgb(msg), rgb)
    f = Frame.from_image(msg, 7)
    assert f.size == (6, 9) and f.stamp_ns == 5 and f.frame_id == "cam" and f.recv_ns == 7
    bad = bm.deserialize(bm.serialize(bm.image_msg(rgb, 5, "cam")), bm.IMAGE)
    bad.encoding = "yuv422"
    with pytest.raises(ImageError) as exc:
        image_to_rgb(bad)
    assert exc.value.cause == "wrong encoding"
    info = bm.deserialize(bm.serialize(bm.camera_info_msg(np.zeros((3, 3)), 6, 9, 5, "cam")), bm.CAMERA_INFO)
    with pytest.raises(ImageError, match="CameraInfo K all zeros"):
        camera_info_to_K(info)


def test_compressed_frames_decode_later_and_refuse_bombs():
    import io
    from types import SimpleNamespace

    from PIL import Image as PILImage

    rgb = RNG.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, format="PNG")
    stamp = SimpleNamespace(sec=1, nanosec=2)
    msg = SimpleNamespace(format="png", data=buf.getvalue(), header=SimpleNamespace(stamp=stamp, frame_id="c"))
    f = Frame.from_compressed(msg)
    assert not f.decoded and f.size == (8, 12)
    np.testing.assert_array_equal(f.decode(), rgb)
    np.testing.assert_array_equal(compressed_to_rgb(msg), rgb)
    truncated = SimpleNamespace(format="png", data=buf.getvalue()[:60], header=msg.header)
    g = Frame.from_compressed(truncated)  # the header is intact: accepted, fails when decoded
    decoded, failed = CameraPipeline.decode({"CAM_FRONT": g})
    assert decoded == [] and failed["CAM_FRONT"].cause == "undecodable compressed image"
    big = io.BytesIO()
    PILImage.new("L", (9000, 8000)).save(big, format="PNG")
    with pytest.raises(ImageError) as exc:
        Frame.from_compressed(SimpleNamespace(format="png", data=big.getvalue(), header=msg.header))
    assert exc.value.cause == "compressed image too large"


def test_batch_at_the_most_common_size_with_k_scaled():
    r = rig()
    tracker = IntrinsicsTracker(r)
    big = RNG.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    stamp = type("T", (), {"sec": 0, "nanosec": 0})()
    frames = [Frame(big, "rgb8", (90, 160), stamp, "", 0), Frame(big[::2, ::2].copy(), "rgb8", (45, 80), stamp, "", 0),
              Frame(big[..., ::-1].copy(), "bgr8", (90, 160), stamp, "", 0)]
    Ks = [tracker.K(c, f.size) for c, f in zip(r.names, frames, strict=False)]
    assert batch_size([f.size for f in frames]) == (90, 160)
    b = assemble_batch(frames, Ks)
    assert b.images.shape == (3, 90, 160, 3) and b.K.shape == (3, 3, 3) and b.size == (90, 160)
    np.testing.assert_array_equal(b.images[0], big)
    np.testing.assert_array_equal(b.images[2], big)
    np.testing.assert_array_equal(b.K[0], scale_intrinsics(r.K[0], r.sizes[0], (90, 160)).numpy())
    np.testing.assert_allclose(b.K[1], scale_intrinsics(r.K[1], r.sizes[1], (90, 160)).numpy(), rtol=1e-12)


def test_intrinsics_policy_and_warnings():
    r = rig()
    said = []
    tracker = IntrinsicsTracker(r, warn=lambda cam, cause, text: said.append(cause))
    K = scale_intrinsics(r.K[0], r.sizes[0], (90, 160)).numpy() * np.array([[1.1, 1, 1], [1, 1.1, 1], [1, 1, 1]])
    tracker.update("CAM_FRONT", bm.camera_info_msg(K, 90, 160, 0, "f"))
    assert said == ["CameraInfo differs from rig"] and tracker.source("CAM_FRONT") == "CameraInfo"
    np.testing.assert_array_equal(tracker.K("CAM_FRONT", (90, 160)), K)
    np.testing.assert_allclose(tracker.K("CAM_FRONT", (45, 80)),
                               scale_intrinsics(torch.from_numpy(K), (90, 160), (45, 80)).numpy())
    assert said[-1] == "CameraInfo size"
    with pytest.raises(ImageError):
        tracker.update("CAM_FRONT", bm.camera_info_msg(np.zeros((3, 3)), 90, 160, 0, "f"))
    assert tracker.source("CAM_FRONT") == "rig"  # an unusable CameraInfo: back to the rig
    tracker.K("CAM_FRONT", (90, 90))
    assert said[-1] == "rig aspect"


def test_sync_settings_are_the_node_params_and_read_from_its_yaml(tmp_path):
    assert SyncSettings.node_defaults() == SurroundDepthParams().sync == SyncSettings()
    p = tmp_path / "node.yaml"
    p.write_text("/**:\n  ros__parameters:\n    use_sim_time: false\n    sync:\n      slop: 0.02\n      queue_size: 4\n")
    assert SyncSettings.node_defaults(p) == SyncSettings(slop=0.02, queue_size=4)
    assert load_node_params(p).sync.slop == 0.02
    p.write_text("/**:\n  ros__parameters:\n    sync:\n      slop: -1\n")
    with pytest.raises(ConfigError, match="key 'sync.slop'"):
        SyncSettings.node_defaults(p)
    p.write_text("/**:\n  ros__parameters:\n    sync:\n      slopp: 0.1\n")
    with pytest.raises(ConfigError, match="key 'sync.slopp'"):
        SyncSettings.node_defaults(p)
    p.write_text("other: 1\n")
    with pytest.raises(ConfigError, match="ros__parameters"):
        SyncSettings.node_defaults(p)


def test_eval_bag_reads_compressed_images_as_the_raw_ones(tmp_path):
    """A bag with PNG ``CompressedImage`` on ``/<cam>/image_raw/compressed`` (what image_transport
    records) gives the same steps, pixels and K as the raw bag; an undecodable one is counted corrupt."""
    from bag_fixtures import custom_bag

    _, _, fr = world_bag(tmp_path / "w", frames=2)
    raw = custom_bag(tmp_path / "raw", fr, 3)
    packed = custom_bag(tmp_path / "packed", fr, 3, compressed=True)
    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml")
    a, b = list(BagSource(raw, rig)), list(BagSource(packed, rig))
    assert len(a) == len(b) == 3
    for sa, sb in zip(a, b, strict=True):
        assert sa.stamps_ns == sb.stamps_ns and np.array_equal(sa.images, sb.images) and np.array_equal(sa.K, sb.K)
    src = BagSource(packed, rig)
    assert src.image_topics["CAM_FRONT"] == "/CAM_FRONT/image_raw/compressed"
    bad = custom_bag(tmp_path / "bad", fr, 3, compressed=True, corrupt={(1, "CAM_BACK")})
    src = BagSource(bad, rig)
    steps = list(src)
    assert src.accounting.images_corrupt["CAM_BACK"] == 1 and len(steps) == 3
    back = src.cameras.index("CAM_BACK")
    assert not steps[1].present[back] and steps[0].present[back] and steps[1].present.sum() == 5
