"""Reading weight files from disk: safetensors, or PyTorch ``.pth``/``.pt`` with ``weights_only=True``.

Never unpickles arbitrary objects and never downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DisdepthError


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat ``{key: tensor}`` dict from ``path``; a ``{'state_dict'|'model': {...}}`` wrapper is unwrapped."""
    p = Path(path)
    if not p.is_file():
        raise DisdepthError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as exc:  # noqa: BLE001 - safetensors' error type varies across versions
            raise DisdepthError(f"{p}: not a readable safetensors file ({exc})") from None
    if p.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
            raise DisdepthError(f"{p}: not a weights-only PyTorch state dict ({type(exc).__name__}: {exc})") from None
        for wrapper in ("state_dict", "model"):
            if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise DisdepthError(f"{p}: expected a mapping of parameter names to tensors")
        return dict(obj)
    raise DisdepthError(f"{p}: unsupported weights format {p.suffix!r} (use .safetensors or .pth)")
