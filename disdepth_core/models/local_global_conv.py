"""Local-Global convolution (METHOD.md §1): a spatial conv plus a gated global-context branch.

Given the wrapped conv ``y = Conv(x)`` (B, C_out, h, w)::

    g  = AvgPool_s(ReLU(Conv1x1(x)))                  (B, C_r, s, s)   global context
    a  = sigmoid(MLP([GAP(y); flatten(g)]))           (B, C_out, 1, 1) per-channel attention
    y' = y + gamma * a * Upsample(Conv1x1(g))         (B, C_out, h, w)

``gamma`` is a learnable scalar initialised to 0, so inserting LG-Conv into a pretrained
backbone leaves its output unchanged at step 0. :func:`insert_local_global_conv` wraps every
spatial (k > 1) conv of the chosen pyramid stages of any registered backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


class LocalGlobalConv(nn.Module):
    """Wraps ``conv`` (kept as ``self.conv``, so its weights keep their meaning) with the global branch.

    Args:
        conv: the local k x k convolution (any stride/groups).
        pool: pooled size s of the global branch (1 = a global vector, 2 = a 2x2 coarse map).
        reduction: C_r = C_in // reduction channels in the global branch (clamped to 8..128, as is
            the MLP width C_out // reduction: global context needs few channels, and wide
            depthwise stages would otherwise add ~1M parameters per wrapped conv).
    """

    def __init__(self, conv: nn.Conv2d, pool: int = 1, reduction: int = 4) -> None:
        super().__init__()
        c_in, c_out = conv.in_channels, conv.out_channels
        c_r = min(128, max(8, c_in // reduction))
        self.conv = conv
        self.pool = pool
        self.reduce = nn.Conv2d(c_in, c_r, 1)
        self.expand = nn.Conv2d(c_r, c_out, 1)
        hidden = min(128, max(8, c_out // reduction))
        # The MLP acts on (B, C, 1, 1) tensors: 1x1 convs export to ONNX as plain Conv nodes.
        self.attn = nn.Sequential(
            nn.Conv2d(c_out + c_r * pool * pool, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c_out, 1)
        )
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        g = F.adaptive_avg_pool2d(F.relu(self.reduce(x)), self.pool)  # (B, C_r, s, s)
        b = g.shape[0]
        desc = torch.cat([F.adaptive_avg_pool2d(y, 1), g.reshape(b, -1, 1, 1)], dim=1)
        a = torch.sigmoid(self.attn(desc))  # (B, C_out, 1, 1)
        ctx = self.expand(g)  # (B, C_out, s, s)
        if self.pool > 1:
            ctx = F.interpolate(ctx, size=y.shape[-2:], mode="bilinear", align_corners=False)
        return y + self.gamma * (a * ctx)


def insert_local_global_conv(backbone: nn.Module, stages: list[int], pool: int = 1, reduction: int = 4) -> int:
    """Wrap every spatial conv (kernel > 1) in pyramid ``stages`` (1..4, 4 = stride 32) in place.

    Returns the number of convs wrapped. Load pretrained weights before calling (keys move
    from ``....conv1.weight`` to ``....conv1.conv.weight``).
    """
    blocks = backbone.stages()
    count = 0
    for stage in stages:
        if not 1 <= stage <= len(blocks):
            raise ConfigError(f"stage {stage} out of range 1..{len(blocks)}", key="lgconv_stages")
        for root in blocks[stage - 1]:
            for parent in list(root.modules()):
                if isinstance(parent, LocalGlobalConv):
                    continue
                for name, child in list(parent.named_children()):
                    if isinstance(child, nn.Conv2d) and max(child.kernel_size) > 1:
                        setattr(parent, name, LocalGlobalConv(child, pool=pool, reduction=reduction))
                        count += 1
    return count
