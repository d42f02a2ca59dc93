"""An analytic test scene: the rig driving through a box-shaped room with an open sky.

Exact z-depth for every pixel (ray/box slab exit distance), checkerboard-textured faces and
per-frame noise (so every image is unique), as :class:`GroundTruthFrames`. Used by tests and
the node benchmark as a live source with known truth; the synthetic world is the realistic
scene. Rays come from :func:`disdepth_core.geometry.backproject` (depth 1 = unit optical z).
"""

from __future__ import annotations

import numpy as np
import torch

from ..geometry import CameraRig, backproject
from .frames_file import GroundTruthFrames

ROOM_LO = (-20.0, -9.0, 0.0)  # metres, base_link at frame 0
ROOM_HI = (30.0, 8.0, 4.0)  # walls 4 m high, no ceiling: rays leaving through the top see sky (no depth)
SKY_FACE = 2
FACE_COLOURS = np.array([[200, 80, 60], [60, 160, 90], [70, 90, 200], [180, 180, 60], [150, 150, 150]], np.float32)


def box_room_depth(rig: CameraRig, offset_x: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Z-depth ``(N, H, W)`` float64 (0 = sky, no ground truth), hit points ``(N, H, W, 3)`` and face index ``(N, H, W)``."""
    H, W = rig.common_size()
    rays_cam = backproject(torch.ones(len(rig), H, W, dtype=torch.float64), rig.K)  # optical z = 1
    R = rig.T_base_cam[:, :3, :3]
    dirs = torch.einsum("nij,nhwj->nhwi", R, rays_cam)
    origin = rig.T_base_cam[:, None, None, :3, 3]
    lo = torch.tensor(ROOM_LO, dtype=torch.float64) - torch.tensor([offset_x, 0.0, 0.0], dtype=torch.float64)
    hi = torch.tensor(ROOM_HI, dtype=torch.float64) - torch.tensor([offset_x, 0.0, 0.0], dtype=torch.float64)
    inf = torch.tensor(float("inf"), dtype=torch.float64)
    t_hi = torch.where(dirs > 0, (hi - origin) / dirs, inf)
    t_lo = torch.where(dirs < 0, (lo - origin) / dirs, inf)
    t_all = torch.cat([t_hi, t_lo], dim=-1)  # faces: +x +y +z -x -y -z
    t, face = t_all.min(dim=-1)
    hit = origin + t[..., None] * dirs
    depth = torch.where(face == SKY_FACE, torch.zeros_like(t), t)
    return depth, hit, face


def make_box_room_frames(rig: CameraRig, num_frames: int, *, rate_hz: float = 10.0, speed_mps: float = 3.0,
                         seed: int = 0, start_ns: int = 1_700_000_000_000_000_000) -> GroundTruthFrames:
    """``num_frames`` time steps of the rig (all cameras the same size) moving along +x."""
    rng = np.random.default_rng(seed)
    N = len(rig)
    H, W = rig.common_size()
    images = np.zeros((num_frames, N, H, W, 3), np.uint8)
    depth = np.zeros((num_frames, N, H, W), np.float32)
    for f in range(num_frames):
        d, hit, face = box_room_depth(rig, offset_x=speed_mps * f / rate_hz)
        checker = ((torch.floor(hit[..., 0]) + torch.floor(hit[..., 1]) + torch.floor(hit[..., 2])) % 2).numpy()
        checker = np.nan_to_num(checker, nan=0.0)
        colour = FACE_COLOURS[np.minimum(face.numpy() % 3 + (face.numpy() >= 3) * 2, 4)]
        shade = 0.55 + 0.45 * checker[..., None]
        sky = (d == 0).numpy()[..., None]
        img = np.where(sky, np.array([135, 190, 235], np.float32), colour * shade)
        img += rng.integers(-12, 13, size=img.shape).astype(np.float32)
        images[f] = np.clip(img, 0, 255).astype(np.uint8)
        depth[f] = d.numpy().astype(np.float32)
    stamps = start_ns + (np.arange(num_frames) * (1e9 / rate_hz)).astype(np.int64)
    return GroundTruthFrames(
        images=images, depth=depth, K=rig.K.numpy(), T_base_cam=rig.T_base_cam.numpy(), cameras=list(rig.names),
        stamps_ns=stamps, frame_ids=list(rig.frame_ids), base_frame=rig.base_frame,
    )
