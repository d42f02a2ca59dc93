"""Camera intrinsics of the input images: CameraInfo -> K, and the CameraInfo-vs-rig policy.

Policy (node and eval-bag): a camera's K comes from its CameraInfo when one is known (and
``use_camera_info``), else from the rig; either is scaled from the size it was given for to
the image's size (pixel-centre convention, :func:`~disdepth_core.geometry.scale_intrinsics`).
Warnings go to a ``warn(camera, cause, text)`` callback (the node rate-limits them per camera
and cause): a CameraInfo that differs from the rig by more than 2 %, a CameraInfo for another
size than the images, a rig size of another aspect ratio than the images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..geometry import CameraRig, scale_intrinsics
from .decoding import ImageError

Warn = Callable[[str, str, str], None]  # (camera, cause, text)
RIG_DIFFERENCE = 0.02  # relative difference of fx, fy, cx, cy above which CameraInfo vs rig is worth a word


def _no_warn(camera: str, cause: str, text: str) -> None:
    return None


def camera_info_to_K(msg) -> tuple[np.ndarray, tuple[int, int]]:
    """``CameraInfo`` -> ``K`` (3, 3) float64 of the raw image and its size (H, W) pixels.

    Raises ``ImageError('CameraInfo K all zeros')`` for an uncalibrated camera and
    ``ImageError('CameraInfo invalid')`` for a non-positive or non-finite focal length or size.
    """
    K = np.array(msg.k, dtype=np.float64).reshape(3, 3)  # a copy: rosbags gives a read-only view
    h, w = int(msg.height), int(msg.width)
    if not K.any():
        raise ImageError("CameraInfo K all zeros", "uncalibrated camera (K = 0)")
    if not (K[0, 0] > 0 and K[1, 1] > 0 and h > 0 and w > 0 and np.isfinite(K).all()):
        raise ImageError("CameraInfo invalid", f"fx={K[0, 0]} fy={K[1, 1]} size {w}x{h}")
    return K, (h, w)


def intrinsics_for(camera: str, image_hw: tuple[int, int], rig_K: torch.Tensor, rig_hw: tuple[int, int],
                   info: tuple[np.ndarray, tuple[int, int]] | None, warn: Warn = _no_warn) -> np.ndarray:
    """K (3, 3) float64 of ``camera`` for an image of ``image_hw`` (H, W) pixels.

    ``info`` = (K, (H, W)) of its CameraInfo, or None for the rig's ``rig_K`` at ``rig_hw``.
    """
    if info is not None:
        K, src = torch.tensor(np.asarray(info[0]), dtype=torch.float64), tuple(info[1])
        if src != tuple(image_hw):
            warn(camera, "CameraInfo size",
                 f"{camera}: CameraInfo is for {src[1]}x{src[0]} but images are {image_hw[1]}x{image_hw[0]}; "
                 "scaling its K")
    else:
        K, src = rig_K.to(torch.float64), tuple(rig_hw)
        if abs(src[0] / src[1] - image_hw[0] / image_hw[1]) > 0.01 * src[0] / src[1]:
            warn(camera, "rig aspect",
                 f"{camera}: no CameraInfo and the rig size {src[1]}x{src[0]} has another aspect ratio than "
                 f"the images ({image_hw[1]}x{image_hw[0]}); rig K scaled per axis")
    return (scale_intrinsics(K, src, image_hw) if src != tuple(image_hw) else K.clone()).numpy()


def rig_difference(K: np.ndarray, hw: tuple[int, int], rig_K: torch.Tensor, rig_hw: tuple[int, int]) -> float:
    """Largest relative difference of fx, fy, cx, cy between ``K`` at ``hw`` and the rig scaled to ``hw``."""
    K_rig = scale_intrinsics(rig_K.to(torch.float64), rig_hw, hw).numpy()
    idx = ([0, 1, 0, 1], [0, 1, 2, 2])
    return float((np.abs(K - K_rig)[idx] / np.maximum(np.abs(K_rig[idx]), 1)).max())


class IntrinsicsTracker:
    """The latest CameraInfo of each camera of ``rig`` (the node's rule: the newest one wins).

    :meth:`update` takes a CameraInfo (raises ``ImageError`` for an unusable one, after which the
    rig is used again); :meth:`K` gives the camera's K for an image size.
    """

    def __init__(self, rig: CameraRig, *, use_camera_info: bool = True, warn: Warn = _no_warn):
        self.rig = rig
        self.use_camera_info = use_camera_info
        self.warn = warn
        self.info: dict[str, tuple[np.ndarray, tuple[int, int]] | None] = {c: None for c in rig.names}
        self._index = {c: i for i, c in enumerate(rig.names)}

    def update(self, camera: str, msg) -> None:
        """Take camera ``camera``'s CameraInfo message (rclpy or rosbags)."""
        try:
            K, hw = camera_info_to_K(msg)
        except ImageError:
            self.info[camera] = None
            raise
        old = self.info[camera]
        if old is None or not np.array_equal(K, old[0]) or hw != old[1]:
            i = self._index[camera]
            if rig_difference(K, hw, self.rig.K[i], self.rig.sizes[i]) > RIG_DIFFERENCE:
                K_rig = scale_intrinsics(self.rig.K[i].to(torch.float64), self.rig.sizes[i], hw).numpy()
                self.warn(camera, "CameraInfo differs from rig",
                          f"{camera}: CameraInfo K (fx {K[0, 0]:.1f} fy {K[1, 1]:.1f} cx {K[0, 2]:.1f} cy {K[1, 2]:.1f} "
                          f"at {hw[1]}x{hw[0]}) differs from the rig scaled to that size (fx {K_rig[0, 0]:.1f} "
                          f"fy {K_rig[1, 1]:.1f} cx {K_rig[0, 2]:.1f} cy {K_rig[1, 2]:.1f}); using CameraInfo")
        self.info[camera] = (K, hw)

    def source(self, camera: str) -> str:
        """``'CameraInfo'`` or ``'rig'``: where camera ``camera``'s K comes from now."""
        return "CameraInfo" if self.use_camera_info and self.info[camera] is not None else "rig"

    def K(self, camera: str, image_hw: tuple[int, int]) -> np.ndarray:
        """K (3, 3) float64 of ``camera`` for an image of ``image_hw`` (H, W) pixels."""
        i = self._index[camera]
        info = self.info[camera] if self.use_camera_info else None
        return intrinsics_for(camera, image_hw, self.rig.K[i], self.rig.sizes[i], info, self.warn)
