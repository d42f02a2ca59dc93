"""Configuration of the synthetic world: scene layout, ego motion, lighting, LiDAR.

Every field has a default, so ``WorldConfig()`` is the shipped world; a YAML file with
any subset of the keys overrides them through :func:`disdepth_core.config.load_config`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..config import ConfigError, cfg_field
from .appearance import AppearanceConfig


@dataclasses.dataclass
class LidarConfig:
    """A spinning top LiDAR (HDL-32E-like by default), mounted like nuScenes' LIDAR_TOP.

    ``yaw_deg`` is the heading of the sensor's x axis in base_link: nuScenes mounts it
    at -90 deg (x to the right of the car, y forward).
    """

    name: str = cfg_field("LIDAR_TOP", help="sensor/channel name")
    frame_id: str = cfg_field("lidar_top", help="TF frame of the point cloud")
    translation: tuple[float, float, float] = cfg_field((0.943, 0.0, 1.84), help="sensor origin in base_link (m)")
    yaw_deg: float = cfg_field(-90.0, min=-180.0, max=180.0, help="heading of the sensor x axis (deg)")
    beams: int = cfg_field(32, min=1, max=256, help="number of laser rings")
    elevation_min_deg: float = cfg_field(-30.67, min=-89.0, max=89.0, help="lowest beam elevation (deg)")
    elevation_max_deg: float = cfg_field(10.67, min=-89.0, max=89.0, help="highest beam elevation (deg)")
    azimuth_steps: int = cfg_field(1088, min=32, max=8192, help="firings per revolution")
    min_range_m: float = cfg_field(1.0, min=0.0, help="points closer than this are dropped (m)")
    max_range_m: float = cfg_field(100.0, gt=0.0, help="points farther than this are dropped (m)")

    def validate(self) -> None:
        if self.elevation_min_deg >= self.elevation_max_deg:
            raise ConfigError("must be below elevation_max_deg", key="elevation_min_deg")
        if self.azimuth_steps % 32:
            raise ConfigError("must be a multiple of 32 (the ray tracer's tile width)", key="azimuth_steps")
        if self.min_range_m >= self.max_range_m:
            raise ConfigError("must be below max_range_m", key="min_range_m")


@dataclasses.dataclass
class WorldConfig:
    """Procedural street scene, ego drive, lighting and sensor simulation."""

    layout: Literal["street", "open"] = cfg_field(
        "street", help="street: a road with kerbs, facades, traffic; open: off-street open ground with things "
                       "scattered at any heading (disdepth_core.world.open_scene)")
    rate_hz: float = cfg_field(10.0, gt=0.0, max=100.0, help="frame rate of the sequence (Hz)")
    start_time_s: int = cfg_field(1_700_000_000, min=0, help="timestamp of frame 0 (s since epoch)")
    ego_speed_mps: tuple[float, float] = cfg_field((7.0, 12.0), min=0.0, max=40.0, help="ego speed range, drawn per sequence (m/s)")
    lanes_per_direction: tuple[int, int] = cfg_field((1, 2), min=1, max=3, help="range of lanes per direction")
    lane_width_m: float = cfg_field(3.5, gt=2.0, lt=6.0, help="lane width (m)")
    parking_width_m: float = cfg_field(2.3, min=0.0, lt=5.0, help="parking strip beside the kerb (m)")
    sidewalk_width_m: tuple[float, float] = cfg_field((2.5, 5.0), min=0.5, max=10.0, help="sidewalk width range (m)")
    kerb_height_m: float = cfg_field(0.15, min=0.0, max=0.5, help="kerb / sidewalk height (m)")
    block_length_m: tuple[float, float] = cfg_field((70.0, 140.0), min=20.0, help="distance between cross streets (m)")
    building_height_m: tuple[float, float] = cfg_field((5.0, 28.0), gt=0.0, help="building height range (m)")
    parked_car_density: float = cfg_field(0.6, min=0.0, max=1.0, help="fraction of parking slots occupied")
    moving_cars_per_100m: float = cfg_field(2.0, min=0.0, max=20.0, help="moving vehicles per 100 m of road")
    tree_spacing_m: tuple[float, float] = cfg_field((8.0, 18.0), gt=1.0, help="tree spacing range on sidewalks (m)")
    pole_spacing_m: tuple[float, float] = cfg_field((20.0, 35.0), gt=1.0, help="street-lamp spacing range (m)")
    max_range_m: float = cfg_field(100.0, gt=5.0, max=1000.0, help="visibility limit: beyond it pixels are sky/haze, depth invalid (m)")
    sun_elevation_deg: tuple[float, float] = cfg_field((25.0, 65.0), min=5.0, max=90.0, help="sun elevation range (deg)")
    ambient: tuple[float, float] = cfg_field((0.30, 0.45), min=0.0, max=1.0, help="ambient light range")
    shadows: bool = cfg_field(True, help="cast sun shadows (shadow map by a second ray cast)")
    shadow_map_size: int = cfg_field(512, min=64, max=4096, help="shadow map resolution (texels per side)")
    shadow_extent_m: float = cfg_field(64.0, gt=1.0, help="shadow map half width around the ego (m)")
    noise_std: float = cfg_field(1.5, min=0.0, max=20.0, help="sensor noise std in 8-bit levels")
    exposure_jitter: float = cfg_field(0.05, min=0.0, max=0.5, help="per-camera gain jitter (fraction)")
    lidar: LidarConfig = cfg_field(default_factory=LidarConfig, help="top LiDAR")
    appearance: AppearanceConfig = cfg_field(default_factory=AppearanceConfig,
                                             help="per-street ranges of lighting, weather, camera response, palette")

    def validate(self) -> None:
        for key in ("ego_speed_mps", "lanes_per_direction", "sidewalk_width_m", "block_length_m",
                    "building_height_m", "tree_spacing_m", "pole_spacing_m", "sun_elevation_deg", "ambient"):
            lo, hi = getattr(self, key)
            if lo > hi:
                raise ConfigError(f"range must be (low, high), got ({lo}, {hi})", key=key)


def small_world_config(**overrides) -> WorldConfig:
    """A cheaper world for tests and tiny images: 256-texel shadow map, 512-step LiDAR scan."""
    cfg = WorldConfig(shadow_map_size=256, lidar=LidarConfig(azimuth_steps=512))
    return dataclasses.replace(cfg, **overrides)
