"""The teacher's scale-and-shift-invariant disparity losses (losses/scale_shift_invariant.py)."""

import pytest
import torch

from disdepth_core.losses import SSI_LOSSES, ssi_disparity_loss, ssi_relative_disparity_loss


def _street_depth(B=2, H=24, W=40):
    """A ground plane from 2 m (bottom) to 60 m (horizon), a 'building' at 50 m in the upper middle."""
    rows = torch.linspace(60.0, 2.0, H)[:, None].expand(H, W).clone()
    rows[2:10, 12:28] = 50.0
    return rows.expand(B, H, W).clone(), torch.ones(B, H, W, dtype=torch.bool)


@pytest.mark.parametrize("name", sorted(SSI_LOSSES))
def test_zero_for_any_positive_affine_disparity_and_positive_otherwise(name):
    loss = SSI_LOSSES[name]
    depth, valid = _street_depth()
    disp = 1.0 / depth
    assert loss(3.0 * disp + 0.7, depth, valid).item() == pytest.approx(0.0, abs=1e-4)
    wrong = disp.clone()
    wrong[:, 2:10, 12:28] = 1.0 / 10.0  # the building predicted at 10 m instead of 50 m
    assert loss(wrong, depth, valid).item() > 1e-3


@pytest.mark.parametrize("name", sorted(SSI_LOSSES))
def test_gradient_reaches_prediction_and_descent_lowers_the_loss(name):
    loss_fn = SSI_LOSSES[name]
    depth, valid = _street_depth()
    torch.manual_seed(0)
    pred = (torch.rand_like(depth) + 0.1).requires_grad_(True)
    opt = torch.optim.Adam([pred], lr=1e-2)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = loss_fn(pred, depth, valid)
        loss.backward()
        assert torch.isfinite(pred.grad).all()
        if first is None:
            first = loss.item()
            assert pred.grad.abs().sum().item() > 0
        opt.step()
    assert loss.item() < 0.5 * first


def test_relative_loss_weighs_a_far_error_as_much_as_a_near_one():
    """The plain SSI loss barely sees a far building 3x too near; the relative loss sees it as a
    relative error, like AbsRel does."""
    depth, valid = _street_depth()
    disp = 1.0 / depth
    far_wrong = disp.clone()
    far_wrong[:, 2:10, 12:28] = 1.0 / 25.0       # building: 50 m -> 25 m (a 50 % depth error)
    near_wrong = disp.clone()
    near_wrong[:, -3:, :] *= 1.10                # the last rows of road (2-9 m): a 10 % disparity error
    plain = ssi_disparity_loss(far_wrong, depth, valid) / ssi_disparity_loss(near_wrong, depth, valid)
    rel = ssi_relative_disparity_loss(far_wrong, depth, valid) / ssi_relative_disparity_loss(near_wrong, depth, valid)
    assert rel > 3 * plain  # measured: 11.8 vs 2.8


def test_relative_loss_is_first_order_the_mean_relative_depth_error():
    depth, valid = _street_depth()
    pred_depth = depth * (1.0 + 0.01 * torch.sign(torch.randn_like(depth)))  # +-1 % depth noise
    loss = ssi_relative_disparity_loss(1.0 / pred_depth, depth, valid).item()
    assert loss == pytest.approx(0.01, rel=0.15)


def test_invalid_pixels_are_ignored():
    depth, valid = _street_depth()
    pred = 1.0 / depth
    garbage = pred.clone()
    valid[:, :4] = False
    garbage[:, :4] = 123.0
    for loss in SSI_LOSSES.values():
        assert loss(garbage, depth, valid).item() == pytest.approx(loss(pred, depth, valid).item(), abs=1e-5)
