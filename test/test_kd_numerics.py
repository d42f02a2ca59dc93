"""Numerics that decide whether distillation is measurable (METHOD.md §10, issue 17).

Every KD term's gradient must reach what it trains, including for a confidently wrong
student, and optimising a term must lower it; the bin head and the losses stay fp32
under autocast.
"""

from __future__ import annotations

import pytest
import torch

from disdepth_core.losses import (
    cross_interaction_kd_loss,
    relative_output_kd_log_loss,
    relative_output_kd_loss,
    scale_invariant_depth,
    silog_loss,
    soft_bin_targets,
    ssi_normalise,
)
from disdepth_core.models.config import ModelConfig
from disdepth_core.models.heads import DepthBinHead
from disdepth_core.models.student import build_student
from disdepth_core.training.config import DistillConfig

# the configured defaults (the losses have none of their own)
D = DistillConfig()
CKD = {"sigma": D.ckd_sigma, "kd_weight": D.ckd_kd_weight, "cross_weight": D.ckd_cross_weight,
       "chamfer_weight": D.ckd_chamfer_weight}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _ckd_case(B=2, N=16, h=8, w=8):
    gt = torch.rand(B, 16, 16, generator=gen(1)) * 40 + 2
    valid = torch.rand(B, 16, 16, generator=gen(2)) > 0.5
    teacher = 1.0 / gt
    centres = torch.linspace(2, 42, N).repeat(B, 1)
    return gt, valid, teacher, centres


def test_ckd_gradient_alive_for_a_confidently_wrong_student():
    """All student mass on bin 0 while the teacher's sits on far bins: probabilities there are
    ~exp(-60), below any clamp. The KL from logits must still be large with a real gradient
    (the old clamped-log version gave a gradient of exactly zero here)."""
    gt, valid, teacher, centres = _ckd_case()
    logits = torch.full((2, 16, 8, 8), -30.0)
    logits[:, 0] = 30.0
    logits.requires_grad_(True)
    out = cross_interaction_kd_loss(logits, centres, teacher, gt, valid, **CKD)
    out["kd"].backward()
    assert out["kd"].item() > 20.0
    g = logits.grad
    assert torch.isfinite(g).all() and g.norm().item() > 0.1
    # the gradient pushes mass towards the teacher's bins: the teacher-favoured logits get a negative gradient
    u = scale_invariant_depth(torch.nn.functional.interpolate(teacher[:, None], size=(8, 8), mode="bilinear")[:, 0])
    p_t = soft_bin_targets(u, 16, sigma=D.ckd_sigma)
    fav = p_t.argmax(1, keepdim=True)
    assert (g.gather(1, fav) < 0).float().mean() > 0.95


def test_ckd_optimising_lowers_it_and_reaches_logits_and_centres():
    gt, valid, teacher, centres0 = _ckd_case()
    logits = torch.zeros(2, 16, 8, 8, requires_grad=True)
    raw_centres = centres0.clone().requires_grad_(True)
    opt = torch.optim.Adam([logits, raw_centres], lr=0.1)
    first = None
    for _ in range(60):
        out = cross_interaction_kd_loss(logits, raw_centres, teacher, gt, valid, **CKD)
        opt.zero_grad()
        out["total"].backward()
        assert logits.grad.norm() > 0 and raw_centres.grad.norm() > 0
        opt.step()
        first = first if first is not None else {k: v.item() for k, v in out.items()}
    last = {k: v.item() for k, v in out.items()}
    assert last["kd"] < 0.3 * first["kd"]
    assert last["cross"] < first["cross"]


def test_output_kd_invariances_gradient_and_descent():
    d_t = torch.rand(2, 12, 20, generator=gen(3)) * 30 + 2
    teacher = 3.0 / d_t + 0.7  # any positive affine function of disparity
    perfect = relative_output_kd_loss(d_t * 5.0, teacher)  # a student right up to scale
    assert perfect.item() < 1e-4
    # a metric teacher (depth, not disparity) is inverted first
    assert relative_output_kd_loss(d_t, d_t * 2.0, teacher_is_disparity=False).item() < 1e-4
    log_d = (0.1 * torch.randn(2, 12, 20, generator=gen(4))).requires_grad_(True)  # student: ~1 m, no structure
    opt = torch.optim.Adam([log_d], lr=0.05)
    losses = []
    for _ in range(200):
        loss = relative_output_kd_loss(log_d.exp(), teacher)
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(log_d.grad).all()
        opt.step()
        losses.append(loss.item())
    assert log_d.grad is not None
    assert losses[-1] < 0.3 * losses[1]
    # normalisation: zero median, unit mean absolute deviation
    n = ssi_normalise(teacher)
    assert n.flatten(1).median(1).values.abs().max() < 1e-5


def test_log_output_kd_invariances_gradient_and_descent():
    d_t = torch.rand(2, 12, 20, generator=gen(3)) * 30 + 2
    teacher = 3.0 / d_t + 0.7  # any positive affine function of disparity
    rng = {"d_min": 0.5, "d_max": 80.0}
    assert relative_output_kd_log_loss(d_t * 2.0, teacher, **rng).item() < 1e-4  # right up to scale
    assert relative_output_kd_log_loss(d_t, d_t * 2.0, teacher_is_disparity=False, **rng).item() < 1e-4
    # the student KD is for: right where the labels were (the lower half), wrong above (1.5x too near)
    start = d_t * 2.0
    start[:, :6] /= 1.5
    log_d = start.log().requires_grad_(True)
    opt = torch.optim.Adam([log_d], lr=0.02)
    losses = []
    for _ in range(300):
        loss = relative_output_kd_log_loss(log_d.exp(), teacher, **rng)
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(log_d.grad).all() and log_d.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    # the structure learnt is the teacher's: up to one scale per image, the student's depth is d_t's
    ratio = log_d.detach().exp() / d_t
    rel = ratio / ratio.flatten(1).median(1).values[:, None, None] - 1
    assert rel.abs().median() < 0.05 < (start / d_t / 2.0 - 1).abs().max()


def test_log_output_kd_clamps_the_target_to_the_student_range():
    """Sky: the teacher's disparity there is 0 or below after alignment; the target is d_max, not inf/NaN."""
    d_t = torch.linspace(60.0, 2.0, 24)[:, None].expand(24, 40).clone()[None]
    teacher = 1.0 / d_t - 1.0 / 40.0  # a shifted teacher: beyond 40 m its disparity is negative
    student = d_t.clone().requires_grad_(True)
    loss = relative_output_kd_log_loss(student, teacher, d_min=0.5, d_max=80.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


def test_bin_head_and_losses_stay_fp32_under_autocast():
    torch.manual_seed(0)
    head = DepthBinHead([16, 16, 16, 32], num_bins=64, d_min=0.5, d_max=80.0)
    feats = [torch.randn(2, 16, 56, 96), torch.randn(2, 16, 28, 48), torch.randn(2, 16, 14, 24),
             torch.randn(2, 32, 7, 12)]
    ref = head(feats)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = head([f.bfloat16() for f in feats])
    for k in ("depth", "bin_logits", "bin_probs", "bin_centers"):
        assert low[k].dtype == torch.float32, k
    # bf16 inputs only: the head itself adds no quantisation (was 1-3 % error, a few hundred levels)
    rel = ((low["depth"] - ref["depth"]).abs() / ref["depth"]).max()
    assert rel < 0.02
    assert low["depth"].unique().numel() > 5000
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = silog_loss(low["depth"].bfloat16(), ref["depth"], torch.ones_like(ref["depth"], dtype=torch.bool))
    assert s.dtype == torch.float32


def test_student_forward_under_autocast_gives_fp32_depth():
    m = build_student(ModelConfig(backbone="mobilenetv3_large", lgconv_stages=[4], num_bins=16,
                                  decoder_channels=[16, 32, 64, 96], input_size=(64, 96)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(torch.randn(2, 3, 64, 96), return_aux=True)
    assert out["depth"].dtype == torch.float32 and out["bin_centers"].dtype == torch.float32


def test_log_output_kd_fitted_to_labels_gives_the_labels_scale():
    """align to labels: a student right up to scale (x2) is wrong (the target is metric), and descent brings it to
    the labels' scale everywhere, also where there are no labels; a frame with too few labels is fitted to the
    student as before."""
    d_t = torch.rand(2, 12, 20, generator=gen(5)) * 30 + 2
    teacher = 3.0 / d_t + 0.7
    rng = {"d_min": 0.5, "d_max": 80.0}
    label_valid = torch.zeros_like(d_t, dtype=torch.bool)
    label_valid[:, 8:, ::3] = True  # sparse labels on the lower third only
    labels = {"label_depth": d_t, "label_valid": label_valid, "min_label_pixels": 20}
    assert relative_output_kd_log_loss(d_t * 2.0, teacher, **rng).item() < 1e-4
    assert relative_output_kd_log_loss(d_t * 2.0, teacher, **rng, **labels).item() > 0.6  # log 2 = 0.69
    few = {**labels, "min_label_pixels": int(label_valid[0].sum()) + 1}
    assert relative_output_kd_log_loss(d_t * 2.0, teacher, **rng, **few).item() < 1e-4
    log_d = (d_t * 2.0).log().requires_grad_(True)
    opt = torch.optim.Adam([log_d], lr=0.02)
    for _ in range(300):
        loss = relative_output_kd_log_loss(log_d.exp(), teacher, **rng, **labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ratio = log_d.detach().exp() / d_t
    assert (ratio[:, :8] - 1).abs().median() < 0.05  # the unlabelled upper part too
    assert loss.item() < 0.05


def test_output_kd_fitted_to_labels_needs_the_log_form():
    from disdepth_core.config import ConfigError
    from disdepth_core.models.teacher_config import TeacherConfig
    from disdepth_core.training.config import DistillConfig, TrainConfig

    cfg = TrainConfig(stage="student", teacher=TeacherConfig(path="weights/teacher_synthetic"),
                      distill=DistillConfig(output_kd=True, output_kd_align="labels"))
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    assert "distill.output_kd_align" in str(e.value)
