"""Startup self-check: the deployed engine against the PyTorch student on the built-in image set.

The deployed engine (onnxruntime, TensorRT) and the same student in eager PyTorch (fp32, on
the CPU, the :class:`~disdepth_core.runtime.torch_engine.TorchEngine`) run the images of
:mod:`~disdepth_core.runtime.self_check_images` through the same ``engine.infer`` path --
the same pre-processing (resize, normalisation), the same post-processing (REP 117 special
values) -- at the deployed network's input size; their depth maps are compared pixel by pixel.

Metric: the *relative depth error* ``|d - d_ref| / d_ref`` per pixel, with -Inf/+Inf (closer
than ``min_depth`` / beyond ``max_depth``) clamped to the range ends first (a pixel at 79.99
vs 80.01 m is a tiny error, not an infinite one) and a pixel valid in one and NaN in the other
counted as 1.0 (100 %). Per image the median and the 99th percentile are taken; the check
**gates on the worst image's 99th percentile** (the median is reported beside it).

Why that number: depth is metric and errors grow with distance, so a relative error is the
unit a user reasons in; a percentile rather than the maximum because fp16/INT8 kernels may
move a handful of ambiguous pixels (bin-softmax ties, depth edges) without the engine being
wrong; the 99th rather than the median because a real fault (a corrupted weight, a wrong
normalisation or channel order, a broken kernel) moves far more than 1 % of the pixels; the
worst image rather than the mean so one bad scene is not averaged away. Default tolerance
:data:`DEFAULT_TOLERANCE` = 0.02 (2 %). Measured on the shipped student (docs/runtime.md): fp32
onnxruntime vs PyTorch 3e-6 (four orders of margin); fp16 autocast (every convolution in fp16,
a stand-in for a TensorRT fp16 engine, which is unmeasured here) 5e-3, four times below;
feeding BGR instead of RGB 1.1 and a corrupted initializer far above. bf16 (8-bit mantissa)
measures 0.11 on one sky-heavy image and would fail, so an INT8 plan, with as coarse numbers,
needs a larger ``engine.self_check_tolerance``.

The torch backend *is* the reference: nothing to compare (status ``skipped``). An exported
file (``.onnx``, ``.plan``) is checked against the checkpoint its ``<file>.export.json``
names (written by ``disdepth export``, with the weights' sha256); when that checkpoint is
not on this machine the check cannot run and says so in one line (status ``skipped``, a
warning, not a failure: deploying only the exported file is a legitimate setup).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..sim.oracle_opt_in import ORACLE_BACKEND
from .engine_config import EngineConfig

DEFAULT_TOLERANCE = 0.02  # worst image's 99th-percentile relative depth error
PERCENTILE = 99.0
NO_REFERENCE = ("torch",)  # the reference itself
NOT_A_NETWORK = (ORACLE_BACKEND,)  # the test-only oracle of disdepth_core.sim: true depth, no network


@dataclasses.dataclass
class SelfCheckResult:
    """What the self-check found. Errors are relative (fraction of the reference depth)."""

    status: str  # 'passed' | 'failed' | 'skipped'
    backend: str  # 'onnxruntime', 'tensorrt', ...
    version: str  # the backend library's __version__
    detail: str = ""  # execution provider / precision / GPU of the deployed engine
    reason: str = ""  # why it was skipped
    images: int = 0
    median_rel_error: float = float("nan")  # max over images of the per-image median
    p99_rel_error: float = float("nan")  # max over images of the per-image 99th percentile (the gate)
    max_rel_error: float = float("nan")  # largest single pixel (information only)
    worst_image: int = -1
    tolerance: float = DEFAULT_TOLERANCE
    seconds: float = 0.0  # wall time of the whole check (reference load + both runs)
    reference: str = ""  # the checkpoint compared against

    @property
    def level(self) -> str:
        """How to log :meth:`line`: 'error' (failed), 'warning' (could not run: no weights), else 'info'."""
        if self.status == "failed":
            return "error"
        return "warning" if self.status == "skipped" and self.backend not in NO_REFERENCE + NOT_A_NETWORK else "info"

    @property
    def passed(self) -> bool:
        """False only when the check ran and was above tolerance (a skipped check does not fail)."""
        return self.status != "failed"

    def line(self) -> str:
        """One line for a log or an error message: verdict, backend + version, the numbers."""
        head = f"self-check {self.status}: {self.backend} {self.version}"
        if self.status == "skipped":
            return f"{head}: {self.reason}"
        op = ">" if self.status == "failed" else "<="
        return (f"{head}: p{PERCENTILE:g} relative depth error {self.p99_rel_error:.2g} {op} tolerance "
                f"{self.tolerance:g} on {self.images} built-in images (worst image {self.worst_image}; median "
                f"{self.median_rel_error:.2g}, max {self.max_rel_error:.2g}; {self.detail} vs PyTorch fp32 "
                f"{self.reference}; {self.seconds:.2f} s)")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def relative_depth_errors(depth: np.ndarray, reference: np.ndarray,
                          depth_range: tuple[float, float]) -> np.ndarray:
    """Per-pixel relative error of ``depth`` vs ``reference`` (both (N, h, w) metres, REP 117 values).

    -Inf -> ``depth_range[0]``, +Inf -> ``depth_range[1]`` before comparing; NaN in both -> 0,
    NaN in exactly one -> 1.0.
    """
    if depth.shape != reference.shape:
        raise DisdepthError(f"self-check: engine depth {depth.shape} and reference {reference.shape} differ in shape")
    lo, hi = float(depth_range[0]), float(depth_range[1])

    def clamp(d):
        d = np.asarray(d, np.float64)
        return np.where(np.isposinf(d), hi, np.where(np.isneginf(d), lo, d))

    a, b = clamp(depth), clamp(reference)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    rel = np.abs(a - b) / np.maximum(np.abs(np.nan_to_num(b, nan=1.0)), lo)
    rel = np.where(nan_a | nan_b, 1.0, rel)
    return np.where(nan_a & nan_b, 0.0, rel)


def summarize_errors(rel: np.ndarray) -> tuple[float, float, float, int]:
    """(max over images of the median, max over images of the p99, max pixel, index of the worst-p99 image)."""
    flat = rel.reshape(len(rel), -1)
    med = np.median(flat, axis=1)
    p99 = np.percentile(flat, PERCENTILE, axis=1)
    worst = int(np.argmax(p99))
    return float(med.max()), float(p99[worst]), float(flat.max()), worst


def backend_version(engine) -> tuple[str, str]:
    """(library version, detail) of a deployed engine: onnxruntime/TensorRT ``__version__`` and what runs."""
    backend = getattr(engine, "backend", type(engine).__name__)
    if backend == "onnxruntime":
        import onnxruntime

        providers = getattr(engine, "providers", None) or ["?"]
        return onnxruntime.__version__, f"{providers[0]} {getattr(engine, 'precision', 'fp32')}"
    if backend == "tensorrt":
        trt = engine.trt
        prec = "int8" if engine.int8 else "fp16" if engine.fp16 else "fp32"
        return trt.__version__, f"{prec} on {torch.cuda.get_device_name(engine.device)}"
    if backend == "torch":
        return torch.__version__, f"{getattr(engine, 'precision', 'fp32')} on {engine.device}"
    return "(no version)", str(getattr(engine, "device", ""))


def weights_sha256(checkpoint: str | Path) -> str:
    """sha256 of a checkpoint directory's ``model.safetensors`` (what the export report records)."""
    from ..models.checkpoint import WEIGHTS_FILE

    p = Path(checkpoint) / WEIGHTS_FILE
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_reference(model_path: Path, config_hash: str) -> tuple[Path | None, str]:
    """The PyTorch checkpoint of an exported file, from ``<file>.export.json``; (None, why) if unusable."""
    report = Path(str(model_path) + ".export.json")
    if not report.is_file():
        return None, f"no PyTorch weights for {model_path} ({report.name} is missing; export with `disdepth export`)"
    try:
        info = json.loads(report.read_text())
        ckpt = Path(info["checkpoint"])
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"no PyTorch weights for {model_path} ({report.name} is unreadable: {type(exc).__name__})"
    from ..models.checkpoint import WEIGHTS_FILE

    if not (ckpt / WEIGHTS_FILE).is_file():
        return None, f"no PyTorch weights for {model_path} ({report.name} names {ckpt}, which is not on this machine)"
    from .model_metadata import config_hash as hash_of
    from .model_metadata import load_checkpoint_student

    if hash_of(load_checkpoint_student(ckpt).config) != config_hash:
        return None, f"no PyTorch weights for {model_path} ({ckpt} now holds another model configuration)"
    recorded = info.get("weights_sha256")
    if recorded and recorded != weights_sha256(ckpt):
        return None, f"no PyTorch weights for {model_path} ({ckpt} holds other weights than were exported)"
    return ckpt, ""


def _reference_checkpoint(engine, cfg: EngineConfig) -> tuple[Path | None, str]:
    from .model_metadata import resolve_checkpoint

    path = resolve_checkpoint(cfg.checkpoint)
    if path.is_dir():
        return path, ""
    return find_reference(path, engine.metadata.config_hash)


def _run(engine, images: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    step = min(len(images), int(getattr(engine, "max_batch", len(images)) or len(images)))
    parts = [engine.infer(images[i:i + step], output_size=out_hw).depth.detach().cpu().numpy()
             for i in range(0, len(images), step)]
    return np.concatenate(parts)


def run_self_check(engine, cfg: EngineConfig, *, tolerance: float = DEFAULT_TOLERANCE,
                   reference: str | Path | torch.nn.Module | None = None,
                   images: np.ndarray | None = None) -> SelfCheckResult:
    """Compare ``engine`` (made by ``create_engine(cfg)``) with the PyTorch student; see the module docstring.

    ``reference``: the student checkpoint directory or module to compare with (default: found
    from ``cfg.checkpoint``). ``images``: (N, H, W, 3) uint8 (default: the built-in set).
    Never raises for a failed comparison -- the caller decides (the node refuses to start).
    """
    if not tolerance > 0:
        raise DisdepthError(f"self-check tolerance must be > 0, got {tolerance}")
    t0 = time.perf_counter()
    backend = getattr(engine, "backend", None)
    if not isinstance(backend, str):  # the skip rules below go by this name
        raise DisdepthError(f"self-check: engine {type(engine).__name__} has no 'backend' name")
    version, detail = backend_version(engine)
    result = SelfCheckResult(status="skipped", backend=backend, version=version, detail=detail, tolerance=tolerance)
    if backend in NO_REFERENCE:
        result.reason = "the deployed engine is the PyTorch reference itself; nothing to compare"
        return result
    if backend in NOT_A_NETWORK:
        result.reason = f"backend {backend} is a test-only stand-in without a network; nothing to compare"
        return result
    from .model_metadata import load_checkpoint_student
    from .self_check_images import load_self_check_images
    from .torch_engine import TorchEngine

    if reference is None:
        reference, why = _reference_checkpoint(engine, cfg)
        if reference is None:
            result.reason = f"{why}; the check did not run"
            return result
    if isinstance(reference, torch.nn.Module):
        model, result.reference = reference, type(reference).__name__
    else:
        model, result.reference = load_checkpoint_student(reference), str(reference)
    images = load_self_check_images() if images is None else images
    ref_engine = TorchEngine(model, device="cpu", precision="fp32", input_size=engine.input_size,
                             depth_range=engine.depth_range, upsample=engine.upsample)
    out_hw = tuple(engine.input_size)
    plan, replans = engine.plan, engine.replans
    try:
        got = _run(engine, images, out_hw)
    finally:  # the check's batch is not a stream change: the first real set plans afresh, unlogged
        engine.plan, engine.replans = plan, replans
    ref = _run(ref_engine, images, out_hw)
    med, p99, mx, worst = summarize_errors(relative_depth_errors(got, ref, engine.depth_range))
    result.images, result.worst_image = len(images), worst
    result.median_rel_error, result.p99_rel_error, result.max_rel_error = med, p99, mx
    result.status = "passed" if p99 <= tolerance else "failed"
    result.seconds = time.perf_counter() - t0
    return result


def require_self_check(result: SelfCheckResult) -> SelfCheckResult:
    """Raise a one-line DisdepthError when ``result`` failed; else return it."""
    if not result.passed:
        raise DisdepthError(result.line())
    return result
