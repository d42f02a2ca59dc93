"""Resumable training state as safetensors + JSON (never pickle).

``save_training_state(dir, modules, optimizer, step, extra)`` writes ``state.safetensors``
(every module's weights under ``<name>.``, the optimiser's tensors under ``optim.``, the
torch RNG state) and ``state.json`` (step, optimiser hyper-parameters and structure,
extra metadata). ``load_training_state`` restores them in place and returns the step.
The write goes to a temporary directory renamed into place, so a run killed mid-write
keeps its previous checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import DisdepthError


def _optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state_meta: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        meta = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                meta[k] = v
        state_meta[str(idx)] = meta
    return tensors, {"param_groups": sd["param_groups"], "state_meta": state_meta}


def _optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if not key.startswith("optim."):
            continue
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = v
    for idx, m in meta["state_meta"].items():
        state.setdefault(int(idx), {}).update(m)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_training_state(
    directory: str | Path,
    modules: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: dict | None = None,
) -> Path:
    """Write a resumable checkpoint of ``modules`` and ``optimizer`` at ``step``."""
    d = Path(directory)
    tmp = d.with_name(d.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().cpu().contiguous()
    opt_tensors, opt_meta = _optimizer_to_flat(optimizer)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "state.safetensors"))
    meta = {"step": int(step), "optimizer": opt_meta, "modules": sorted(modules), "extra": extra or {}}
    (tmp / "state.json").write_text(json.dumps(meta, indent=1, default=float))
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)
    return d


def load_training_state(
    directory: str | Path, modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer | None = None
) -> tuple[int, dict]:
    """Restore ``modules`` (and ``optimizer``) from ``directory``; returns ``(step, extra)``."""
    d = Path(directory)
    st, js = d / "state.safetensors", d / "state.json"
    if not st.is_file() or not js.is_file():
        raise DisdepthError(f"{d}: not a training checkpoint (expected state.safetensors and state.json)")
    meta = json.loads(js.read_text())
    tensors = load_file(str(st))
    for name, module in modules.items():
        prefix = f"{name}."
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        missing, unexpected = module.load_state_dict(sd, strict=False)
        if missing or unexpected:
            first = (missing or unexpected)[0]
            raise DisdepthError(
                f"{st}: module {name!r} does not match the checkpoint "
                f"({len(missing)} missing, {len(unexpected)} unexpected keys, first {first!r})"
            )
    if optimizer is not None:
        _optimizer_from_flat(optimizer, tensors, meta["optimizer"])
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), meta.get("extra", {})
