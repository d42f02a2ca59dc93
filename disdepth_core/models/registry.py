"""Models by name: shipped student configs (``config/model/<name>.yaml``) and teacher presets.

``resolve_model_config('student_default')`` -> path; ``load_model_config(name_or_path)`` ->
ModelConfig; ``build_model(name_or_path)`` -> DepthStudent.
"""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..errors import DisdepthError
from ..paths import config_path
from .backbones import create_backbone, list_backbones
from .config import ModelConfig
from .student import DepthStudent, build_student
from .teacher_config import TEACHER_PRESETS


def shipped_model_configs() -> list[str]:
    """Names of the shipped student configs."""
    d = config_path("model")
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def resolve_model_config(name_or_path: str | Path) -> Path:
    """A path to a model YAML, or a shipped config name (``student_default``)."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DisdepthError(f"model config not found: {p}")
        return p
    cand = config_path("model", f"{name_or_path}.yaml")
    if not cand.is_file():
        raise DisdepthError(
            f"unknown model {str(name_or_path)!r}: not a file and not a shipped config "
            f"({', '.join(shipped_model_configs())})"
        )
    return cand


def load_model_config(name_or_path: str | Path) -> ModelConfig:
    return load_config(ModelConfig, resolve_model_config(name_or_path))


def build_model(name_or_path: str | Path) -> DepthStudent:
    return build_student(load_model_config(name_or_path))


__all__ = [
    "TEACHER_PRESETS",
    "build_model",
    "build_student",
    "create_backbone",
    "list_backbones",
    "load_model_config",
    "resolve_model_config",
    "shipped_model_configs",
]
