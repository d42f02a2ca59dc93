"""numpy <-> ROS 2 message conversion for bags written/read with ``rosbags`` (no ROS install needed).

Builders return ``rosbags`` message objects (serialise with :func:`serialize`); readers
take any object with the same fields (a ``rosbags`` deserialised message or an rclpy
message; camera images and CameraInfo are read by :mod:`disdepth_core.pipeline`, with the node's
checks). Conventions: images ``bgr8`` on the wire, RGB in numpy; depth ``32FC1`` metres
(z-depth, REP 118) with NaN = no ground truth (REP 117); points as float32 fields.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from .errors import DisdepthError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


@functools.lru_cache(maxsize=1)
def typestore():
    """The rosbags type store used for every bag (ROS 2 Humble definitions: identical for these types)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def _t(name: str):
    return typestore().types[name]


def serialize(msg) -> bytes:
    return bytes(typestore().serialize_cdr(msg, msg.__msgtype__))


def deserialize(raw: bytes, msgtype: str):
    return typestore().deserialize_cdr(raw, msgtype)


def header(stamp_ns: int, frame_id: str):
    Time = _t("builtin_interfaces/msg/Time")
    return _t("std_msgs/msg/Header")(stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
                                      frame_id=frame_id)


def stamp_ns(msg_header) -> int:
    """Nanoseconds of a message header's stamp."""
    return int(msg_header.stamp.sec) * 1_000_000_000 + int(msg_header.stamp.nanosec)


def _cdr_stamp_format(raw: bytes) -> str | None:
    """struct format of the header stamp (sec, nanosec) right after a plain CDR encapsulation, by its
    byte order; None when ``raw`` is too short or not plain CDR."""
    if len(raw) < 12 or raw[0] != 0 or raw[1] not in (0, 1):
        return None
    return "<iI" if raw[1] == 1 else ">iI"


def cdr_header_stamp_ns(raw: bytes) -> int | None:
    """Header stamp (ns) of a serialised message that starts with a ``std_msgs/Header`` (Image,
    CameraInfo, PointCloud2), read from its first 12 bytes: works on a truncated, undecodable
    message. None when the CDR encapsulation or the stamp itself is not there."""
    fmt = _cdr_stamp_format(raw)
    if fmt is None:
        return None
    sec, nsec = struct.unpack(fmt, bytes(raw[4:12]))
    return sec * 1_000_000_000 + nsec if nsec < 1_000_000_000 else None


def cdr_with_header_stamp(raw: bytes, stamp_ns: int) -> bytes:
    """``raw`` (a serialised message that starts with a ``std_msgs/Header``) with its header stamp set to
    ``stamp_ns``, patched in place of the 8 stamp bytes: nothing else is decoded or changed."""
    fmt = _cdr_stamp_format(raw)
    if fmt is None:
        raise DisdepthError("not a plain-CDR message with a header: its stamp cannot be set")
    return bytes(raw[:4]) + struct.pack(fmt, stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000) + bytes(raw[12:])


# ----------------------------------------------------------------------------- builders
def image_msg(rgb: np.ndarray, stamp: int, frame_id: str):
    """RGB uint8 (H, W, 3) -> Image ``bgr8``."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DisdepthError(f"image_msg: expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    H, W, _ = rgb.shape
    data = np.ascontiguousarray(rgb[..., ::-1]).reshape(-1)
    return _t(IMAGE)(header=header(stamp, frame_id), height=H, width=W, encoding="bgr8", is_bigendian=0,
                     step=W * 3, data=data)


def compressed_image_msg(data: bytes, fmt: str, stamp: int, frame_id: str):
    """Encoded image bytes (JPEG/PNG as is) -> CompressedImage; ``fmt`` e.g. ``'jpeg'`` or ``'png'``
    (image_transport's ``format`` field)."""
    return _t(COMPRESSED_IMAGE)(header=header(stamp, frame_id), format=fmt,
                                data=np.frombuffer(bytes(data), dtype=np.uint8))


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """RGB uint8 (H, W, 3) -> PNG (lossless) or JPEG bytes, with Pillow."""
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG" if fmt == "png" else "JPEG", quality=quality)
    return buf.getvalue()


def depth_msg(depth: np.ndarray, valid: np.ndarray | None, stamp: int, frame_id: str):
    """z-depth float (H, W) metres -> Image ``32FC1``; pixels where ``valid`` is False become NaN."""
    d = np.asarray(depth, dtype=np.float32).copy()
    if valid is not None:
        d[~np.asarray(valid, dtype=bool)] = np.nan
    H, W = d.shape
    data = d.astype("<f4").view(np.uint8).reshape(-1)
    return _t(IMAGE)(header=header(stamp, frame_id), height=H, width=W, encoding="32FC1", is_bigendian=0,
                     step=W * 4, data=data)


def camera_info_msg(K: np.ndarray, height: int, width: int, stamp: int, frame_id: str):
    """Pinhole CameraInfo (no distortion; P = [K | 0])."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    P = np.zeros((3, 4))
    P[:, :3] = K
    roi = _t("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return _t(CAMERA_INFO)(header=header(stamp, frame_id), height=int(height), width=int(width),
                           distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
                           p=P.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def pointcloud_msg(points: np.ndarray, field_names: list[str], stamp: int, frame_id: str):
    """float32 (N, F) -> unorganised PointCloud2 (height 1), one FLOAT32 field per column."""
    pts = np.ascontiguousarray(points, dtype="<f4")
    N, F = pts.shape
    if F != len(field_names):
        raise DisdepthError(f"pointcloud_msg: {F} columns but {len(field_names)} field names")
    PointField = _t("sensor_msgs/msg/PointField")
    fields = [PointField(name=n, offset=4 * i, datatype=FLOAT32, count=1) for i, n in enumerate(field_names)]
    return _t(POINT_CLOUD2)(header=header(stamp, frame_id), height=1, width=N, fields=fields, is_bigendian=False,
                            point_step=4 * F, row_step=4 * F * N, data=pts.view(np.uint8).reshape(-1), is_dense=True)


def tf_message(transforms: list[tuple[str, str, np.ndarray]], stamp: int):
    """TFMessage from ``(parent, child, T_parent_child (4, 4))`` triples."""
    import torch

    from .geometry import matrix_to_quaternion

    Vector3 = _t("geometry_msgs/msg/Vector3")
    Quaternion = _t("geometry_msgs/msg/Quaternion")
    out = []
    for parent, child, T in transforms:
        T = np.asarray(T, dtype=np.float64)
        q = matrix_to_quaternion(torch.from_numpy(T[:3, :3].copy())).numpy()
        tf = _t("geometry_msgs/msg/Transform")(
            translation=Vector3(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
            rotation=Quaternion(x=float(q[1]), y=float(q[2]), z=float(q[3]), w=float(q[0])),
        )
        out.append(_t("geometry_msgs/msg/TransformStamped")(header=header(stamp, parent), child_frame_id=child,
                                                            transform=tf))
    return _t(TF_MESSAGE)(transforms=out)


# ----------------------------------------------------------------------------- readers
def image_to_depth(msg) -> np.ndarray:
    """Image ``32FC1`` (metres) or ``16UC1`` (millimetres) -> float32 (H, W) metres; invalid stays NaN/0."""
    H, W, step = int(msg.height), int(msg.width), int(msg.step)
    raw = bytes(msg.data)
    if msg.encoding == "32FC1":
        dt = np.dtype(">f4" if msg.is_bigendian else "<f4")
        return np.frombuffer(raw, dtype=np.uint8).reshape(H, step)[:, : W * 4].copy().view(dt).reshape(H, W).astype(np.float32)
    if msg.encoding == "16UC1":
        dt = np.dtype(">u2" if msg.is_bigendian else "<u2")
        mm = np.frombuffer(raw, dtype=np.uint8).reshape(H, step)[:, : W * 2].copy().view(dt).reshape(H, W)
        return mm.astype(np.float32) / 1000.0
    raise DisdepthError(f"depth encoding {msg.encoding!r} not supported (32FC1, 16UC1)")


def pointcloud_to_array(msg, field_names: list[str] | None = None) -> np.ndarray:
    """PointCloud2 with FLOAT32 fields -> float32 (N, F) in the order of ``field_names`` (default: all)."""
    fields = {f.name: f for f in msg.fields}
    names = field_names or [f.name for f in msg.fields]
    N = int(msg.width) * int(msg.height)
    step = int(msg.point_step)
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(N, step)
    out = np.empty((N, len(names)), dtype=np.float32)
    for i, n in enumerate(names):
        if n not in fields:
            raise DisdepthError(f"point cloud has no field {n!r} (fields: {', '.join(fields)})")
        f = fields[n]
        if f.datatype != FLOAT32:
            raise DisdepthError(f"point cloud field {n!r} has datatype {f.datatype}, expected FLOAT32 (7)")
        out[:, i] = raw[:, f.offset : f.offset + 4].copy().view(">f4" if msg.is_bigendian else "<f4")[:, 0]
    return out


def transform_to_matrix(tf) -> np.ndarray:
    """geometry_msgs/Transform -> (4, 4) float64."""
    import torch

    from .geometry import quaternion_to_matrix

    q = tf.rotation
    R = quaternion_to_matrix(torch.tensor([q.w, q.x, q.y, q.z], dtype=torch.float64)).numpy()
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = [tf.translation.x, tf.translation.y, tf.translation.z]
    return T
