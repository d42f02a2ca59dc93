"""``disdepth eval-bag --live``: the node path is the evaluated path.

The same bag is evaluated offline (engine in this process) and live (bag_player ->
surround_depth_node -> recorded depth, real processes over DDS) with a real tiny student on the
torch backend; metrics and the saved per-frame predictions agree to float noise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bag_fixtures import world_bag

from disdepth_core.cli import main

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros


def test_live_and_offline_metrics_agree_with_a_real_student(tmp_path):
    from disdepth_core.evaluation.metrics import METRIC_KEYS
    from disdepth_core.models.checkpoint import save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student

    bag, _, fr = world_bag(tmp_path / "w", size=(64, 96), frames=3)
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="mobilenetv2", lgconv_stages=[4], decoder_channels=[8, 16, 16, 32], num_bins=16,
                      input_size=(64, 96))
    ckpt = save_student(build_student(cfg).eval(), tmp_path / "student")
    common = [str(bag), "--checkpoint", str(ckpt), "--device", "cpu", "--save-predictions", "--quiet"]
    assert main(["eval-bag", *common, "--out", str(tmp_path / "offline")]) == 0
    assert main(["eval-bag", *common, "--out", str(tmp_path / "live"), "--live", "--live-rate", "0.5",
                 "--live-timeout", "90"]) == 0
    off = json.loads((tmp_path / "offline" / "metrics.json").read_text())
    live = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert live["mode"] == "live" and live["live"]["never_returned"] == 0 and live["live"]["returned"] == 18
    assert live["accounting"]["steps_evaluated"] == off["accounting"]["steps_evaluated"] == 3
    assert live["model"]["config_hash"] == off["model"]["config_hash"]
    for mode in ("metric", "median"):
        for k in METRIC_KEYS:
            assert live[mode]["all"][k] == pytest.approx(off[mode]["all"][k], rel=1e-4, abs=1e-5), (mode, k)
    assert off["metric"]["all"]["abs_rel"] > 0.05  # a random student: not trivially perfect
    for stamp in fr.stamps_ns:
        with np.load(tmp_path / "offline" / "predictions" / f"{int(stamp)}.npz") as a, \
                np.load(tmp_path / "live" / "predictions" / f"{int(stamp)}.npz") as b:
            for cam in fr.cameras:
                np.testing.assert_allclose(b[cam], a[cam], rtol=1e-4, atol=1e-4)
