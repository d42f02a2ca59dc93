"""Ground pseudo-labels (issue 17): where a calibrated rig's rays meet the flat ground, which
pixels the teacher agrees are ground, and the training term that anchors the student's metric
scale on frames without labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from disdepth_core.geometry import CameraRig, ground_plane_depth
from disdepth_core.losses.relative_output_kd import teacher_ground_pixels
from disdepth_core.world.config import small_world_config
from disdepth_core.world.scene import ROAD, TERRAIN
from disdepth_core.world.sequence import WorldSequence

REPO = Path(__file__).resolve().parents[1]


def _rig(h=64, w=96):
    return CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(h, w)


def test_ground_plane_depth_is_the_rendered_depth_of_the_ground():
    rig = _rig()
    f = WorldSequence(rig, 1, seed=30007, cfg=dataclasses.replace(small_world_config(), layout="open")).render(0)
    g = ground_plane_depth(rig.K_as().double(), rig.T_as().double(), 64, 96)
    sem = f.semantic.long()
    on_ground = f.valid & ((sem == TERRAIN) | (sem == ROAD)) & (f.depth < 60)
    assert int(on_ground.sum()) > 1000
    rel = ((g - f.depth.double()).abs() / f.depth.double())[on_ground]
    assert float(rel.median()) < 1e-4 and float((rel < 0.01).double().mean()) > 0.97
    # above the horizon (the top rows of a level camera) no ray meets the ground
    assert bool((g[:, :5] == 0).all()) and bool((g[:, -5:] > 0).all())
    # the depth grows with the camera's height
    T_high = rig.T_as().double().clone()
    T_high[:, 2, 3] *= 2
    g2 = ground_plane_depth(rig.K_as().double(), T_high, 64, 96)
    m = (g > 0) & (g2 > 0)
    assert torch.allclose(g2[m], 2 * g[m], rtol=1e-9)


def test_teacher_ground_pixels_drop_what_stands_on_the_ground():
    rig = _rig()
    g = ground_plane_depth(rig.K_as().double(), rig.T_as().double(), 64, 96).float()[:1]
    truth = torch.where(g > 0, g, torch.full_like(g, 100.0))
    truth[:, 40:, 30:60] = 4.0  # a wall 4 m away covering part of the ground
    teacher = 3.0 / truth + 0.2  # a relative teacher: disparity up to an affine change
    keep = teacher_ground_pixels(teacher, g)
    cand = (g >= 2.0) & (g <= 20.0)
    wall = torch.zeros_like(cand)
    wall[:, 40:, 30:60] = True
    assert not bool((keep & wall & ((g - 4.0).abs() > 0.5)).any())  # the wall is not ground
    assert float((keep & cand & ~wall).sum()) > 0.95 * float((cand & ~wall).sum())  # the rest is
    # a teacher that says nothing about the ground (constant) gives no pseudo-label
    assert not bool(teacher_ground_pixels(torch.ones_like(g), g).any())


def test_ground_label_term_reaches_the_student_and_training_lowers_it():
    """The term's gradient reaches the student; a few steps of it lower it; labelled images get none.
    The teacher's output is the frame's true disparity (what a good relative teacher gives, up to an
    affine change), so the pseudo-labels are the ground's exact depths."""
    from types import SimpleNamespace

    from disdepth_core.config import from_dict
    from disdepth_core.models.teacher_config import TEACHER_PRESETS
    from disdepth_core.training.config import TrainConfig
    from disdepth_core.training.stages import StudentStage, normalise

    rig = _rig()
    f = WorldSequence(rig, 1, seed=30011, cfg=dataclasses.replace(small_world_config(), layout="open")).render(0)
    cfg = from_dict(TrainConfig, {
        "stage": "student", "device": "cpu",
        "model": {"backbone": "resnet18", "input_size": [64, 96], "num_bins": 16, "decoder_channels": [8, 16, 16, 32]},
        "teacher": {"arch": dataclasses.asdict(TEACHER_PRESETS["tiny"]), "allow_untrained": True},
        "distill": {"ground_labels_weight": 1.0}})
    stage = StudentStage(cfg, torch.device("cpu"))
    V = len(rig)
    images = (f.rgb.permute(0, 3, 1, 2).float() / 255.0)[None]
    batch = SimpleNamespace(images=images, K=rig.K_as()[None], T_base_cam=rig.T_as()[None])
    teacher_out = 0.5 / torch.where(f.valid, f.depth, torch.full_like(f.depth, 200.0)) + 0.01
    none = torch.zeros(V, 64, 96, dtype=torch.bool)

    def term(valid=none):
        depth = stage.model(normalise(images[0], cfg.model.mean, cfg.model.std))["depth"]
        return stage._ground_label_loss(batch, depth, valid, teacher_out)

    first = term()
    assert first > 0
    first.backward()
    assert sum(float(p.grad.abs().sum()) for p in stage.student.parameters() if p.grad is not None) > 0
    stage.model.zero_grad()
    assert float(term(valid=f.valid).detach()) == 0.0  # images with labels keep their labels only
    opt = torch.optim.Adam(stage.student.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        term().backward()
        opt.step()
    assert float(term()) < 0.7 * float(first)


def test_ground_labels_enter_the_loss_only_when_weighted():
    import pytest

    from disdepth_core.config import ConfigError, from_dict
    from disdepth_core.training.config import TrainConfig

    off = from_dict(TrainConfig, {"stage": "student"}).distill
    assert not off.needs_teacher  # a supervised student: no teacher, no ground pseudo-labels
    with pytest.raises(ConfigError, match="teacher.path"):  # they need the teacher's view of the frame
        from_dict(TrainConfig, {"stage": "student", "distill": {"ground_labels_weight": 0.5}})
    on = from_dict(TrainConfig, {"stage": "student", "teacher": {"path": "weights/teacher_synthetic"},
                                 "distill": {"ground_labels_weight": 0.5}}).distill
    assert on.needs_teacher and on.output_only  # the cached teacher outputs serve it


def test_ground_anchored_output_kd_gives_frames_without_labels_a_metric_teacher():
    """output_kd_align: labels_ground rescales the teacher fitted to the student, on a frame without
    labels, to the ground pseudo-labels: the student is pulled to the metric depth everywhere (a
    student at twice the distance is penalised); with align labels (no anchor) a student at any scale
    is already right there. The gradient reaches the student and training lowers the term."""
    from types import SimpleNamespace

    import pytest

    from disdepth_core.config import ConfigError, from_dict
    from disdepth_core.losses.relative_output_kd import relative_output_kd_log_loss
    from disdepth_core.models.teacher_config import TEACHER_PRESETS
    from disdepth_core.training.config import TrainConfig
    from disdepth_core.training.stages import StudentStage, normalise

    rig = _rig()
    f = WorldSequence(rig, 1, seed=30011, cfg=dataclasses.replace(small_world_config(), layout="open")).render(0)

    def stage_for(align):
        cfg = from_dict(TrainConfig, {
            "stage": "student", "device": "cpu",
            "model": {"backbone": "resnet18", "input_size": [64, 96], "num_bins": 16,
                      "decoder_channels": [8, 16, 16, 32]},
            "teacher": {"arch": dataclasses.asdict(TEACHER_PRESETS["tiny"]), "allow_untrained": True},
            "distill": {"output_kd": True, "output_kd_form": "log", "output_kd_align": align}})
        return cfg, StudentStage(cfg, torch.device("cpu"))

    V = len(rig)
    images = (f.rgb.permute(0, 3, 1, 2).float() / 255.0)[None]
    batch = SimpleNamespace(images=images, K=rig.K_as()[None], T_base_cam=rig.T_as()[None])
    truth = torch.where(f.valid, f.depth, torch.full_like(f.depth, 80.0)).clamp(0.5, 80.0)
    teacher_out = 0.5 / truth + 0.01  # the frame's disparity up to an affine change
    none = torch.zeros(V, 64, 96, dtype=torch.bool)
    cfg, stage = stage_for("labels_ground")
    g, keep = stage._ground_pseudo_labels(batch, none, teacher_out)
    assert int(keep.sum()) > 1000 and not bool(stage._ground_pseudo_labels(batch, f.valid, teacher_out)[1].any())

    def kd(student_depth, anchored, valid=None):
        anchor = (g, keep) if anchored else (None, None)
        return float(relative_output_kd_log_loss(student_depth, teacher_out, d_min=cfg.model.d_min,
                                                 d_max=cfg.model.d_max, label_depth=truth, label_valid=none,
                                                 valid=valid, scale_depth=anchor[0], scale_valid=anchor[1]))

    near = (truth >= cfg.model.d_min) & (truth <= cfg.model.d_max / 2)  # where twice the depth is in range
    assert kd(truth, anchored=True, valid=near) < 0.02  # the metric truth is what the anchored teacher says
    assert kd(2 * truth, anchored=True, valid=near) > 0.6  # log 2 = 0.69: twice the distance is wrong
    assert kd(2 * truth, anchored=False, valid=near) < 0.02  # scale-free without the anchor

    # through the training step: the output KD term is the anchored one, and training lowers it
    stage._teacher_targets = lambda x: {"output": teacher_out}  # the stand-in teacher above
    full = SimpleNamespace(images=images, K=batch.K, T_base_cam=batch.T_base_cam,
                           depth=torch.zeros(1, V, 64, 96), valid=none[None])
    terms = stage.losses(full)
    depth = stage.model(normalise(images[0], cfg.model.mean, cfg.model.std))["depth"]
    assert abs(float(terms["output_kd"].detach()) - kd(depth.detach(), anchored=True)) < 1e-5
    assert "ground" not in terms  # the SILog term is ground_labels_weight's, off here
    terms["total"].backward()
    assert sum(float(p.grad.abs().sum()) for p in stage.student.parameters() if p.grad is not None) > 0
    first = float(terms["output_kd"])
    opt = torch.optim.Adam(stage.student.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        stage.losses(full)["total"].backward()
        opt.step()
    assert float(stage.losses(full)["output_kd"]) < 0.7 * first
    with pytest.raises(ConfigError, match="output_kd_form"):
        from_dict(TrainConfig, {"stage": "student", "teacher": {"path": "weights/teacher_synthetic"},
                                "distill": {"output_kd": True, "output_kd_align": "labels_ground"}})


def test_a_fit_that_settles_on_what_covers_the_ground_gives_no_pseudo_label():
    """Where a wall covers most of the ground in view, a few hundred pixels can agree with a wrong
    fit; min_share drops such an image (docs/results/ground_anchor_quality.md)."""
    rig = _rig()
    g = ground_plane_depth(rig.K_as().double(), rig.T_as().double(), 64, 96).float()[:1]
    truth = torch.where(g > 0, g, torch.full_like(g, 100.0))
    truth[:, 36:, 8:] = 3.0  # a wall 3 m away hides all of the ground but a strip at the left
    teacher = 3.0 / truth + 0.2
    cand = (g >= 2.0) & (g <= 20.0)
    free = torch.zeros_like(cand)
    free[:, :, :8] = True
    kept_any = teacher_ground_pixels(teacher, g, min_pixels=20)
    kept_share = teacher_ground_pixels(teacher, g, min_pixels=20, min_share=0.25)
    assert float((cand & free).sum()) < 0.25 * float(cand.sum())  # the free ground is a small share
    assert not bool(kept_share.any())
    assert bool(kept_any.any())  # without the share test something is kept
