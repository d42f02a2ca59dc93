"""``CameraPipeline``: a rig's image and CameraInfo messages -> checked frames -> the engine batch.

What ``surround_depth_node`` runs between its callbacks and ``engine.infer`` (the synchroniser
sits between :meth:`CameraPipeline.frame` and :meth:`CameraPipeline.batch`); ``disdepth eval-bag``
uses the same pieces (:class:`~.batch.Frame`, :func:`~.intrinsics.intrinsics_for`,
:func:`~.batch.assemble_batch`) with its CameraInfo matched by stamp. Threads: :meth:`frame` and
:meth:`camera_info` in the message callbacks (cheap: checks, no copy, a compressed image's header
only); :meth:`decode` and :meth:`batch` in the inference worker.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..geometry import CameraRig
from .batch import Batch, Frame, assemble_batch
from .decoding import ImageError
from .intrinsics import IntrinsicsTracker, Warn, _no_warn


class CameraPipeline:
    """Per rig: ``warn(camera, cause, text)`` receives the intrinsics warnings (rate-limit it)."""

    def __init__(self, rig: CameraRig, *, use_camera_info: bool = True, warn: Warn = _no_warn):
        self.rig = rig
        self.intrinsics = IntrinsicsTracker(rig, use_camera_info=use_camera_info, warn=warn)

    def frame(self, msg, recv_ns: int = 0, *, compressed: bool = False) -> Frame:
        """An ``Image`` (every check) or ``CompressedImage`` (header checks; decoded in :meth:`decode`)
        -> :class:`Frame`; raises ``ImageError`` for an image that cannot be used."""
        return Frame.from_compressed(msg, recv_ns) if compressed else Frame.from_image(msg, recv_ns)

    def camera_info(self, camera: str, msg) -> None:
        """The camera's newest CameraInfo; raises ``ImageError`` for an unusable one (the rig is used then)."""
        self.intrinsics.update(camera, msg)

    @staticmethod
    def decode(frames: Mapping[str, Frame]) -> tuple[list[str], dict[str, ImageError]]:
        """Decode the compressed frames of a set -> (cameras just decoded, {camera: error} of those that failed)."""
        decoded, failed = [], {}
        for cam, f in frames.items():
            if f.decoded:
                continue
            try:
                f.decode()
                decoded.append(cam)
            except ImageError as exc:
                failed[cam] = exc
        return decoded, failed

    def batch(self, frames: Mapping[str, Frame]) -> Batch:
        """Decoded frames {camera: Frame} of one set -> (N, H, W, 3) uint8 + K (N, 3, 3) at the set's
        most common size, cameras in the mapping's order."""
        Ks = [self.intrinsics.K(cam, f.size) for cam, f in frames.items()]
        return assemble_batch(list(frames.values()), Ks)
