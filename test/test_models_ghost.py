"""Ghost decoder and acclimated teacher (METHOD.md §3)."""

from __future__ import annotations

import pytest
import torch

from disdepth_core.errors import ConfigError
from disdepth_core.models import ModelConfig, build_student
from disdepth_core.models.decoder import TopDownDecoder
from disdepth_core.models.ghost_decoder import AcclimatedTeacher, GhostDecoder
from disdepth_core.models.heads import DepthBinHead

pytest.importorskip("transformers")
from disdepth_core.models.teacher import DepthTeacher, build_tiny_teacher  # noqa: E402

H, W = 64, 96
CFG = ModelConfig(input_size=(H, W), backbone="mobilenetv2", decoder_channels=[8, 16, 16, 24], num_bins=16,
                  d_min=1.0, d_max=60.0)


def test_ghost_decoder_is_the_student_decoder():
    ghost = GhostDecoder(CFG)
    student = build_student(CFG)
    assert type(ghost.decoder) is TopDownDecoder and type(ghost.head) is DepthBinHead
    student.decoder.load_state_dict(ghost.decoder.state_dict(), strict=True)
    student.head.load_state_dict(ghost.head.state_dict(), strict=True)
    feats = [torch.randn(2, c, H // s, W // s) for c, s in zip(student.feature_channels, (4, 8, 16, 32), strict=True)]
    with torch.no_grad():
        g = ghost.eval()(feats, (H, W))
        s = student.eval().head(student.decoder(feats))
    torch.testing.assert_close(g["bin_centers"], s["bin_centers"])


@pytest.mark.parametrize("source", ["features", "fused", "hidden_states"])
def test_acclimated_teacher_frozen(source):
    teacher = DepthTeacher(build_tiny_teacher())
    acc = AcclimatedTeacher(teacher, CFG, source=source).train()
    out = acc(torch.randn(2, 3, H, W))
    assert out["depth"].shape == (2, H, W)
    assert out["depth"].min() >= 1.0 and out["depth"].max() <= 60.0
    assert out["teacher_output"].shape == (2, H, W)
    student = build_student(CFG)
    assert [tuple(f.shape[1:]) for f in out["adapted_features"]] == [
        (c, H // s, W // s) for c, s in zip(student.feature_channels, (4, 8, 16, 32), strict=True)
    ]
    out["depth"].mean().backward()
    assert all(p.grad is None for p in acc.teacher.parameters())
    trainable = [n for n, p in acc.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(("adapters.", "ghost.")) for n in trainable)
    assert all(p.grad is not None for p in acc.parameters() if p.requires_grad)


def test_train_last_blocks():
    teacher = DepthTeacher(build_tiny_teacher())
    acc = AcclimatedTeacher(teacher, CFG, train_last_blocks=1).train()
    blocks = teacher.encoder_blocks()
    assert all(p.requires_grad for p in blocks[-1].parameters())
    assert not any(p.requires_grad for p in blocks[-2].parameters())
    acc(torch.randn(2, 3, H, W))["depth"].mean().backward()
    assert all(p.grad is not None for p in blocks[-1].parameters())
    assert all(p.grad is None for p in blocks[0].parameters())
    with pytest.raises(ConfigError, match="train_last_blocks"):
        AcclimatedTeacher(teacher, CFG, train_last_blocks=99)
