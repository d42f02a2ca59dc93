"""``disdepth distill``: a student for the user's rig from the user's bags, in one resumable run.

Stages, each resumable (a finished stage is not redone):

1. **inventory**: every bag is opened. Each camera of the rig needs images, CameraInfo and extrinsics (from
   ``/tf_static``, or from a rig file the user gives). Otherwise the run stops with one line naming what is missing.
2. **extraction** (:mod:`disdepth_core.data.bag_extract`): synchronised sets, sub-sampled and split by time,
   into ``<out>/data``.
3. **labels**: LiDAR or dense depth in the bags gives metric scale. A bag with cameras only needs a
   *metric* teacher, whose depth then supervises the pixels without labels (``distill.teacher_labels``).
   A relative teacher has no scale to teach, so that case is refused: a relative-depth student is never
   shipped as metric.
4. **training** (:func:`disdepth_core.training.trainer.train`): the student of ``config/distill/default.yaml``
   with output KD from the teacher, the teacher's outputs cached on disk (``<out>/teacher_cache``).
   Held-out metrics come per checkpoint and at the end, through the engine, on the held-out tail of each drive.
5. **export**: ONNX, checked against PyTorch (``disdepth export``), and the ``ros2 launch`` line that deploys it.

Everything is summarised in ``<out>/distill.json``.

Data-parallel: ``torchrun --nproc_per_node N -m disdepth_core.cli distill …`` runs the same command on
N ranks. Rank 0 inventories and extracts while the others wait at a barrier (up to
``EXTRACTION_TIMEOUT_S``), every rank trains its share of each batch (DDP), and rank 0 alone
evaluates, exports and writes the summary.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..errors import DisdepthError
from ..geometry import CameraRig

DEFAULT_CONFIG = "distill/default.yaml"
EXTRACTION_TIMEOUT_S = 6 * 3600.0  # under torchrun: how long ranks > 0 wait for rank 0's extraction


@dataclasses.dataclass
class DistillRequest:
    """What the user asked for (the command's flags). ``rig_given``: the rig came from ``--rig`` (so its
    extrinsics may stand in for a missing ``/tf_static``). ``cameras``: train on these only (None = the rig's)."""

    bags: list[Path]
    teacher: Path
    out: Path
    rig: Path
    rig_given: bool = False
    cameras: list[str] | None = None
    config: Path | None = None
    steps: int | None = None
    size: tuple[int, int] | None = None
    device: str | None = None
    extraction: object = None  # ExtractionSettings
    init: Path | None = None  # start the student from this student checkpoint (e.g. weights/student_default)


def inventory(req: DistillRequest, rig: CameraRig) -> list[dict]:
    """One entry per bag: storage, duration, cameras, labels, extrinsics; raises one line on what is missing."""
    from ..evaluation.bag_source import BagSource, BagTopics

    rows = []
    for bag in req.bags:
        src = BagSource(bag, rig, topics=BagTopics(gt=req.extraction.gt), cameras=req.cameras, require_gt=False)
        try:
            inv = src.inventory
            if src.missing_cameras:
                topics = ", ".join(f"{src.topics.image.format(camera=c)} or its /compressed" for c in src.missing_cameras)
                raise DisdepthError(f"{bag}: no images for {', '.join(src.missing_cameras)} ({topics}); pass "
                                    f"--cameras {','.join(src.cameras)} to train on the others; the bag contains: "
                                    f"{inv.describe()}")
            from_rig = [c for c, how in src.extrinsics_source.items() if how.startswith("rig ")]
            if from_rig and not req.rig_given:
                raise DisdepthError(f"{bag}: no {src.topics.tf_static} transform for {', '.join(from_rig)}, and no "
                                    f"--rig FILE with this vehicle's extrinsics (the default rig is another car's)")
            rows.append({"bag": str(bag), "storage": inv.storage, "duration_s": inv.duration_ns / 1e9,
                         "messages": inv.message_count, "cameras": src.cameras, "labels": src.gt_mode,
                         "extrinsics": src.extrinsics_source})
        finally:
            src.close()
    return rows


def _teacher_kind(teacher: Path) -> str:
    from ..models.teacher import DepthTeacher, load_teacher_model

    return DepthTeacher(load_teacher_model(teacher)).output_kind


def training_config(req: DistillRequest, data: Path, teacher_labels: bool, has_val: bool):
    """The student's TrainConfig: ``config/distill/default.yaml`` (or ``--config``) + what the command fills in."""
    import yaml

    from ..config import from_dict, to_dict
    from ..models.teacher import trained_grid_stride
    from ..paths import config_path
    from ..training.config import TrainConfig

    src = Path(req.config or config_path(*DEFAULT_CONFIG.split("/")))
    try:
        raw = yaml.safe_load(src.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DisdepthError(f"--config {src}: cannot read ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise DisdepthError(f"--config {src}: expected a mapping of training keys")
    # the file's keys over TrainConfig's defaults; validated once everything is filled in (below)
    d = {**to_dict(TrainConfig()), **raw}
    for section in ("model", "dataset", "distill", "optim"):
        d[section] = {**to_dict(getattr(TrainConfig(), section)), **(raw.get(section) or {})}
    size = list(req.size) if req.size else list(d["model"]["input_size"])
    d["out_dir"] = str(req.out / "student_run")
    d["model"]["input_size"] = size
    d["dataset"].update(root=str(data / "train"), size=size)
    if has_val:
        d["val_dataset"] = {**(d.get("val_dataset") or {"name": "synthetic", "gt_source": "render"}),
                            "root": str(data / "val"), "split": "val", "size": size}
    else:
        d["val_dataset"] = None
    if req.cameras:
        d["dataset"]["cameras"] = list(req.cameras)
        if d["val_dataset"]:
            d["val_dataset"]["cameras"] = list(req.cameras)
    d["teacher"] = {**d.get("teacher", {}), "path": str(req.teacher), "arch": None}
    recorded = trained_grid_stride(req.teacher)
    if recorded is not None and "grid_stride" not in (raw.get("teacher") or {}):
        d["teacher"]["grid_stride"] = recorded  # the stride it was trained at, unless the config names one
    d["distill"]["teacher_cache"] = str(req.out / "teacher_cache")
    d["distill"]["teacher_labels"] = bool(teacher_labels or d["distill"].get("teacher_labels"))
    if req.steps is not None:
        d["steps"] = int(req.steps)
    if req.init is not None:
        d["init_from"] = str(req.init)
        d["ckpt_every"] = max(1, min(int(d["ckpt_every"]), int(req.steps)))
    if req.device:
        d["device"] = req.device
    return from_dict(TrainConfig, d, source=str(src))


def launch_line(onnx: Path, rig: Path) -> str:
    return (f"ros2 launch disdepth_ros surround_depth.launch.py checkpoint:={onnx.resolve()} "
            f"backend:=onnxruntime rig:={rig.resolve()}")


def distill(req: DistillRequest, *, progress: bool = True, say=print) -> dict:
    """Run every stage (see the module docstring); returns the ``distill.json`` summary."""
    from ..cli import main as cli_main
    from ..data.bag_extract import EXTRACTION_FILE, extract_bags
    from ..training.trainer import distributed_context, train

    rank, world, _ = distributed_context(timeout_s=EXTRACTION_TIMEOUT_S)
    if rank != 0:
        def say(*_args, **_kw):  # one voice under torchrun
            return None
        progress = False
    rig = CameraRig.from_yaml(req.rig)
    if not req.teacher.is_dir():
        raise DisdepthError(f"--teacher {req.teacher}: not a directory (a local Hugging Face depth model)")
    kind = _teacher_kind(req.teacher)
    req.out.mkdir(parents=True, exist_ok=True)
    bags = inventory(req, rig)
    for b in bags:
        say(f"bag {b['bag']}: {b['storage']}, {b['duration_s']:.1f} s, {len(b['cameras'])} cameras, "
            f"labels: {b['labels']}")
    if all(b["labels"] == "none" for b in bags) and kind != "metric_depth":
        raise DisdepthError(f"the bags hold no metric labels (no depth_gt, no LiDAR) and the teacher {req.teacher} "
                            f"is relative ({kind.replace('_', ' ')}): the student would have no metric scale; "
                            f"record LiDAR, or pass a metric teacher (e.g. a Depth Anything metric checkpoint)")
    if rank == 0:
        doc = extract_bags(req.bags, req.out / "data", rig, req.extraction, cameras=req.cameras, progress=progress)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the other ranks read what rank 0 extracted
        doc = json.loads((req.out / "data" / EXTRACTION_FILE).read_text())
    say(f"extracted: {doc['kept']['train']} training and {doc['kept']['val']} held-out sets "
        f"({req.out / 'data' / 'extraction.json'})")
    if req.extraction.heldout_fraction > 0 and not doc["kept"]["val"]:
        say(f"warning: no held-out set kept (the drives are shorter than --gap {req.extraction.gap_s} s plus "
            f"--heldout {req.extraction.heldout_fraction}); the student is trained but not evaluated")
    teacher_labels = "none" in doc["labels"] and kind == "metric_depth"
    if teacher_labels:
        say(f"frames without labels are supervised with the metric teacher's depth ({req.teacher})")
    cfg = training_config(req, req.out / "data", teacher_labels, has_val=doc["kept"]["val"] > 0)
    run = Path(cfg.out_dir)
    finished = run / "FINISHED"
    if not finished.is_file():  # a finished run is not trained, exported or evaluated again
        train(cfg, progress=progress, config_source=f"disdepth distill --out {req.out}")
        if rank == 0:
            finished.write_text(f"{cfg.steps} steps\n")
    if rank != 0:  # rank 0 evaluates (in train), exports and summarises
        return {"rank": rank, "world": world}
    metrics_file = run / "eval" / "metrics.json"
    held_out = json.loads(metrics_file.read_text())["metric"]["all"] if metrics_file.is_file() else None
    onnx = req.out / "student.onnx"
    if not onnx.with_suffix(".onnx.export.json").is_file() or not onnx.is_file():
        cams = len(req.cameras or rig.names)
        rc = cli_main(["export", "--checkpoint", str(run / "student"), "--out", str(onnx), "--batch", str(cams),
                       "--rig", str(req.rig)])
        if rc:
            raise DisdepthError(f"ONNX export of {run / 'student'} failed (exit {rc}; the line above says why)")
    line = launch_line(onnx, req.rig)
    summary = {
        "bags": bags, "teacher": {"path": str(req.teacher), "output": kind},
        "extraction": {"settings": doc["settings"], "kept": doc["kept"], "labels": doc["labels"]},
        "teacher_labels": teacher_labels, "student": str(run / "student"), "steps": cfg.steps,
        "held_out": held_out, "onnx": str(onnx), "launch": line,
    }
    (req.out / "distill.json").write_text(json.dumps(summary, indent=1) + "\n")
    if held_out:
        say(f"held-out (last {req.extraction.heldout_fraction:.0%} of each drive): AbsRel {held_out['abs_rel']:.4f}, "
            f"RMSE {held_out['rmse']:.3f} m, delta<1.25 {held_out['a1']:.4f} ({run / 'eval' / 'report.md'})")
    say(f"deploy: {line}")
    return summary
