"""Per-street appearance (issue 17): the default world is unchanged, ranges vary lighting,
weather-like haze, camera response, palette and density per street from their own stream."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from disdepth_core.config import load_config
from disdepth_core.geometry import CameraRig
from disdepth_core.world.appearance import Appearance, AppearanceConfig, draw_appearance
from disdepth_core.world.config import WorldConfig, small_world_config
from disdepth_core.world.scene import build_scene
from disdepth_core.world.sequence import WorldSequence

REPO = Path(__file__).resolve().parents[1]


def _rig():
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(64, 96)


def test_default_appearance_is_the_historical_constants():
    a = draw_appearance(AppearanceConfig(), seed=3, default_noise_std=1.5)
    assert a == Appearance()
    assert build_scene(WorldConfig(), 3, 1.0).appearance == Appearance()


def test_lighting_ranges_change_pixels_not_geometry():
    look = AppearanceConfig(overcast=(0.5, 1.0), exposure=(0.6, 0.7), haze_start=(0.05, 0.1), saturation=(0.5, 0.6),
                            white_balance=0.1, noise_std=(4.0, 5.0))
    base = small_world_config()
    a = WorldSequence(_rig(), 1, seed=5, cfg=base).render(0)
    b = WorldSequence(_rig(), 1, seed=5, cfg=dataclasses.replace(base, appearance=look)).render(0)
    assert torch.equal(a.depth, b.depth) and torch.equal(a.lidar, b.lidar)  # same street
    diff = (a.rgb.float() - b.rgb.float()).abs().mean()
    assert diff > 10.0  # visibly different pictures
    assert b.rgb.float().mean() < a.rgb.float().mean()  # lower exposure, overcast: darker


def test_corpus_config_varies_streets_and_density_changes_layout():
    cfg = load_config(WorldConfig, REPO / "config" / "world" / "corpus.yaml")
    looks = [draw_appearance(cfg.appearance, s, cfg.noise_std) for s in range(40)]
    for field in ("overcast", "exposure", "haze_start", "noise_std", "density", "road_tone"):
        vals = [getattr(x, field) for x in looks]
        assert max(vals) - min(vals) > 0.2 * (max(vals) + 1e-9), field
    dense = build_scene(dataclasses.replace(small_world_config(), appearance=AppearanceConfig(density=(2.0, 2.0))),
                        9, 2.0)
    sparse = build_scene(dataclasses.replace(small_world_config(), appearance=AppearanceConfig(density=(0.3, 0.3))),
                         9, 2.0)
    assert dense.prims.kind.numel() > sparse.prims.kind.numel()


def test_appearance_range_order_is_validated(tmp_path):
    import pytest

    from disdepth_core.config import ConfigError

    p = tmp_path / "w.yaml"
    p.write_text("appearance:\n  exposure: [1.5, 0.5]\n")
    with pytest.raises(ConfigError, match="exposure"):
        load_config(WorldConfig, p)
