"""Regenerate test/data/backbone_keys/*.json: torchvision's reference state-dict keys and shapes.

Developer tool, never a project dependency. torchvision's CUDA wheel cannot load its C++ ops
beside CPU torch, but its pure-Python model files import once the ``torchvision::`` operator
schemas are declared. Usage::

    pip download torchvision==0.28.0 --no-deps -d /tmp/tv && unzip -q /tmp/tv/*.whl -d /tmp/tv/ex
    python tools/dump_backbone_keys.py /tmp/tv/ex test/data/backbone_keys
"""
import json, sys
import torch
lib = torch.library.Library("torchvision", "DEF")
for s in [
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "_cuda_version() -> int",
]:
    lib.define(s)
sys.path.insert(0, sys.argv[1])
import torchvision
import torchvision.models as M
out = sys.argv[2]
names = {"resnet18": M.resnet18, "resnet34": M.resnet34, "mobilenetv2": M.mobilenet_v2,
         "mobilenetv3_large": M.mobilenet_v3_large, "efficientnet_b0": M.efficientnet_b0,
         "regnet_y_400mf": M.regnet_y_400mf, "regnet_y_800mf": M.regnet_y_800mf,
}
import os
os.makedirs(out, exist_ok=True)
for n, fn in names.items():
    sd = fn(weights=None).state_dict()
    data = {"source": f"torchvision {torchvision.__version__} torchvision.models.{fn.__name__}(weights=None).state_dict()",
            "keys": {k: list(v.shape) for k, v in sd.items()}}
    lines = [f'    {json.dumps(k)}: {json.dumps(v)}' for k, v in data["keys"].items()]
    text = '{\n  "source": ' + json.dumps(data["source"]) + ',\n  "keys": {\n' + ",\n".join(lines) + "\n  }\n}\n"
    with open(f"{out}/{n}.json", "w") as fh:
        fh.write(text)
    print(n, len(sd), torchvision.__version__)
