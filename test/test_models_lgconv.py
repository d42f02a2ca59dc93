"""LocalGlobalConv: zero-init identity for every backbone, insertion at chosen stages, gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from disdepth_core.errors import ConfigError
from disdepth_core.models.backbones import create_backbone, list_backbones
from disdepth_core.models.local_global_conv import LocalGlobalConv, adaptive_avg_pool, insert_local_global_conv


@pytest.mark.parametrize("name", list_backbones())
def test_identity_at_init(name):
    torch.manual_seed(0)
    plain = create_backbone(name).eval()
    lg = copy.deepcopy(plain)
    n = insert_local_global_conv(lg, [3, 4], pool=2)
    assert n > 0
    assert sum(isinstance(m, LocalGlobalConv) for m in lg.modules()) == n
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = plain(x), lg.eval()(x)
    for fa, fb in zip(a, b, strict=True):
        assert torch.equal(fa, fb)
    # ... and a non-zero gate really changes the output (the branch is wired in).
    for m in lg.modules():
        if isinstance(m, LocalGlobalConv):
            m.gamma.data.fill_(0.5)
    with torch.no_grad():
        assert not torch.allclose(lg(x)[3], a[3])


def test_stages_are_respected():
    bb = create_backbone("resnet18")
    insert_local_global_conv(bb, [4])
    assert not any(isinstance(m, LocalGlobalConv) for m in bb.layer3.modules())
    assert sum(isinstance(m, LocalGlobalConv) for m in bb.layer4.modules()) == 4  # 2 blocks x 2 3x3 convs
    with pytest.raises(ConfigError, match="lgconv_stages"):
        insert_local_global_conv(create_backbone("resnet18"), [5])


@pytest.mark.parametrize("pool", [1, 2])
def test_gradients_reach_branch(pool):
    conv = torch.nn.Conv2d(8, 16, 3, 2, 1)
    lg = LocalGlobalConv(conv, pool=pool)
    x = torch.randn(2, 8, 12, 20)
    y = lg(x)
    assert y.shape == (2, 16, 6, 10)
    assert torch.equal(y, conv(x))
    y.square().mean().backward()
    assert lg.gamma.grad is not None and lg.gamma.grad.abs() > 0  # the gate learns from step 0
    lg.zero_grad()
    lg.gamma.data.fill_(0.3)
    lg(x).square().mean().backward()
    for name, p in lg.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("size", [1, 2, 4])
def test_export_friendly_pool_matches_adaptive_pool(size):
    for h, w in ((2, 3), (5, 7), (11, 20)):
        x = torch.randn(2, 3, h, w)
        torch.testing.assert_close(adaptive_avg_pool(x, size), torch.nn.functional.adaptive_avg_pool2d(x, size))
