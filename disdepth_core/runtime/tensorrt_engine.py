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

``engine.checkpoint`` may also be an ``.onnx`` export or a student checkpoint directory
(exported to a temporary ONNX file first; the export is byte-deterministic). Then the engine is
built at start -- fp32 or fp16 (``engine.precision``), batch profile 1..max(export batch, number
of cameras) -- through the engine cache (:mod:`disdepth_core.runtime.tensorrt_cache`, directory
``engine.cache_dir``): keyed by the ONNX bytes' sha256, ``tensorrt.__version__``, the GPU name and
compute capability and the build settings, so the second start deserialises the cached engine
instead of building. A cached file TensorRT refuses is discarded and re-built; a ``.plan`` that
does not deserialise here (another TensorRT or GPU) is re-built from its ONNX file the same way.
Re-plans for a larger batch go through the cache too.

The plan has the ONNX file's outputs (the parser marks every graph output): ``depth`` and, for
a bin-head export, ``confidence``. The engine binds the confidence buffer only when the metadata
lists it *and* the deserialised engine has an I/O tensor of that name (``num_io_tensors`` /
``get_tensor_name``), so an older plan gives ``None``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from ..errors import CapabilityError, ConfigError, DisdepthError
from .engine_base import LOG, BaseDepthEngine
from .engine_config import DEFAULT_DEPTH_RANGE, ENGINE_DEFAULTS, EngineConfig
from .model_metadata import (
    ONNX_CONFIDENCE,
    ONNX_INPUT,
    ONNX_OUTPUT,
    ModelMetadata,
    check_metadata,
    resolve_checkpoint,
)
from .onnx_export import read_onnx_metadata, reference_input
from .tensorrt_cache import (
    BuildSettings,
    cache_file,
    cache_key,
    discard_cached,
    key_parts,
    read_cached,
    resolve_cache_dir,
    sha256_bytes,
    write_cached,
)


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


def gpu_identity(device: torch.device) -> tuple[str, tuple[int, int]]:
    """(name, compute capability) of a CUDA device: the GPU part of the engine cache key."""
    return torch.cuda.get_device_name(device), tuple(torch.cuda.get_device_capability(device))


def build_engine_cached(onnx_path: str | Path, *, cache_dir: str | Path, device: torch.device, fp16: bool,
                        batch: int, max_batch: int, workspace_gib: float = 4.0) -> tuple[bytes, Path, bool]:
    """(serialized engine, cache file, whether it came from the cache) for an fp32/fp16 build.

    Looks the engine up under :func:`~disdepth_core.runtime.tensorrt_cache.cache_key`; on a miss
    builds it (:func:`build_engine`, on ``device``) and writes it atomically. INT8 builds are not
    cached here (they need calibration images: ``disdepth export --int8``).
    """
    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    meta = read_onnx_metadata(onnx_path)
    settings = BuildSettings(precision="fp16" if fp16 else "fp32", min_batch=1, opt_batch=min(batch, max_batch),
                             max_batch=max_batch, input_size=tuple(meta.input_size), workspace_gib=workspace_gib)
    gpu, cc = gpu_identity(device)
    onnx_hash = sha256_bytes(onnx_path.read_bytes())
    key = cache_key(onnx_hash, trt.__version__, gpu, cc, settings)
    path = cache_file(resolve_cache_dir(str(cache_dir)), key)
    cached = read_cached(path)
    if cached is not None:
        return cached, path, True
    LOG.info("tensorrt engine: building %s (%s, batch 1..%d) for %s; cached as %s", onnx_path.name,
             settings.precision, max_batch, gpu, path)
    with torch.cuda.device(device):
        plan = build_engine(onnx_path, fp16=fp16, batch=settings.opt_batch, max_batch=max_batch,
                            workspace_gib=workspace_gib)
    parts = key_parts(onnx_hash, trt.__version__, gpu, cc, settings) | {"onnx": str(onnx_path)}
    write_cached(path, plan, parts)
    return plan, path, False


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
                 depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE, upsample: str = ENGINE_DEFAULTS.upsample,
                 precision: str = "fp16", max_batch: int | None = None, cache_dir: str | Path = "") -> None:
        """``plan_path``: a ``.plan`` (+ ``<plan>.json``) from ``disdepth export --format tensorrt``, or
        an ``.onnx`` export, built here through the engine cache in ``cache_dir`` ('' = the default)
        with ``precision`` (fp32 | fp16) and batch profile 1..``max_batch`` (default: the export's batch).
        """
        self.trt = import_tensorrt()
        plan_path = Path(plan_path)
        device = torch.device(device)
        if device.type != "cuda":
            raise ConfigError("backend tensorrt runs on a CUDA device only", key="engine.device")
        plan = None
        if plan_path.suffix == ".onnx":
            if precision not in ("fp32", "fp16"):
                raise ConfigError(f"backend tensorrt builds an ONNX file in fp32 or fp16, not {precision}; INT8 "
                                  "needs calibration images: `disdepth export --format tensorrt --int8`",
                                  key="engine.precision")
            meta = dataclasses.replace(read_onnx_metadata(plan_path), precision=precision)
            info = {"max_batch": max(max_batch or 0, meta.batch)}
            onnx_path = plan_path
        else:
            side = Path(str(plan_path) + ".json")
            if not side.is_file():
                raise DisdepthError(f"{plan_path}: missing {side.name} (metadata written by `disdepth export`)")
            info = json.loads(side.read_text())
            meta = ModelMetadata.from_json(info["metadata"], str(side))
            onnx_path = plan_path.parent / info["onnx"] if info.get("onnx") else None
            plan = plan_path.read_bytes()
        super().__init__(device=device, metadata=meta, input_size=meta.input_size, depth_range=depth_range,
                         upsample=upsample)
        self.plan_path = plan_path
        self.cache_dir = cache_dir
        self.cache_path: Path | None = None  # the cache file the running engine came from, if any
        self.max_batch = int(info.get("max_batch", meta.batch))
        self.onnx_path = onnx_path
        self.fp16 = meta.precision in ("fp16", "int8")
        self.int8 = meta.precision == "int8"
        if plan is None:
            self._load_cached(self.max_batch, opt_batch=meta.batch)
            return
        try:
            self._load(plan)
        except DisdepthError:
            if self.int8 or self.onnx_path is None or not self.onnx_path.is_file():
                raise
            LOG.warning("tensorrt engine: %s does not load with TensorRT %s on this GPU; re-building it from %s",
                        plan_path, self.trt.__version__, self.onnx_path)
            self._load_cached(self.max_batch, opt_batch=meta.batch)

    def _load_cached(self, max_batch: int, *, opt_batch: int) -> None:
        """Load the engine for ``self.onnx_path`` from the cache, building (and caching) it on a miss."""
        def get():
            return build_engine_cached(self.onnx_path, cache_dir=self.cache_dir, device=self.device, fp16=self.fp16,
                                       batch=opt_batch, max_batch=max_batch)

        plan, path, hit = get()
        self.plan_path = path
        try:
            self._load(plan)
        except DisdepthError:
            if not hit:
                raise
            LOG.warning("tensorrt engine cache: TensorRT refused %s; discarding it and re-building", path)
            discard_cached(path)
            plan, path, hit = get()
            self._load(plan)
        self.cache_path = path
        LOG.info("tensorrt engine: %s %s (%s, batch 1..%d)", "loaded cached" if hit else "built and cached",
                 path, "fp16" if self.fp16 else "fp32", max_batch)

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
        tmp = None
        source = path
        if path.is_dir():  # a checkpoint: export it; the bytes (hence the cache key) are the same each start
            import tempfile

            from .model_metadata import load_checkpoint_student, metadata_for_student
            from .onnx_export import export_student_onnx

            model = load_checkpoint_student(path)
            size = tuple(cfg.input_size) if cfg.input_size[0] else None
            meta = metadata_for_student(model.config, input_size=size, cameras=list(cfg.cameras))
            tmp = tempfile.TemporaryDirectory(prefix="disdepth_trt_")
            source = export_student_onnx(model, Path(tmp.name) / "student.onnx", meta)
            LOG.info("tensorrt engine: exported %s to %s (input %dx%d)", path, source, *meta.input_size)
        elif path.suffix not in (".plan", ".engine", ".onnx"):
            raise ConfigError(f"backend tensorrt needs a .plan file from `disdepth export --format tensorrt`, an "
                              f".onnx export or a checkpoint directory, got {path}", key="engine.checkpoint")
        engine = cls(source, device=device, depth_range=(cfg.min_depth, cfg.max_depth), upsample=cfg.upsample,
                     precision=cfg.precision, max_batch=len(cfg.cameras) or None, cache_dir=cfg.cache_dir)
        engine._tmpdir = tmp  # keeps the temporary export (needed to re-plan) alive as long as the engine
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
        self._load_cached(batch, opt_batch=batch)
        self.max_batch = batch

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
