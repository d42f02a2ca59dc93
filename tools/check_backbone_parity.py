import sys, torch
exec(open('/tmp/tv_models/dump_keys.py').read().split('sys.path.insert')[0])
sys.path.insert(0, "/tmp/tv_models/ex")
import torchvision.models as M
sys.path.insert(0, ".")
from disdepth_core.models.backbones import create_backbone
pairs = {"resnet18": (M.resnet18, ["layer1","layer2","layer3","layer4"]), "resnet34": (M.resnet34, ["layer1","layer2","layer3","layer4"]),
 "mobilenetv2": (M.mobilenet_v2, ["features.3","features.6","features.13","features.17"]),
 "mobilenetv3_large": (M.mobilenet_v3_large, ["features.3","features.6","features.12","features.15"]),
 "efficientnet_b0": (M.efficientnet_b0, ["features.2","features.3","features.5","features.7"]),
 "regnet_y_400mf": (M.regnet_y_400mf, [f"trunk_output.block{i}" for i in range(1,5)]),
 "regnet_y_800mf": (M.regnet_y_800mf, [f"trunk_output.block{i}" for i in range(1,5)])}
torch.manual_seed(0)
for n,(fn,taps) in pairs.items():
    tv = fn(weights=None).eval()
    with torch.no_grad():
        for p in tv.parameters(): p.add_(0.01*torch.randn_like(p))
        for name,b in tv.named_buffers():
            if 'running_var' in name: b.uniform_(0.5,2)
            if 'running_mean' in name: b.normal_(0,0.1)
    ours = create_backbone(n).eval()
    ours.load_imagenet_state_dict(tv.state_dict())
    got = {}
    mods = dict(tv.named_modules())
    for t in taps: mods[t].register_forward_hook(lambda m,i,o,t=t: got.__setitem__(t,o))
    x = torch.randn(2,3,64,96)
    with torch.no_grad():
        tv(x); f = ours(x)
    print(n, max(float((a-got[t]).abs().max()/got[t].abs().max()) for a,t in zip(f,taps)))
