"""``OnnxRuntimeEngine``: an exported student (ONNX) in onnxruntime.

Execution providers: ``engine.ort_providers`` if given, else the best present in
``onnxruntime.get_available_providers()`` for the engine device -- on CUDA TensorRT EP (fp16
when ``precision: fp16``), then CUDA EP, then CPU; on the CPU the CPU EP. On CUDA the input
and output stay on the GPU (IO binding to torch CUDA tensors, no host copy); on the CPU the
normalised batch is handed over as a numpy view.

``engine.checkpoint`` is an ``.onnx`` file written by ``disdepth export`` (its metadata is
checked against the config), or a student checkpoint directory, which is exported to a
temporary ONNX file first (logged). The batch axis is dynamic: a batch-size change needs no
rebuild (the TensorRT EP re-builds its own engine for a new shape profile by itself).

A file whose metadata lists the ``confidence`` output (every bin-head export since issue 14)
gives the confidence too; an older export, or a regression-head model, gives ``None``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import CapabilityError, ConfigError
from .engine_base import LOG, BaseDepthEngine
from .engine_config import DEFAULT_DEPTH_RANGE, ENGINE_DEFAULTS, EngineConfig
from .model_metadata import (
    ONNX_CONFIDENCE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    check_metadata,
    load_checkpoint_student,
    metadata_for_student,
    resolve_checkpoint,
)
from .onnx_export import _ort, export_student_onnx, read_onnx_metadata

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def choose_providers(requested: list[str], device: torch.device, precision: str) -> list:
    """The provider list for ``InferenceSession`` (names, or (name, options) pairs)."""
    ort = _ort()
    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise CapabilityError(
                f"engine.ort_providers: {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(available)})"
            )
        names = list(requested)
    elif device.type == "cuda":
        names = [p for p in GPU_PROVIDERS if p in available]
        if not names:
            raise CapabilityError(
                f"backend onnxruntime on {device}: this onnxruntime has no CUDA/TensorRT execution provider "
                f"(available: {', '.join(available)}); install onnxruntime-gpu or use engine.device cpu"
            )
        names.append("CPUExecutionProvider")
    else:
        names = ["CPUExecutionProvider"]
    if precision != "fp32" and "TensorrtExecutionProvider" not in names:
        raise ConfigError(
            f"precision {precision} with backend onnxruntime needs the TensorRT execution provider "
            "(trt_fp16_enable); use fp32, or backend torch for fp16/bf16 autocast", key="engine.precision"
        )
    if precision == "bf16":
        raise ConfigError("backend onnxruntime supports fp32 or fp16 (TensorRT EP)", key="engine.precision")
    out: list = []
    dev_id = device.index or 0
    for name in names:
        if name == "TensorrtExecutionProvider":
            cache = Path(tempfile.gettempdir()) / "disdepth_trt_ep_cache"
            out.append((name, {"device_id": dev_id, "trt_fp16_enable": precision == "fp16",
                               "trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}))
        elif name == "CUDAExecutionProvider":
            out.append((name, {"device_id": dev_id}))
        else:
            out.append(name)
    return out


class OnnxRuntimeEngine(BaseDepthEngine):
    """DepthEngine running an ONNX export in onnxruntime (see module docstring)."""

    backend = "onnxruntime"
    channels_last = False  # onnxruntime reads a plain contiguous NCHW buffer

    def __init__(self, onnx_path: str | Path, *, device: torch.device | str = "cpu",
                 precision: str = ENGINE_DEFAULTS.precision, providers: list[str] | None = None,
                 depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE, upsample: str = ENGINE_DEFAULTS.upsample) -> None:
        ort = _ort()
        device = torch.device(device)
        meta = read_onnx_metadata(onnx_path)
        super().__init__(device=device, metadata=meta, input_size=meta.input_size, depth_range=depth_range,
                         upsample=upsample)
        self.onnx_path = Path(onnx_path)
        self.precision = precision
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts,
                                            providers=choose_providers(list(providers or []), device, precision))
        self.providers = self.session.get_providers()
        graph_outputs = [o.name for o in self.session.get_outputs()]
        missing = [n for n in meta.outputs if n not in graph_outputs]
        if missing:
            raise ConfigError(f"{self.onnx_path}: its metadata lists outputs {meta.outputs} but the graph has "
                              f"{graph_outputs} (missing {missing}); re-export it", key="engine.checkpoint")
        self.outputs = list(meta.outputs)
        self.provides_confidence = meta.has_confidence
        LOG.info("onnxruntime engine: %s on %s with %s", self.onnx_path.name, device, ", ".join(self.providers))

    @classmethod
    def from_config(cls, cfg: EngineConfig, device: torch.device) -> OnnxRuntimeEngine:
        path = resolve_checkpoint(cfg.checkpoint)
        tmp = None
        if path.is_dir():
            model = load_checkpoint_student(path)
            size = tuple(cfg.input_size) if cfg.input_size[0] else None
            meta = metadata_for_student(model.config, input_size=size, cameras=list(cfg.cameras))
            tmp = tempfile.TemporaryDirectory(prefix="disdepth_onnx_")
            onnx_path = export_student_onnx(model, Path(tmp.name) / "student.onnx", meta)
            LOG.info("onnxruntime engine: exported %s to %s (input %dx%d)", path, onnx_path, *meta.input_size)
        elif path.suffix == ".onnx":
            onnx_path = path
        else:
            raise ConfigError(f"backend onnxruntime needs an .onnx file or a checkpoint directory, got {path}",
                              key="engine.checkpoint")
        check_metadata(read_onnx_metadata(onnx_path), cfg, str(path))
        engine = cls(onnx_path, device=device, precision=cfg.precision, providers=list(cfg.ort_providers),
                     depth_range=(cfg.min_depth, cfg.max_depth), upsample=cfg.upsample)
        engine._tmpdir = tmp  # keeps the temporary export alive as long as the engine
        return engine

    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x.contiguous()
        if self.device.type != "cuda":
            outs = dict(zip(self.outputs, self.session.run(self.outputs, {ONNX_INPUT: x.numpy()}), strict=True))
            conf = outs.get(ONNX_CONFIDENCE)
            return torch.from_numpy(outs[ONNX_OUTPUT]), (torch.from_numpy(conf) if conf is not None else None)
        n, _, h, w = x.shape
        ys = {name: torch.empty((n, h, w), dtype=torch.float32, device=self.device) for name in self.outputs}
        binding = self.session.io_binding()
        dev_id = self.device.index or 0
        binding.bind_input(ONNX_INPUT, "cuda", dev_id, np.float32, tuple(x.shape), x.data_ptr())
        for name, y in ys.items():
            binding.bind_output(name, "cuda", dev_id, np.float32, tuple(y.shape), y.data_ptr())
        self.session.run_with_iobinding(binding)
        return ys[ONNX_OUTPUT], ys.get(ONNX_CONFIDENCE)
