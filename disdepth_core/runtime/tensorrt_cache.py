"""The on-disk cache of built TensorRT engines: key, file names, atomic write (pure, no TensorRT).

Building an engine from ONNX takes tens of seconds to minutes; loading a serialized one
takes well under a second. A serialized engine is only valid for the TensorRT version and
the GPU (model, compute capability) that built it, and it bakes in the build settings, so
the cache key is the sha256 of the canonical JSON of

* the sha256 of the ONNX file's bytes (weights, graph and embedded metadata),
* ``tensorrt.__version__``,
* the GPU name and compute capability (``torch.cuda.get_device_name/_capability``),
* the :class:`BuildSettings` (precision, batch profile min/opt/max, input size, workspace,
  the calibration data's sha256 for INT8), and :data:`CACHE_FORMAT`.

Files: ``<cache_dir>/<key>.plan`` (the serialized engine) and ``<key>.json`` (the key's parts,
for a person looking into the directory). Writes go to a temporary file in the same directory
and are renamed into place (``os.replace``: atomic on POSIX), so a reader never sees half an
engine and two processes building the same key at once both end with a whole file.

Directory (``engine.cache_dir``): the configured path, else ``$XDG_CACHE_HOME/disdepth/tensorrt``,
else ``~/.cache/disdepth/tensorrt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, DisdepthError

CACHE_FORMAT = 1  # bump when what a cached file holds changes
PRECISIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """Everything besides the model, TensorRT and the GPU that changes the engine TensorRT builds."""

    precision: str  # 'fp32' | 'fp16' | 'int8' (INT8 also enables FP16 kernels)
    min_batch: int
    opt_batch: int
    max_batch: int
    input_size: tuple[int, int]  # (h, w) of the network input
    workspace_gib: float = 4.0
    calibration_sha256: str = ""  # INT8: hash of the calibration batches ('' otherwise)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"expected one of {', '.join(PRECISIONS)}, got {self.precision!r}", key="precision")
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ConfigError(f"need 1 <= min <= opt <= max, got {self.min_batch}, {self.opt_batch}, "
                              f"{self.max_batch}", key="batch")
        if self.precision == "int8" and not self.calibration_sha256:
            raise ConfigError("an INT8 build needs the calibration data's hash", key="calibration_sha256")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/disdepth/tensorrt``, else ``~/.cache/disdepth/tensorrt``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "disdepth" / "tensorrt"


def resolve_cache_dir(configured: str, env: Mapping[str, str] | None = None) -> Path:
    """``engine.cache_dir`` -> directory ('' = :func:`default_cache_dir`; ``~`` expanded)."""
    return Path(configured).expanduser() if configured else default_cache_dir(env)


def key_parts(onnx_sha256: str, trt_version: str, gpu_name: str, compute_capability: tuple[int, int],
              settings: BuildSettings) -> dict:
    """The parts the key is made of (also written beside the cached engine)."""
    return {
        "format": CACHE_FORMAT,
        "onnx_sha256": onnx_sha256,
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "compute_capability": [int(v) for v in compute_capability],
        "settings": dataclasses.asdict(settings) | {"input_size": [int(v) for v in settings.input_size]},
    }


def cache_key(onnx_sha256: str, trt_version: str, gpu_name: str, compute_capability: tuple[int, int],
              settings: BuildSettings) -> str:
    """sha256 (64 hex digits) of the canonical JSON of :func:`key_parts`."""
    parts = key_parts(onnx_sha256, trt_version, gpu_name, compute_capability, settings)
    return sha256_bytes(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode())


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """``<cache_dir>/<key>.plan``."""
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise DisdepthError(f"not a TensorRT cache key (64 hex digits): {key!r}")
    return Path(cache_dir) / f"{key}.plan"


def read_cached(path: str | Path) -> bytes | None:
    """The cached engine bytes, or None when there is none (absent or empty file)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DisdepthError(f"TensorRT engine cache: cannot read {path}: {exc.strerror or exc}") from None
    return data or None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_cached(path: str | Path, data: bytes, parts: dict | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename), ``parts`` to ``<key>.json``."""
    p = Path(path)
    if not data:
        raise DisdepthError(f"TensorRT engine cache: refusing to cache an empty engine at {p}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if parts is not None:
            _atomic_write(p.with_suffix(".json"), (json.dumps(parts, indent=2, sort_keys=True) + "\n").encode())
        _atomic_write(p, data)
    except OSError as exc:
        raise DisdepthError(f"TensorRT engine cache: cannot write {p} ({exc.strerror or exc}); "
                            "set engine.cache_dir to a writable directory") from None
    return p


def discard_cached(path: str | Path) -> None:
    """Remove a cached engine that TensorRT refused to load (and its description)."""
    p = Path(path)
    p.unlink(missing_ok=True)
    p.with_suffix(".json").unlink(missing_ok=True)
