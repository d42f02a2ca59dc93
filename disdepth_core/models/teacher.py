"""Transformer teachers: Hugging Face depth models from a LOCAL directory, and builders of the
same architectures from config (METHOD.md §2).

``load_teacher(path)`` -> :class:`DepthTeacher`, whose ``forward(x)`` takes the student's input
(B, 3, H, W) ImageNet-normalised RGB, resizes it to ``patch * ceil(H / grid_stride)`` and returns::

    output         (B, H, W)  relative disparity or metric depth (see ``output_kind``)
    features       [(B, F, ceil(H/s), ceil(W/s))] for s = feature_strides (4, 8, 16, 32 with
                   the default grid_stride 16): the neck's per-level maps after reassembly
    fused          the neck's fusion outputs, finest first (strides 2, 4, 8, 16)
    hidden_states  the ViT layers fed to the neck as (B, C, H/g, W/g) maps (stride g)

Nothing is ever downloaded: ``local_files_only=True`` and ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CapabilityError, DisdepthError
from .teacher_config import TeacherArchConfig, TeacherConfig, teacher_preset

_DEFAULTS = TeacherConfig()  # the keyword defaults below are TeacherConfig's, written once there

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUPPORTED_MODEL_TYPES = ("depth_anything", "dpt")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def _transformers():
    try:
        import transformers
    except Exception as exc:  # noqa: BLE001 - a broken torchvision makes transformers fail in odd ways
        raise CapabilityError(f"transformers is not usable here ({type(exc).__name__}: {exc}); "
                              "install the 'teacher' extra") from None
    return transformers


def build_teacher_model(arch: TeacherArchConfig | str, *, seed: int = 0):
    """A randomly initialised ``DepthAnythingForDepthEstimation`` of architecture ``arch`` (or preset name)."""
    tf = _transformers()
    if isinstance(arch, str):
        arch = teacher_preset(arch)
    arch.validate()
    backbone = tf.Dinov2Config(
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        mlp_ratio=arch.mlp_ratio,
        patch_size=arch.patch_size,
        image_size=arch.image_size,
        out_indices=list(arch.out_indices),
        reshape_hidden_states=False,
        layerscale_value=1.0,
    )
    config = tf.DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=arch.patch_size,
        reassemble_hidden_size=arch.hidden_size,
        neck_hidden_sizes=list(arch.neck_hidden_sizes),
        fusion_hidden_size=arch.fusion_hidden_size,
        head_hidden_size=arch.head_hidden_size,
        depth_estimation_type=arch.depth_estimation_type,
        max_depth=int(arch.max_depth),
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = tf.DepthAnythingForDepthEstimation(config)
    return model.eval()


def build_tiny_teacher(arch: TeacherArchConfig | None = None, *, seed: int = 0, **overrides):
    """A tiny Depth Anything model (4-layer, 32-wide Dinov2) for tests and synthetic experiments.

    ``overrides`` change preset fields (e.g. ``depth_estimation_type='metric', max_depth=80``).
    """
    return build_teacher_model(arch or teacher_preset("tiny", **overrides), seed=seed)


def save_teacher(model, directory: str | Path, *, fp16: bool = False) -> Path:
    """``save_pretrained`` (safetensors) into ``directory``; reload with :func:`load_teacher`.

    ``fp16``: store the weights as float16 (a copy is converted; ``model`` is unchanged);
    :func:`load_teacher_model` always runs them in float32."""
    import copy

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tf = _transformers()
    tf.logging.disable_progress_bar()
    try:
        # safetensors (the only format transformers 5 writes)
        (copy.deepcopy(model).half() if fp16 else model).save_pretrained(str(d))
    finally:
        tf.logging.enable_progress_bar()
    return d


def load_teacher_model(path: str | Path):
    """The raw HF model from a local directory, with one-line errors for every way it can be wrong."""
    d = Path(path)
    if not d.is_dir():
        raise DisdepthError(f"teacher directory not found: {d}")
    cfg_file = d / "config.json"
    if not cfg_file.is_file():
        raise DisdepthError(f"{d}: not a Hugging Face model directory (no config.json)")
    if not any((d / f).is_file() for f in _WEIGHT_FILES):
        raise DisdepthError(f"{d}: no weights file (expected one of: {', '.join(_WEIGHT_FILES)})")
    import json

    try:
        model_type = json.loads(cfg_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise DisdepthError(f"{cfg_file}: not a valid config.json ({exc})") from None
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise DisdepthError(
            f"{cfg_file}: model_type {model_type!r} is not a supported depth model "
            f"(expected one of: {', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    tf = _transformers()
    verbosity = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()  # our one-line errors replace HF's load report
    tf.logging.disable_progress_bar()
    try:
        # ignore_mismatched_sizes only so that HF reports every mismatch; any is an error below.
        model, info = tf.AutoModelForDepthEstimation.from_pretrained(
            str(d), local_files_only=True, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as exc:  # noqa: BLE001 - HF raises ValueError/OSError/RuntimeError variously
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DisdepthError(f"{d}: cannot load as a depth model: {first}") from None
    finally:
        tf.logging.set_verbosity(verbosity)
        tf.logging.enable_progress_bar()
    for kind in ("missing_keys", "mismatched_keys", "unexpected_keys"):
        keys = sorted(k if isinstance(k, str) else k[0] for k in info.get(kind) or [])
        if keys:
            raise DisdepthError(
                f"{d}: weights do not match config.json: {len(keys)} {kind.replace('_', ' ')}, first {keys[0]!r}"
            )
    return model.float().eval()  # fp16-shipped weights (weights/teacher_synthetic) run in fp32


class DepthTeacher(nn.Module):
    """Uniform wrapper around a HF depth model (Depth Anything family, or plain-ViT DPT).

    Attributes: ``model_type``, ``output_kind`` ('relative_disparity' | 'metric_depth'),
    ``max_depth``, ``patch_size``, ``grid_stride``, ``feature_strides``/``feature_channels``
    (of ``features``), ``hidden_channels`` (of ``hidden_states``), ``source`` (directory or None).
    """

    def __init__(self, model, *, grid_stride: int = _DEFAULTS.grid_stride, output_kind: str = _DEFAULTS.output_kind,
                 source: str | None = None):
        super().__init__()
        cfg = model.config
        self.model = model
        self.model_type = cfg.model_type
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise DisdepthError(f"unsupported teacher model_type {self.model_type!r}")
        if getattr(cfg, "is_hybrid", False):
            raise CapabilityError("hybrid DPT teachers (BiT backbone) are not supported; use a ViT DPT or Depth Anything")
        if output_kind == "auto":
            metric = getattr(cfg, "depth_estimation_type", "relative") == "metric"
            output_kind = "metric_depth" if metric else "relative_disparity"
        self.output_kind = output_kind
        self.max_depth = float(getattr(cfg, "max_depth", 1) or 1)
        bc = getattr(cfg, "backbone_config", None)
        patch = bc.patch_size if bc is not None else cfg.patch_size
        # HF's DPT with its built-in ViT (no backbone_config) reshapes tokens to a square grid.
        self.square_only = self.model_type == "dpt" and bc is None
        self.patch_size = int(patch if isinstance(patch, int) else patch[0])
        self.grid_stride = int(grid_stride)
        factors = list(cfg.reassemble_factors)
        self.feature_strides = [self.grid_stride / f for f in factors]
        self.feature_strides = [int(s) if float(s).is_integer() else s for s in self.feature_strides]
        self.feature_channels = [cfg.fusion_hidden_size] * len(factors)
        self.hidden_channels = self._hidden_channels(cfg)
        self.source = source
        self._capture: dict[str, object] = {}
        neck = model.neck
        neck.register_forward_pre_hook(lambda m, args: self._capture.__setitem__("hidden", args[0]))
        for i, conv in enumerate(neck.convs):
            conv.register_forward_hook(lambda m, a, out, i=i: self._capture.__setitem__(f"level{i}", out))
        neck.register_forward_hook(lambda m, a, out: self._capture.__setitem__("fused", out))

    @staticmethod
    def _hidden_channels(cfg) -> list[int]:
        bc = getattr(cfg, "backbone_config", None)
        width = bc.hidden_size if bc is not None else cfg.hidden_size
        return [width] * len(cfg.neck_hidden_sizes)

    def input_size(self, h: int, w: int) -> tuple[int, int]:
        """Teacher resolution for an (h, w) image: ``patch * ceil(h / grid_stride)``."""
        return self.patch_size * math.ceil(h / self.grid_stride), self.patch_size * math.ceil(w / self.grid_stride)

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        """``x`` (B, 3, H, W) normalised RGB -> dict (see module docstring)."""
        h, w = x.shape[-2:]
        th, tw = self.input_size(h, w)
        if self.square_only and th != tw:
            raise CapabilityError(
                f"this DPT teacher (built-in ViT, no backbone_config) only accepts square inputs; got {h}x{w}"
            )
        xt = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False) if (th, tw) != (h, w) else x
        self._capture.clear()
        pred = self.model(pixel_values=xt).predicted_depth  # (B, h', w')
        output = F.interpolate(pred[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        gh, gw = th // self.patch_size, tw // self.patch_size
        hidden = [self._tokens_to_map(t, gh, gw) for t in self._capture["hidden"]]
        features = [self._capture[f"level{i}"] for i in range(len(self.feature_strides))]
        fused = list(self._capture["fused"])[::-1]
        self._capture.clear()
        return {"output": output, "features": features, "fused": fused, "hidden_states": hidden}

    @staticmethod
    def _tokens_to_map(t: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
        if t.dim() == 4:
            return t
        b, n, c = t.shape
        return t[:, n - gh * gw :].transpose(1, 2).reshape(b, c, gh, gw)  # drop CLS/register tokens

    def encoder_blocks(self) -> list[nn.Module]:
        """The ViT's transformer layers, first to last (for ``train_last_blocks``)."""
        m = self.model
        enc = m.backbone.encoder if hasattr(m, "backbone") and m.backbone is not None else m.dpt.encoder
        return list(enc.layer)


TEACHER_PROVENANCE = "disdepth_teacher.json"


def trained_grid_stride(path: str | Path) -> int | None:
    """The grid stride a teacher directory was trained at (its ``disdepth_teacher.json``), or None."""
    import json

    f = Path(path) / TEACHER_PROVENANCE
    try:
        stride = json.loads(f.read_text()).get("grid_stride") if f.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return int(stride) if isinstance(stride, int) else None


def load_teacher(path: str | Path, *, grid_stride: int = _DEFAULTS.grid_stride, output_kind: str = _DEFAULTS.output_kind,
                 device: str | torch.device = "cpu", freeze: bool = True) -> DepthTeacher:
    """Load a HF depth model from the local directory ``path`` and wrap it (eval mode, frozen by default).

    A teacher trained here records its grid stride (``disdepth_teacher.json``); running it at another
    stride is allowed (a benchmark may compare strides) but warned about: its output degrades badly
    (docs/results/teacher_fit.md: AbsRel 0.155 at its own stride 16, 0.39 at 12)."""
    trained = trained_grid_stride(path)
    if trained is not None and trained != grid_stride:
        import warnings

        warnings.warn(f"{path}: this teacher was trained at grid stride {trained} and runs at {grid_stride} "
                      f"(set teacher.grid_stride: {trained})", stacklevel=2)
    teacher = DepthTeacher(load_teacher_model(path), grid_stride=grid_stride, output_kind=output_kind,
                           source=str(path)).to(device)
    teacher.eval()
    if freeze:
        teacher.requires_grad_(False)
    return teacher


def teacher_from_config(cfg, device: str | torch.device = "cpu") -> DepthTeacher:
    """A :class:`DepthTeacher` from a ``TeacherConfig``: loaded from ``path``, else built from ``arch``."""
    if cfg.path:
        return load_teacher(cfg.path, grid_stride=cfg.grid_stride, output_kind=cfg.output_kind, device=device)
    if cfg.arch is None:
        raise DisdepthError("teacher config needs 'path' (a local model directory) or 'arch'")
    t = DepthTeacher(build_teacher_model(cfg.arch), grid_stride=cfg.grid_stride, output_kind=cfg.output_kind)
    return t.to(device).eval().requires_grad_(False)
