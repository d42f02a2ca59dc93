"""Image messages -> numpy, with every check the node applies to its input (no ROS import).

Takes rclpy messages and ``rosbags``-deserialised ones alike (same field names: ``encoding``,
``height``, ``width``, ``step``, ``is_bigendian``, ``data``, ``format``, ``header.stamp``).
Reading is zero-copy where the layout allows (``np.frombuffer``). Every check that fails
raises :class:`ImageError` whose ``cause`` is a short fixed phrase (used to rate-limit
warnings per camera and cause, and as the key of the drop counters) and whose message says
what was wrong.
"""

from __future__ import annotations

import io

import numpy as np

try:  # optional: fast BGR -> RGB; a numpy fallback is used without it
    import cv2 as _cv2
except ImportError:  # pragma: no cover - depends on the install
    _cv2 = None

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOUR_INPUTS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "32FC1")
# Larger than any camera (a 64 MP image): refused before decoding, whatever PIL's global limit is.
MAX_COMPRESSED_PIXELS = 64_000_000
POINTFIELD_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


class ImageError(ValueError):
    """A message that cannot be used; ``cause`` is a short stable phrase (for rate limiting)."""

    def __init__(self, cause: str, detail: str):
        super().__init__(f"{cause}: {detail}")
        self.cause = cause


def stamp_to_ns(stamp) -> int:
    """``builtin_interfaces/Time`` (``sec``, ``nanosec``) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# ----------------------------------------------------------------------------- Image
def image_to_array(msg) -> np.ndarray:
    """``Image`` -> ``(H, W)`` or ``(H, W, C)`` array of the encoding's dtype (a view where possible).

    Checks the encoding, ``step >= width * pixel size`` and ``len(data) == step * height``.
    """
    enc = msg.encoding
    if enc not in ENCODINGS:
        raise ImageError("unsupported encoding", f"{enc!r} (supported: {', '.join(ENCODINGS)})")
    dtype, ch = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * ch * dtype.itemsize
    if h <= 0 or w <= 0:
        raise ImageError("empty image", f"{w}x{h}")
    if step < row:
        raise ImageError("bad step", f"step {step} < width {w} x {ch * dtype.itemsize} bytes = {row}")
    n = len(msg.data)
    if n != step * h:
        raise ImageError("data size mismatch", f"{n} bytes of data, expected step {step} x height {h} = {step * h}")
    buf = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, step)[:, :row]
    dt = dtype.newbyteorder(">" if msg.is_bigendian else "<") if dtype.itemsize > 1 else dtype
    arr = buf.view(dt) if step == row else np.ascontiguousarray(buf).view(dt)
    arr = arr.reshape(h, w, ch) if ch > 1 else arr.reshape(h, w)
    return arr.astype(dtype, copy=False) if dt != dtype else arr


def checked_pixels(msg) -> np.ndarray:
    """A camera image's pixels after every check, zero-copy where the layout allows.

    Accepts rgb8, bgr8, rgba8, bgra8, mono8 and 32FC1 (intensity in [0, 1]); raises
    ``ImageError`` for another encoding, a bad step/size, or NaN/Inf in a float image.
    Convert with :func:`pixels_to_rgb` (e.g. later, in another thread, into a batch).
    """
    if msg.encoding not in COLOUR_INPUTS:
        raise ImageError("wrong encoding", f"{msg.encoding!r} is not a camera image (expected one of {', '.join(COLOUR_INPUTS)})")
    a = image_to_array(msg)
    if msg.encoding == "32FC1" and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ImageError("non-finite pixels", f"{bad} NaN/Inf values in a 32FC1 image")
    return a


def pixels_to_rgb(pixels: np.ndarray, encoding: str, out: np.ndarray | None = None) -> np.ndarray:
    """Checked pixels of ``encoding`` -> ``(H, W, 3)`` uint8 RGB, written into ``out`` if given."""
    h, w = pixels.shape[:2]
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    if encoding == "rgb8":
        np.copyto(out, pixels)
    elif encoding in ("bgr8", "bgra8"):
        if _cv2 is not None:  # SIMD channel swap: ~25x faster than a strided numpy copy at 1600x900
            _cv2.cvtColor(pixels, _cv2.COLOR_BGR2RGB if encoding == "bgr8" else _cv2.COLOR_BGRA2RGB, dst=out)
        else:
            for k in range(3):
                np.copyto(out[..., k], pixels[..., 2 - k])
    elif encoding == "rgba8":
        np.copyto(out, pixels[..., :3])
    elif encoding == "mono8":
        out[...] = pixels[..., None]
    elif encoding == "32FC1":
        out[...] = np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)[..., None]
    else:
        raise ImageError("wrong encoding", f"{encoding!r} is not a camera image")
    return out


def image_to_rgb(msg) -> np.ndarray:
    """A camera image -> ``(H, W, 3)`` uint8 RGB (contiguous); see :func:`checked_pixels`."""
    return pixels_to_rgb(checked_pixels(msg), msg.encoding)


# ----------------------------------------------------------------------------- CompressedImage
def compressed_topic(image_topic: str) -> str:
    """image_transport's name for the compressed twin of a raw image topic: ``<topic>/compressed``."""
    return image_topic.rstrip("/") + "/compressed"


def compressed_size(msg) -> tuple[int, int]:
    """``(H, W)`` of a ``CompressedImage`` from its header alone (cheap: nothing is decoded).

    Raises ``ImageError('compressed image too large')`` above :data:`MAX_COMPRESSED_PIXELS`
    (a decompression bomb is refused before any decoding) and ``'undecodable compressed image'``
    when Pillow does not recognise the data.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(bytes(msg.data))) as im:  # reads the header only
            w, h = im.width, im.height
    except PILImage.DecompressionBombError as exc:  # a header claiming e.g. 60000x60000: refuse, never crash
        raise ImageError("compressed image too large", f"format {msg.format!r}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError("undecodable compressed image", f"format {msg.format!r}: {exc}") from None
    if w * h > MAX_COMPRESSED_PIXELS:
        raise ImageError("compressed image too large",
                         f"format {msg.format!r}: header says {w}x{h} (more than {MAX_COMPRESSED_PIXELS} pixels)")
    return h, w


def compressed_to_rgb(msg) -> np.ndarray:
    """``CompressedImage`` (JPEG/PNG/...) -> ``(H, W, 3)`` uint8 RGB, decoded with Pillow.

    The checks of :func:`compressed_size` first; a body that does not decode raises
    ``ImageError('undecodable compressed image')``.
    """
    from PIL import Image as PILImage

    compressed_size(msg)
    try:
        with PILImage.open(io.BytesIO(bytes(msg.data))) as im:
            return np.asarray(im.convert("RGB"))
    except PILImage.DecompressionBombError as exc:
        raise ImageError("compressed image too large", f"format {msg.format!r}: {exc}") from None
    except (OSError, ValueError) as exc:  # truncated or damaged body
        raise ImageError("undecodable compressed image", f"format {msg.format!r}: {exc}") from None


# ----------------------------------------------------------------------------- PointCloud2
def pointcloud2_to_array(msg) -> np.ndarray:
    """``PointCloud2`` with FLOAT32 fields -> structured array ``(height * width,)`` (a view)."""
    if any(f.datatype != POINTFIELD_FLOAT32 or f.count != 1 for f in msg.fields):
        raise ValueError("only single FLOAT32 fields are supported")
    dtype = np.dtype({
        "names": [f.name for f in msg.fields],
        "formats": ["<f4"] * len(msg.fields),
        "offsets": [f.offset for f in msg.fields],
        "itemsize": msg.point_step,
    })
    return np.frombuffer(msg.data, dtype=dtype, count=msg.width * msg.height)
