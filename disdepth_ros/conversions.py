"""numpy -> rclpy sensor_msgs, without cv_bridge: what the nodes publish.

Messages are built with ``msg.data = array.tobytes()`` (one memcpy; assigning an ndarray
is ~1000x slower in rclpy). Reading messages (decoding and every input check) is ROS-free and
lives in :mod:`disdepth_core.pipeline.decoding` / :mod:`disdepth_core.pipeline.intrinsics`.
"""

from __future__ import annotations

import io

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField

from disdepth_core.pipeline.decoding import ENCODINGS
from disdepth_core.runtime.pointcloud import SurroundCloud


# ----------------------------------------------------------------------------- stamps
def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def array_to_image(arr: np.ndarray, encoding: str, *, stamp: Time | None = None, frame_id: str = "") -> Image:
    """``(H, W[, C])`` array -> ``Image`` with ``encoding`` (dtype and channels must match it)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}")
    dtype, ch = ENCODINGS[encoding]
    a = np.asarray(arr)
    if a.dtype != dtype or (a.shape[2] if a.ndim == 3 else 1) != ch or a.ndim not in (2, 3):
        raise ValueError(f"{encoding} needs {dtype} with {ch} channel(s), got {a.dtype} {a.shape}")
    a = np.ascontiguousarray(a.astype(dtype.newbyteorder("<"), copy=False))
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(a.shape[1] * ch * dtype.itemsize)
    msg.data = a.tobytes()
    return msg


def depth_to_image(depth: np.ndarray, encoding: str = "32FC1", *, stamp: Time | None = None,
                   frame_id: str = "") -> Image:
    """REP 118 depth image from ``(H, W)`` float32 metres (REP 117: NaN invalid, +Inf beyond range,
    -Inf closer than the range).

    ``32FC1`` keeps the REP 117 special values. ``16UC1`` is millimetres with 0 for every
    invalid, non-finite, non-positive or unrepresentable (> 65.535 m) value.
    """
    d = np.asarray(depth, dtype=np.float32)
    if encoding == "32FC1":
        return array_to_image(d, "32FC1", stamp=stamp, frame_id=frame_id)
    if encoding == "16UC1":
        with np.errstate(invalid="ignore"):
            mm = np.rint(d * 1000.0)
            ok = np.isfinite(mm) & (mm > 0) & (mm <= 65535)
        return array_to_image(np.where(ok, mm, 0).astype(np.uint16), "16UC1", stamp=stamp, frame_id=frame_id)
    raise ValueError(f"depth encoding must be '32FC1' or '16UC1', got {encoding!r}")


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "png", *, stamp: Time | None = None, frame_id: str = "",
                      quality: int = 90) -> CompressedImage:
    """``(H, W, 3)`` uint8 RGB -> ``CompressedImage`` (``png`` lossless or ``jpeg``)."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    kw = {"quality": quality} if fmt == "jpeg" else {}
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buf, format=fmt.upper(), **kw)
    msg = CompressedImage()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.format = f"rgb8; {fmt} compressed rgb8"
    msg.data = buf.getvalue()
    return msg


# ----------------------------------------------------------------------------- CameraInfo
def make_camera_info(K: np.ndarray, size_hw: tuple[int, int], *, stamp: Time | None = None,
                     frame_id: str = "") -> CameraInfo:
    """``CameraInfo`` of an undistorted pinhole image: K, R = I, P = [K | 0], D = 0 (plumb_bob)."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    msg = CameraInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(size_hw[0]), int(size_hw[1])
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = K.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.concatenate([K, np.zeros((3, 1))], axis=1).reshape(-1).tolist()
    return msg


# ----------------------------------------------------------------------------- PointCloud2
def cloud_to_pointcloud2(cloud: SurroundCloud, *, stamp: Time | None = None, frame_id: str = "base_link") -> PointCloud2:
    """Unorganised ``PointCloud2`` (height 1) from a :class:`SurroundCloud` (x, y, z[, rgb] float32)."""
    msg = PointCloud2()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    names = cloud.points.dtype.names
    msg.fields = [
        PointField(name=n, offset=int(cloud.points.dtype.fields[n][1]), datatype=PointField.FLOAT32, count=1)
        for n in names
    ]
    msg.height = 1
    msg.width = int(cloud.points.shape[0])
    msg.is_bigendian = False
    msg.point_step = int(cloud.point_step)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = True  # only finite points are kept
    msg.data = cloud.points.tobytes()
    return msg


def points_to_pointcloud2(points: np.ndarray, fields: list[str], *, stamp: Time | None = None,
                          frame_id: str = "") -> PointCloud2:
    """``(P, F)`` float32 columns named ``fields`` -> unorganised ``PointCloud2`` (e.g. a LiDAR scan)."""
    pts = np.ascontiguousarray(points, dtype="<f4")
    if pts.ndim != 2 or pts.shape[1] != len(fields):
        raise ValueError(f"points must be (P, {len(fields)}), got {pts.shape}")
    msg = PointCloud2()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.fields = [PointField(name=n, offset=4 * k, datatype=PointField.FLOAT32, count=1) for k, n in enumerate(fields)]
    msg.height, msg.width = 1, int(pts.shape[0])
    msg.is_bigendian = False
    msg.point_step = 4 * len(fields)
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = bool(np.isfinite(pts).all())
    msg.data = pts.tobytes()
    return msg
