"""Inference-time folding of BatchNorm into the preceding convolution (eval mode only).

``fold_batchnorm(model)`` rewrites, in place, every ``Conv2d`` directly followed by its
``BatchNorm2d`` (consecutive children of a Sequential, or ``convN``/``bnN`` attribute pairs as in
ResNet blocks) into one biased conv and replaces the BN with ``Identity``. Outputs are unchanged
up to float rounding; parameter names change, so fold only copies used for inference/benchmarks.
Convs wrapped by LocalGlobalConv are left alone (their BN acts on the LG-Conv output).
"""

from __future__ import annotations

import torch
from torch import nn


def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused.to(conv.weight.device)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every Conv2d+BatchNorm2d pair in ``model`` (must be in eval mode); returns the count."""
    if model.training:
        raise RuntimeError("fold_batchnorm needs a model in eval mode")
    count = 0
    for parent in list(model.modules()):
        names = list(parent._modules)
        if isinstance(parent, nn.Sequential):
            pairs = list(zip(names, names[1:]))
        else:
            pairs = [(n, n.replace("conv", "bn", 1)) for n in names if n.startswith("conv") and
                     n.replace("conv", "bn", 1) in parent._modules]
        for cname, bname in pairs:
            conv, bn = parent._modules[cname], parent._modules[bname]
            if type(conv) is nn.Conv2d and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                parent._modules[cname] = _fused(conv, bn)
                parent._modules[bname] = nn.Identity()
                count += 1
    return count
