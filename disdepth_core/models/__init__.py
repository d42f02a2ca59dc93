"""Networks of the method (METHOD.md §1-3): student CNNs with LG-Conv and depth bins,
transformer teachers from local checkpoints, and the ghost decoder.

Import the submodules directly for the full API; the common entry points are re-exported.
"""

from .backbones import create_backbone, list_backbones
from .checkpoint import load_student, save_student
from .config import ModelConfig
from .student import DepthStudent, build_student

__all__ = [
    "DepthStudent",
    "ModelConfig",
    "build_student",
    "create_backbone",
    "list_backbones",
    "load_student",
    "save_student",
]
