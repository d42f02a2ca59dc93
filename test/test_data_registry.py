"""Dataset configs, registry and the shipped train/eval configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from disdepth_core.config import ConfigError, from_dict, load_config
from disdepth_core.data.dataset_config import DatasetConfig, EvalProtocolConfig
from disdepth_core.data.registry import DATASET_BUILDERS, build_dataset, load_dataset_config
from disdepth_core.errors import CapabilityError, DisdepthError

SIZES = {"nuscenes": (352, 640), "ddad": (384, 640), "kitti": (192, 640), "nyu": (480, 640)}


@pytest.mark.parametrize("kind", ["train", "eval"])
@pytest.mark.parametrize("name", sorted(SIZES))
def test_shipped_configs_load(repo_root, kind, name):
    path = repo_root / "config" / kind / f"{name}.yaml"
    cfg = load_dataset_config(path)
    assert cfg.name == name
    r = cfg.resolved()
    assert r.max_depth == {"nuscenes": 80.0, "ddad": 200.0, "kitti": 80.0, "nyu": 10.0}[name]
    if kind == "train":
        assert tuple(cfg.size) == SIZES[name]
    else:
        proto = load_config(EvalProtocolConfig, path, section="protocol")
        assert set(proto.scaling) == {"metric", "median"} and proto.per_camera
        assert r.crop == {"nuscenes": "none", "ddad": "none", "kitti": "garg", "nyu": "eigen"}[name]
        if name == "kitti":
            assert cfg.kb_crop and cfg.size is None  # 352x1216 at native GT resolution


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="augment.hflip.*single-camera"):
        from_dict(DatasetConfig, {"name": "nuscenes", "augment": {"hflip": True}}, source="t.yaml", prefix="dataset")
    with pytest.raises(ConfigError, match="dataset.crop.*not defined for nyu"):
        from_dict(DatasetConfig, {"name": "nyu", "crop": "garg"}, source="t.yaml", prefix="dataset")
    with pytest.raises(ConfigError, match="min_depth"):
        from_dict(DatasetConfig, {"name": "kitti", "min_depth": 90.0}, source="t.yaml")
    with pytest.raises(ConfigError, match="unknown camera 'CAM_TOP'"):
        from_dict(DatasetConfig, {"name": "nuscenes", "cameras": ["CAM_TOP"]}, source="t.yaml")
    with pytest.raises(ConfigError, match="gt_source 'velodyne' is not available for nyu"):
        from_dict(DatasetConfig, {"name": "nyu", "gt_source": "velodyne"}, source="t.yaml")
    with pytest.raises(ConfigError, match="name"):
        from_dict(DatasetConfig, {"name": "cityscapes"}, source="t.yaml")


def test_registry_knows_all_datasets_and_needs_root():
    assert set(DATASET_BUILDERS) == {"synthetic", "nuscenes", "ddad", "kitti", "nyu"}
    with pytest.raises(DisdepthError, match="needs a root directory"):
        build_dataset(DatasetConfig(name="kitti"))


def test_synthetic_is_resolved_lazily():
    import importlib.util

    if importlib.util.find_spec("disdepth_core.data.synthetic") is None:
        with pytest.raises(CapabilityError, match="synthetic"):
            build_dataset(DatasetConfig(name="synthetic"))
    else:  # the world module has landed: the registry hands it the config, errors name the problem
        with pytest.raises(DisdepthError, match="dataset.root"):
            build_dataset(DatasetConfig(name="synthetic", split="val", size=(32, 64)))
        with pytest.raises(DisdepthError, match="no synthetic sequences"):
            build_dataset(DatasetConfig(name="synthetic", root=str(Path(__file__).parent), size=(32, 64)))
