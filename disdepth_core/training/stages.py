"""The three training stages as objects the trainer drives.

Each class implements :class:`disdepth_core.training.stage.TrainingStage` (what every
member is: see there): it owns its modules (``modules``, saved in resumable checkpoints;
``trainable``, the one the optimiser trains), builds optimiser parameter groups, computes
the loss terms of one batch (``losses(batch) -> dict``, key ``total`` is optimised) and
exports its result (``export(out_dir)``). Inputs are ``SurroundBatch`` tensors
``(B, V, ...)`` flattened to ``(B*V, ...)`` images.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DisdepthError
from ..geometry import CameraRig
from ..losses import (
    SSI_LOSSES,
    attentive_kd_loss,
    cross_interaction_kd_loss,
    relative_output_kd_log_loss,
    relative_output_kd_loss,
    silog_loss,
    spread_calibration_loss,
    view_relational_kd_loss,
)
from .config import TrainConfig
from .stage import Align, Predictor, TrainingStage


def flatten_batch(batch, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """images (B*V, 3, H, W) in [0, 1], depth (B*V, H, W) metres, valid (B*V, H, W) on ``device``."""
    imgs = batch.images.flatten(0, 1).to(device, non_blocking=True)
    depth = batch.depth.flatten(0, 1).to(device, non_blocking=True)
    valid = batch.valid.flatten(0, 1).to(device, non_blocking=True) & (depth > 0)
    return imgs, depth, valid


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - m) / s


class OverlapCache:
    """Overlap masks ``(P, 2, h, w)`` and pairs for a batch's rig, cached by calibration and size."""

    def __init__(self, depth_range: tuple[float, float]):
        self.depth_range = depth_range
        self._cache: dict[tuple, tuple[list[tuple[int, int]], torch.Tensor]] = {}

    def get(self, batch, size: tuple[int, int], device, index: int = 0) -> tuple[list[tuple[int, int]], torch.Tensor]:
        """Pairs and masks of sample ``index``'s rig (samples of one batch may come from different rigs)."""
        K = batch.K[index].double()
        T = batch.T_base_cam[index].double()
        H, W = batch.images.shape[-2:]
        key = (tuple(K.flatten().tolist()), tuple(T.flatten().tolist()), (H, W), size)
        if key not in self._cache:
            names = (batch.meta[index] or {}).get("cameras", batch.cameras)
            rig = CameraRig(names, [(H, W)] * len(names), K, T)
            pairs = rig.adjacent_pairs()
            masks = rig.resized(*size).overlap_masks(depth_range=self.depth_range, num_depths=16)
            self._cache[key] = (pairs, masks)
        pairs, masks = self._cache[key]
        return pairs, masks.to(device)


# ----------------------------------------------------------------------------- teacher
TARGET_OUTPUT_KIND = {"relative": "relative_disparity", "metric": "metric_depth"}


def check_teacher_target(cfg: TrainConfig, output_kind: str) -> None:
    """``teacher_target`` must name what the teacher outputs (the loss follows the output: SSI on relative
    disparity, SILog on metric depth); ConfigError naming both keys otherwise."""
    if cfg.teacher_target == "auto" or TARGET_OUTPUT_KIND[cfg.teacher_target] == output_kind:
        return
    tc = cfg.teacher
    if tc.output_kind != "auto":
        source = f"teacher.output_kind is {tc.output_kind!r}"
    elif tc.path:
        source = f"the model at teacher.path ({tc.path}) outputs {output_kind}"
    else:
        source = f"teacher.arch.depth_estimation_type is {tc.arch.depth_estimation_type!r}"
    raise ConfigError(f"{cfg.teacher_target!r} does not match the teacher: {source}; set teacher_target to "
                      f"{'metric' if output_kind == 'metric_depth' else 'relative'} or auto, or use a teacher "
                      f"that outputs {TARGET_OUTPUT_KIND[cfg.teacher_target]}", key="teacher_target")


class TeacherStage:
    """Fit a transformer teacher on the data: relative disparity (SSI loss) or metric depth (SILog)."""

    def __init__(self, cfg: TrainConfig, device):
        from ..models.teacher import DepthTeacher, build_teacher_model, load_teacher_model

        self.cfg = cfg
        tc = cfg.teacher
        if tc.path:
            model = load_teacher_model(tc.path)
        elif tc.arch is not None:
            torch.manual_seed(cfg.seed)
            model = build_teacher_model(tc.arch, seed=cfg.seed)
        else:
            raise DisdepthError("stage 'teacher' needs teacher.path (a local model to fine-tune) or teacher.arch")
        self.teacher = DepthTeacher(model, grid_stride=tc.grid_stride, output_kind=tc.output_kind).to(device)
        check_teacher_target(cfg, self.teacher.output_kind)
        self.teacher.train().requires_grad_(True)
        self.modules = {"teacher": self.teacher}
        self.trainable = self.teacher
        self.predictor_align: Align = "disparity" if self.teacher.output_kind == "relative_disparity" else "none"
        self.device = device

    def param_groups(self, optim) -> list[dict]:
        return [{"params": [p for p in self.teacher.parameters() if p.requires_grad], "lr": optim.lr}]

    def losses(self, batch, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        imgs, depth, valid = flatten_batch(batch, self.device)
        if self.cfg.teacher_sky_depth > 0:  # dense render: no depth = sky / beyond the visibility limit = far
            depth = torch.where(valid, depth, torch.full_like(depth, self.cfg.teacher_sky_depth))
            valid = torch.ones_like(valid)
        out = (model or self.teacher)(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))["output"]
        if self.teacher.output_kind == "relative_disparity":
            loss = SSI_LOSSES[self.cfg.teacher_loss](out, depth, valid)
        else:
            loss = silog_loss(out.clamp_min(1e-3), depth, valid)
        return {"total": loss, "teacher": loss}

    def export(self, out_dir: Path) -> Path:
        from ..models.teacher import save_teacher

        return save_teacher(self.teacher.model, out_dir / "teacher")

    def predictor(self) -> Predictor:
        """Callable images [0,1] (N,3,H,W) -> the teacher's raw output (N,H,W) (relative or metric)."""
        t = self.teacher.eval()
        return lambda imgs: t(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))["output"]

    def reference_predictor(self) -> None:
        return None


# ----------------------------------------------------------------------------- acclimate
class AcclimateStage:
    """Ghost-decoder acclimation: adapters + a copy of the student decoder on the frozen teacher (METHOD §3)."""

    def __init__(self, cfg: TrainConfig, device):
        from ..models.ghost_decoder import AcclimatedTeacher
        from ..models.teacher import teacher_from_config

        self.cfg = cfg
        teacher = teacher_from_config(cfg.teacher, device=device)
        torch.manual_seed(cfg.seed)
        self.acclimated = AcclimatedTeacher(teacher, cfg.model, train_last_blocks=cfg.acclimate.train_last_blocks).to(device)
        self.acclimated.train()
        self.modules = {"acclimated": self.acclimated}
        self.trainable = self.acclimated
        self.predictor_align: Align = "none"  # the ghost decoder predicts metric depth
        self.device = device

    def param_groups(self, optim) -> list[dict]:
        teacher_params = {id(p) for p in self.acclimated.teacher.parameters()}
        own = [p for p in self.acclimated.parameters() if p.requires_grad and id(p) not in teacher_params]
        tp = [p for p in self.acclimated.teacher.parameters() if p.requires_grad]
        groups = [{"params": own, "lr": optim.lr}]
        if tp:
            groups.append({"params": tp, "lr": optim.lr * optim.teacher_lr_mult})
        return groups

    def losses(self, batch, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        imgs, depth, valid = flatten_batch(batch, self.device)
        out = (model or self.acclimated)(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))
        loss = silog_loss(out["depth"], depth, valid)
        return {"total": loss, "depth": loss}

    def export(self, out_dir: Path) -> Path:
        from .acclimated_io import save_acclimated

        return save_acclimated(self.acclimated, out_dir / "acclimated")

    def predictor(self) -> Predictor:
        a = self.acclimated.eval()
        return lambda imgs: a(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))["depth"]

    def reference_predictor(self) -> tuple[Predictor, Align]:
        """The raw teacher before acclimation and how to score it: relative disparity is
        aligned per image (scale and shift) to the ground truth; metric depth is used as is."""
        t = self.acclimated.teacher.eval()

        def predict(imgs):
            return t(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))["output"]

        return predict, ("disparity" if t.output_kind == "relative_disparity" else "none")


# ----------------------------------------------------------------------------- student
class StudentWithProjectors(nn.Module):
    """The student plus the 1x1 projectors its KD terms compare through (one forward for DDP)."""

    def __init__(self, student: nn.Module, levels: list[int], target_channels: list[int]):
        super().__init__()
        self.student = student
        self.levels = list(levels)
        chans = student.feature_channels
        self.projectors = nn.ModuleList()
        for lvl, tc in zip(levels, target_channels):
            conv = nn.Conv2d(chans[lvl], tc, 1)
            if tc == chans[lvl]:
                with torch.no_grad():  # start as identity: acclimated targets live in the student's space
                    conv.weight.copy_(torch.eye(tc).view(tc, tc, 1, 1))
                    conv.bias.zero_()
            self.projectors.append(conv)

    def forward(self, x: torch.Tensor) -> dict:
        out = self.student(x, return_aux=True)
        out["projected"] = [p(out["features"][lvl]) for p, lvl in zip(self.projectors, self.levels)]
        return out


def init_student_from(student: nn.Module, model_cfg, directory: str) -> None:
    """Load a student checkpoint's weights into ``student`` (fine-tuning a shipped student for another
    rig); its architecture must be ``model_cfg``'s (``input_size`` and ``pretrained`` may differ)."""
    import dataclasses

    from ..config import load_config
    from ..models.checkpoint import CONFIG_FILE, load_student
    from ..models.config import ModelConfig

    path = Path(directory)
    if not (path / CONFIG_FILE).is_file():
        raise ConfigError(f"{path}: not a student checkpoint (no {CONFIG_FILE})", key="init_from")
    theirs = load_config(ModelConfig, path / CONFIG_FILE)
    differ = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("input_size", "pretrained")
              and getattr(theirs, f.name) != getattr(model_cfg, f.name)]
    if differ:
        what = ", ".join(f"{k} {getattr(theirs, k)!r} vs model.{k} {getattr(model_cfg, k)!r}" for k in differ)
        raise ConfigError(f"{path} is another architecture: {what}", key="init_from")
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_student(path).state_dict().items()}
    student.load_state_dict(state)


class StudentStage:
    """Supervised student with any combination of feature KD, attentive KD, acclimated targets, CKD, VRKD,
    output KD and the confidence's spread calibration."""

    def __init__(self, cfg: TrainConfig, device):
        from ..models.student import build_student

        self.cfg = cfg
        d = cfg.distill
        self.device = device
        torch.manual_seed(cfg.seed)
        student = build_student(cfg.model)
        if cfg.init_from:
            init_student_from(student, cfg.model, cfg.init_from)
        self.teacher = None
        self.acclimated = None
        target_channels: list[int] = []
        levels = list(d.feature_levels) if d.feature_kd != "off" else []
        if d.needs_teacher:
            from ..models.teacher import teacher_from_config

            self.teacher = teacher_from_config(cfg.teacher, device=device)
            if d.acclimated:
                from .acclimated_io import load_acclimated

                self.acclimated = load_acclimated(Path(d.acclimated) / "acclimated", self.teacher).to(device)
                self.acclimated.eval().requires_grad_(False)
                target_channels = [student.feature_channels[lvl] for lvl in levels]
                if d.init_decoder_from_ghost:
                    student.decoder.load_state_dict(self.acclimated.ghost.decoder.state_dict())
                    student.head.load_state_dict(self.acclimated.ghost.head.state_dict())
            else:
                target_channels = [self.teacher.feature_channels[lvl] for lvl in levels]
        if d.confidence_weight > 0:
            from ..models.confidence import has_confidence

            if not has_confidence(student):
                raise ConfigError(f"the spread calibration trains a bin head's distribution; this student has "
                                  f"{type(student.head).__name__}", key="distill.confidence_weight")
        if d.teacher_labels and self.teacher.output_kind != "metric_depth":
            raise ConfigError(f"needs a metric teacher; {cfg.teacher.path or 'teacher.arch'} outputs "
                              f"{self.teacher.output_kind.replace('_', ' ')}, which has no scale to teach",
                              key="distill.teacher_labels")
        self.cache = None
        if d.teacher_cache and self.teacher is not None and d.output_only and self.acclimated is None:
            from .teacher_cache import TeacherOutputCache, teacher_cache_key

            if not cfg.teacher.path:
                raise DisdepthError("distill.teacher_cache needs a trained teacher (teacher.path)")
            size = tuple(cfg.dataset.size or cfg.model.input_size)
            self.cache = TeacherOutputCache(d.teacher_cache, teacher_cache_key(
                cfg.teacher.path, cfg.teacher.grid_stride, self.teacher.output_kind, size))
        self.model = StudentWithProjectors(student, levels, target_channels).to(device)
        self.model.train()
        self.modules = {"student": self.model}
        self.trainable = self.model
        self.predictor_align: Align = "none"
        self.overlaps = OverlapCache((max(cfg.model.d_min, 1.0), cfg.model.d_max))

    @property
    def student(self):
        return self.model.student

    def _with_teacher_labels(self, depth, valid, teacher_depth):
        """Labels (B*V, H, W) where ``valid``, else the metric teacher's depth (metres) within the student's range."""
        t = teacher_depth.detach().float()
        if t.shape[-2:] != depth.shape[-2:]:
            t = F.interpolate(t[:, None], size=depth.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        ok = ~valid & torch.isfinite(t) & (t >= self.cfg.model.d_min) & (t <= self.cfg.model.d_max)
        return torch.where(valid, depth, torch.where(ok, t, torch.zeros_like(t))), valid | ok

    def param_groups(self, optim) -> list[dict]:
        return [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": optim.lr}]

    def _ground_pseudo_labels(self, batch, valid, teacher_output) -> tuple[torch.Tensor, torch.Tensor]:
        """Ground pseudo-labels (B*V, H, W) metres and where they are (bool) on the images without a label:
        where the teacher agrees a pixel is flat ground, the depth at which its ray meets the ground of
        the rig (``geometry.ground_plane_depth``; base_link z = 0). Images with labels get none."""
        from ..geometry import ground_plane_depth
        from ..losses.relative_output_kd import teacher_disparity_at, teacher_ground_pixels

        H, W = valid.shape[-2:]
        depth = torch.zeros(valid.shape, dtype=torch.float32, device=valid.device)
        keep = torch.zeros_like(valid)
        unlabelled = ~valid.flatten(1).any(-1)  # (B*V,): labelled images keep their labels only
        if bool(unlabelled.any()):
            K = batch.K.flatten(0, 1)[unlabelled.cpu()].to(self.device, torch.float64)
            T = batch.T_base_cam.flatten(0, 1)[unlabelled.cpu()].to(self.device, torch.float64)
            ground = ground_plane_depth(K, T, H, W).float()
            r = teacher_disparity_at(teacher_output[unlabelled], (H, W),
                                     self.teacher.output_kind == "relative_disparity")
            depth[unlabelled] = ground
            keep[unlabelled] = teacher_ground_pixels(r, ground, tol=self.cfg.distill.ground_labels_tol,
                                                     min_share=self.cfg.distill.ground_labels_min_share)
        return depth, keep

    def _ground_label_loss(self, batch, student_depth, valid, teacher_output, ground=None) -> torch.Tensor:
        """SILog of the student's depth (B*V, H, W) against the ground pseudo-labels
        (:meth:`_ground_pseudo_labels`, or ``ground`` = their (depth, keep) when already made) on the
        images without a label. Zero (with a gradient path) when no image has any."""
        g, keep = ground if ground is not None else self._ground_pseudo_labels(batch, valid, teacher_output)
        return silog_loss(student_depth, g, keep)

    @torch.no_grad()
    def _teacher_targets(self, x: torch.Tensor) -> dict:
        """Teacher output (B, H, W) and KD target features: adapted A_l(F_t^l) or raw neck levels."""
        if self.acclimated is not None:
            t = self.acclimated.teacher_forward(x)  # its teacher may have fine-tuned last blocks
            return {"output": t["output"], "features": self.acclimated.adapt(t, tuple(x.shape[-2:]))}
        t = self.teacher(x)
        return {"output": t["output"], "features": t["features"]}

    def losses(self, batch, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of one batch; ``model`` is the (possibly DDP-wrapped) StudentWithProjectors."""
        cfg, d = self.cfg, self.cfg.distill
        model = model or self.model
        imgs, depth, valid = flatten_batch(batch, self.device)
        x = normalise(imgs, cfg.model.mean, cfg.model.std)
        out = model(x)
        tgt = None
        if self.teacher is not None:
            if self.cache is not None:
                tgt = {"output": self.cache.outputs(batch, x, lambda xb: self.teacher(xb)["output"])}
            else:
                tgt = self._teacher_targets(x)
            if d.teacher_labels:
                depth, valid = self._with_teacher_labels(depth, valid, tgt["output"])
        terms = {"depth": silog_loss(out["depth"], depth, valid)}
        total = terms["depth"]
        ground = None
        if tgt is not None and (d.ground_labels_weight > 0 or (d.output_kd and d.output_kd_align == "labels_ground")):
            ground = self._ground_pseudo_labels(batch, valid, tgt["output"])
        if ground is not None and d.ground_labels_weight > 0:
            terms["ground"] = self._ground_label_loss(batch, out["depth"], valid, tgt["output"], ground=ground)
            total = total + d.ground_labels_weight * terms["ground"]
        if d.confidence_weight > 0:  # on the label pixels only (with teacher_labels: the teacher's too)
            terms["confidence"] = spread_calibration_loss(out["bin_probs"], out["bin_centers"], out["depth"], depth,
                                                          valid)
            total = total + d.confidence_weight * terms["confidence"]
        if tgt is not None:
            if d.feature_kd != "off":
                s_feats, t_feats = [], []
                for proj, lvl in zip(out["projected"], d.feature_levels):
                    t = tgt["features"][lvl]
                    if t.shape[-2:] != proj.shape[-2:]:
                        t = F.interpolate(t, size=proj.shape[-2:], mode="bilinear", align_corners=False)
                    s_feats.append(proj)
                    t_feats.append(t)
                terms["feature_kd"] = attentive_kd_loss(
                    s_feats, t_feats, attentive=(d.feature_kd == "attentive"), tau=d.attention_tau,
                    attention_transfer=d.attention_transfer,
                )
                total = total + d.feature_kd_weight * terms["feature_kd"]
            if d.ckd:
                c = cross_interaction_kd_loss(
                    out["bin_logits"], out["bin_centers"], tgt["output"], depth, valid,
                    teacher_is_disparity=(self.teacher.output_kind == "relative_disparity"), sigma=d.ckd_sigma,
                    kd_weight=d.ckd_kd_weight, cross_weight=d.ckd_cross_weight, chamfer_weight=d.ckd_chamfer_weight,
                )
                terms.update({"ckd_kd": c["kd"], "ckd_cross": c["cross"], "ckd_chamfer": c["chamfer"]})
                total = total + c["total"]
            if d.output_kd:
                is_disp = self.teacher.output_kind == "relative_disparity"
                if d.output_kd_form == "log":
                    labels = (depth, valid) if d.output_kd_align != "student" else (None, None)
                    # labels_ground: frames without labels take their metric scale from the ground pseudo-labels
                    anchor = ground if d.output_kd_align == "labels_ground" else (None, None)
                    terms["output_kd"] = relative_output_kd_log_loss(
                        out["depth"], tgt["output"], d_min=self.cfg.model.d_min, d_max=self.cfg.model.d_max,
                        teacher_is_disparity=is_disp, label_depth=labels[0], label_valid=labels[1],
                        min_label_pixels=d.output_kd_min_labels, scale_depth=anchor[0], scale_valid=anchor[1])
                else:
                    terms["output_kd"] = relative_output_kd_loss(out["depth"], tgt["output"], teacher_is_disparity=is_disp)
                total = total + d.output_kd_weight * terms["output_kd"]
            if d.vrkd:
                B, V = batch.images.shape[:2]
                s = out["features"][d.vrkd_level]
                t = tgt["features"][d.vrkd_level]
                if t.shape[-2:] != s.shape[-2:]:
                    t = F.interpolate(t, size=s.shape[-2:], mode="bilinear", align_corners=False)
                sv, tv = s.view(B, V, *s.shape[1:]), t.view(B, V, *t.shape[1:])
                per_sample = []
                for b in range(B):  # each sample's own rig (a corpus mixes rigs)
                    pairs, masks = self.overlaps.get(batch, tuple(s.shape[-2:]), self.device, index=b)
                    per_sample.append(view_relational_kd_loss(sv[b:b + 1], tv[b:b + 1], masks, pairs,
                                                              k=d.vrkd_grid, tau=d.vrkd_tau))
                terms["vrkd"] = torch.stack(per_sample).mean()
                total = total + d.vrkd_weight * terms["vrkd"]
        terms["total"] = total
        return terms

    def export(self, out_dir: Path) -> Path:
        from ..models.checkpoint import save_student

        return save_student(self.student, out_dir / "student", extra_meta={"stage": "student"})

    def predictor(self) -> Predictor:
        s = self.student.eval()
        return lambda imgs: s(normalise(imgs, self.cfg.model.mean, self.cfg.model.std))

    def reference_predictor(self) -> None:
        return None


STAGES: dict[str, type[TrainingStage]] = {"teacher": TeacherStage, "acclimate": AcclimateStage,
                                          "student": StudentStage}


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then cosine to ``min_ratio`` (or constant)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
