"""Camera-rig geometry: the one source of truth for intrinsics, extrinsics and projection.

Conventions (REP 103/105/118):

* ``base_link``: x forward, y left, z up, metres.
* Camera optical frame ``<cam>_optical_frame``: z forward, x right, y down.
* Depth is **z-depth** along the optical axis in metres (not ray length).
* Pixel ``(u, v)`` = (column, row) with pixel *centres* at integer coordinates; a resize
  that maps an image of width ``W`` to ``w`` maps ``u -> (u + 0.5) * w / W - 0.5``
  (the convention of ``F.interpolate(..., align_corners=False)`` and OpenCV).
* ``T_a_b`` is the 4x4 pose of frame ``b`` in frame ``a``: ``p_a = T_a_b @ p_b``.

All tensor functions are batched and device/dtype agnostic: they work on whatever
device and float dtype their inputs carry. Use float64 where sub-pixel exactness over
large images matters (tests), float32 on the GPU.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from .config import ConfigError, cfg_field, from_dict, load_config, to_dict

__all__ = [
    "CameraCalib",
    "CameraRig",
    "RigConfig",
    "backproject",
    "crop_intrinsics",
    "depth_to_base_points",
    "invert_transform",
    "is_rotation_matrix",
    "make_transform",
    "matrix_to_quaternion",
    "pixel_grid",
    "project",
    "quaternion_to_matrix",
    "scale_intrinsics",
    "transform_points",
    "yaw_pitch_roll_to_optical_rotation",
]

ROTATION_TOL = 1e-4


# ----------------------------------------------------------------------------- rotations
def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion(s) ``(..., 4)`` as (w, x, y, z) -> rotation matrices ``(..., 3, 3)``."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` (w, x, y, z), w >= 0."""
    m = R.reshape(-1, 3, 3)
    out = torch.empty(m.shape[0], 4, dtype=R.dtype, device=R.device)
    for i in range(m.shape[0]):  # few matrices (one per camera): clarity over vectorisation
        a = m[i]
        tr = a[0, 0] + a[1, 1] + a[2, 2]
        if tr > 0:
            s = torch.sqrt(tr + 1.0) * 2
            q = [0.25 * s, (a[2, 1] - a[1, 2]) / s, (a[0, 2] - a[2, 0]) / s, (a[1, 0] - a[0, 1]) / s]
        elif a[0, 0] > a[1, 1] and a[0, 0] > a[2, 2]:
            s = torch.sqrt(1.0 + a[0, 0] - a[1, 1] - a[2, 2]) * 2
            q = [(a[2, 1] - a[1, 2]) / s, 0.25 * s, (a[0, 1] + a[1, 0]) / s, (a[0, 2] + a[2, 0]) / s]
        elif a[1, 1] > a[2, 2]:
            s = torch.sqrt(1.0 + a[1, 1] - a[0, 0] - a[2, 2]) * 2
            q = [(a[0, 2] - a[2, 0]) / s, (a[0, 1] + a[1, 0]) / s, 0.25 * s, (a[1, 2] + a[2, 1]) / s]
        else:
            s = torch.sqrt(1.0 + a[2, 2] - a[0, 0] - a[1, 1]) * 2
            q = [(a[1, 0] - a[0, 1]) / s, (a[0, 2] + a[2, 0]) / s, (a[1, 2] + a[2, 1]) / s, 0.25 * s]
        qq = torch.stack([torch.as_tensor(v, dtype=R.dtype, device=R.device) for v in q])
        out[i] = qq if qq[0] >= 0 else -qq
    return (out / out.norm(dim=-1, keepdim=True)).reshape(R.shape[:-2] + (4,))


def is_rotation_matrix(R: torch.Tensor, tol: float = ROTATION_TOL) -> bool:
    """True if ``R`` (3, 3) is orthonormal with determinant +1 within ``tol``."""
    R = torch.as_tensor(R, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    return bool((R @ R.T - eye).abs().max() <= tol and abs(float(torch.linalg.det(R)) - 1.0) <= tol)


def yaw_pitch_roll_to_optical_rotation(yaw_deg: float, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> torch.Tensor:
    """Rotation ``R_base_cam`` (3, 3, float64) of an optical frame looking along heading ``yaw``.

    ``yaw`` is measured about base z (0 = forward, +90 = left), ``pitch`` positive looks
    down, ``roll`` about the viewing axis. With all zero the camera's z axis is base x,
    its x axis is base -y (right) and its y axis is base -z (down).
    """
    y, p, r = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    # Optical axes of a forward camera, expressed in base_link.
    r0 = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    cz, sz = math.cos(y), math.sin(y)
    cp, sp = math.cos(p), math.sin(p)
    cr, sr = math.cos(r), math.sin(r)
    rz = torch.tensor([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    ry = torch.tensor([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]], dtype=torch.float64)
    rc = torch.tensor([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return rz @ ry @ r0 @ rc


# ----------------------------------------------------------------------------- transforms
def make_transform(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Homogeneous transforms ``(..., 4, 4)`` from rotations ``(..., 3, 3)`` and translations ``(..., 3)``."""
    T = torch.zeros(R.shape[:-2] + (4, 4), dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_transform(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms ``(..., 4, 4)``."""
    R = T[..., :3, :3]
    t = T[..., :3, 3:]
    Rt = R.transpose(-1, -2)
    return make_transform(Rt, -(Rt @ t)[..., 0])


def transform_points(T: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``T (..., 4, 4)`` to ``points (..., N, 3)`` -> ``(..., N, 3)`` (batch dims broadcast)."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


# ----------------------------------------------------------------------------- pinhole model
def pixel_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates ``(H, W, 2)`` as (u, v), u = column index, v = row index."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1)


def scale_intrinsics(K: torch.Tensor, src_hw: Sequence[int], dst_hw: Sequence[int]) -> torch.Tensor:
    """Intrinsics ``(..., 3, 3)`` of an image resized from ``src_hw`` (H, W) to ``dst_hw``.

    Uses the pixel-centre convention: ``u' = (u + 0.5) * sx - 0.5``.
    """
    sy = dst_hw[0] / src_hw[0]
    sx = dst_hw[1] / src_hw[1]
    out = K.clone()
    out[..., 0, 0] = K[..., 0, 0] * sx
    out[..., 0, 1] = K[..., 0, 1] * sx
    out[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    out[..., 1, 1] = K[..., 1, 1] * sy
    out[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return out


def crop_intrinsics(K: torch.Tensor, top: float, left: float) -> torch.Tensor:
    """Intrinsics ``(..., 3, 3)`` after cropping ``top`` rows and ``left`` columns away."""
    out = K.clone()
    out[..., 0, 2] = K[..., 0, 2] - left
    out[..., 1, 2] = K[..., 1, 2] - top
    return out


def backproject(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Z-depth maps ``(..., H, W)`` (metres) -> points in the camera frame ``(..., H, W, 3)``.

    ``K`` is ``(..., 3, 3)`` broadcastable to the depth's batch dims. Invalid depth
    (NaN/Inf) propagates into the points.
    """
    H, W = depth.shape[-2:]
    grid = pixel_grid(H, W, device=depth.device, dtype=depth.dtype)
    fx = K[..., 0, 0, None, None]
    fy = K[..., 1, 1, None, None]
    cx = K[..., 0, 2, None, None]
    cy = K[..., 1, 2, None, None]
    x = (grid[..., 0] - cx) / fx * depth
    y = (grid[..., 1] - cy) / fy * depth
    return torch.stack([x, y, depth], dim=-1)


def project(points: torch.Tensor, K: torch.Tensor, eps: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame points ``(..., N, 3)`` -> pixels ``(..., N, 2)`` (u, v) and z-depth ``(..., N)``.

    Points with ``z <= eps`` get NaN pixel coordinates (behind the camera).
    """
    z = points[..., 2]
    safe = torch.where(z > eps, z, torch.full_like(z, float("nan")))
    u = K[..., 0, 0, None] * points[..., 0] / safe + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * points[..., 1] / safe + K[..., 1, 2, None]
    return torch.stack([u, v], dim=-1), z


def depth_to_base_points(depth: torch.Tensor, K: torch.Tensor, T_base_cam: torch.Tensor) -> torch.Tensor:
    """Z-depth ``(B, H, W)`` -> points in the base frame ``(B, H, W, 3)``."""
    pts = backproject(depth, K)
    B, H, W, _ = pts.shape
    return transform_points(T_base_cam, pts.reshape(B, H * W, 3)).reshape(B, H, W, 3)


def ground_plane_depth(K: torch.Tensor, T_base_cam: torch.Tensor, height: int, width: int,
                       ground_z: float = 0.0) -> torch.Tensor:
    """Z-depth ``(B, H, W)`` (metres) at which each pixel's ray meets the flat ground ``z = ground_z`` of
    the base frame (REP 105 base_link: z up, the ground at z = 0 for a vehicle standing on it); 0 where
    the ray does not go down to it (at or above the horizon, or a camera at or below the ground).

    K ``(B, 3, 3)`` pixels, T_base_cam ``(B, 4, 4)``. A ray ``r = K^-1 (u, v, 1)`` (camera z = 1) goes
    down at ``(R r)_z`` metres of height per metre of z-depth, so it reaches the ground at z-depth
    ``(ground_z - c_z) / (R r)_z`` for a camera centre at height ``c_z``.
    """
    rays = backproject(torch.ones(K.shape[0], height, width, device=K.device, dtype=K.dtype), K)  # z = 1
    R, c = T_base_cam[:, :3, :3].to(K.dtype), T_base_cam[:, :3, 3].to(K.dtype)
    down = torch.einsum("bj,bhwj->bhw", R[:, 2, :], rays)  # base-z change per metre of camera z-depth
    rise = (ground_z - c[:, 2])[:, None, None]  # negative: the ground is below the camera
    depth = rise / torch.where(down < 0, down, torch.full_like(down, -1.0))
    return torch.where((down < -1e-6) & (rise < 0), depth, torch.zeros_like(depth))


def in_image(uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Mask ``(...)`` of pixel coordinates ``(..., 2)`` inside the image (pixel-centre convention)."""
    u, v = uv[..., 0], uv[..., 1]
    return (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)


# ----------------------------------------------------------------------------- rig config
@dataclasses.dataclass
class CameraCalib:
    """One camera of a rig as written in ``config/rigs/*.yaml``.

    ``translation`` is the optical centre in the base frame (metres); the rotation
    ``R_base_cam`` is given either as ``quaternion_wxyz`` or as ``rotation_matrix`` (rows).
    """

    name: str = cfg_field(help="camera name, e.g. CAM_FRONT")
    width: int = cfg_field(gt=0, help="image width in pixels")
    height: int = cfg_field(gt=0, help="image height in pixels")
    fx: float = cfg_field(gt=0, help="focal length x (pixels)")
    fy: float = cfg_field(gt=0, help="focal length y (pixels)")
    cx: float = cfg_field(help="principal point x (pixels)")
    cy: float = cfg_field(help="principal point y (pixels)")
    translation: tuple[float, float, float] = cfg_field(help="optical centre in base frame (m)")
    quaternion_wxyz: tuple[float, float, float, float] | None = cfg_field(None, help="R_base_cam as w, x, y, z")
    rotation_matrix: tuple[
        tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]
    ] | None = cfg_field(None, help="R_base_cam, 3 rows")
    frame_id: str = cfg_field("", help="optical frame id; default <name>_optical_frame")

    def validate(self) -> None:
        if not self.name:
            raise ConfigError("camera name must not be empty", key="name")
        if (self.quaternion_wxyz is None) == (self.rotation_matrix is None):
            raise ConfigError("give exactly one of quaternion_wxyz or rotation_matrix", key="rotation_matrix")
        if self.quaternion_wxyz is not None:
            n = math.sqrt(sum(v * v for v in self.quaternion_wxyz))
            if abs(n - 1.0) > 1e-3:
                raise ConfigError(f"quaternion must have unit norm, has norm {n:.6f}", key="quaternion_wxyz")
        else:
            R = torch.tensor(self.rotation_matrix, dtype=torch.float64)
            if not is_rotation_matrix(R):
                err = float((R @ R.T - torch.eye(3, dtype=torch.float64)).abs().max())
                det = float(torch.linalg.det(R))
                raise ConfigError(
                    f"not an orthonormal rotation (max |R R^T - I| = {err:.3g}, det = {det:.4f})",
                    key="rotation_matrix",
                )
        if not (0 <= self.cx <= self.width and 0 <= self.cy <= self.height):
            raise ConfigError(
                f"principal point ({self.cx}, {self.cy}) lies outside the {self.width}x{self.height} image",
                key="cx",
            )

    def rotation(self) -> torch.Tensor:
        """``R_base_cam`` (3, 3) float64."""
        if self.quaternion_wxyz is not None:
            return quaternion_to_matrix(torch.tensor(self.quaternion_wxyz, dtype=torch.float64))
        return torch.tensor(self.rotation_matrix, dtype=torch.float64)


@dataclasses.dataclass
class RigConfig:
    """A camera rig file: ordered cameras around a vehicle."""

    name: str = cfg_field(help="rig name")
    cameras: list[CameraCalib] = cfg_field(help="cameras in publishing order")
    base_frame: str = cfg_field("base_link", help="vehicle frame (REP 105)")
    notes: str = cfg_field("", help="where the values come from, how approximate they are")

    def validate(self) -> None:
        if not self.cameras:
            raise ConfigError("a rig needs at least one camera", key="cameras")
        seen = set()
        for i, cam in enumerate(self.cameras):
            if cam.name in seen:
                raise ConfigError(f"duplicate camera name {cam.name!r}", key=f"cameras[{i}].name")
            seen.add(cam.name)


# ----------------------------------------------------------------------------- CameraRig
class CameraRig:
    """Ordered surround cameras with intrinsics ``K (N, 3, 3)`` and extrinsics ``T_base_cam (N, 4, 4)``.

    Tensors are float64 on the CPU; use :meth:`K_as` / :meth:`T_as` to get them on a
    device and dtype. A rig is immutable: :meth:`resized` returns a new one.
    """

    def __init__(
        self,
        names: Sequence[str],
        sizes: Sequence[tuple[int, int]],
        K: torch.Tensor,
        T_base_cam: torch.Tensor,
        *,
        frame_ids: Sequence[str] | None = None,
        base_frame: str = "base_link",
        name: str = "rig",
        notes: str = "",
    ):
        n = len(names)
        if K.shape != (n, 3, 3) or T_base_cam.shape != (n, 4, 4) or len(sizes) != n:
            raise ValueError(
                f"rig {name!r}: expected {n} cameras, got K {tuple(K.shape)}, "
                f"T {tuple(T_base_cam.shape)}, {len(sizes)} sizes"
            )
        self.names = list(names)
        self.sizes = [(int(h), int(w)) for h, w in sizes]
        self.K = K.to(torch.float64).clone()
        self.T_base_cam = T_base_cam.to(torch.float64).clone()
        self.frame_ids = list(frame_ids) if frame_ids else [f"{c}_optical_frame" for c in names]
        self.base_frame = base_frame
        self.name = name
        self.notes = notes

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: RigConfig) -> CameraRig:
        Ks, Ts = [], []
        for cam in cfg.cameras:
            K = torch.tensor([[cam.fx, 0.0, cam.cx], [0.0, cam.fy, cam.cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
            Ks.append(K)
            Ts.append(make_transform(cam.rotation(), torch.tensor(cam.translation, dtype=torch.float64)))
        return cls(
            [c.name for c in cfg.cameras],
            [(c.height, c.width) for c in cfg.cameras],
            torch.stack(Ks),
            torch.stack(Ts),
            frame_ids=[c.frame_id or f"{c.name}_optical_frame" for c in cfg.cameras],
            base_frame=cfg.base_frame,
            name=cfg.name,
            notes=cfg.notes,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> CameraRig:
        """Load and validate a rig file; errors name the file and key."""
        return cls.from_config(load_config(RigConfig, path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "<dict>") -> CameraRig:
        return cls.from_config(from_dict(RigConfig, data, source=source))

    def to_config(self) -> RigConfig:
        cams = []
        for i, name in enumerate(self.names):
            K = self.K[i]
            q = matrix_to_quaternion(self.T_base_cam[i, :3, :3])
            cams.append(
                CameraCalib(
                    name=name,
                    width=self.sizes[i][1],
                    height=self.sizes[i][0],
                    fx=float(K[0, 0]),
                    fy=float(K[1, 1]),
                    cx=float(K[0, 2]),
                    cy=float(K[1, 2]),
                    translation=tuple(float(v) for v in self.T_base_cam[i, :3, 3]),
                    quaternion_wxyz=tuple(float(v) for v in q),
                    frame_id=self.frame_ids[i],
                )
            )
        return RigConfig(name=self.name, cameras=cams, base_frame=self.base_frame, notes=self.notes)

    def to_dict(self) -> dict:
        return to_dict(self.to_config())

    # -- accessors ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"CameraRig({self.name!r}, cameras={self.names}, sizes={self.sizes})"

    @property
    def num_cameras(self) -> int:
        return len(self.names)

    @property
    def T_cam_base(self) -> torch.Tensor:
        return invert_transform(self.T_base_cam)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"rig {self.name!r} has no camera {name!r} (cameras: {', '.join(self.names)})") from None

    def K_as(self, device=None, dtype=torch.float32) -> torch.Tensor:
        return self.K.to(device=device, dtype=dtype)

    def T_as(self, device=None, dtype=torch.float32) -> torch.Tensor:
        return self.T_base_cam.to(device=device, dtype=dtype)

    def common_size(self) -> tuple[int, int]:
        """The (H, W) shared by all cameras; raises if cameras differ in size."""
        if len(set(self.sizes)) != 1:
            raise ValueError(f"rig {self.name!r}: cameras have different sizes {self.sizes}; resize first")
        return self.sizes[0]

    def yaws_deg(self) -> torch.Tensor:
        """Heading of each optical axis in the base frame, degrees in (-180, 180] ``(N,)``."""
        z_axis = self.T_base_cam[:, :3, 2]
        return torch.rad2deg(torch.atan2(z_axis[:, 1], z_axis[:, 0]))

    # -- derived rigs -------------------------------------------------------------------
    def resized(self, height: int, width: int) -> CameraRig:
        """The same rig with every camera's image resized to ``(height, width)``."""
        Ks = torch.stack([scale_intrinsics(self.K[i], self.sizes[i], (height, width)) for i in range(len(self))])
        return CameraRig(
            self.names,
            [(height, width)] * len(self),
            Ks,
            self.T_base_cam,
            frame_ids=self.frame_ids,
            base_frame=self.base_frame,
            name=self.name,
            notes=self.notes,
        )

    def with_intrinsics(self, index: int, K: torch.Tensor, size: tuple[int, int]) -> CameraRig:
        """A copy with camera ``index``'s intrinsics and image size replaced (e.g. from CameraInfo)."""
        Ks = self.K.clone()
        Ks[index] = torch.as_tensor(K, dtype=torch.float64)
        sizes = list(self.sizes)
        sizes[index] = (int(size[0]), int(size[1]))
        return CameraRig(
            self.names, sizes, Ks, self.T_base_cam, frame_ids=self.frame_ids,
            base_frame=self.base_frame, name=self.name, notes=self.notes,
        )

    def subset(self, names: Sequence[str]) -> CameraRig:
        idx = [self.index(n) for n in names]
        return CameraRig(
            [self.names[i] for i in idx],
            [self.sizes[i] for i in idx],
            self.K[idx],
            self.T_base_cam[idx],
            frame_ids=[self.frame_ids[i] for i in idx],
            base_frame=self.base_frame,
            name=self.name,
            notes=self.notes,
        )

    # -- surround structure -------------------------------------------------------------
    def adjacent_pairs(self) -> list[tuple[int, int]]:
        """Neighbouring cameras around the ring ``[(i, j), ...]``, ordered by heading.

        The ring starts at camera 0 and runs clockwise seen from above (front, front
        right, ...), so each pair is (camera, its right-hand neighbour). A rig with
        two cameras gives one pair; one camera gives none.
        """
        n = len(self)
        if n < 2:
            return []
        order = torch.argsort(self.yaws_deg(), descending=True).tolist()  # clockwise seen from above
        start = order.index(0)
        order = order[start:] + order[:start]  # begin the ring at the first camera
        pairs = [(order[k], order[(k + 1) % n]) for k in range(n)]
        if n == 2:
            pairs = pairs[:1]
        return pairs

    def overlap_masks(
        self,
        size: tuple[int, int] | None = None,
        depth_range: tuple[float, float] = (1.0, 80.0),
        num_depths: int = 32,
        pairs: Sequence[tuple[int, int]] | None = None,
        device=None,
    ) -> torch.Tensor:
        """Per adjacent pair, where each view sees space the other view also sees.

        Returns a bool tensor ``(P, 2, H, W)``: ``[p, 0]`` marks pixels of camera i whose
        viewing ray, at some depth in ``depth_range`` (log-spaced samples), projects inside
        camera j; ``[p, 1]`` the same for camera j towards i. ``size`` (H, W) is the working
        resolution (intrinsics scaled); default the cameras' common size.
        """
        rig = self.resized(*size) if size is not None else self
        H, W = rig.common_size()
        pairs = list(pairs) if pairs is not None else rig.adjacent_pairs()
        K = rig.K_as(device, torch.float64)
        T = rig.T_as(device, torch.float64)
        depths = torch.logspace(
            math.log10(depth_range[0]), math.log10(depth_range[1]), num_depths, dtype=torch.float64, device=device
        )
        unit = backproject(torch.ones(len(rig), H, W, dtype=torch.float64, device=device), K)  # (N, H, W, 3)
        out = torch.zeros(len(pairs), 2, H, W, dtype=torch.bool, device=device)
        for p, (i, j) in enumerate(pairs):
            for side, (a, b) in enumerate(((i, j), (j, i))):
                T_b_a = invert_transform(T[b]) @ T[a]
                pts = depths[:, None, None] * unit[a].reshape(1, -1, 3)  # (D, H*W, 3)
                uv, z = project(transform_points(T_b_a, pts), K[b])
                out[p, side] = (in_image(uv, H, W) & (z > 0)).any(0).reshape(H, W)
        return out
