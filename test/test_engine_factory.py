"""EngineConfig validation, create_engine, and the test-only oracle GroundTruthEngine (disdepth_core.sim)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disdepth_core.config import ConfigError, from_dict
from disdepth_core.errors import CapabilityError, DisdepthError
from disdepth_core.geometry import CameraRig
from disdepth_core.runtime.engine_api import DepthEngine
from disdepth_core.runtime.engine_config import EngineConfig
from disdepth_core.runtime.factory import available_backends, create_engine
from disdepth_core.sim.box_room import make_box_room_frames
from disdepth_core.sim.frames_file import GroundTruthFrames
from disdepth_core.sim.oracle_engine import GroundTruthEngine


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory, nuscenes_rig_path):
    rig = CameraRig.from_yaml(nuscenes_rig_path).resized(24, 40)
    fr = make_box_room_frames(rig, 3)
    return fr.save(tmp_path_factory.mktemp("gt") / "frames.npz"), fr


def test_engine_config_validation():
    cfg = from_dict(EngineConfig, {"backend": "ground_truth", "input_size": [96, 160]})
    assert cfg.input_size == (96, 160)
    with pytest.raises(ConfigError, match="key 'backend': expected one of"):
        from_dict(EngineConfig, {"backend": "magic"})
    with pytest.raises(ConfigError, match="key 'min_depth'"):
        from_dict(EngineConfig, {"min_depth": 10.0, "max_depth": 5.0})
    with pytest.raises(ConfigError, match="key 'input_size'"):
        from_dict(EngineConfig, {"input_size": [0, 160]})
    with pytest.raises(ConfigError, match="key 'device'"):
        from_dict(EngineConfig, {"device": "gpu"})


def test_factory_reports_missing_backends():
    assert "ground_truth" not in available_backends()  # the oracle is opt-in, never offered (test_oracle_opt_in.py)
    missing = [b for b in ("torch", "onnxruntime", "tensorrt") if b not in available_backends()]
    for b in missing:
        with pytest.raises(CapabilityError, match=f"engine.backend '{b}' is not implemented"):
            create_engine(EngineConfig(backend=b))
    with pytest.raises(ConfigError, match="engine.gt_frames"):
        create_engine(EngineConfig(backend="ground_truth"))


def test_ground_truth_engine_returns_truth(frames_file):
    path, fr = frames_file
    eng = create_engine(EngineConfig(backend="ground_truth", gt_frames=str(path), device="cpu", max_depth=25.0))
    assert isinstance(eng, DepthEngine)
    assert eng.input_size == (24, 40) and len(eng) == 3 * 6
    imgs = fr.images[1][[3, 0]]  # any subset, any order
    res = eng.infer(imgs)
    assert res.depth.shape == (2, 24, 40) and res.depth.dtype == torch.float32
    exp = fr.depth[1][[3, 0]]
    d = res.depth.numpy()
    ok = (exp > 0) & (exp <= 25.0)
    np.testing.assert_array_equal(d[ok], exp[ok])
    assert np.isnan(d[exp == 0]).all() and (exp == 0).any()
    assert np.isposinf(d[exp > 25.0]).all() and (exp > 25.0).any()
    assert {"preprocess", "network", "postprocess", "total"} <= set(res.timings_ms)
    half = eng.infer(torch.from_numpy(imgs), output_size=(12, 20)).depth
    assert half.shape == (2, 12, 20)
    # nearest pixel centre: output (r, c) takes input (2r + 0.5 -> 2r... ) values unblended
    assert set(np.unique(half.numpy()[np.isfinite(half.numpy())])) <= set(np.unique(d[np.isfinite(d)]))


def test_ground_truth_engine_rejects_unknown_images(frames_file):
    path, fr = frames_file
    strict = GroundTruthEngine.from_file(path)
    img = fr.images[0, :2].copy()
    img[1, 0, 0, 0] ^= 1
    with pytest.raises(DisdepthError, match=r"image 1 of the batch \(24x40\) is not in"):
        strict.infer(img)
    lenient = create_engine(EngineConfig(backend="ground_truth", gt_frames=str(path), device="cpu"))
    d = lenient.infer(img).depth.numpy()  # the factory's engine: unknown image -> all NaN, others exact
    assert np.isnan(d[1]).all() and lenient.unknown_images == 1
    np.testing.assert_array_equal(d[0][fr.depth[0, 0] > 0], fr.depth[0, 0][fr.depth[0, 0] > 0])


def test_frames_roundtrip_and_errors(frames_file, tmp_path):
    path, fr = frames_file
    back = GroundTruthFrames.load(path)
    assert back.cameras == fr.cameras and back.frame_ids == fr.frame_ids
    np.testing.assert_array_equal(back.images, fr.images)
    with pytest.raises(DisdepthError, match="frames file not found"):
        GroundTruthFrames.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(DisdepthError, match="not a frames file"):
        GroundTruthFrames.load(tmp_path / "bad.npz")


def test_frames_lidar_roundtrip(frames_file, tmp_path):
    _, fr = frames_file
    pts = np.arange(7 * 5, dtype=np.float32).reshape(7, 5)
    fr2 = GroundTruthFrames(images=fr.images, depth=fr.depth, K=fr.K, T_base_cam=fr.T_base_cam, cameras=fr.cameras,
                            stamps_ns=fr.stamps_ns, lidar_points=pts, lidar_counts=np.array([3, 0, 4]),
                            T_base_lidar=np.eye(4))
    back = GroundTruthFrames.load(fr2.save(tmp_path / "l.npz"))
    assert back.has_lidar and not fr.has_lidar
    np.testing.assert_array_equal(back.lidar(0), pts[:3])
    assert back.lidar(1).shape == (0, 5)
    np.testing.assert_array_equal(back.lidar(2), pts[3:])
