"""Procedural synthetic driving world with exact ground truth (no ROS).

``WorldSequence(rig, frames, seed)`` renders frames (:class:`FrameRender`: RGB, z-depth,
validity, semantics, LiDAR); writers export them as the native format
(:mod:`.export_native`), nuScenes (:mod:`.export_nuscenes`) or a ROS 2 bag
(:mod:`.export_bag`). See ``docs/world.md``.
"""

from .config import LidarConfig, WorldConfig
from .renderer import FrameRender, WorldRenderer
from .sequence import WorldSequence

__all__ = ["FrameRender", "LidarConfig", "WorldConfig", "WorldRenderer", "WorldSequence"]
