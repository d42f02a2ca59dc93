"""Export a student to ONNX with embedded metadata, and check the export against PyTorch.

The ONNX graph: input ``images`` (B, 3, h, w) float32 normalised RGB, output ``depth``
(B, h, w) float32 metres and, for a bin-head student, a second output ``confidence`` (B, h, w)
float32 in [0, 1] (:mod:`disdepth_core.models.confidence`; listed in the metadata's ``outputs``,
so a file exported without it loads as depth only); the batch axis is dynamic, the spatial size
is fixed (the metadata's ``input_size``). Exported with the TorchScript exporter (``dynamo=False``,
opset 17), which needs no onnxscript and gives one plain graph. :class:`ModelMetadata`
lands in ``metadata_props`` under ``disdepth.*`` keys.

:func:`verify_onnx` runs the same pre-processed batch through onnxruntime (CPU) and the
PyTorch module and reports the max absolute and relative error of the depth (and the max
absolute error of the confidence); a :class:`ParityReport`
that is above tolerance makes :func:`check_parity` raise.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import CapabilityError, DisdepthError
from .model_metadata import ONNX_CONFIDENCE, ONNX_INPUT, ONNX_OUTPUT, ModelMetadata
from .processing import preprocess_images

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise CapabilityError("the 'onnx' package is not installed (pip install disdepth_ros[onnx])") from None
    return onnx


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise CapabilityError("onnxruntime is not installed (pip install disdepth_ros[onnx])") from None
    return onnxruntime


def export_student_onnx(model: torch.nn.Module, path: str | Path, metadata: ModelMetadata, *,
                        batch: int | None = None) -> Path:
    """Write ``model`` (a ``DepthStudent``) to ``path`` as ONNX at ``metadata.input_size``, with the
    outputs ``metadata.outputs`` names (``confidence`` needs a bin head)."""
    onnx = _onnx()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = metadata.input_size
    model = network_for(model.float().eval().cpu(), metadata)
    dummy = torch.zeros(batch or metadata.batch, 3, h, w)
    names = list(metadata.outputs)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(
            model, (dummy,), str(out), dynamo=False, opset_version=OPSET,
            input_names=[ONNX_INPUT], output_names=names,
            dynamic_axes={ONNX_INPUT: {0: "batch"}, **{n: {0: "batch"} for n in names}},
        )
    proto = onnx.load(str(out))
    write_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def network_for(model: torch.nn.Module, metadata: ModelMetadata) -> torch.nn.Module:
    """The module whose outputs are ``metadata.outputs``: the student, or depth + confidence."""
    if not metadata.has_confidence:
        return model
    from ..models.confidence import DepthWithConfidence, has_confidence

    if not has_confidence(model):
        raise DisdepthError(f"metadata lists a {ONNX_CONFIDENCE!r} output but the model has no bin head "
                            f"({type(model.head).__name__})")
    return DepthWithConfidence(model)


def write_metadata(proto, metadata: ModelMetadata) -> None:
    """Replace the ``disdepth.*`` entries of an ONNX ModelProto's ``metadata_props``."""
    from .model_metadata import METADATA_PREFIX

    keep = [(p.key, p.value) for p in proto.metadata_props if not p.key.startswith(METADATA_PREFIX)]
    del proto.metadata_props[:]
    for k, v in [*keep, *metadata.to_props().items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def read_onnx_metadata(path: str | Path) -> ModelMetadata:
    """The :class:`ModelMetadata` embedded in an ONNX file (one-line error if absent)."""
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise DisdepthError(f"ONNX file not found: {p}")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise DisdepthError(f"{p}: not a readable ONNX file ({type(exc).__name__})") from None
    return ModelMetadata.from_props({e.key: e.value for e in proto.metadata_props}, str(p))


def sample_images(batch: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Deterministic ``(batch, H, W, 3)`` uint8 test images: smooth gradients, blobs and noise."""
    rng = np.random.default_rng(seed)
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.empty((batch, H, W, 3), np.uint8)
    for i in range(batch):
        img = np.zeros((H, W, 3), np.float32)
        for c in range(3):
            fx, fy, ph = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
            img[..., c] = 127 + 90 * np.sin(2 * np.pi * (fx * xx / W + fy * yy / H) + ph)
        img += rng.normal(0, 12, size=img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


@dataclasses.dataclass
class ParityReport:
    """Export check: exported model vs the PyTorch module on the same batch (errors in metres)."""

    runtime: str  # what ran the exported model (e.g. 'onnxruntime CPUExecutionProvider')
    batch: int
    input_size: tuple[int, int]
    max_abs_error: float
    max_rel_error: float  # max |a - b| / max(|b|, 1e-6)
    atol: float
    rtol: float
    passed: bool  # every pixel within atol + rtol * |reference| (and the confidence within its atol)
    confidence_max_abs_error: float | None = None  # None: the model has no confidence output
    confidence_atol: float | None = None

    def line(self) -> str:
        verdict = "OK" if self.passed else "FAILED"
        conf = ("" if self.confidence_max_abs_error is None else
                f"; confidence max abs error {self.confidence_max_abs_error:.3g} (tolerance {self.confidence_atol:g})")
        return (f"parity {verdict}: {self.runtime} vs PyTorch on a {self.batch}x{self.input_size[0]}x"
                f"{self.input_size[1]} batch: max abs error {self.max_abs_error:.3g} m, max rel error "
                f"{self.max_rel_error:.3g} (tolerance {self.atol:g} m + {self.rtol:g} x depth){conf}")


def compare(out: np.ndarray, ref: np.ndarray, *, runtime: str, atol: float, rtol: float,
            conf_out: np.ndarray | None = None, conf_ref: np.ndarray | None = None,
            conf_atol: float = 1e-3) -> ParityReport:
    """Element-wise comparison of exported output ``out`` with ``ref`` (both (B, h, w) metres), and of
    the confidences ``conf_out``/``conf_ref`` ((B, h, w) in [0, 1]) when given."""
    if out.shape != ref.shape:
        raise DisdepthError(f"{runtime}: output shape {out.shape} differs from PyTorch's {ref.shape}")
    out = out.astype(np.float64)
    ref = ref.astype(np.float64)
    diff = np.abs(out - ref)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    rel = diff / np.maximum(np.abs(ref), 1e-6)
    passed = bool(np.all(diff <= atol + rtol * np.abs(ref)))
    conf_err = None
    if conf_ref is not None:
        if conf_out is None or conf_out.shape != conf_ref.shape:
            raise DisdepthError(f"{runtime}: confidence output {None if conf_out is None else conf_out.shape} "
                                f"differs from PyTorch's {conf_ref.shape}")
        cd = np.abs(conf_out.astype(np.float64) - conf_ref.astype(np.float64))
        conf_err = float(np.where(np.isfinite(cd), cd, np.inf).max())
        passed = passed and conf_err <= conf_atol
    return ParityReport(runtime=runtime, batch=int(ref.shape[0]), input_size=tuple(ref.shape[1:]),
                        max_abs_error=float(diff.max()), max_rel_error=float(rel.max()), atol=atol, rtol=rtol,
                        passed=passed, confidence_max_abs_error=conf_err,
                        confidence_atol=conf_atol if conf_err is not None else None)


def reference_input(metadata: ModelMetadata, images: np.ndarray) -> torch.Tensor:
    """Pre-process ``images`` exactly as the engines do -> (B, 3, h, w) float32 on the CPU."""
    mean = torch.tensor(metadata.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(metadata.std, dtype=torch.float32).view(1, 3, 1, 1)
    return preprocess_images(torch.from_numpy(images), metadata.input_size, mean, std, channels_last=False)


def reference_outputs(model: torch.nn.Module, metadata: ModelMetadata, x: torch.Tensor):
    """PyTorch's ``(depth, confidence or None)`` as numpy for the pre-processed batch ``x``."""
    with torch.no_grad():
        out = network_for(model.float().eval().cpu(), metadata)(x)
    if metadata.has_confidence:
        return out[0].numpy(), out[1].numpy()
    return out.numpy(), None


def verify_onnx(path: str | Path, model: torch.nn.Module, images: np.ndarray, *, atol: float = 1e-3,
                rtol: float = 1e-4, conf_atol: float = 1e-3) -> ParityReport:
    """Run ``images`` (B, H, W, 3) uint8 through the ONNX file (onnxruntime CPU) and ``model``; compare
    the depth and, when the file has one, the confidence."""
    ort = _ort()
    meta = read_onnx_metadata(path)
    x = reference_input(meta, images)
    ref, conf_ref = reference_outputs(model, meta, x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = sess.run(list(meta.outputs), {ONNX_INPUT: x.numpy()})
    conf = outs[meta.outputs.index(ONNX_CONFIDENCE)] if meta.has_confidence else None
    return compare(outs[meta.outputs.index(ONNX_OUTPUT)], ref, runtime="onnxruntime CPUExecutionProvider", atol=atol,
                   rtol=rtol, conf_out=conf, conf_ref=conf_ref, conf_atol=conf_atol)


def write_report(path: str | Path, metadata: ModelMetadata, reports: list[ParityReport], **extra) -> Path:
    """``<path>.export.json``: metadata + parity reports, beside the exported file."""
    p = Path(str(path) + ".export.json")
    data = {"file": Path(path).name, "metadata": metadata.to_json(),
            "parity": [dataclasses.asdict(r) for r in reports], **extra}
    p.write_text(json.dumps(data, indent=2) + "\n")
    return p


def check_parity(reports: list[ParityReport]) -> None:
    """Raise a one-line DisdepthError naming the first report above tolerance."""
    for r in reports:
        if not r.passed:
            raise DisdepthError(r.line())
