"""What an exported model must agree on with the engine that runs it, and where it comes from.

``ModelMetadata`` holds the facts a deployed depth network carries with it: the network input
size, the RGB normalisation, the depth range it was trained for, the camera order, the model
version and a hash of its configuration. It is embedded in an ONNX file's ``metadata_props``
(keys ``disdepth.*``), written as JSON beside a TensorRT plan, and built from a student
checkpoint directory. :func:`check_metadata` compares it with an :class:`EngineConfig` and
raises a one-line :class:`ConfigError` on a mismatch.

The shipped student lives at :data:`DEFAULT_STUDENT_DIR` under the package share directory;
:func:`resolve_checkpoint` is the one place that turns ``engine.checkpoint`` into a path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from .. import __version__
from ..config import to_dict
from ..errors import ConfigError, DisdepthError
from .engine_config import EngineConfig

DEFAULT_STUDENT_DIR = "weights/student_default"  # relative to disdepth_core.paths.share_dir()
METADATA_PREFIX = "disdepth."
ONNX_INPUT = "images"  # (B, 3, h, w) float32, normalised RGB, NCHW
ONNX_OUTPUT = "depth"  # (B, h, w) float32 metres
ONNX_CONFIDENCE = "confidence"  # (B, h, w) float32 in [0, 1]; only where metadata.outputs lists it


@dataclasses.dataclass
class ModelMetadata:
    """Facts an exported depth network carries (all JSON-serialisable)."""

    input_size: tuple[int, int]  # (h, w) pixels the network runs at
    mean: tuple[float, float, float]  # RGB, for [0, 1] images
    std: tuple[float, float, float]
    depth_range: tuple[float, float]  # metres the model predicts (d_min, d_max)
    cameras: list[str]  # camera order of the batch it was exported for ([] = any)
    batch: int  # batch size it was exported/verified with (the ONNX batch axis is dynamic)
    model_version: str  # disdepth package version that exported it
    config_hash: str  # sha256 (16 hex) of the canonical JSON of the model config
    model_config: dict  # the student ModelConfig as a plain dict
    layout: str = "NCHW float32 normalised RGB -> (B, h, w) float32 metres"
    precision: str = "fp32"
    # graph outputs in order; exports from before issue 14 have no entry and load as depth only
    outputs: list[str] = dataclasses.field(default_factory=lambda: [ONNX_OUTPUT])

    @property
    def has_confidence(self) -> bool:
        """Whether the exported graph has the ``confidence`` output."""
        return ONNX_CONFIDENCE in self.outputs

    def to_props(self) -> dict[str, str]:
        """``{disdepth.<field>: json}`` for ONNX ``metadata_props``."""
        return {METADATA_PREFIX + k: json.dumps(v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> ModelMetadata:
        data = {k[len(METADATA_PREFIX):]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}
        try:
            values = {f.name: json.loads(data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
            meta = cls(**values)
        except (TypeError, ValueError, KeyError) as exc:
            raise DisdepthError(
                f"{source}: no usable disdepth metadata ({exc}); export it with `disdepth export`"
            ) from None
        meta.input_size = tuple(meta.input_size)
        meta.mean, meta.std = tuple(meta.mean), tuple(meta.std)
        meta.depth_range = tuple(meta.depth_range)
        if not isinstance(meta.outputs, list) or ONNX_OUTPUT not in meta.outputs or \
                not set(meta.outputs) <= {ONNX_OUTPUT, ONNX_CONFIDENCE}:
            raise DisdepthError(f"{source}: metadata 'outputs' {meta.outputs!r} must list {ONNX_OUTPUT!r} and may "
                                f"add {ONNX_CONFIDENCE!r}")
        return meta

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict, source: str) -> ModelMetadata:
        return cls.from_props({METADATA_PREFIX + k: json.dumps(v) for k, v in data.items()}, source)


def config_hash(model_config) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of a model config dataclass."""
    text = json.dumps(to_dict(model_config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def metadata_for_student(model_config, *, input_size: tuple[int, int] | None = None, cameras: list[str] | None = None,
                         batch: int = 6, precision: str = "fp32") -> ModelMetadata:
    """Metadata of a student built from ``model_config`` (a ``ModelConfig``); a bin head adds the
    ``confidence`` output."""
    return ModelMetadata(
        input_size=tuple(input_size or model_config.input_size),
        mean=tuple(float(v) for v in model_config.mean),
        std=tuple(float(v) for v in model_config.std),
        depth_range=(float(model_config.d_min), float(model_config.d_max)),
        cameras=list(cameras or []),
        batch=int(batch),
        model_version=__version__,
        config_hash=config_hash(model_config),
        model_config=to_dict(model_config),
        precision=precision,
        outputs=[ONNX_OUTPUT, ONNX_CONFIDENCE] if model_config.head == "bins" else [ONNX_OUTPUT],
    )


def default_checkpoint() -> Path:
    """The shipped student directory (it may not exist in a fresh checkout)."""
    from ..paths import share_dir

    try:
        return share_dir() / DEFAULT_STUDENT_DIR
    except DisdepthError:
        return Path(DEFAULT_STUDENT_DIR)


def resolve_checkpoint(checkpoint: str) -> Path:
    """``engine.checkpoint`` -> an existing path; empty means the shipped student."""
    if not checkpoint:
        p = default_checkpoint()
        if not p.exists():
            raise DisdepthError(
                f"no engine.checkpoint given and the shipped student {DEFAULT_STUDENT_DIR}/ is missing "
                f"(looked at {p}); train one (distillation) or set engine.checkpoint to a checkpoint directory"
            )
        return p
    p = Path(checkpoint).expanduser()
    if not p.exists():
        raise DisdepthError(f"engine.checkpoint not found: {p}")
    return p


def check_metadata(meta: ModelMetadata, cfg: EngineConfig, source: str) -> None:
    """Raise a one-line ConfigError when ``cfg`` contradicts the model's metadata.

    Checked: ``engine.input_size`` (when set) equals the exported input size; ``engine.cameras``
    (when set, and the model names cameras) equals the exported camera order;
    ``engine.min_depth < d_max`` of the model (else every pixel would be out of range).
    """
    if cfg.input_size[0] and tuple(cfg.input_size) != tuple(meta.input_size):
        raise ConfigError(
            f"{list(cfg.input_size)} does not match the input size {list(meta.input_size)} of {source}",
            key="engine.input_size",
        )
    if cfg.cameras and meta.cameras and list(cfg.cameras) != list(meta.cameras):
        raise ConfigError(
            f"camera order {list(cfg.cameras)} does not match {list(meta.cameras)} of {source}", key="engine.cameras"
        )
    if cfg.min_depth >= meta.depth_range[1]:
        raise ConfigError(
            f"{cfg.min_depth} m is not below the model's largest depth {meta.depth_range[1]} m ({source})",
            key="engine.min_depth",
        )


def load_checkpoint_student(path: str | Path):
    """The student (``DepthStudent``, float32, eval mode, on the CPU) in checkpoint directory ``path``.

    A checkpoint is what ``disdepth_core.models.save_student`` writes (safetensors + config.yaml).
    """
    from ..models.checkpoint import load_student

    p = Path(path)
    if not p.is_dir():
        raise DisdepthError(f"{p}: a student checkpoint is a directory (safetensors + config.yaml)")
    return load_student(p).float().eval()
