"""``create_engine(cfg)``: the one place that turns an :class:`EngineConfig` into a DepthEngine.

Backends register a builder in ``_BUILDERS``; a backend without a builder raises a
:class:`~disdepth_core.errors.CapabilityError` that says so. Heavy imports happen inside the
builders so that choosing one backend never imports another's dependencies. The test-only
oracle (:mod:`disdepth_core.sim.oracle_engine`, backend name ``ground_truth``) is not one of
them: it is built only after the explicit opt-in of :mod:`disdepth_core.sim.oracle_opt_in`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import CapabilityError, ConfigError
from ..sim.oracle_opt_in import ORACLE_BACKEND, require_oracle
from .engine_api import DepthEngine
from .engine_config import BACKENDS, EngineConfig


def resolve_device(name: str, local_rank: int = 0, key: str = "engine.device") -> torch.device:
    """``'auto'`` -> cuda (``cuda:<local_rank>`` under DDP) when available else cpu; an absent cuda is an error.

    ``key`` names the setting in the error message (``engine.device``, ``device``...).
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CapabilityError(f"{key} {name!r}: CUDA is not available on this machine (use 'cpu' or 'auto')")
    return dev


def _build_oracle(cfg: EngineConfig) -> DepthEngine:
    require_oracle("engine.backend")
    from ..sim.oracle_engine import GroundTruthEngine

    if not cfg.gt_frames:
        raise ConfigError(f"backend {ORACLE_BACKEND!r} needs engine.gt_frames (a frames .npz file)",
                          key="engine.gt_frames")
    return GroundTruthEngine.from_file(
        cfg.gt_frames,
        device=resolve_device(cfg.device),
        depth_range=(cfg.min_depth, cfg.max_depth),
        input_size=tuple(cfg.input_size) if cfg.input_size[0] else None,
        strict=False,  # an image altered on the way (resized, lossy) gets NaN depth, the others go on
    )


def _build_torch(cfg: EngineConfig) -> DepthEngine:
    from .torch_engine import TorchEngine

    return TorchEngine.from_config(cfg, resolve_device(cfg.device))


def _build_onnxruntime(cfg: EngineConfig) -> DepthEngine:
    from .ort_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine.from_config(cfg, resolve_device(cfg.device))


def _build_tensorrt(cfg: EngineConfig) -> DepthEngine:
    from .tensorrt_engine import TensorRTEngine, import_tensorrt

    import_tensorrt()  # one-line CapabilityError when TensorRT is absent
    device = resolve_device("cuda" if cfg.device == "auto" else cfg.device)
    return TensorRTEngine.from_config(cfg, device)


_BUILDERS: dict[str, Callable[[EngineConfig], DepthEngine]] = {
    "torch": _build_torch,
    "onnxruntime": _build_onnxruntime,
    "tensorrt": _build_tensorrt,
}


def backend_usable(backend: str) -> bool:
    """Whether ``backend``'s dependencies import on this machine (no engine is built)."""
    import importlib.util

    needs = {"onnxruntime": "onnxruntime", "tensorrt": "tensorrt"}.get(backend)
    if backend == "tensorrt" and not torch.cuda.is_available():
        return False
    return backend in _BUILDERS and (needs is None or importlib.util.find_spec(needs) is not None)


def available_backends() -> list[str]:
    """Backends this installation can build."""
    return [b for b in BACKENDS if b in _BUILDERS]


def create_engine(cfg: EngineConfig) -> DepthEngine:
    """Build the engine ``cfg`` describes; errors are one line naming the key at fault."""
    if cfg.backend == ORACLE_BACKEND:
        return _build_oracle(cfg)
    builder = _BUILDERS.get(cfg.backend)
    if builder is None:
        raise CapabilityError(
            f"engine.backend {cfg.backend!r} is not implemented in this build "
            f"(available: {', '.join(available_backends())})"
        )
    return builder(cfg)
