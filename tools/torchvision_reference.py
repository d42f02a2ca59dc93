"""Compare the project's backbones with torchvision's reference definitions (developer tool).

torchvision is never a project dependency: its PyPI wheel is a CUDA build whose C++ ops fail
to load beside CPU torch, but its pure-Python model files import once the ``torchvision::``
operator schemas are declared. Usage::

    pip download torchvision==0.28.0 --no-deps -d /tmp/tv && unzip -q /tmp/tv/*.whl -d /tmp/tv/ex
    # regenerate the key/shape fixtures used by test/test_models_backbones.py
    PYTHONPATH=. python tools/torchvision_reference.py keys /tmp/tv/ex test/data/backbone_keys
    # numerical check: same weights in both, compare every pyramid level
    PYTHONPATH=. python tools/torchvision_reference.py parity /tmp/tv/ex
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

SCHEMAS = [
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) "
    "-> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, "
    "SymInt width) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, "
    "SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
    "SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, "
    "SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version() -> int",
]

# our name -> (torchvision constructor, module names of the 4 pyramid levels)
PAIRS = {
    "resnet18": ("resnet18", ["layer1", "layer2", "layer3", "layer4"]),
    "resnet34": ("resnet34", ["layer1", "layer2", "layer3", "layer4"]),
    "mobilenetv2": ("mobilenet_v2", ["features.3", "features.6", "features.13", "features.17"]),
    "mobilenetv3_large": ("mobilenet_v3_large", ["features.3", "features.6", "features.12", "features.15"]),
    "efficientnet_b0": ("efficientnet_b0", ["features.2", "features.3", "features.5", "features.7"]),
    "regnet_y_400mf": ("regnet_y_400mf", [f"trunk_output.block{i}" for i in range(1, 5)]),
    "regnet_y_800mf": ("regnet_y_800mf", [f"trunk_output.block{i}" for i in range(1, 5)]),
}


def import_torchvision(root: str):
    lib = torch.library.Library("torchvision", "DEF")
    for schema in SCHEMAS:
        lib.define(schema)
    sys.path.insert(0, root)
    import torchvision
    import torchvision.models

    return torchvision, lib


def dump_keys(root: str, out: str) -> None:
    tv, _lib = import_torchvision(root)
    Path(out).mkdir(parents=True, exist_ok=True)
    for ours, (fn, _) in PAIRS.items():
        sd = getattr(tv.models, fn)(weights=None).state_dict()
        lines = [f"    {json.dumps(k)}: {json.dumps(list(v.shape))}" for k, v in sd.items()]
        source = f"torchvision {tv.__version__} torchvision.models.{fn}(weights=None).state_dict()"
        text = '{\n  "source": ' + json.dumps(source) + ',\n  "keys": {\n' + ",\n".join(lines) + "\n  }\n}\n"
        (Path(out) / f"{ours}.json").write_text(text)
        print(ours, len(sd), "keys")


def parity(root: str) -> None:
    tv, _lib = import_torchvision(root)
    from disdepth_core.models.backbones import create_backbone

    torch.manual_seed(0)
    for ours, (fn, taps) in PAIRS.items():
        ref = getattr(tv.models, fn)(weights=None).eval()
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(0.01 * torch.randn_like(p))
            for name, b in ref.named_buffers():
                if "running_var" in name:
                    b.uniform_(0.5, 2)
                elif "running_mean" in name:
                    b.normal_(0, 0.1)
        model = create_backbone(ours).eval()
        model.load_imagenet_state_dict(ref.state_dict(), source=fn)
        got: dict[str, torch.Tensor] = {}
        mods = dict(ref.named_modules())
        for t in taps:
            mods[t].register_forward_hook(lambda m, i, o, t=t, got=got: got.__setitem__(t, o))
        x = torch.randn(2, 3, 64, 96)
        with torch.no_grad():
            ref(x)
            feats = model(x)
        err = max(float((f - got[t]).abs().max() / got[t].abs().max()) for f, t in zip(feats, taps, strict=True))
        print(f"{ours:<20} max relative difference over the 4 levels: {err:.2e}")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("keys", "parity"):
        sys.exit(__doc__)
    if sys.argv[1] == "keys":
        dump_keys(sys.argv[2], sys.argv[3])
    else:
        parity(sys.argv[2])
