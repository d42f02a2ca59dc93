"""The interface every training stage (teacher, acclimate, student) offers the trainer.

:func:`disdepth_core.training.trainer.train` drives a stage only through these members;
:data:`disdepth_core.training.stages.STAGES` maps ``TrainConfig.stage`` to the classes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import nn

# images in [0, 1] (N, 3, H, W) -> prediction (N, H, W): metric depth in metres, or relative disparity
Predictor = Callable[[torch.Tensor], torch.Tensor]
Align = Literal["none", "disparity"]


@runtime_checkable
class TrainingStage(Protocol):
    """One stage of the method, as the trainer sees it.

    Attributes:
        modules: name -> module of every network whose weights the resumable checkpoint
            (``<out_dir>/checkpoints/last``) saves and restores; the names are the checkpoint's keys.
        trainable: the one module the optimiser trains and the forward pass runs through
            (wrapped in DistributedDataParallel under torchrun, gradient-clipped); it is one of
            ``modules`` and holds every trainable parameter (e.g. the student plus its KD projectors).
        predictor_align: how held-out evaluation scores :meth:`predictor`'s output: ``"none"``
            (metric depth, used as is) or ``"disparity"`` (relative disparity, aligned per image by
            scale and shift to the ground truth).
    """

    modules: dict[str, nn.Module]
    trainable: nn.Module
    predictor_align: Align

    def param_groups(self, optim) -> list[dict]:
        """AdamW parameter groups (``{"params": [...], "lr": ...}``) from an ``OptimConfig``."""
        ...

    def losses(self, batch, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """Loss terms (scalars) of one ``SurroundBatch``; ``"total"`` is the one optimised. ``model`` is
        :attr:`trainable` as the trainer runs it (possibly DDP-wrapped); ``None`` = :attr:`trainable`."""
        ...

    def export(self, out_dir: Path) -> Path:
        """Write the stage's result under ``out_dir`` (e.g. ``out_dir/student``); returns that directory."""
        ...

    def predictor(self) -> Predictor:
        """The stage's model in eval mode as a :data:`Predictor`, for held-out evaluation."""
        ...

    def reference_predictor(self) -> tuple[Predictor, Align] | None:
        """A baseline evaluated next to the result on the held-out data (acclimation: the raw teacher
        before acclimation, so that "preserves performance" is measured), with its alignment; ``None``
        when the stage has none."""
        ...
