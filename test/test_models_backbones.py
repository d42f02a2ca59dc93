"""Backbone registry: pyramid contract for every backbone, torchvision key/shape fixtures, weight files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from disdepth_core.errors import ConfigError, DisdepthError
from disdepth_core.models.backbones import create_backbone, list_backbones

KEYS_DIR = Path(__file__).parent / "data" / "backbone_keys"
REQUIRED = {"resnet18", "resnet34", "mobilenetv2", "mobilenetv3_large", "efficientnet_b0", "regnet_y_400mf"}


def reference_state(name: str) -> dict[str, torch.Tensor]:
    """A torchvision-layout state dict with the fixture's keys and shapes (random values)."""
    data = json.loads((KEYS_DIR / f"{name}.json").read_text())
    assert data["source"].startswith("torchvision 0.28")
    g = torch.Generator().manual_seed(0)
    return {k: torch.randn(shape, generator=g) if shape else torch.tensor(7) for k, shape in data["keys"].items()}


def test_required_backbones_registered():
    assert REQUIRED <= set(list_backbones())


@pytest.mark.parametrize("name", list_backbones())
def test_pyramid_shapes_and_strides(name):
    bb = create_backbone(name).eval()
    assert bb.feature_strides == [4, 8, 16, 32]
    for h, w in ((64, 96), (70, 100)):
        with torch.no_grad():
            feats = bb(torch.randn(2, 3, h, w))
        assert len(feats) == 4
        for f, c, s in zip(feats, bb.feature_channels, bb.feature_strides, strict=True):
            assert tuple(f.shape) == (2, c, -(-h // s), -(-w // s)), (name, h, w, s)
    assert len(bb.stages()) == 4


@pytest.mark.parametrize("name", list_backbones())
def test_torchvision_state_dict_loads_strict(name):
    ref = reference_state(name)
    bb = create_backbone(name)
    used = {k for k in ref if not k.startswith(bb.pretrained_ignore_prefixes)}
    own = bb.state_dict()
    assert used == set(own), "key sets differ from torchvision's"
    assert all(tuple(own[k].shape) == tuple(ref[k].shape) for k in used)
    bb.load_imagenet_state_dict(ref, source=name)
    k = next(iter(used - {k for k in used if k.endswith("num_batches_tracked")}))
    assert torch.equal(bb.state_dict()[k], ref[k])
    # Only classifier-only keys are ignored.
    ignored = set(ref) - used
    assert ignored and all(k.startswith(("fc.", "classifier.", "features.")) for k in ignored)


def test_pretrained_from_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file

    ref = reference_state("resnet18")
    save_file(ref, str(tmp_path / "r18.safetensors"))
    torch.save({"state_dict": ref}, tmp_path / "r18.pth")
    for f in ("r18.safetensors", "r18.pth"):
        bb = create_backbone("resnet18", pretrained=tmp_path / f)
        assert torch.equal(bb.conv1.weight, ref["conv1.weight"])


def test_bad_weights_named(tmp_path):
    ref = reference_state("resnet18")
    ref.pop("layer2.0.conv1.weight")
    torch.save(ref, tmp_path / "bad.pth")
    with pytest.raises(DisdepthError, match=r"bad\.pth.*missing key 'layer2\.0\.conv1\.weight'"):
        create_backbone("resnet18", pretrained=tmp_path / "bad.pth")
    ref = reference_state("mobilenetv2")
    ref["features.0.0.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(ref, tmp_path / "shape.pth")
    with pytest.raises(DisdepthError, match=r"'features\.0\.0\.weight' has shape \(8, 3, 3, 3\)"):
        create_backbone("mobilenetv2", pretrained=tmp_path / "shape.pth")
    with pytest.raises(DisdepthError, match="not found"):
        create_backbone("resnet18", pretrained=tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(DisdepthError, match="junk.pth"):
        create_backbone("resnet18", pretrained=tmp_path / "junk.pth")


def test_unknown_backbone_names_key():
    with pytest.raises(ConfigError, match="key 'backbone'.*vgg16"):
        create_backbone("vgg16")
