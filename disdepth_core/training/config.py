"""Typed training configuration (``config/train/*.yaml``): one file describes one run.

Every method piece has a switch in :class:`DistillConfig` so that an ablation turns it off
by configuration alone: plain vs attentive feature KD, acclimated (ghost-decoder) targets,
cross-interaction bin KD and view-relational KD.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..config import ConfigError, cfg_field
from ..data.dataset_config import DatasetConfig
from ..models.config import ModelConfig
from ..models.teacher_config import TeacherConfig


@dataclasses.dataclass
class OptimConfig:
    """AdamW with linear warm-up and cosine (or constant) decay."""

    lr: float = cfg_field(3e-4, gt=0, help="peak learning rate")
    weight_decay: float = cfg_field(1e-4, min=0)
    warmup_steps: int = cfg_field(50, min=0)
    schedule: Literal["cosine", "constant"] = cfg_field("cosine")
    min_lr_ratio: float = cfg_field(0.05, min=0, max=1, help="final lr / peak lr (cosine)")
    grad_clip: float = cfg_field(1.0, min=0, help="max gradient norm; 0 = off")
    teacher_lr_mult: float = cfg_field(0.1, min=0, help="lr factor of unfrozen teacher blocks (acclimate stage)")


@dataclasses.dataclass
class DistillConfig:
    """The student stage's terms beside the label SILog: which distillation terms, their weights, and
    the confidence's spread calibration."""

    feature_kd: Literal["off", "plain", "attentive"] = cfg_field(
        "off", help="feature KD on encoder levels: off, plain (uniform weights) or attentive (METHOD §4)"
    )
    feature_kd_weight: float = cfg_field(1.0, min=0)
    feature_levels: list[int] = cfg_field(default_factory=lambda: [2, 3], min=0, max=3,
                                          help="encoder pyramid levels distilled (0..3 = strides 4..32)")
    attention_tau: float = cfg_field(1.0, gt=0, help="temperature of the teacher spatial attention")
    attention_transfer: float = cfg_field(1.0, min=0, help="weight of |M_s - M_t|_1")
    acclimated: str = cfg_field("", help="run dir of an 'acclimate' stage: KD targets are its adapted teacher "
                                         "features (ghost-decoder acclimation); empty = raw teacher features")
    init_decoder_from_ghost: bool = cfg_field(False, help="start the student decoder+head from the ghost decoder")
    ckd: bool = cfg_field(False, help="cross-interaction KD on depth-bin probabilities (METHOD §5)")
    ckd_kd_weight: float = cfg_field(1.0, min=0)
    ckd_cross_weight: float = cfg_field(1.0, min=0)
    ckd_chamfer_weight: float = cfg_field(0.01, min=0)
    ckd_sigma: float = cfg_field(0.5, gt=0, help="soft-bin kernel width in bin units")
    output_kd: bool = cfg_field(False, help="scale-and-shift-invariant KD of the teacher's relative output "
                                            "(METHOD §3's L_out; on every frame, labelled or not)")
    output_kd_weight: float = cfg_field(1.0, min=0)
    output_kd_form: Literal["mad", "log"] = cfg_field(
        "mad", help="mad = |N(1/d_s) - N(r_t)| with median/MAD-normalised disparities (dominated by the road near the "
                    "car); log = |log d_s - log d_t| with the teacher fitted to the student's disparity by least "
                    "squares in disparity (every distance counts alike)")
    output_kd_align: Literal["student", "labels", "labels_ground"] = cfg_field(
        "student", help="log form only: what the teacher's relative output is fitted to per image. student = the "
                        "student's own disparity (structure only; scale from the labels alone); labels = on a frame "
                        "with at least output_kd_min_labels label pixels, the metric labels (a dense metric "
                        "pseudo-label that agrees with them), elsewhere the student; labels_ground = labels, and on "
                        "a frame without labels the student's, rescaled (one factor per image) to the ground "
                        "pseudo-labels (the pixels the teacher agrees are flat ground, at the depth their rays meet "
                        "the calibrated rig's ground; see ground_labels_weight): every frame the rig sees gets a "
                        "metric teacher")
    output_kd_min_labels: int = cfg_field(50, min=2, help="label pixels a frame needs for output_kd_align: labels")
    teacher_labels: bool = cfg_field(False, help="pixels without a label are supervised with a METRIC teacher's depth "
                                                 "(cameras-only data: the teacher gives the scale)")
    ground_labels_weight: float = cfg_field(
        0.0, min=0, help="weight of ground pseudo-labels on frames without labels: the pixels the teacher agrees are "
                         "flat ground (losses.relative_output_kd.teacher_ground_pixels) supervised, like labels, with "
                         "the depth at which their rays meet the ground of the calibrated rig; 0 = off")
    ground_labels_tol: float = cfg_field(0.05, gt=0, help="trim tolerance (log depth) of the ground pseudo-labels")
    ground_labels_min_share: float = cfg_field(
        0.25, min=0, max=1, help="an image gets ground pseudo-labels only if at least this share of its 2-20 m ground "
                                 "candidates agree with the fit (where something covers most of the ground, the fit "
                                 "can settle on it); 0 = any image with 200 agreeing pixels")
    teacher_cache: str = cfg_field("", help="directory of a disk cache of teacher outputs (fp16), used when the KD "
                                            "terms need only the output (output KD, CKD); empty = teacher in the loop")
    vrkd: bool = cfg_field(False, help="view-relational KD across adjacent cameras (METHOD §6)")
    vrkd_weight: float = cfg_field(1.0, min=0)
    vrkd_level: int = cfg_field(2, min=0, max=3, help="encoder level whose features are related")
    vrkd_grid: int = cfg_field(4, min=1, help="k: pooled k x k cells per overlap region")
    vrkd_tau: float = cfg_field(0.1, gt=0)
    confidence_weight: float = cfg_field(0.0, min=0, help="weight of the spread calibration on label pixels (bin head "
                                                          "only): |sigma/d - |log d - log label|| trains the published "
                                                          "confidence 1/(1+sigma/d) to follow the error; 0 = off")

    @property
    def output_only(self) -> bool:
        """The KD terms use only the teacher's output (no features): its outputs can be cached."""
        return self.feature_kd == "off" and not self.vrkd

    @property
    def needs_teacher(self) -> bool:
        return (self.feature_kd != "off" or self.ckd or self.vrkd or self.output_kd or self.teacher_labels
                or self.ground_labels_weight > 0)


@dataclasses.dataclass
class AcclimateConfig:
    train_last_blocks: int = cfg_field(0, min=0, help="unfreeze the teacher's last N transformer blocks")


@dataclasses.dataclass
class TrainConfig:
    """One training run (``disdepth train --config FILE``)."""

    stage: Literal["teacher", "acclimate", "student"] = cfg_field("student")
    out_dir: str = cfg_field("out/train/run", help="run directory: checkpoints, logs, plots, final weights")
    seed: int = cfg_field(0, min=0)
    steps: int = cfg_field(1000, min=1, help="optimiser steps")
    batch_size: int = cfg_field(2, min=1, help="time steps per batch and process (each has all cameras)")
    log_every: int = cfg_field(10, min=1)
    ckpt_every: int = cfg_field(200, min=1, help="checkpoint (resumable) every N steps")
    device: str = cfg_field("auto", help="auto | cpu | cuda | cuda:N")
    amp: bool = cfg_field(True, help="bf16 autocast on CUDA (ignored on CPU)")
    channels_last: bool = cfg_field(True, help="channels_last memory format on CUDA")
    dataset: DatasetConfig = cfg_field(default_factory=DatasetConfig, help="training data (the same section as config/train/<dataset>.yaml)")
    val_dataset: DatasetConfig | None = cfg_field(None, help="held-out data evaluated at the end")
    val_max_samples: int = cfg_field(0, min=0, help="evaluate at most N held-out samples (0 = all)")
    eval_every_checkpoint: bool = cfg_field(True, help="with val_dataset: held-out metrics at every checkpoint "
                                                       "(eval_history.csv, eval_curve.png), students via the engine")
    checkpoint_eval_samples: int = cfg_field(0, min=0, help="held-out samples per checkpoint evaluation "
                                                            "(0 = val_max_samples)")
    model: ModelConfig = cfg_field(default_factory=ModelConfig, help="the student (and ghost decoder) network")
    init_from: str = cfg_field("", help="student stage: start from this student checkpoint's weights (a weights "
                                        "directory such as weights/student_default; same architecture as model, "
                                        "any input_size); empty = model.pretrained / random init")
    teacher: TeacherConfig = cfg_field(default_factory=TeacherConfig, help="the transformer teacher")
    teacher_target: Literal["auto", "relative", "metric"] = cfg_field(
        "auto", help="teacher stage: fit relative disparity (SSI loss, like a foundation model) or metric depth "
                     "(SILog); it must agree with the teacher's output (teacher.output_kind, or the config of "
                     "teacher.path / teacher.arch); auto = whatever the teacher outputs"
    )
    teacher_loss: Literal["ssi_disparity", "ssi_relative"] = cfg_field(
        "ssi_disparity", help="teacher stage, relative target: the scale-and-shift-invariant disparity loss; "
                              "ssi_disparity = mean |residual| (MiDaS, dominated by the road near the car), "
                              "ssi_relative = mean |residual| / disparity (every distance counts alike)"
    )
    teacher_sky_depth: float = cfg_field(
        0.0, min=0, help="teacher stage with dense rendered depth: pixels without depth (sky, beyond the visibility "
                         "limit) are supervised as this far (metres), as Depth Anything is taught sky = disparity 0; "
                         "0 = not supervised")
    acclimate: AcclimateConfig = cfg_field(default_factory=AcclimateConfig)
    distill: DistillConfig = cfg_field(default_factory=DistillConfig)
    optim: OptimConfig = cfg_field(default_factory=OptimConfig)

    def validate(self) -> None:
        if self.init_from and self.stage != "student":
            raise ConfigError(f"only the student stage starts from a student checkpoint (stage {self.stage!r})",
                              key="init_from")
        if self.stage == "acclimate" or self.stage == "student" and self.distill.needs_teacher:
            if not self.teacher.path and self.teacher.arch is None:
                raise ConfigError(f"stage {self.stage!r} needs a teacher (teacher.path)", key="teacher.path")
            if not self.teacher.path and not self.teacher.allow_untrained:
                raise ConfigError(f"stage {self.stage!r} would distil from an untrained teacher (random weights "
                                  "built from teacher.arch): set teacher.path to trained weights "
                                  "(or teacher.allow_untrained: true in a test)", key="teacher.arch")
        if self.stage == "teacher" and self.teacher_sky_depth > 0 and self.dataset.gt_source == "lidar":
            raise ConfigError("needs dense rendered depth (dataset.gt_source: render): with sparse LiDAR a pixel "
                              "without depth is not sky", key="teacher_sky_depth")
        if self.distill.output_kd_align != "student" and self.distill.output_kd_form != "log":
            raise ConfigError("fitting the teacher to the labels needs the log form (distill.output_kd_form: log)",
                              key="distill.output_kd_align")
        if self.distill.ckd and self.model.head != "bins":
            raise ConfigError("cross-interaction KD needs the depth-bin head (model.head: bins)", key="distill.ckd")
        if self.distill.init_decoder_from_ghost and not self.distill.acclimated:
            raise ConfigError("init_decoder_from_ghost needs distill.acclimated (an acclimate run)",
                              key="distill.init_decoder_from_ghost")
