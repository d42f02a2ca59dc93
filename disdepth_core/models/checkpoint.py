"""Student checkpoints: ``dir/model.safetensors`` + ``dir/config.yaml`` (ModelConfig) + ``dir/meta.json``.

Never pickled. ``fp16=True`` stores floating tensors as float16 (half the size); loading always
returns a float32 model. The config's ``pretrained`` path is not followed on load: the weights
come from the checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..config import load_config, save_config
from ..errors import ConfigError, DisdepthError
from .config import ModelConfig
from .student import DepthStudent, build_student

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
META_FILE = "meta.json"
FORMAT = "disdepth-student-v1"


def save_student(model: DepthStudent, directory: str | Path, *, fp16: bool = False, extra_meta: dict | None = None) -> Path:
    """Write ``model`` to ``directory`` (created); returns the directory."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu")
        if fp16 and v.is_floating_point():
            v = v.half()
        state[k] = v.contiguous()
    save_file(state, str(d / WEIGHTS_FILE), metadata={"format": FORMAT})
    save_config(model.config, d / CONFIG_FILE)
    meta = {
        "format": FORMAT,
        "dtype": "float16" if fp16 else "float32",
        "params": sum(p.numel() for p in model.parameters()),
        "saved_unix": time.time(),
        **(extra_meta or {}),
    }
    (d / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return d


def read_student_meta(directory: str | Path) -> dict:
    """The metadata JSON of a checkpoint ({} when absent)."""
    p = Path(directory) / META_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def load_student(directory: str | Path, device: str | torch.device = "cpu") -> DepthStudent:
    """Rebuild the student from ``config.yaml`` and load ``model.safetensors`` strictly (eval mode)."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not d.is_dir():
        raise DisdepthError(f"checkpoint directory not found: {d}")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (d / name).is_file():
            raise DisdepthError(f"{d}: missing {name} (not a student checkpoint)")
    cfg = load_config(ModelConfig, d / CONFIG_FILE)
    model = build_student(replace(cfg, pretrained=None))
    weights = d / WEIGHTS_FILE
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors' error type varies across versions
        raise DisdepthError(f"{weights}: not a readable safetensors file ({exc})") from None
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        key, what = (missing[0], "missing") if missing else (unexpected[0], "unexpected")
        raise DisdepthError(
            f"{weights}: does not match {d / CONFIG_FILE}: {what} key {key!r} "
            f"({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise DisdepthError(
                f"{weights}: does not match {d / CONFIG_FILE}: key {k!r} has shape {tuple(state[k].shape)}, "
                f"config gives {tuple(v.shape)}"
            )
        state[k] = state[k].to(v.dtype)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


__all__ = ["ConfigError", "load_student", "read_student_meta", "save_student"]
