"""The frames of one synchronised set -> the engine's batch: ``(N, H, W, 3)`` uint8 RGB + K ``(N, 3, 3)``.

The batch runs at the size most frames of *this* set have (never frozen at the first set's
size); a frame of another size is resized to it (bilinear, :func:`~disdepth_core.runtime.resize.resize_rgb`)
and its K scaled with it. A :class:`Frame` holds checked pixels (a view of the message data) or,
for a ``CompressedImage``, the message itself: it is decoded by :meth:`Frame.decode`, in the
thread that builds the batch (the node's inference worker), not in the message callback.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from ..geometry import scale_intrinsics
from ..runtime.resize import resize_rgb
from .decoding import checked_pixels, compressed_size, compressed_to_rgb, pixels_to_rgb, stamp_to_ns


class Frame:
    """One accepted camera image: ``pixels`` in ``encoding`` (None until a compressed one is
    decoded), its size (H, W), header stamp (``stamp``, ``stamp_ns``), ``frame_id`` and arrival
    time ``recv_ns`` (monotonic ns)."""

    __slots__ = ("pixels", "encoding", "size", "stamp", "stamp_ns", "frame_id", "recv_ns", "compressed")

    def __init__(self, pixels: np.ndarray | None, encoding: str, size: tuple[int, int], stamp, frame_id: str,
                 recv_ns: int, compressed=None):
        self.pixels, self.encoding, self.size = pixels, encoding, tuple(size)
        self.stamp, self.stamp_ns, self.frame_id, self.recv_ns = stamp, stamp_to_ns(stamp), frame_id, recv_ns
        self.compressed = compressed

    @classmethod
    def from_image(cls, msg, recv_ns: int = 0) -> Frame:
        """An ``Image`` after every check of :func:`~.decoding.checked_pixels` (raises ``ImageError``)."""
        pixels = checked_pixels(msg)
        return cls(pixels, msg.encoding, pixels.shape[:2], msg.header.stamp, msg.header.frame_id, recv_ns)

    @classmethod
    def from_compressed(cls, msg, recv_ns: int = 0) -> Frame:
        """A ``CompressedImage``, its header checked (size, bomb limit); decoded later by :meth:`decode`."""
        return cls(None, "rgb8", compressed_size(msg), msg.header.stamp, msg.header.frame_id, recv_ns, compressed=msg)

    @property
    def decoded(self) -> bool:
        return self.pixels is not None

    def decode(self) -> np.ndarray:
        """The pixels, decoding a compressed image first (raises ``ImageError`` when it does not decode)."""
        if self.pixels is None:
            rgb = compressed_to_rgb(self.compressed)
            self.pixels, self.size, self.compressed = rgb, rgb.shape[:2], None
        return self.pixels


def blank_value(pixels: np.ndarray):
    """The value every sampled pixel has (1 in 256, cheap at 1600x900) when they are all equal
    (lens cap, dead sensor), else None."""
    probe = pixels[::16, ::16]
    return probe.flat[0] if probe.size and probe.min() == probe.max() else None


def batch_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(H, W) most frames have (ties: the first of them in order)."""
    return tuple(collections.Counter(tuple(s) for s in sizes).most_common(1)[0][0])


@dataclasses.dataclass
class Batch:
    """``images`` (N, H, W, 3) uint8 RGB; ``K`` (N, 3, 3) float64 pixels at ``size`` (H, W)."""

    images: np.ndarray
    K: np.ndarray
    size: tuple[int, int]


def assemble_batch(frames: Sequence[Frame], Ks: Sequence[np.ndarray], size: tuple[int, int] | None = None) -> Batch:
    """Decoded ``frames`` and their K (3, 3) at their own size -> :class:`Batch` at ``size``
    (default :func:`batch_size` of the frames)."""
    hw = tuple(size) if size is not None else batch_size([f.size for f in frames])
    images = np.empty((len(frames), hw[0], hw[1], 3), np.uint8)
    K_out = np.empty((len(frames), 3, 3), np.float64)
    for j, (f, K) in enumerate(zip(frames, Ks, strict=True)):
        pixels = f.decode()
        if f.size != hw:  # a camera of another resolution: resize it to the batch, scale its K
            images[j] = resize_rgb(pixels_to_rgb(pixels, f.encoding)[None], hw)[0].numpy()
            K_out[j] = scale_intrinsics(torch.from_numpy(np.asarray(K, np.float64)), f.size, hw).numpy()
        else:
            pixels_to_rgb(pixels, f.encoding, out=images[j])
            K_out[j] = K
    return Batch(images=images, K=K_out, size=hw)
