"""TensorRT: build an engine from our ONNX export (FP16, optional INT8) and run it on torch CUDA buffers.

UNVERIFIED: TensorRT cannot be installed on the development machines nor on the lent GPU
machines, so this module is written against the TensorRT 10 Python API (``trt.Builder``,
``create_network``, ``OnnxParser``, ``BuilderConfig`` flags, optimisation profiles,
``IInt8EntropyCalibrator2``, ``build_serialized_network``, ``Runtime.deserialize_cuda_engine``,
``set_input_shape``/``set_tensor_address``/``execute_async_v3``) and has never run. Every
entry point first calls :func:`import_tensorrt`, which raises a one-line
:class:`CapabilityError` when ``import tensorrt`` fails.

A plan file (``.plan``) is accompanied by ``<plan>.json`` holding the :class:`ModelMetadata`
and the batch profile it was built for. A batch larger than the profile's maximum makes the
engine re-build itself from the ONNX file beside it (logged) when that file exists.

The plan has the ONNX file's outputs (the parser marks every graph output): ``depth`` and, for
a bin-head export, ``confidence``. The engine binds the confidence buffer only when the metadata
lists it *and* the deserialised engine has an I/O tensor of that name (``num_io_tensors`` /
``get_tensor_name``), so an older plan gives ``None``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import CapabilityError, ConfigError, DisdepthError
from .engine_base import LOG, BaseDepthEngine
from .engine_config import EngineConfig
from .model_metadata import (
    ONNX_CONFIDENCE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    ModelMetadata,
    check_metadata,
    resolve_checkpoint,
)
from .onnx_export import read_onnx_metadata, reference_input


def import_tensorrt():
    """``import tensorrt`` or a one-line CapabilityError (TensorRT is an optional, separate install)."""
    try:
        import tensorrt as trt
    except ImportError:
        raise CapabilityError(
            "backend tensorrt: the TensorRT Python package is not installed here (import tensorrt failed); "
            "use backend onnxruntime or torch"
        ) from None
    if not torch.cuda.is_available():
        raise CapabilityError("backend tensorrt needs a CUDA GPU, and torch sees none")
    return trt


def _make_calibrator(trt, batches: list[torch.Tensor], cache_file: Path | None):
    """An ``IInt8EntropyCalibrator2`` fed with pre-processed CUDA batches (B, 3, h, w) float32."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.batches = [b.contiguous() for b in batches]
            self.index = 0

        def get_batch_size(self) -> int:
            return int(self.batches[0].shape[0])

        def get_batch(self, names):  # noqa: ARG002 - one input
            if self.index >= len(self.batches):
                return None
            ptr = int(self.batches[self.index].data_ptr())
            self.index += 1
            return [ptr]

        def read_calibration_cache(self):
            if cache_file is not None and cache_file.is_file():
                return cache_file.read_bytes()
            return None

        def write_calibration_cache(self, cache) -> None:
            if cache_file is not None:
                cache_file.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_path: str | Path, *, fp16: bool = True, int8: bool = False,
                 calibration_images: np.ndarray | None = None, batch: int = 6, max_batch: int | None = None,
                 workspace_gib: float = 4.0) -> bytes:
    """Serialized TensorRT engine for the ONNX file; profile batch 1..max_batch (optimum ``batch``).

    ``calibration_images`` (M, H, W, 3) uint8 feed INT8 calibration (pre-processed as the
    engine does, in batches of ``batch``); required when ``int8``.
    """
    trt = import_tensorrt()
    meta = read_onnx_metadata(onnx_path)
    h, w = meta.input_size
    max_batch = max(max_batch or batch, batch)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DisdepthError(f"{onnx_path}: TensorRT could not parse the ONNX file: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    profile = builder.create_optimization_profile()
    profile.set_shape(ONNX_INPUT, (1, 3, h, w), (batch, 3, h, w), (max_batch, 3, h, w))
    config.add_optimization_profile(profile)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        if calibration_images is None or len(calibration_images) == 0:
            raise ConfigError("INT8 needs calibration images", key="calibration_images")
        x = reference_input(meta, calibration_images).cuda()
        batches = [x[i:i + batch] for i in range(0, len(x) - batch + 1, batch)] or [x]
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _make_calibrator(trt, batches, None)
        config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise DisdepthError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT log above)")
    return bytes(serialized)


def save_plan(plan: bytes, path: str | Path, metadata: ModelMetadata, *, max_batch: int, onnx_path: Path) -> Path:
    """Write the plan and ``<plan>.json`` (metadata, batch profile, source ONNX file name)."""
    p = Path(path)
    p.write_bytes(plan)
    Path(str(p) + ".json").write_text(json.dumps(
        {"metadata": metadata.to_json(), "max_batch": max_batch, "onnx": onnx_path.name}, indent=2) + "\n")
    return p


class TensorRTEngine(BaseDepthEngine):
    """DepthEngine executing a TensorRT plan with torch CUDA tensors as device buffers (UNVERIFIED)."""

    backend = "tensorrt"
    channels_last = False

    def __init__(self, plan_path: str | Path, *, device: torch.device | str = "cuda",
                 depth_range: tuple[float, float] = (0.5, 80.0), upsample: str = "bilinear") -> None:
        self.trt = import_tensorrt()
        plan_path = Path(plan_path)
        side = Path(str(plan_path) + ".json")
        if not side.is_file():
            raise DisdepthError(f"{plan_path}: missing {side.name} (metadata written by `disdepth export`)")
        info = json.loads(side.read_text())
        meta = ModelMetadata.from_json(info["metadata"], str(side))
        device = torch.device(device)
        if device.type != "cuda":
            raise ConfigError("backend tensorrt runs on a CUDA device only", key="engine.device")
        super().__init__(device=device, metadata=meta, input_size=meta.input_size, depth_range=depth_range,
                         upsample=upsample)
        self.plan_path = plan_path
        self.max_batch = int(info.get("max_batch", meta.batch))
        self.onnx_path = plan_path.parent / info["onnx"] if info.get("onnx") else None
        self.fp16 = meta.precision in ("fp16", "int8")
        self.int8 = meta.precision == "int8"
        self._load(plan_path.read_bytes())

    def _load(self, plan: bytes) -> None:
        trt = self.trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self.device):
            self._engine = self._runtime.deserialize_cuda_engine(plan)
            if self._engine is None:
                raise DisdepthError(f"{self.plan_path}: TensorRT could not deserialize the plan "
                                    "(built with another TensorRT version or GPU?)")
            self._context = self._engine.create_execution_context()
            io_names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        self.provides_confidence = self.metadata.has_confidence and ONNX_CONFIDENCE in io_names
        self._stream = torch.cuda.Stream(self.device)

    @classmethod
    def from_config(cls, cfg: EngineConfig, device: torch.device) -> TensorRTEngine:
        path = resolve_checkpoint(cfg.checkpoint)
        if path.suffix not in (".plan", ".engine"):
            raise ConfigError(f"backend tensorrt needs a .plan file from `disdepth export --format tensorrt`, got {path}",
                              key="engine.checkpoint")
        engine = cls(path, device=device, depth_range=(cfg.min_depth, cfg.max_depth), upsample=cfg.upsample)
        check_metadata(engine.metadata, cfg, str(path))
        return engine

    def _replan(self, batch: int) -> None:
        if batch <= self.max_batch:
            return
        if self.onnx_path is None or not self.onnx_path.is_file():
            raise DisdepthError(f"{self.plan_path}: batch {batch} exceeds the plan's maximum {self.max_batch} "
                                "and its ONNX file is not beside it to re-build; re-export with a larger --batch")
        LOG.info("tensorrt engine: batch %d > profile max %d: re-building the engine from %s",
                 batch, self.max_batch, self.onnx_path)
        if self.int8:
            raise DisdepthError("tensorrt engine: an INT8 plan cannot re-build at run time (needs calibration "
                                f"images); re-export with --batch {batch}")
        plan = build_engine(self.onnx_path, fp16=self.fp16, batch=batch, max_batch=batch)
        self.max_batch = batch
        self._load(plan)

    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x.contiguous()
        n, _, h, w = x.shape
        y = torch.empty((n, h, w), dtype=torch.float32, device=self.device)
        conf = torch.empty((n, h, w), dtype=torch.float32, device=self.device) if self.provides_confidence else None
        ctx = self._context
        ctx.set_input_shape(ONNX_INPUT, tuple(x.shape))
        ctx.set_tensor_address(ONNX_INPUT, int(x.data_ptr()))
        ctx.set_tensor_address(ONNX_OUTPUT, int(y.data_ptr()))
        if conf is not None:
            ctx.set_tensor_address(ONNX_CONFIDENCE, int(conf.data_ptr()))
        stream = self._stream
        stream.wait_stream(torch.cuda.current_stream(self.device))
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise DisdepthError("tensorrt engine: execute_async_v3 failed")
        torch.cuda.current_stream(self.device).wait_stream(stream)
        return y, conf
