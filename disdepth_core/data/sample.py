"""The one sample type every dataset returns and every training/evaluation loop consumes.

A sample is the N cameras of one time step (N = 6 for a surround rig, 1 for KITTI/NYU).
Depth is z-depth in metres (REP 118); pixels without ground truth have ``valid == False``
and ``depth == 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch


@dataclasses.dataclass
class SurroundSample:
    """One time step of N cameras.

    images      (N, 3, H, W) float32 RGB in [0, 1]
    depth       (N, H, W) float32 metres, z-depth; 0 where no ground truth
    valid       (N, H, W) bool, True where ``depth`` is ground truth
    K           (N, 3, 3) float32 intrinsics at (H, W)
    T_base_cam  (N, 4, 4) float32 camera poses in the vehicle frame
    cameras     camera names, length N
    timestamp_ns  capture time of the set (nanoseconds)
    meta        free-form (sequence id, frame index, source files...)
    """

    images: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor
    K: torch.Tensor
    T_base_cam: torch.Tensor
    cameras: list[str]
    timestamp_ns: int = 0
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def num_cameras(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.images.shape[-2:])


@dataclasses.dataclass
class SurroundBatch:
    """B samples stacked: every tensor gains a leading batch dim ``(B, N, ...)``."""

    images: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor
    K: torch.Tensor
    T_base_cam: torch.Tensor
    cameras: list[str]
    timestamp_ns: list[int]
    meta: list[dict]

    def to(self, device, non_blocking: bool = False) -> SurroundBatch:
        mv = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return dataclasses.replace(
            self, images=mv(self.images), depth=mv(self.depth), valid=mv(self.valid), K=mv(self.K),
            T_base_cam=mv(self.T_base_cam),
        )


def collate_samples(samples: Sequence[SurroundSample]) -> SurroundBatch:
    """Stack samples of the same camera count and size into a :class:`SurroundBatch`.

    Samples of different rigs (e.g. nuScenes and DDAD streets of one corpus) may share a
    batch: ``K``/``T_base_cam`` are per sample, ``cameras`` are the first sample's names and
    each sample's own names are in ``meta[b]["cameras"]``.
    """
    first = samples[0]
    for s in samples[1:]:
        if s.num_cameras != first.num_cameras or s.size != first.size:
            raise ValueError(
                f"cannot batch samples with cameras/size {s.cameras}/{s.size} and {first.cameras}/{first.size}"
            )
    return SurroundBatch(
        images=torch.stack([s.images for s in samples]),
        depth=torch.stack([s.depth for s in samples]),
        valid=torch.stack([s.valid for s in samples]),
        K=torch.stack([s.K for s in samples]),
        T_base_cam=torch.stack([s.T_base_cam for s in samples]),
        cameras=list(first.cameras),
        timestamp_ns=[s.timestamp_ns for s in samples],
        meta=[{**(s.meta or {}), "cameras": list(s.cameras)} for s in samples],
    )
