"""Losses: hand-computable cases and the invariances each design relies on."""

from __future__ import annotations

import math

import pytest
import torch

from disdepth_core.geometry import CameraRig
from disdepth_core.losses import (
    attentive_kd_loss,
    bin_chamfer_loss,
    cross_interaction_kd_loss,
    scale_invariant_depth,
    silog_loss,
    soft_bin_targets,
    spatial_attention,
    view_relational_kd_loss,
)
from disdepth_core.paths import config_path
from disdepth_core.training.config import DistillConfig

# the configured defaults (the losses have none of their own)
D = DistillConfig()
AKD = {"tau": D.attention_tau, "attention_transfer": D.attention_transfer}
CKD = {"sigma": D.ckd_sigma, "kd_weight": D.ckd_kd_weight, "cross_weight": D.ckd_cross_weight,
       "chamfer_weight": D.ckd_chamfer_weight}
VRKD = {"k": D.vrkd_grid, "tau": D.vrkd_tau}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_silog_hand_computed_and_scale():
    gt = torch.tensor([[[1.0, 2.0], [4.0, 8.0]]])
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    assert silog_loss(gt.clone(), gt, valid).item() == pytest.approx(0.0, abs=1e-2)
    # a constant factor e: g = 1 everywhere -> 10 * sqrt(1 - 0.85) = 10 * sqrt(0.15)
    assert silog_loss(gt * math.e, gt, valid).item() == pytest.approx(10 * math.sqrt(0.15), rel=1e-4)
    # invalid pixels are ignored
    pred = gt.clone()
    pred[0, 0, 0] = 100.0
    valid2 = valid.clone()
    valid2[0, 0, 0] = False
    assert silog_loss(pred, gt, valid2).item() == pytest.approx(0.0, abs=1e-2)
    assert silog_loss(pred, gt, torch.zeros_like(valid)).item() == 0.0


def test_spatial_attention_sums_to_one_and_peaks_at_energy():
    f = torch.zeros(1, 4, 5, 5)
    f[0, :, 2, 3] = 5.0
    m = spatial_attention(f, tau=0.5)
    assert m.sum().item() == pytest.approx(1.0, rel=1e-5)
    assert m[0].argmax().item() == 2 * 5 + 3


def test_attentive_kd_zero_for_identical_and_weighted_by_attention():
    t = torch.randn(2, 8, 6, 6, generator=gen())
    assert attentive_kd_loss([t.clone()], [t], **AKD).item() == pytest.approx(0.0, abs=1e-6)
    assert attentive_kd_loss([t.clone()], [t], attentive=False, **AKD).item() == pytest.approx(0.0, abs=1e-6)
    # teacher energy concentrated in the top half: an error there costs more than the same error below
    teacher = torch.randn(1, 8, 8, 8, generator=gen(1)) * 0.1
    teacher[:, :, :4] *= 30
    err = torch.randn(1, 8, 4, 8, generator=gen(2))
    s_top = teacher.clone()
    s_top[:, :, :4] += err * teacher[:, :, :4].std()
    s_bot = teacher.clone()
    s_bot[:, :, 4:] += err * teacher[:, :, 4:].std()
    kw = {**AKD, "attention_transfer": 0.0}
    top, bot = attentive_kd_loss([s_top], [teacher], **kw), attentive_kd_loss([s_bot], [teacher], **kw)
    assert top > 3 * bot
    # gradients flow to the student only
    s = t.clone().requires_grad_(True)
    tt = t.clone().requires_grad_(True)
    attentive_kd_loss([s * 1.1 + 0.3 * torch.randn_like(s)], [tt], **AKD).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and tt.grad is None
    with pytest.raises(ValueError, match="level 0 shapes differ"):
        attentive_kd_loss([t], [t[:, :4]], **AKD)


def test_scale_invariant_target_is_affine_invariant():
    r = torch.rand(2, 16, 16, generator=gen()) + 0.1
    u = scale_invariant_depth(r)
    assert u.min() >= 0 and u.max() <= 1
    assert torch.allclose(scale_invariant_depth(r * 7.5), u, atol=1e-6)
    assert torch.allclose(scale_invariant_depth(r * 3 + 2), u, atol=1e-5)
    # disparity: larger output = nearer = smaller u
    flat = r.reshape(2, -1)
    i_near, i_far = flat[0].argmax(), flat[0].argmin()
    assert u.reshape(2, -1)[0, i_near] < u.reshape(2, -1)[0, i_far]
    p = soft_bin_targets(u, 16, sigma=D.ckd_sigma)
    assert p.shape == (2, 16, 16, 16) and torch.allclose(p.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    assert torch.equal(soft_bin_targets(scale_invariant_depth(r * 7.5), 16, sigma=D.ckd_sigma).argmax(1), p.argmax(1))


def test_ckd_terms():
    B, N, h, w = 2, 8, 8, 8
    gt = torch.rand(B, 16, 16, generator=gen(3)) * 40 + 2
    valid = torch.rand(B, 16, 16, generator=gen(4)) > 0.5
    teacher_disp = 1.0 / gt  # a perfect relative teacher
    centres = torch.linspace(2, 42, N).repeat(B, 1)
    u = scale_invariant_depth(torch.nn.functional.interpolate(teacher_disp[:, None], size=(h, w), mode="bilinear")[:, 0])
    p_t = soft_bin_targets(u, N, sigma=D.ckd_sigma)
    out = cross_interaction_kd_loss(p_t.log(), centres, teacher_disp, gt, valid, **CKD)
    assert out["kd"].item() == pytest.approx(0.0, abs=1e-5)  # student probs = teacher targets
    uniform = torch.zeros(B, N, h, w)  # logits of the uniform distribution
    out_u = cross_interaction_kd_loss(uniform, centres, teacher_disp, gt, valid, **CKD)
    assert out_u["kd"] > 0.1
    # the cross term depends on the student's centres: doubling them makes it worse
    out2 = cross_interaction_kd_loss(p_t.log(), centres * 2, teacher_disp, gt, valid, **CKD)
    assert out2["cross"] > out["cross"]
    assert set(out) == {"kd", "cross", "chamfer", "total"}
    # a teacher scaled by any constant gives the same KD target and loss
    out3 = cross_interaction_kd_loss(uniform, centres, teacher_disp * 123.0, gt, valid, **CKD)
    assert out3["kd"].item() == pytest.approx(out_u["kd"].item(), rel=1e-5)


def test_bin_chamfer():
    centres = torch.tensor([[1.0, 5.0]])
    target = torch.tensor([[[1.0, 5.0, 6.0]]])
    valid = torch.ones(1, 1, 3, dtype=torch.bool)
    # centre->gt: 0, 0 ; gt->centre: 0, 0, 1 -> 0 + 1/3
    assert bin_chamfer_loss(centres, target, valid).item() == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def ring():
    rig = CameraRig.from_yaml(config_path("rigs", "nuscenes.yaml")).resized(24, 40)
    return rig.adjacent_pairs(), rig.overlap_masks()


def test_vrkd_zero_for_identical_and_sensitive_to_view_permutation(ring):
    pairs, masks = ring
    f = torch.randn(2, 6, 16, 12, 20, generator=gen(5))
    assert view_relational_kd_loss(f.clone(), f, masks, pairs, **VRKD).item() == pytest.approx(0.0, abs=1e-6)
    # relations are channel-free: a student with other channels but same relations is fine
    perm = f[:, [0, 2, 1, 3, 4, 5]]  # swap two cameras' features
    assert view_relational_kd_loss(perm, f, masks, pairs, **VRKD).item() > 1e-3
    # spatial shuffle inside one view changes relations too
    shuffled = f.clone()
    shuffled[:, 1] = f[:, 1].flip(-1)
    assert view_relational_kd_loss(shuffled, f, masks, pairs, mode="smooth_l1", **VRKD).item() > 1e-4
    s = f.clone().requires_grad_(True)
    view_relational_kd_loss(s + 0.5 * torch.randn_like(s), f, masks, pairs, **VRKD).backward()
    assert s.grad.abs().sum() > 0


def test_spread_calibration_gradient_reaches_the_logits_and_ranks_errors():
    """Optimised beside SILog (as the student stage does), the spread calibration trains the per-pixel
    probabilities only (never the shared bin centres), falls, and makes the relative spread the median
    log error of each region: the confidence ``1/(1+sigma/d)`` is lower where the errors are larger."""
    import torch.nn.functional as F

    from disdepth_core.losses import spread_calibration_loss
    from disdepth_core.models.confidence import bin_confidence, relative_spread

    N, h, w, H, W = 16, 4, 8, 16, 32
    centers = torch.linspace(2.0, 60.0, N)[None].requires_grad_(True)
    logits = torch.randn(1, N, h, w, generator=gen(2)).requires_grad_(True)

    def depth_of(lg):
        p = torch.softmax(lg, 1)
        return p, F.interpolate(torch.einsum("bnhw,bn->bhw", p, centers)[:, None], size=(H, W),
                                mode="bilinear", align_corners=False)[:, 0]

    _, d0 = depth_of(logits)
    noise = torch.randn(1, H, W, generator=gen(3))
    left = torch.arange(W)[None, None, :] < W // 2
    label = d0.detach() * torch.exp(torch.where(left, 0.02, 0.5) * noise)  # left: small errors, right: large
    valid = torch.rand(1, H, W, generator=gen(4)) > 0.3
    p, d = depth_of(logits)
    first = spread_calibration_loss(p, centers, d, label, valid)
    first.backward()
    assert logits.grad.abs().sum() > 0 and centers.grad is None  # centres never trained by it
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        p, d = depth_of(logits)
        loss = spread_calibration_loss(p, centers, d, label, valid)
        (loss + silog_loss(d, label, valid)).backward()
        opt.step()
    assert loss.item() < 0.5 * first.item()
    p = p.detach()
    d_low = torch.einsum("bnhw,bn->bhw", p, centers.detach())
    spread = relative_spread(p, centers.detach(), d_low)
    r = (d.detach().log() - label.log()).abs()
    for side, cols in ((left, slice(0, w // 2)), (~left, slice(w // 2, w))):
        median_error = r[valid & side].median().item()
        assert spread[..., cols].mean().item() == pytest.approx(median_error, rel=0.3, abs=0.01)
    conf = bin_confidence(p, centers.detach(), d_low)
    assert conf[..., : w // 2].mean() > conf[..., w // 2:].mean() + 0.2
    # no label pixel: zero, with a gradient path; mismatched shapes: one clear error
    none = spread_calibration_loss(p, centers, d, label, torch.zeros_like(valid))
    assert none.item() == 0.0
    with pytest.raises(ValueError, match="one shape"):
        spread_calibration_loss(p, centers, d, label[..., :-1], valid)
