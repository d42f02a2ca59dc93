"""Off-street places (issue 17): the open-ground layout, its render into a corpus split, and
its frames served as an unlabelled pool for distillation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from disdepth_core.config import ConfigError, from_dict, load_config
from disdepth_core.geometry import CameraRig
from disdepth_core.world.appearance import AppearanceConfig
from disdepth_core.world.config import WorldConfig, small_world_config
from disdepth_core.world.open_scene import build_open_scene
from disdepth_core.world.primitives import BOX
from disdepth_core.world.scene import BUILDING_CLS, ROAD, SIDEWALK_CLS, TERRAIN, VEHICLE, build_scene
from disdepth_core.world.sequence import WorldSequence

REPO = Path(__file__).resolve().parents[1]


def _open(**kw) -> WorldConfig:
    return dataclasses.replace(small_world_config(), layout="open", **kw)


def _rig():
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(64, 96)


def test_open_ground_has_no_road_and_things_at_any_heading():
    f = WorldSequence(_rig(), 1, seed=30004, cfg=_open()).render(0)
    sem = f.semantic[f.valid]
    assert not bool(((sem == ROAD) | (sem == SIDEWALK_CLS)).any())  # no road, kerb or sidewalk anywhere in view
    assert bool((sem == TERRAIN).any()) and bool(((sem == BUILDING_CLS) | (sem == VEHICLE)).any())
    def off_axis(scene) -> float:
        """Fraction of the things (not the ground) whose heading is > 0.1 rad off the street's axes."""
        yaw = torch.atan2(scene.prims.R[1:, 1, 0], scene.prims.R[1:, 0, 0]) % (math.pi / 2)
        return float(((yaw > 0.1) & (yaw < math.pi / 2 - 0.1)).double().mean())

    assert off_axis(build_open_scene(_open(), 30004, 4.0)) > 0.3  # headings spread, not aligned with a street
    assert off_axis(build_scene(small_world_config(), 30004, 4.0)) < 0.05


def test_open_ground_is_seeded_and_density_scales_the_clutter():
    a, b = build_open_scene(_open(), 7, 4.0), build_open_scene(_open(), 7, 4.0)
    assert torch.equal(a.prims.center, b.prims.center) and torch.equal(a.prims.albedo, b.prims.albedo)
    assert not torch.equal(a.prims.center, build_open_scene(_open(), 8, 4.0).prims.center)
    sizes = {}
    for d in (0.3, 2.5):
        cfg = _open(appearance=AppearanceConfig(density=(d, d)))
        sizes[d] = sum(build_open_scene(cfg, s, 4.0).prims.kind.numel() for s in range(6))
    assert sizes[2.5] > 3 * sizes[0.3]


def test_ego_corridor_is_free():
    scene = build_open_scene(_open(appearance=AppearanceConfig(density=(3.0, 3.0))), 11, 4.0)
    x0, y0, speed = scene.ego.x0, scene.ego.y0, scene.ego.speed
    c, half, kind = scene.prims.center[1:], scene.prims.half[1:], scene.prims.kind[1:]
    on_path = (c[:, 0] > x0 - 15) & (c[:, 0] < x0 + speed * 4.0 + 15)
    # how far a thing reaches from its centre in the ground plane: a box's half diagonal, a round thing's radius
    reach = torch.where(kind == BOX, half[:, :2].norm(dim=-1), half[:, :2].amax(dim=-1))
    assert bool(((c[:, 1] - y0).abs() - reach > 3.4)[on_path].all())


def test_shipped_open_ground_config_loads():
    cfg = load_config(WorldConfig, REPO / "config" / "world" / "open_ground.yaml")
    corpus = load_config(WorldConfig, REPO / "config" / "world" / "corpus.yaml")
    assert cfg.layout == "open" and corpus.layout == "street"
    assert cfg.appearance == corpus.appearance  # the street corpus's variation of light, weather, camera
    with pytest.raises(ConfigError, match="layout"):
        from_dict(WorldConfig, {"layout": "forest"})


def test_open_places_render_into_their_split_and_serve_as_an_unlabelled_pool(tmp_path):
    from disdepth_core.data.dataset_config import DatasetConfig
    from disdepth_core.data.registry import build_dataset
    from disdepth_core.training.ablation import WorldData, render_world

    open_yaml = tmp_path / "open.yaml"
    open_yaml.write_text("layout: open\nshadow_map_size: 256\nlidar: {azimuth_steps: 512}\n")
    world = from_dict(WorldData, {"root": str(tmp_path / "w"), "train_seeds": [1, 2], "val_seeds": [9], "frames": 1,
                                  "size": [64, 96], "open_seed_range": [500, 2], "open_config": str(open_yaml)})
    assert [(j.split, j.seed, j.config) for j in world.jobs()][-2:] == [("open", 500, str(open_yaml)),
                                                                      ("open", 501, str(open_yaml))]
    train_root, _ = render_world(world, progress=False)
    first = json.loads((tmp_path / "w" / "corpus.json").read_text())
    assert first["splits"] == {"open": 2, "train": 2, "val": 1}
    assert first["split_configs"] == {"open": [str(open_yaml)]}
    assert "layout: open" in (tmp_path / "w" / "open" / "seed500" / "world.yaml").read_text()
    assert "layout: street" in (tmp_path / "w" / "train" / "seed1" / "world.yaml").read_text()
    # more places added later: the earlier render's record is kept
    render_world(dataclasses.replace(world, open_seed_range=(500, 3)), progress=False)
    again = json.loads((tmp_path / "w" / "corpus.json").read_text())
    assert again["rendered_now"] == 1 and again["earlier_renders"][0]["rendered_now"] == 5

    base = {"name": "synthetic", "root": str(train_root), "size": [64, 96], "gt_source": "lidar"}
    pool = str(tmp_path / "w" / "open")
    keep = build_dataset(from_dict(DatasetConfig, {**base, "unlabelled": "keep", "unlabelled_pool": pool}))
    drop = build_dataset(from_dict(DatasetConfig, {**base, "unlabelled": "drop", "unlabelled_pool": pool}))
    plain = build_dataset(from_dict(DatasetConfig, {**base, "unlabelled": "keep"}))
    assert len(keep) == len(plain) + 3 and len(drop) == len(plain)  # found = streets + places (1 frame each)
    pooled = [keep[i] for i in range(len(keep)) if "/open/" in keep[i].meta["sequence"]]
    assert len(pooled) == 3 and all(not s.valid.any() and not s.depth.any() for s in pooled)  # KD only, no label
    streets = [keep[i] for i in range(len(keep)) if "/open/" not in keep[i].meta["sequence"]]
    assert any(s.valid.any() for s in streets)  # the streets keep their LiDAR labels
    with pytest.raises(ConfigError, match="unlabelled_pool"):
        from_dict(DatasetConfig, {"name": "kitti", "root": "x", "unlabelled_pool": pool})
    with pytest.raises(ConfigError, match="open_config"):
        from_dict(WorldData, {"open_seed_range": [500, 2]})


def test_open_ground_ablation_config_adds_the_pool_to_its_own_rows_only():
    from disdepth_core.training.ablation import AblationConfig, _override

    ab = load_config(AblationConfig, REPO / "config" / "ablation" / "corpus_open_ground.yaml")
    assert ab.world.open_seed_range == (30000, 96) and ab.world.open_config == "config/world/open_ground.yaml"
    assert ab.export == [] and ab.teacher.grid_stride == 12
    pools = {r.name: _override(ab.dataset, r.dataset, "row").unlabelled_pool for r in ab.rows}
    assert [n for n, p in pools.items() if p] == [n for n in pools if "off-street pool" in n] and len(pools) == 7
    ground = {r.name: r.distill["ground_labels_weight"] for r in ab.rows if r.distill.get("ground_labels_weight")}
    assert sorted(ground.values()) == [0.1, 1.0, 1.0] and all("off-street pool, ground labels" in n for n in ground)
    no_share = [r.name for r in ab.rows if r.distill.get("ground_labels_min_share") == 0]  # ran before the share test
    assert len(no_share) == 2 and all(not n.endswith("share test") for n in no_share)
    anchored = [r.name for r in ab.rows if r.distill.get("output_kd_align") == "labels_ground"]
    assert anchored == [n for n in pools if n.endswith("ground-scaled teacher")] and len(anchored) == 1
    assert set(ab.world.seeds("open")).isdisjoint(ab.world.seeds("train") + ab.world.seeds("val"))
