"""Render one time step of the synthetic world for a camera rig and a top LiDAR.

Per camera: RGB (uint8), z-depth in metres (REP 118: along the optical axis), validity
mask (False for sky / beyond ``max_range_m``), semantic class and the index of the
primitive seen. Camera rays come from :func:`geometry.depth_to_base_points` at unit depth,
so the ray parameter of a hit *is* its z-depth. LiDAR points are in the sensor frame.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from ..geometry import CameraRig, depth_to_base_points, invert_transform, make_transform
from .config import WorldConfig
from .primitives import surface_frame
from .raytrace import TiledRays, bin_azimuth, bin_perspective, prims_at, trace
from .scene import GROUND, Scene
from .shading import Hits, light, sky_colour, surface_albedo
from .shadows import ShadowCaster

CAMERA_TILE = 32


@dataclasses.dataclass
class FrameRender:
    """One rendered time step.

    rgb (V, H, W, 3) uint8; depth (V, H, W) float32 metres, 0 where invalid; valid (V, H, W)
    bool; semantic (V, H, W) uint8 (``scene.SEMANTIC_CLASSES``); prim (V, H, W) int64 index
    into ``scene.prims`` (-1 = sky); face (V, H, W) int64 face id of that primitive;
    lidar (P, 5) float32 x, y, z (m, sensor frame), intensity (0-255), ring; lidar_prim, lidar_face
    (P,) int64 primitive and face hit by each point (for occlusion-aware checks); T_world_base
    (4, 4) float64; timestamp_ns; index.
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor
    semantic: torch.Tensor
    prim: torch.Tensor
    face: torch.Tensor
    lidar: torch.Tensor
    lidar_prim: torch.Tensor
    lidar_face: torch.Tensor
    T_world_base: torch.Tensor
    timestamp_ns: int
    index: int


def ego_transform(x: float, y: float, yaw: float) -> torch.Tensor:
    """``T_world_base`` (4, 4) float64 of a planar pose."""
    c, s = math.cos(yaw), math.sin(yaw)
    R = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return make_transform(R, torch.tensor([x, y, 0.0], dtype=torch.float64))


def lidar_extrinsics(cfg: WorldConfig) -> torch.Tensor:
    """``T_base_lidar`` (4, 4) float64 from the LiDAR config (yaw about base z, then the mounting offset)."""
    R = ego_transform(0.0, 0.0, math.radians(cfg.lidar.yaw_deg))[:3, :3]
    return make_transform(R, torch.tensor(cfg.lidar.translation, dtype=torch.float64))


def lidar_directions(cfg: WorldConfig) -> torch.Tensor:
    """Unit beam directions ``(beams, azimuth_steps, 3)`` in the sensor frame; row 0 = lowest beam,
    column c at azimuth ``2 pi c / azimuth_steps`` from the sensor x axis towards y."""
    lc = cfg.lidar
    el = torch.deg2rad(torch.linspace(lc.elevation_min_deg, lc.elevation_max_deg, lc.beams, dtype=torch.float64))
    az = torch.arange(lc.azimuth_steps, dtype=torch.float64) * (2 * math.pi / lc.azimuth_steps)
    e, a = torch.meshgrid(el, az, indexing="ij")
    return torch.stack([e.cos() * a.cos(), e.cos() * a.sin(), e.sin()], -1)


class WorldRenderer:
    """Renders frames of ``scene`` for ``rig`` (at the rig's size) and the configured LiDAR."""

    def __init__(self, scene: Scene, rig: CameraRig, cfg: WorldConfig, seed: int):
        self.scene, self.rig, self.cfg, self.seed = scene, rig, cfg, int(seed)
        H, W = rig.common_size()
        V = len(rig)
        self.size = (H, W)
        K = rig.K_as(dtype=torch.float64)
        T = rig.T_as(dtype=torch.float64)
        unit = depth_to_base_points(torch.ones(V, H, W, dtype=torch.float64), K, T)
        self.cam_origin = T[:, :3, 3]
        self.cam_dirs = (unit - self.cam_origin[:, None, None, :]).float()  # (V, H, W, 3), optical z = 1
        self.cam_rays = TiledRays.from_grid(self.cam_origin.float(), self.cam_dirs, CAMERA_TILE, CAMERA_TILE)
        self.K32 = rig.K_as()
        self.T_cam_base32 = invert_transform(T).float()
        self.focal = K[:, 0, 0].float()
        self.T_base_lidar = lidar_extrinsics(cfg)
        dl = lidar_directions(cfg)
        self.lidar_dirs_sensor = dl.float()
        dirs_base = dl @ self.T_base_lidar[:3, :3].T
        self.lidar_rays = TiledRays.from_grid(self.T_base_lidar[None, :3, 3].float(), dirs_base[None].float(),
                                              cfg.lidar.beams, 32)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
        self.shadows = ShadowCaster(scene, cfg)
        self.vignette = 1.0 - 0.18 * (xx * xx * 0.7 + yy * yy * 0.5)

    # ------------------------------------------------------------------ public
    def ego_pose(self, index: int) -> torch.Tensor:
        x, y, yaw = self.scene.ego.pose(index / self.cfg.rate_hz)
        return ego_transform(x, y, yaw)

    def timestamp_ns(self, index: int) -> int:
        return int(self.cfg.start_time_s) * 1_000_000_000 + int(round(index * 1e9 / self.cfg.rate_hz))

    def render(self, index: int) -> FrameRender:
        cfg = self.cfg
        time_s = index / cfg.rate_hz
        T_wb = self.ego_pose(index)
        T_bw = invert_transform(T_wb)
        fp = prims_at(self.scene.prims, time_s, T_bw, cfg.max_range_m + 10.0)

        rays = self.cam_rays
        tiles, prims = bin_perspective(fp, rays, self.T_cam_base32, self.K32, cfg.max_range_m)
        t, hit = trace(rays, fp, tiles, prims)
        t = rays.untile(t)
        hit = rays.untile(hit)
        V, H, W = t.shape
        dirs = self.cam_dirs
        rng_len = t * dirs.norm(dim=-1)
        valid = (hit >= 0) & (rng_len <= cfg.max_range_m)
        depth = torch.where(valid, t, torch.zeros_like(t))

        vi = torch.nonzero(valid.reshape(-1))[:, 0]
        d_flat = dirs.reshape(-1, 3)[vi]
        cam_of = torch.div(vi, H * W, rounding_mode="floor")
        p_base = self.cam_origin.float()[cam_of] + t.reshape(-1)[vi, None] * d_flat
        lin, sem, face_v = self._shade(fp, hit.reshape(-1)[vi], p_base, d_flat, self.focal[cam_of], T_wb, time_s)
        # haze towards the visibility limit, sky elsewhere
        R_wb = T_wb[:3, :3].float()
        d_world = torch.nn.functional.normalize(dirs.reshape(-1, 3) @ R_wb.T, dim=-1)
        sky = sky_colour(d_world, self.scene.sun_dir, self.scene.sky_zenith, self.scene.sky_horizon)
        haze = torch.tensor(self.scene.sky_horizon)
        look = self.scene.appearance
        s0 = look.haze_start
        f = ((rng_len.reshape(-1)[vi] - s0 * cfg.max_range_m) / ((1 - s0) * cfg.max_range_m)).clamp(0, 1) ** 1.5
        if look.haze_opacity != 1.0:
            f = f * look.haze_opacity
        img = sky.clone()
        img[vi] = lin + (haze - lin) * f[:, None]
        rgb = self._camera_response(img.reshape(V, H, W, 3), index)

        semantic = torch.zeros(V * H * W, dtype=torch.uint8)
        semantic[vi] = sem.to(torch.uint8)
        face = torch.full((V * H * W,), -1, dtype=torch.int64)
        face[vi] = face_v
        prim_world = torch.full((V * H * W,), -1, dtype=torch.int64)
        prim_world[vi] = fp.index[hit.reshape(-1)[vi]]
        lidar, lidar_prim, lidar_face = self._lidar(fp, T_wb)
        return FrameRender(
            rgb=rgb, depth=depth, valid=valid, semantic=semantic.reshape(V, H, W),
            prim=prim_world.reshape(V, H, W), face=face.reshape(V, H, W), lidar=lidar, lidar_prim=lidar_prim, lidar_face=lidar_face,
            T_world_base=T_wb, timestamp_ns=self.timestamp_ns(index), index=index,
        )

    # ------------------------------------------------------------------ internals
    def _surface(self, fp, hit_local, p_base, d, T_wb):
        """Hits record + semantic for points ``p_base (M, 3)`` on ``fp`` entries ``hit_local (M,)``."""
        widx = fp.index[hit_local]
        normal_b, face, local = surface_frame(fp.kind[hit_local], p_base, fp.center[hit_local], fp.R[hit_local],
                                              fp.half[hit_local])
        R_wb = T_wb[:3, :3].float()
        pw = (p_base.double() @ T_wb[:3, :3].T + T_wb[:3, 3]).float()
        normal_w = normal_b @ R_wb.T
        d_w = torch.nn.functional.normalize(d @ R_wb.T, dim=-1)
        return widx, normal_b, normal_w, face, local, pw, d_w

    def _shade(self, fp, hit_local, p_base, d, focal, T_wb, time_s):
        prims = self.scene.prims
        widx, normal_b, normal_w, face, local, pw, d_w = self._surface(fp, hit_local, p_base, d, T_wb)
        dist = (p_base - self.cam_origin.float().mean(0)).norm(dim=-1)  # ~ range from the camera (footprints)
        cos = (d_w * normal_w).sum(-1).abs().clamp_min(0.05)
        fp_short = dist / focal
        fp_long = fp_short / cos
        g = torch.nn.functional.normalize(d_w[:, :2], dim=-1)
        fpx = torch.sqrt((fp_long * g[:, 0]) ** 2 + (fp_short * g[:, 1]) ** 2).clamp(max=5.0)
        fpy = torch.sqrt((fp_long * g[:, 1]) ** 2 + (fp_short * g[:, 0]) ** 2).clamp(max=5.0)
        hits = Hits(
            material=prims.material[widx], instance=prims.instance[widx], face=face, base=prims.albedo[widx],
            tex=prims.tex[widx], local=local, half=fp.half[hit_local], pw=pw, normal=normal_w,
            fp=torch.sqrt(fp_short * fp_long).clamp(max=5.0), fpx=fpx, fpy=fpy,
        )
        albedo, sem, gloss = surface_albedo(hits, self.scene.road, prims.semantic[widx], self.seed)
        look = self.scene.appearance
        if look.road_tone != 1.0:
            road = hits.material == GROUND
            albedo[road] = (albedo[road] * look.road_tone).clamp(0.0, 1.0)
        p_world = p_base.double() @ T_wb[:3, :3].T + T_wb[:3, 3]
        shadow = self.shadows.lit(p_world, normal_w, (float(T_wb[0, 3]), float(T_wb[1, 3])), time_s)
        lin = light(albedo, normal_w, d_w, self.scene.sun_dir, self.scene.ambient, shadow, gloss, pw[:, 2],
                    self.scene.sky_zenith, self.scene.sky_horizon, sun_strength=look.sun_strength)
        return lin, sem, face

    def _camera_response(self, lin: torch.Tensor, index: int) -> torch.Tensor:
        """Linear RGB (V, H, W, 3) -> uint8 with per-camera gain, vignetting, gamma and sensor noise."""
        V = lin.shape[0]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        look = self.scene.appearance
        gain = 1.0 + self.cfg.exposure_jitter * torch.randn(V, generator=gen).clamp(-2, 2)
        if look.exposure != 1.0:
            gain = gain * look.exposure
        x = lin * gain[:, None, None, None] * self.vignette[None, :, :, None]
        if look.tint != (1.0, 1.0, 1.0):
            x = x * torch.tensor(look.tint, dtype=x.dtype)
        if look.saturation != 1.0:
            grey = (x * torch.tensor([0.2126, 0.7152, 0.0722], dtype=x.dtype)).sum(-1, keepdim=True)
            x = grey + (x - grey) * look.saturation
        x = x.clamp(0, 1) ** (1 / 2.2) * 255.0
        x = x + look.noise_std * torch.randn(x.shape, generator=gen)
        return x.round().clamp(0, 255).to(torch.uint8)

    def _lidar(self, fp, T_wb) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Points ``(P, 5)``: x, y, z in the sensor frame, intensity 0-255, ring (0 = lowest beam);
        and the world primitive index and face id of each point ``(P,)``."""
        lc = self.cfg.lidar
        rays = self.lidar_rays
        T_sensor_base = invert_transform(self.T_base_lidar).float()
        tiles, prims = bin_azimuth(fp, rays, T_sensor_base, lc.max_range_m)
        t, hit = trace(rays, fp, tiles, prims)
        t = rays.untile(t)[0]  # (beams, steps)
        hit = rays.untile(hit)[0]
        ok = (hit >= 0) & (t >= lc.min_range_m) & (t <= lc.max_range_m)
        okT = ok.T  # azimuth-major order, like a spinning sensor
        col, ring = torch.nonzero(okT, as_tuple=True)
        rng = t[ring, col]
        d_sensor = self.lidar_dirs_sensor[ring, col]
        pts = d_sensor * rng[:, None]
        d_base = rays.untile(rays.dirs)[0][ring, col]
        p_base = self.T_base_lidar[:3, 3].float() + rng[:, None] * d_base
        widx, normal_b, normal_w, face, local, pw, d_w = self._surface(fp, hit[ring, col], p_base, d_base, T_wb)
        prims = self.scene.prims
        hits = Hits(
            material=prims.material[widx], instance=prims.instance[widx], face=face, base=prims.albedo[widx],
            tex=prims.tex[widx], local=local, half=fp.half[hit[ring, col]], pw=pw, normal=normal_w,
            fp=torch.full_like(rng, 0.05), fpx=torch.full_like(rng, 0.05), fpy=torch.full_like(rng, 0.05),
        )
        albedo, _, _ = surface_albedo(hits, self.scene.road, prims.semantic[widx], self.seed)
        lum = albedo @ torch.tensor([0.3, 0.59, 0.11])
        cos = (d_w * normal_w).sum(-1).abs()
        intensity = (255.0 * (1.6 * lum * cos).clamp(0, 1)).round()
        return torch.cat([pts, intensity[:, None], ring.float()[:, None]], dim=1).contiguous(), widx, face

