"""A synthetic drive: a seeded scene, the ego path, a clock and a renderer for a rig."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ..geometry import CameraRig
from .config import WorldConfig
from .open_scene import build_open_scene
from .renderer import FrameRender, WorldRenderer, lidar_extrinsics
from .scene import Scene, build_scene


class WorldSequence:
    """``frames`` time steps of a street drive seen by ``rig`` (rendered at the rig's size).

    ``seed`` fixes everything (layout, materials, traffic, sun, noise): the same seed, rig
    and config give bit-identical frames, in any render order.
    """

    def __init__(self, rig: CameraRig, frames: int, seed: int = 0, cfg: WorldConfig | None = None):
        if frames <= 0:
            raise ValueError(f"frames must be > 0, got {frames}")
        self.rig = rig
        self.frames = int(frames)
        self.seed = int(seed)
        self.cfg = cfg or WorldConfig()
        build = build_open_scene if self.cfg.layout == "open" else build_scene
        self.scene: Scene = build(self.cfg, self.seed, duration_s=self.frames / self.cfg.rate_hz)
        self.renderer = WorldRenderer(self.scene, rig, self.cfg, self.seed)
        self.T_base_lidar = lidar_extrinsics(self.cfg)

    def __len__(self) -> int:
        return self.frames

    def timestamp_ns(self, index: int) -> int:
        return self.renderer.timestamp_ns(index)

    def ego_pose(self, index: int) -> torch.Tensor:
        """``T_world_base`` (4, 4) float64 at frame ``index``."""
        return self.renderer.ego_pose(index)

    def render(self, index: int) -> FrameRender:
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} outside 0..{self.frames - 1}")
        return self.renderer.render(index)

    def __iter__(self) -> Iterator[FrameRender]:
        for i in range(self.frames):
            yield self.render(i)
