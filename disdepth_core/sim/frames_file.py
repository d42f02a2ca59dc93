"""``GroundTruthFrames``: a short multi-camera sequence with true depth, in one ``.npz`` file.

The exchange format between a synthetic source (the test scene, the synthetic world) and
the consumers that need the truth at run time: the live publisher
(``synthetic_cameras_node --frames``), the test-only oracle
:class:`~disdepth_core.sim.oracle_engine.GroundTruthEngine` and ``disdepth export --calib``.

Arrays (numpy ``.npz``, no pickle):

* ``images`` ``(F, N, H, W, 3)`` uint8 RGB
* ``depth`` ``(F, N, H, W)`` float32 z-depth metres, 0 or NaN = no ground truth
* ``K`` ``(N, 3, 3)`` float64 intrinsics at ``(H, W)``; ``T_base_cam`` ``(N, 4, 4)`` float64
* ``cameras`` ``(N,)`` str; ``frame_ids`` ``(N,)`` str; ``base_frame`` () str
* ``stamps_ns`` ``(F,)`` int64 capture times
* optional LiDAR: ``lidar_points`` ``(P_total, 5)`` float32 x, y, z, intensity, ring in the
  LiDAR frame, ``lidar_counts`` ``(F,)`` points per frame, ``T_base_lidar`` ``(4, 4)``,
  ``lidar_frame_id`` () str, ``lidar_topic`` () str
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import DisdepthError


@dataclasses.dataclass
class GroundTruthFrames:
    images: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    T_base_cam: np.ndarray
    cameras: list[str]
    stamps_ns: np.ndarray
    frame_ids: list[str] = dataclasses.field(default_factory=list)
    base_frame: str = "base_link"
    lidar_points: np.ndarray | None = None
    lidar_counts: np.ndarray | None = None
    T_base_lidar: np.ndarray | None = None
    lidar_frame_id: str = "lidar_top"
    lidar_topic: str = "/LIDAR_TOP/points"

    def __post_init__(self) -> None:
        F, N, H, W, C = self.images.shape
        if C != 3 or self.images.dtype != np.uint8:
            raise DisdepthError(f"frames: images must be uint8 (F, N, H, W, 3), got {self.images.dtype} {self.images.shape}")
        if self.depth.shape != (F, N, H, W):
            raise DisdepthError(f"frames: depth must be {(F, N, H, W)}, got {self.depth.shape}")
        if self.K.shape != (N, 3, 3) or self.T_base_cam.shape != (N, 4, 4) or len(self.cameras) != N:
            raise DisdepthError(f"frames: K/T_base_cam/cameras do not describe {N} cameras")
        if self.stamps_ns.shape != (F,):
            raise DisdepthError(f"frames: stamps_ns must be ({F},), got {self.stamps_ns.shape}")
        self.cameras = [str(c) for c in self.cameras]
        self.frame_ids = [str(c) for c in self.frame_ids] or [f"{c}_optical_frame" for c in self.cameras]

    @property
    def has_lidar(self) -> bool:
        return self.lidar_points is not None

    def lidar(self, index: int) -> np.ndarray:
        """(P, 5) float32 LiDAR points of frame ``index`` (x, y, z, intensity, ring; LiDAR frame)."""
        if self.lidar_points is None:
            raise DisdepthError("frames: this sequence has no LiDAR")
        offsets = np.concatenate([[0], np.cumsum(self.lidar_counts)])
        return self.lidar_points[offsets[index]: offsets[index + 1]]

    @classmethod
    def from_world(cls, seq, progress=None) -> GroundTruthFrames:
        """Render every frame of a ``disdepth_core.world.WorldSequence`` (images, depth, LiDAR).

        ``progress(i, n)`` is called after each frame. Invalid depth becomes 0 (no truth).
        """
        rig = seq.rig
        images, depth, stamps, lidar, counts = [], [], [], [], []
        for i in range(len(seq)):
            f = seq.render(i)
            images.append(f.rgb.numpy())
            depth.append(np.where(f.valid.numpy(), f.depth.numpy(), 0.0).astype(np.float32))
            stamps.append(f.timestamp_ns)
            lidar.append(f.lidar.numpy().astype(np.float32))
            counts.append(len(lidar[-1]))
            if progress is not None:
                progress(i + 1, len(seq))
        return cls(
            images=np.stack(images), depth=np.stack(depth), K=rig.K.numpy(), T_base_cam=rig.T_base_cam.numpy(),
            cameras=list(rig.names), stamps_ns=np.asarray(stamps, np.int64), frame_ids=list(rig.frame_ids),
            base_frame=rig.base_frame, lidar_points=np.concatenate(lidar), lidar_counts=np.asarray(counts, np.int64),
            T_base_lidar=seq.T_base_lidar.numpy(), lidar_frame_id=seq.cfg.lidar.frame_id,
            lidar_topic=f"/{seq.cfg.lidar.name}/points",
        )

    @property
    def num_frames(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return self.images.shape[2], self.images.shape[3]

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            p, images=self.images, depth=self.depth.astype(np.float32), K=self.K.astype(np.float64),
            T_base_cam=self.T_base_cam.astype(np.float64), cameras=np.array(self.cameras),
            frame_ids=np.array(self.frame_ids), base_frame=np.array(self.base_frame),
            stamps_ns=self.stamps_ns.astype(np.int64),
            **({} if self.lidar_points is None else {
                "lidar_points": self.lidar_points.astype(np.float32), "lidar_counts": self.lidar_counts.astype(np.int64),
                "T_base_lidar": self.T_base_lidar.astype(np.float64), "lidar_frame_id": np.array(self.lidar_frame_id),
                "lidar_topic": np.array(self.lidar_topic)}),
        )
        return p

    @classmethod
    def load(cls, path: str | Path) -> GroundTruthFrames:
        p = Path(path)
        if not p.is_file():
            raise DisdepthError(f"frames file not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                return cls(
                    images=z["images"], depth=z["depth"], K=z["K"], T_base_cam=z["T_base_cam"],
                    cameras=list(z["cameras"]), stamps_ns=z["stamps_ns"], frame_ids=list(z["frame_ids"]),
                    base_frame=str(z["base_frame"]),
                    **({} if "lidar_points" not in z.files else {
                        "lidar_points": z["lidar_points"], "lidar_counts": z["lidar_counts"],
                        "T_base_lidar": z["T_base_lidar"], "lidar_frame_id": str(z["lidar_frame_id"]),
                        "lidar_topic": str(z["lidar_topic"])}),
                )
        except (KeyError, ValueError, OSError) as exc:
            raise DisdepthError(f"{p}: not a frames file ({exc})") from None
