"""disdepth_ros.conversions (numpy -> rclpy messages) and disdepth_core.pipeline decoding (messages -> numpy):
Image/CompressedImage/CameraInfo/PointCloud2 round trips on rclpy messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from disdepth_core.pipeline.decoding import (  # noqa: E402
    ImageError,
    compressed_to_rgb,
    image_to_array,
    image_to_rgb,
    pointcloud2_to_array,
    stamp_to_ns,
)
from disdepth_core.pipeline.intrinsics import camera_info_to_K  # noqa: E402
from disdepth_core.runtime.pointcloud import depth_to_cloud  # noqa: E402
from disdepth_ros.conversions import (  # noqa: E402
    array_to_image,
    cloud_to_pointcloud2,
    depth_to_image,
    make_camera_info,
    ns_to_stamp,
    rgb_to_compressed,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("enc", ["rgb8", "bgr8", "mono8", "rgba8", "bgra8"])
def test_colour_encodings_to_rgb_match_rosbags_image(enc):
    from rosbags.image import message_to_cvimage

    src = {"rgb8": RGB, "bgr8": RGB[..., ::-1], "mono8": RGB[..., 0],
           "rgba8": np.concatenate([RGB, RGB[..., :1]], -1), "bgra8": np.concatenate([RGB[..., ::-1], RGB[..., :1]], -1)}[enc]
    msg = array_to_image(np.ascontiguousarray(src), enc)
    rgb = image_to_rgb(msg)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    ref = message_to_cvimage(msg, "rgb8")  # independent implementation
    np.testing.assert_array_equal(rgb, ref)


def test_padded_step_and_big_endian():
    a = RNG.integers(0, 65535, (4, 6), dtype=np.uint16)
    msg = Image(height=4, width=6, encoding="16UC1", is_bigendian=1, step=16)
    rows = np.zeros((4, 16), np.uint8)
    rows[:, :12] = a.astype(">u2").view(np.uint8).reshape(4, 12)
    msg.data = rows.tobytes()
    out = image_to_array(msg)
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint16


@pytest.mark.parametrize(
    ("mutate", "cause"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "wrong encoding"),
        (lambda m: setattr(m, "data", bytes(m.data)[:-3]), "data size mismatch"),
        (lambda m: setattr(m, "step", 5), "bad step"),
        (lambda m: setattr(m, "width", 0), "empty image"),
    ],
)
def test_bad_images_raise_with_cause(mutate, cause):
    msg = array_to_image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageError) as info:
        image_to_rgb(msg)
    assert info.value.cause == cause


def test_float_intensity_and_non_finite():
    g = np.linspace(0, 1, 35, dtype=np.float32).reshape(5, 7)
    rgb = image_to_rgb(array_to_image(g, "32FC1"))
    np.testing.assert_array_equal(rgb[..., 0], np.clip(g * 255 + 0.5, 0, 255).astype(np.uint8))
    g[2, 3] = np.nan
    with pytest.raises(ImageError, match="non-finite pixels"):
        image_to_rgb(array_to_image(g, "32FC1"))


def test_depth_encodings_rep117():
    d = np.array([[1.2345, np.nan, np.inf], [0.0, 70.0, 0.0005]], np.float32)
    m32 = depth_to_image(d, "32FC1", stamp=ns_to_stamp(5_000_000_123), frame_id="cam")
    assert m32.encoding == "32FC1" and m32.step == 12 and stamp_to_ns(m32.header.stamp) == 5_000_000_123
    np.testing.assert_array_equal(image_to_array(m32), d)  # NaN and +Inf kept
    m16 = depth_to_image(d, "16UC1")
    np.testing.assert_array_equal(image_to_array(m16), np.array([[1234, 0, 0], [0, 0, 0]], np.uint16))
    with pytest.raises(ValueError, match="32FC1"):
        depth_to_image(d, "mono8")


def test_compressed_png_is_lossless_and_garbage_is_reported():
    msg = rgb_to_compressed(RGB, "png")
    np.testing.assert_array_equal(compressed_to_rgb(msg), RGB)
    jpg = compressed_to_rgb(rgb_to_compressed(RGB, "jpeg"))
    assert jpg.shape == RGB.shape
    msg.data = b"not an image"
    with pytest.raises(ImageError, match="undecodable"):
        compressed_to_rgb(msg)


def test_decompression_bomb_is_a_reported_bad_message_not_a_crash():
    """A ~600-byte PNG whose header claims 60000x60000 (issue 15 #1: it killed the node)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\x00" * 512)) + chunk(b"IEND", b"")
    msg = rgb_to_compressed(RGB, "png")
    msg.data = png
    with pytest.raises(ImageError, match="too large") as info:
        compressed_to_rgb(msg)
    assert info.value.cause == "compressed image too large"
    from PIL import Image as PILImage

    old, PILImage.MAX_IMAGE_PIXELS = PILImage.MAX_IMAGE_PIXELS, None  # a library may lift PIL's own limit
    try:
        with pytest.raises(ImageError, match="60000x60000"):
            compressed_to_rgb(msg)
    finally:
        PILImage.MAX_IMAGE_PIXELS = old


def test_camera_info_roundtrip_and_zero_K():
    K = np.array([[100.0, 0, 80.5], [0, 101.0, 48.25], [0, 0, 1]])
    msg = make_camera_info(K, (96, 160), frame_id="cam")
    K2, hw = camera_info_to_K(msg)
    np.testing.assert_array_equal(K2, K)
    assert hw == (96, 160) and list(msg.p[:3]) == [100.0, 0, 80.5] and msg.p[3] == 0
    with pytest.raises(ImageError) as info:
        camera_info_to_K(CameraInfo(height=96, width=160))
    assert info.value.cause == "CameraInfo K all zeros"


def test_pointcloud2_layout(nuscenes_rig_path):
    from disdepth_core.geometry import CameraRig

    rig = CameraRig.from_yaml(nuscenes_rig_path).resized(6, 10)
    depth = torch.full((6, 6, 10), 5.0)
    colors = torch.randint(0, 256, (6, 6, 10, 3), dtype=torch.uint8)
    cloud = depth_to_cloud(depth, rig.K, rig.T_base_cam, colors=colors)
    msg = cloud_to_pointcloud2(cloud, stamp=ns_to_stamp(7), frame_id="base_link")
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("rgb", 12, 7)]
    assert msg.point_step == 16 and msg.height == 1 and msg.width == 360 and msg.row_step == 16 * 360
    assert len(msg.data) == 16 * 360
    back = pointcloud2_to_array(msg)
    np.testing.assert_array_equal(back.view(np.float32), cloud.points.view(np.float32))


def test_bgr_fallback_without_opencv(monkeypatch):
    import disdepth_core.pipeline.decoding as conv

    msg = array_to_image(np.ascontiguousarray(RGB[..., ::-1]), "bgr8")
    with_cv = image_to_rgb(msg)
    monkeypatch.setattr(conv, "_cv2", None)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    np.testing.assert_array_equal(with_cv, RGB)
