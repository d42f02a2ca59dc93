"""``EngineConfig``: which depth engine to build and how (typed, validated, one place).

The same dataclass is the ``engine.*`` section of the node parameters and of any YAML that
builds an engine; :func:`disdepth_core.runtime.factory.create_engine` turns it into a
:class:`~disdepth_core.runtime.engine_api.DepthEngine`.
"""

from __future__ import annotations

import dataclasses

from ..config import ConfigError, cfg_field
from ..sim.oracle_opt_in import ORACLE_BACKEND

BACKENDS = ("torch", "onnxruntime", "tensorrt")  # the oracle (disdepth_core.sim) is accepted, not offered
PRECISIONS = ("fp32", "fp16", "bf16")
UPSAMPLE_MODES = ("bilinear", "nearest")


@dataclasses.dataclass
class EngineConfig:
    """A depth engine: backend, weights, device, numeric precision, network size and depth range."""

    backend: str = cfg_field("torch", help="inference backend: " + " | ".join(BACKENDS))
    checkpoint: str = cfg_field("", help="student checkpoint directory or exported model file")
    device: str = cfg_field("auto", help="'auto' (cuda if available), 'cpu', 'cuda', 'cuda:N'")
    precision: str = cfg_field("fp32", choices=PRECISIONS, help="numeric precision of the network")
    input_size: tuple[int, int] = cfg_field(
        (0, 0), min=0, help="network input (H, W) in pixels; [0, 0] = the checkpoint's own size"
    )
    min_depth: float = cfg_field(0.5, gt=0, help="smallest depth the engine reports, metres")
    max_depth: float = cfg_field(80.0, gt=0, help="largest depth; beyond it depth is +Inf (REP 117), metres")
    compile: bool = cfg_field(
        False, help="backend torch: torch.compile the network (CUDA: mode 'reduce-overhead', i.e. CUDA graphs)"
    )
    upsample: str = cfg_field(
        "bilinear", choices=UPSAMPLE_MODES, help="depth resize to the output size: bilinear or nearest (no blending)"
    )
    cameras: list[str] = cfg_field(
        default_factory=list, help="camera order of the batch; checked against an exported model's order ([] = no check)"
    )
    ort_providers: list[str] = cfg_field(
        default_factory=list,
        help="backend onnxruntime: execution providers in order ([] = TensorRT, CUDA, CPU as available)",
    )
    cache_dir: str = cfg_field(
        "", help="backend tensorrt: directory of built engines ('' = $XDG_CACHE_HOME/disdepth/tensorrt or "
                 "~/.cache/disdepth/tensorrt)",
    )
    gt_frames: str = cfg_field("", help="tests only (the opt-in oracle of disdepth_core.sim): frames .npz with the "
                                        "true depth")

    def validate(self) -> None:
        if self.backend not in BACKENDS and self.backend != ORACLE_BACKEND:  # the oracle: create_engine's opt-in
            raise ConfigError(f"expected one of {', '.join(repr(b) for b in BACKENDS)}, got {self.backend!r}",
                              key="backend")
        if not self.min_depth < self.max_depth:
            raise ConfigError(f"min_depth ({self.min_depth}) must be < max_depth ({self.max_depth})", key="min_depth")
        h, w = self.input_size
        if (h == 0) != (w == 0):
            raise ConfigError(f"give both sides or [0, 0], got {list(self.input_size)}", key="input_size")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}", key="device")


# The engine classes' keyword defaults read these, so each default is written once (above).
ENGINE_DEFAULTS = EngineConfig()
DEFAULT_DEPTH_RANGE = (ENGINE_DEFAULTS.min_depth, ENGINE_DEFAULTS.max_depth)
