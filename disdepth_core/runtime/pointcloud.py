"""Depth maps of a rig -> one merged point cloud in the base frame, ready to publish.

Back-projection and the rigid transform are :func:`disdepth_core.geometry.backproject` and
:func:`~disdepth_core.geometry.transform_points`; this module only selects pixels (stride,
valid, max range, confidence), optionally thins by voxel, packs colour and lays the points out as
``sensor_msgs/PointCloud2`` data in the depth_image_proc layout:

* ``xyz``:  ``x, y, z`` float32 at offsets 0, 4, 8; point step 12 bytes.
* ``xyzrgb``: plus ``rgb`` at offset 12, a float32 whose bytes are ``b, g, r, 0``
  (``uint32 = r << 16 | g << 8 | b``, little endian); point step 16 bytes.

The result is one contiguous numpy structured array (height 1, unorganised, only finite
points, so ``is_dense = True``): publishing is a single ``array.tobytes()``. Works on any
torch device; the only host copy is the final packed array. With a per-pixel confidence
(:class:`~disdepth_core.runtime.engine_api.InferenceResult`) points below ``min_confidence``
are dropped too.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..geometry import backproject, transform_points

XYZ_DTYPE = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3, "offsets": [0, 4, 8], "itemsize": 12})
XYZRGB_DTYPE = np.dtype(
    {"names": ["x", "y", "z", "rgb"], "formats": ["<f4"] * 4, "offsets": [0, 4, 8, 12], "itemsize": 16}
)


@dataclasses.dataclass
class SurroundCloud:
    """A merged cloud: ``points`` (M,) structured (x, y, z[, rgb]) in the base frame, metres.

    Points are grouped by camera in rig order; camera ``i`` owns
    ``points[offsets[i]:offsets[i + 1]]`` (see :meth:`camera`).
    """

    points: np.ndarray
    counts: list[int]

    @property
    def offsets(self) -> list[int]:
        return [0, *np.cumsum(self.counts).tolist()]

    @property
    def has_rgb(self) -> bool:
        return "rgb" in (self.points.dtype.names or ())

    @property
    def point_step(self) -> int:
        return self.points.dtype.itemsize

    def camera(self, index: int) -> np.ndarray:
        """The points of camera ``index`` (a view)."""
        o = self.offsets
        return self.points[o[index] : o[index + 1]]

    def xyz(self) -> np.ndarray:
        """(M, 3) float32 copy of the coordinates."""
        return np.stack([self.points["x"], self.points["y"], self.points["z"]], axis=-1)


def pack_rgb(colors: torch.Tensor) -> torch.Tensor:
    """uint8 colours ``(..., 3)`` RGB -> float32 ``(...)`` holding ``r << 16 | g << 8 | b`` bitwise."""
    c = colors.to(torch.int32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.view(torch.float32)


def unpack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb` on a numpy float32 array -> uint8 ``(..., 3)`` RGB."""
    u = np.ascontiguousarray(rgb, dtype=np.float32).view(np.uint32)
    return np.stack([(u >> 16) & 0xFF, (u >> 8) & 0xFF, u & 0xFF], axis=-1).astype(np.uint8)


def voxel_first_indices(points: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """Indices (sorted ascending) of the first point in each occupied voxel; ``points`` (M, 3)."""
    if points.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=points.device)
    keys = torch.floor(points / voxel_size).to(torch.int64)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    idx = torch.arange(points.shape[0], device=points.device)
    n_vox = int(inverse.max()) + 1
    first = torch.full((n_vox,), points.shape[0], dtype=torch.long, device=points.device)
    first = first.scatter_reduce(0, inverse, idx, reduce="amin", include_self=True)
    return torch.sort(first).values


def depth_to_cloud(
    depth: torch.Tensor,
    K: torch.Tensor,
    T_base_cam: torch.Tensor,
    *,
    colors: torch.Tensor | np.ndarray | None = None,
    stride: int = 1,
    max_range: float | None = None,
    min_depth: float = 0.0,
    voxel_size: float = 0.0,
    confidence: torch.Tensor | None = None,
    min_confidence: float = 0.0,
) -> SurroundCloud:
    """Merged point cloud of ``N`` depth maps in the base frame.

    Args:
        depth: ``(N, H, W)`` z-depth in metres; NaN/Inf/<= ``min_depth`` are skipped.
        K: ``(N, 3, 3)`` intrinsics at the depth resolution ``(H, W)``.
        T_base_cam: ``(N, 4, 4)`` camera poses in the base frame.
        colors: optional ``(N, H, W, 3)`` uint8 RGB at the depth resolution -> ``rgb`` field.
        stride: keep pixels with ``u % stride == 0 and v % stride == 0``.
        max_range: drop points whose z-depth exceeds this (metres); ``None`` keeps all finite.
        min_depth: drop points with z-depth ``<= min_depth``.
        voxel_size: if > 0, keep the first point (camera order) of each voxel of this edge
            (metres) over the merged cloud, so overlapping views are thinned once.
        confidence: optional ``(N, H, W)`` per-pixel confidence in [0, 1] at the depth resolution.
        min_confidence: drop points whose confidence is lower (0 = keep all); needs ``confidence``
            when > 0.

    Returns:
        :class:`SurroundCloud` with float32 points grouped by camera.
    """
    if depth.dim() != 3:
        raise ValueError(f"depth must be (N, H, W), got shape {tuple(depth.shape)}")
    N, H, W = depth.shape
    if K.shape != (N, 3, 3) or T_base_cam.shape != (N, 4, 4):
        raise ValueError(f"K must be ({N}, 3, 3) and T_base_cam ({N}, 4, 4), got {tuple(K.shape)}, {tuple(T_base_cam.shape)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if confidence is not None and tuple(confidence.shape) != (N, H, W):
        raise ValueError(f"confidence must be ({N}, {H}, {W}) like the depth, got {tuple(confidence.shape)}")
    if min_confidence > 0 and confidence is None:
        raise ValueError(f"min_confidence {min_confidence} needs a confidence map (the engine gave none)")
    dev = depth.device
    conf = confidence.to(dev) if confidence is not None and min_confidence > 0 else None
    work = torch.float32 if depth.dtype in (torch.float16, torch.bfloat16) else depth.dtype
    d = depth.to(work)
    K = K.to(device=dev, dtype=work)
    T = T_base_cam.to(device=dev, dtype=work)
    if colors is not None:
        colors = torch.as_tensor(colors, device=dev)
        if colors.shape != (N, H, W, 3) or colors.dtype != torch.uint8:
            raise ValueError(f"colors must be uint8 ({N}, {H}, {W}, 3), got {colors.dtype} {tuple(colors.shape)}")

    if stride > 1:
        # Pixel (u', v') of the subsampled map is pixel (s u', s v') of the full one, so the
        # subsampled map has intrinsics fx/s, fy/s, cx/s, cy/s (exact, no resampling).
        d = d[:, ::stride, ::stride]
        K = K.clone()
        K[:, :2, :] = K[:, :2, :] / stride
        if colors is not None:
            colors = colors[:, ::stride, ::stride]
        if conf is not None:
            conf = conf[:, ::stride, ::stride]
    pts_cam = backproject(d, K)  # (N, h, w, 3)
    h, w = d.shape[1:]
    pts = transform_points(T, pts_cam.reshape(N, h * w, 3))  # (N, h*w, 3)
    valid = torch.isfinite(d) & (d > min_depth)
    if max_range is not None:
        valid &= d <= max_range
    if conf is not None:
        valid &= conf >= min_confidence  # NaN confidence is never >= : dropped
    valid = valid.reshape(N, h * w)

    cam_index = torch.arange(N, device=dev)[:, None].expand(N, h * w)[valid]
    sel = pts[valid].to(torch.float32)  # (M, 3), camera-major order
    cols = colors.reshape(N, h * w, 3)[valid] if colors is not None else None
    if voxel_size > 0:
        keep = voxel_first_indices(sel, voxel_size)
        sel, cam_index = sel[keep], cam_index[keep]
        cols = cols[keep] if cols is not None else None
    counts = torch.bincount(cam_index, minlength=N).tolist()

    if cols is not None:
        packed = torch.cat([sel, pack_rgb(cols)[:, None]], dim=1)
        dtype = XYZRGB_DTYPE
    else:
        packed = sel
        dtype = XYZ_DTYPE
    arr = np.ascontiguousarray(packed.detach().cpu().numpy(), dtype=np.float32)
    return SurroundCloud(points=arr.view(dtype).reshape(-1), counts=counts)
