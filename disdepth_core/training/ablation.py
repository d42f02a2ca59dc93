"""The ablation of METHOD.md §8 as one resumable command: ``disdepth ablate --config FILE``.

For every seed: fit the teacher (stage ``teacher``), acclimate it (stage ``acclimate``),
then train one student per row at the same budget, data and seed, and evaluate every
student and the acclimated teacher on held-out data. Every run is an ordinary training
run directory under ``<out_dir>/seed<k>/<row>``; a finished run (its ``eval/metrics.json``
exists) is skipped and an interrupted one resumes from its checkpoint, so calling the
command again continues where it stopped (``--stop-after-minutes`` time-boxes a call).
The table (mean ± spread over seeds, with params, GFLOPs and CPU latency per row) goes to
``<results>.md`` and ``.json``. ``teacher_dir`` lets a second ablation (e.g. with sparse
LiDAR supervision) reuse the first one's teacher runs; ``export`` copies chosen finished
students (fp16 safetensors + config + their eval) to a weights directory, which is how
``weights/student_default`` and ``weights/student_supervised`` are produced.
"""

from __future__ import annotations

import dataclasses
import filecmp
import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from ..config import cfg_field, from_dict, to_dict
from ..data.dataset_config import DatasetConfig
from ..models.config import ModelConfig
from ..models.teacher_config import TeacherConfig
from .config import DistillConfig, OptimConfig, TrainConfig


@dataclasses.dataclass
class StageBudget:
    steps: int = cfg_field(500, min=1)
    batch_size: int = cfg_field(2, min=1)
    optim: OptimConfig = cfg_field(default_factory=OptimConfig)


@dataclasses.dataclass
class WorldData:
    """Synthetic-world streets the ablation renders when missing (train and held-out seeds differ).

    Seeds are ``train_seeds`` plus ``train_seed_range`` ``[first, count]`` (likewise for
    held-out); street ``k`` of a split uses ``rigs[k % len(rigs)]``, so ``[nuscenes,
    nuscenes, ddad]`` renders a third of the streets with the DDAD rig. ``open_seed_range``
    adds places rendered from ``open_config`` (e.g. off-street open ground) to
    ``<root>/open``: a pool that rows may use as unlabelled frames (``dataset.unlabelled_pool``).
    """

    root: str = cfg_field("out/world", help="streets go to <root>/train/seed<k> and <root>/val/seed<k>")
    train_seeds: list[int] = cfg_field(default_factory=lambda: [1, 2, 3, 4], min=0)
    val_seeds: list[int] = cfg_field(default_factory=lambda: [100], min=0)
    train_seed_range: tuple[int, int] | None = cfg_field(None, min=0, help="[first seed, count] added to train_seeds")
    val_seed_range: tuple[int, int] | None = cfg_field(None, min=0, help="[first seed, count] added to val_seeds")
    frames: int = cfg_field(60, min=1, help="frames per street")
    size: tuple[int, int] = cfg_field((128, 224), min=32, help="render size (H, W), multiples of 32")
    config: str = cfg_field("", help="WorldConfig YAML (e.g. config/world/corpus.yaml); empty = the default world")
    rigs: list[str] = cfg_field(default_factory=lambda: ["nuscenes"], help="rig names/files, used round-robin")
    workers: int = cfg_field(1, min=1, help="render processes (one torch thread each)")
    open_seed_range: tuple[int, int] | None = cfg_field(None, min=0, help="[first seed, count] of places rendered "
                                                                          "from open_config into <root>/open")
    open_config: str = cfg_field("", help="WorldConfig YAML of the open places (e.g. config/world/open_ground.yaml)")

    def seeds(self, split: str) -> list[int]:
        if split == "open":
            r = self.open_seed_range
            return list(range(r[0], r[0] + r[1])) if r else []
        explicit, rng = (self.train_seeds, self.train_seed_range) if split == "train" else (
            self.val_seeds, self.val_seed_range)
        out = list(explicit)
        if rng is not None:
            out += [s for s in range(rng[0], rng[0] + rng[1]) if s not in out]
        return out

    def jobs(self):
        from ..world.corpus import StreetJob

        return [StreetJob(split, seed, self.rigs[k % len(self.rigs)], self.open_config if split == "open" else None)
                for split in ("train", "val", "open") for k, seed in enumerate(self.seeds(split))]

    def validate(self) -> None:
        from ..config import ConfigError

        if set(self.seeds("train")) & set(self.seeds("val")):
            raise ConfigError("train and held-out seeds must differ", key="val_seeds")
        if self.open_seed_range and not self.open_config:
            raise ConfigError("open places need their world config (layout: open)", key="open_config")
        if not self.rigs:
            raise ConfigError("at least one rig is needed", key="rigs")


def render_world(w: WorldData, progress: bool = True) -> tuple[Path, Path]:
    """Render every missing street (resumable, ``w.workers`` processes); returns (train_root, val_root)."""
    from ..world.corpus import render_corpus

    root = Path(w.root)
    render_corpus(root, w.jobs(), frames=w.frames, size=tuple(w.size), world_yaml=w.config or None,
                  workers=w.workers, progress=progress)
    return root / "train", root / "val"


def with_rendered_world(ab: AblationConfig, progress: bool = True) -> AblationConfig:
    """``ab`` with its train/val datasets pointed at its world, rendered first where streets are
    missing (``render_world``); ``ab`` itself when it has no world section."""
    if ab.world is None:
        return ab
    train_root, val_root = render_world(ab.world, progress)
    return dataclasses.replace(ab, dataset=dataclasses.replace(ab.dataset, root=str(train_root)),
                               val_dataset=dataclasses.replace(ab.val_dataset, root=str(val_root)))


@dataclasses.dataclass
class AblationRow:
    name: str = cfg_field(help="row label, e.g. '+ attentive KD'")
    distill: dict[str, Any] = cfg_field(default_factory=dict, help="DistillConfig overrides; acclimated: true "
                                                                   "uses this seed's acclimate run")
    dataset: dict[str, Any] = cfg_field(default_factory=dict, help="overrides of the ablation's dataset section "
                                                                   "for this row (e.g. unlabelled: keep)")
    model: dict[str, Any] = cfg_field(default_factory=dict, help="overrides of the student model for this row "
                                                                 "(e.g. lgconv_stages: [] for the LG-Conv pair)")
    reference: bool = cfg_field(False, help="a reference row (e.g. dense labels on every street: what a perfect "
                                            "teacher could give): in the table, never chosen as the 'best' export")
    steps: int = cfg_field(0, min=0, help="student steps of this row (0 = student_budget.steps); a row with its own "
                                         "budget says so in its name, and its twin needs the same")


@dataclasses.dataclass
class ExportSpec:
    row: str = cfg_field(help="name of the row whose student is exported, or 'best': the finished row of "
                              "this seed with the lowest held-out metric AbsRel (chosen on the held-out streets; "
                              "reference rows are never chosen)")
    seed: int = cfg_field(0, min=0, help="which seed's run")
    to: str = cfg_field("", help="weights directory written (replaced) with the fp16 student and its eval")


@dataclasses.dataclass
class AblationConfig:
    out_dir: str = cfg_field("out/ablation")
    teacher_dir: str = cfg_field("", help="where the per-seed teacher runs live (default: out_dir); "
                                           "point at another ablation's out_dir to share its teachers")
    teacher_from: str = cfg_field("", help="a trained teacher's weights directory (with its eval/, e.g. "
                                           "weights/teacher_synthetic) adopted as every seed's teacher run "
                                           "instead of training one; empty = train it (teacher_budget)")
    results: str = cfg_field("docs/results/synthetic_ablation", help="path stem of the .md/.json table")
    seeds: list[int] = cfg_field(default_factory=lambda: [0, 1], min=0)
    device: str = cfg_field("auto")
    world: WorldData | None = cfg_field(None, help="render synthetic data first (sets dataset/val_dataset roots)")
    dataset: DatasetConfig = cfg_field(default_factory=DatasetConfig)
    val_dataset: DatasetConfig = cfg_field(default_factory=DatasetConfig)
    val_max_samples: int = cfg_field(0, min=0)
    checkpoint_eval_samples: int = cfg_field(0, min=0, help="held-out samples per checkpoint evaluation (0 = all)")
    model: ModelConfig = cfg_field(default_factory=ModelConfig)
    teacher: TeacherConfig = cfg_field(default_factory=TeacherConfig)
    teacher_cache: str = cfg_field("", help="disk cache of teacher outputs for rows whose KD needs only the output "
                                            "(keyed by the teacher's weights; empty = teacher in the loop)")
    teacher_dataset: dict[str, Any] = cfg_field(default_factory=dict, help="overrides of dataset for the teacher "
                                                "stage (e.g. gt_source: render, labelled_every: 1: the whole corpus, dense)")
    teacher_loss: Literal["ssi_disparity", "ssi_relative"] = cfg_field("ssi_disparity", help="the teacher stage's loss (TrainConfig.teacher_loss)")
    teacher_sky_depth: float = cfg_field(0.0, min=0, help="the teacher stage's sky depth (TrainConfig.teacher_sky_depth)")
    teacher_budget: StageBudget = cfg_field(default_factory=StageBudget)
    acclimate_budget: StageBudget = cfg_field(default_factory=StageBudget)
    student_budget: StageBudget = cfg_field(default_factory=StageBudget)
    rows: list[AblationRow] = cfg_field(default_factory=list)
    export: list[ExportSpec] = cfg_field(default_factory=list, help="finished students to copy to weights dirs")
    export_teacher: str = cfg_field("", help="weights directory for the first seed's trained teacher (fp16 Hugging "
                                             "Face directory + its held-out eval); empty = not exported")

    def validate(self) -> None:
        from ..config import ConfigError

        names = [r.name for r in self.rows]
        for i, e in enumerate(self.export):
            if e.row not in names and e.row != BEST_ROW:
                raise ConfigError(f"row {e.row!r} is not one of the rows ({', '.join(names)})", key=f"export[{i}].row")
            if not e.to:
                raise ConfigError("a weights directory is required", key=f"export[{i}].to")
            if e.seed not in self.seeds:
                raise ConfigError(f"seed {e.seed} is not one of the seeds {self.seeds}", key=f"export[{i}].seed")


def _run_cfg(ab: AblationConfig, stage: str, out: Path, seed: int, budget: StageBudget, **kw) -> TrainConfig:
    cfg = TrainConfig(
        stage=stage, out_dir=str(out), seed=seed, steps=budget.steps, batch_size=budget.batch_size,
        log_every=10, ckpt_every=max(10, budget.steps // 10), device=ab.device, dataset=ab.dataset,
        val_dataset=ab.val_dataset, val_max_samples=ab.val_max_samples,
        checkpoint_eval_samples=ab.checkpoint_eval_samples, model=ab.model,
        teacher=ab.teacher, optim=budget.optim, **kw,
    )
    cfg.validate()
    return cfg


BEST_ROW = "best"
NOTES_MARKER = "<!-- notes: kept when the table is regenerated -->"
TEACHER_RAW_ROW = "teacher (relative, trained on the whole corpus; scale/shift fitted to GT per image)"
TEACHER_BEFORE_ROW = "reference: teacher before acclimation (relative; scale/shift fitted to GT per image)"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "row"


def _run_dir(ab: AblationConfig, seed: int, name: str) -> Path:
    """``<out_dir>/seed<k>/<name>``; the teacher runs live under ``teacher_dir`` when it is set."""
    base = (ab.teacher_dir or ab.out_dir) if name == "teacher" else ab.out_dir
    return Path(base) / f"seed{seed}" / name


def _finished(run: Path) -> bool:
    return (run / "eval" / "metrics.json").is_file()


def _override(obj, overrides: dict, what: str):
    """``obj`` (a config dataclass) with ``overrides`` applied, validated like a config file."""
    if not overrides:
        return obj
    merged = {**to_dict(obj), **overrides}
    return from_dict(type(obj), merged, source=what)


def _row_distill(ab: AblationConfig, row: AblationRow, seed: int) -> DistillConfig:
    """The row's DistillConfig; ``acclimated: true`` becomes this seed's acclimate run."""
    d = dict(row.distill)
    if ab.teacher_cache:
        d.setdefault("teacher_cache", ab.teacher_cache)
    if d.pop("acclimated", False):
        d["acclimated"] = str(_run_dir(ab, seed, "acclimate"))
    return from_dict(DistillConfig, d, source=f"ablation row {row.name!r}", prefix="distill")


def teacher_run_config(ab: AblationConfig, seed: int) -> TrainConfig:
    """The teacher run of ``seed``: the teacher stage on ``teacher_dataset`` with the teacher budget."""
    tab = dataclasses.replace(ab, dataset=_override(ab.dataset, ab.teacher_dataset, "teacher_dataset"))
    return _run_cfg(tab, "teacher", _run_dir(ab, seed, "teacher"), seed, ab.teacher_budget,
                    teacher_loss=ab.teacher_loss, teacher_sky_depth=ab.teacher_sky_depth)


def _trained_teacher(ab: AblationConfig, seed: int) -> TeacherConfig:
    """The teacher config the students of ``seed`` distil from: that seed's teacher run's weights."""
    return dataclasses.replace(ab.teacher, path=str(_run_dir(ab, seed, "teacher") / "teacher"), arch=None)


def row_run_config(ab: AblationConfig, row: AblationRow, seed: int, teacher: TeacherConfig) -> TrainConfig:
    """The student run of ``row`` and ``seed`` distilling from ``teacher`` (a trained teacher's config)."""
    rab = dataclasses.replace(ab, teacher=teacher,
                              dataset=_override(ab.dataset, row.dataset, f"row {row.name!r} dataset"),
                              model=_override(ab.model, row.model, f"row {row.name!r} model"))
    return _run_cfg(rab, "student", _run_dir(ab, seed, _slug(row.name)), seed, row_budget(ab, row),
                    distill=_row_distill(ab, row, seed))


def row_budget(ab: AblationConfig, row: AblationRow) -> StageBudget:
    """The student budget of ``row``: the ablation's, with the row's own number of steps if it has one."""
    return dataclasses.replace(ab.student_budget, steps=row.steps) if row.steps else ab.student_budget


def run_ablation(
    ab: AblationConfig,
    *,
    stop_after_minutes: float | None = None,
    progress: bool = True,
    seeds: list[int] | None = None,
    rows: list[str] | None = None,
    source: str = "config/ablation/synthetic.yaml",
) -> dict:
    """Run every missing piece of the ablation, then write the table; returns the table dict.

    ``seeds`` restricts which of the config's seeds this call trains (several processes can
    share the work, one seed each) and ``rows`` which rows (by name); the teacher and the
    acclimation run only when a selected row needs them. The table always covers every
    finished run.
    """
    from .trainer import train

    t0 = time.time()
    ab = with_rendered_world(ab)

    def time_left() -> bool:
        return stop_after_minutes is None or (time.time() - t0) / 60 < stop_after_minutes

    selected = [r for r in ab.rows if rows is None or r.name in rows]
    if rows is not None and len(selected) != len(set(rows)):
        from ..errors import DisdepthError

        unknown = sorted(set(rows) - {r.name for r in ab.rows})
        raise DisdepthError(f"--rows: unknown row(s) {unknown}; the config's rows are {[r.name for r in ab.rows]}")
    needs_teacher = rows is None or any(_row_distill(ab, r, 0).needs_teacher for r in selected)
    needs_acclimate = rows is None or any(r.distill.get("acclimated") for r in selected)
    for seed in (seeds if seeds is not None else ab.seeds):
        teacher_run = _run_dir(ab, seed, "teacher")
        if needs_teacher and ab.teacher_from:
            ensure_adopted(Path(ab.teacher_from), teacher_run)
        if needs_teacher and not _finished(teacher_run) and time_left():
            train(teacher_run_config(ab, seed), progress=progress)
        teacher_cfg = _trained_teacher(ab, seed)
        accl_run = _run_dir(ab, seed, "acclimate")
        if needs_acclimate and not _finished(accl_run) and time_left():
            train(_run_cfg(dataclasses.replace(ab, teacher=teacher_cfg), "acclimate", accl_run, seed,
                           ab.acclimate_budget), progress=progress)
        for row in selected:
            run = _run_dir(ab, seed, _slug(row.name))
            if _finished(run) or not time_left():
                continue
            train(row_run_config(ab, row, seed, teacher_cfg), progress=progress)
    table = write_table(ab, source)
    table["exported"] = [str(p) for p in export_students(ab, source)]
    t = export_teacher(ab, source)
    if t is not None:
        table["exported"].append(str(t))
    return table


def reevaluate(ab: AblationConfig, *, seeds: list[int] | None = None, rows: list[str] | None = None,
               progress: bool = True) -> list[tuple[Path, float, float]]:
    """Evaluate the finished student runs of ``rows``/``seeds`` (default all) again with today's
    held-out evaluation (:func:`~disdepth_core.training.trainer.evaluate_exported_student`: the
    run's exported checkpoint through the engine), replacing their ``eval/``; no training. For runs
    finished before the evaluation scored something new (the confidence). Returns (run, AbsRel
    before, AbsRel now) per run: the depth metrics must not move."""
    from ..data.registry import build_dataset
    from ..runtime.factory import resolve_device
    from .trainer import evaluate_exported_student

    ab = with_rendered_world(ab, progress)
    names = {r.name for r in ab.rows}
    if rows is not None and not set(rows) <= names:
        from ..errors import DisdepthError

        raise DisdepthError(f"--rows: unknown row(s) {sorted(set(rows) - names)}; the config's rows are "
                            f"{[r.name for r in ab.rows]}")
    device = resolve_device(ab.device, key="device")
    ds, done = None, []
    for seed in (seeds if seeds is not None else ab.seeds):
        for row in ab.rows:
            run = _run_dir(ab, seed, _slug(row.name))
            if (rows is not None and row.name not in rows) or not _finished(run) or not (run / "student").is_dir():
                continue
            cfg = row_run_config(ab, row, seed, _trained_teacher(ab, seed))
            ds = ds or build_dataset(cfg.val_dataset, split=cfg.val_dataset.split)
            before = json.loads((run / "eval" / "metrics.json").read_text())["metric"]["all"]["abs_rel"]
            now = evaluate_exported_student(run, cfg, device, ds, progress=progress)["metric"]["all"]["abs_rel"]
            done.append((run, float(before), float(now)))
    return done


def ensure_adopted(weights: Path, run: Path) -> bool:
    """Adopt ``weights`` as the teacher run ``run`` unless it is finished already: a run trained here is
    kept, and a run adopted earlier is adopted again when the weights directory now holds other weights
    (a continued teacher shipped since), so that new rows distil from the teacher the config names.
    True when it (re)adopted."""
    if _finished(run):
        if not (run / "adopted.json").is_file():
            return False
        mine, theirs = run / "teacher" / "model.safetensors", weights / "model.safetensors"
        if mine.is_file() and theirs.is_file() and filecmp.cmp(mine, theirs, shallow=False):
            return False
        print(f"{run}: {weights} holds other weights than the teacher adopted before; adopting them "
              "(rows finished before keep their results)")
    adopt_teacher(weights, run)
    return True


def adopt_teacher(weights: Path, run: Path) -> None:
    """Make ``run`` a finished teacher run from a trained teacher's weights directory: its weights
    to ``run/teacher``, its held-out eval to ``run/eval`` (the table's teacher row) and where they came from."""
    from ..errors import DisdepthError

    missing = [n for n in ("config.json", "model.safetensors", "eval/metrics.json") if not (weights / n).is_file()]
    if missing:
        raise DisdepthError(f"teacher_from {weights}: not a trained teacher's weights directory (missing "
                            f"{', '.join(missing)})")
    run.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(run / "teacher", ignore_errors=True)
    (run / "teacher").mkdir()
    for f in weights.iterdir():
        if f.is_file():
            shutil.copy2(f, run / "teacher" / f.name)
    (run / "adopted.json").write_text(json.dumps({"teacher_from": str(weights)}, indent=1) + "\n")
    shutil.rmtree(run / "eval", ignore_errors=True)
    shutil.copytree(weights / "eval", run / "eval")  # last: eval/metrics.json marks the run finished


def export_teacher(ab: AblationConfig, source: str, trained_by: str = "") -> Path | None:
    """Copy the first seed's finished teacher to ``ab.export_teacher`` as fp16 safetensors (a local
    Hugging Face directory that ``load_teacher`` reads) with its held-out eval and provenance.

    A run that continued a trained teacher (``ab.teacher.path`` set) records that teacher's own
    provenance under ``init``; ``trained_by`` names the command (default: ``disdepth ablate``)."""
    run = _run_dir(ab, ab.seeds[0], "teacher")
    if not ab.export_teacher or (run / "adopted.json").is_file():
        return None  # an adopted teacher is exported already: it came from a weights directory
    if not _finished(run):
        return None
    from ..models.teacher import TEACHER_PROVENANCE, load_teacher_model, save_teacher

    dst = Path(ab.export_teacher)
    init = None
    if ab.teacher.path:  # read before dst is replaced: the init may be the directory exported to
        prov = Path(ab.teacher.path) / TEACHER_PROVENANCE
        init = {"from": ab.teacher.path, **(json.loads(prov.read_text()) if prov.is_file() else {})}
    if dst.exists():
        shutil.rmtree(dst)
    save_teacher(load_teacher_model(run / "teacher"), dst, fp16=True)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    (dst / "eval").mkdir()
    for f in ("metrics.json", "report.md", "mosaic_0.png"):
        if (run / "eval" / f).is_file():
            shutil.copy2(run / "eval" / f, dst / "eval" / f)
    for f in ("loss_curve.png", "eval_curve.png", "eval_history.csv"):
        if (run / f).is_file():
            shutil.copy2(run / f, dst / "eval" / f)
    (dst / TEACHER_PROVENANCE).write_text(json.dumps({
        "trained_by": trained_by or f"disdepth ablate --config {source}", "seed": ab.seeds[0],
        "steps": ab.teacher_budget.steps, "init": init,
        "batch_size": ab.teacher_budget.batch_size, "output": "relative disparity (affine-invariant)",
        "loss": ab.teacher_loss, "sky_depth_m": ab.teacher_sky_depth or None,
        "grid_stride": ab.teacher.grid_stride,
        "train_data": {"dataset": ab.dataset.name, **ab.teacher_dataset,
                       "world": to_dict(ab.world) if ab.world else None},
        "eval_held_out_affine_aligned": {"abs_rel": metrics["metric"]["all"]["abs_rel"],
                                         "rmse": metrics["metric"]["all"]["rmse"], "a1": metrics["metric"]["all"]["a1"]},
    }, indent=2) + "\n")
    return dst


def _same_export(new: Path, old: Path) -> bool:
    """Whether the weights directory ``old`` already holds what ``new`` holds (the same weights,
    config, eval files and meta apart from the time it was saved)."""
    from ..models.checkpoint import META_FILE

    if not old.is_dir():
        return False
    files = sorted(f.relative_to(new) for f in new.rglob("*") if f.is_file())
    if files != sorted(f.relative_to(old) for f in old.rglob("*") if f.is_file()):
        return False
    for f in files:
        if f == Path(META_FILE):
            a, b = (json.loads((d / f).read_text()) for d in (new, old))
            a.pop("saved_unix", None), b.pop("saved_unix", None)
            if a != b:
                return False
        elif not filecmp.cmp(new / f, old / f, shallow=False):
            return False
    return True


def export_students(ab: AblationConfig, source: str) -> list[Path]:
    """Copy each ``export`` entry's finished student to its weights directory (fp16) with its eval."""
    from ..models.checkpoint import load_student, save_student

    written = []
    rows = {r.name: r for r in ab.rows}
    for e in ab.export:
        row_name, chosen_by = e.row, "named in the export section"
        if e.row == BEST_ROW:
            done = [(json.loads((_run_dir(ab, e.seed, _slug(r.name)) / "eval" / "metrics.json").read_text())
                     ["metric"]["all"]["abs_rel"], r.name) for r in ab.rows
                    if not r.reference and _finished(_run_dir(ab, e.seed, _slug(r.name)))]
            table = Path(ab.results).with_suffix(".json")
            carried = []  # rows whose export seed ran on another machine: that seed's result (a whole
            for r in (json.loads(table.read_text())["rows"] if table.is_file() else []):  # legacy row: its mean)
                if r["name"] not in rows or rows[r["name"]].reference or _finished(_run_dir(ab, e.seed, _slug(r["name"]))):
                    continue
                if str(e.seed) in r.get("per_seed", {}):
                    carried.append((r["per_seed"][str(e.seed)]["abs_rel"], r["name"]))
                elif r.get("carried") and "per_seed" not in r:
                    carried.append((r["abs_rel"], r["name"]))
            if not done:
                continue
            if carried and min(carried) < min(done):
                print(f"export to {e.to}: kept; {min(carried)[1]!r} of the previous table (AbsRel "
                      f"{min(carried)[0]:.4f}) is still better than every row run here")
                continue
            row_name = min(done)[1]
            chosen_by = ("lowest held-out metric AbsRel among the finished rows: "
                         + ", ".join(f"{n} {v:.4f}" for v, n in sorted(done + carried)))
        run = _run_dir(ab, e.seed, _slug(row_name))
        if not _finished(run):
            continue
        dst = Path(e.to)
        dst.parent.mkdir(parents=True, exist_ok=True)  # a fresh name per export: two ablate processes may end at once
        new = Path(tempfile.mkdtemp(prefix=f"{dst.name}.exporting-", dir=dst.parent))
        new.chmod(0o755)  # mkdtemp's 0700 would become the weights directory's mode
        metrics = json.loads((run / "eval" / "metrics.json").read_text())
        save_student(load_student(run / "student"), new, fp16=True, extra_meta={
            "trained_by": f"disdepth ablate --config {source}", "row": row_name, "chosen_by": chosen_by,
            "seed": e.seed,
            "steps": row_budget(ab, rows[row_name]).steps, "batch_size": ab.student_budget.batch_size,
            "train_data": {"dataset": ab.dataset.name, "gt_source": ab.dataset.resolved().gt_source,
                           "world": to_dict(ab.world) if ab.world else None},
            "distill": to_dict(_row_distill(ab, rows[row_name], e.seed)),
            "row_dataset": dict(rows[row_name].dataset), "labelled_every": ab.dataset.labelled_every,
            "eval_held_out": {"abs_rel": metrics["metric"]["all"]["abs_rel"], "rmse": metrics["metric"]["all"]["rmse"],
                              "a1": metrics["metric"]["all"]["a1"], "cross_view": metrics.get("cross_view")},
        })
        (new / "eval").mkdir()
        for f in ("metrics.json", "report.md", "per_camera.png", "error_vs_distance.png", "mosaic_0.png"):
            if (run / "eval" / f).is_file():
                shutil.copy2(run / "eval" / f, new / "eval" / f)
        if _same_export(new, dst):  # the same student exported again: keep the committed files as they are
            shutil.rmtree(new)
        else:
            if dst.exists():
                shutil.rmtree(dst)
            new.rename(dst)
        written.append(dst)
    return written


def _cost_key(row: AblationRow) -> str:
    """Cost entry of a row: rows that change the student architecture have their own."""
    return f"student:{_slug(row.name)}" if row.model else "student"


def _weights_id(directory: Path) -> str:
    """Size and modification time of a model directory's weight files: changes when it is retrained."""
    files = sorted(directory.glob("*.safetensors"))
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


def measure_costs(ab: AblationConfig, *, refresh: bool = False) -> dict:
    """Params, GFLOPs and CPU latency of every student architecture of the rows, the raw teacher and
    the acclimated teacher (those whose runs exist).

    One batch of six cameras at the dataset's working size, fp32, this process's torch
    threads; cached in ``<out_dir>/costs.json`` (``refresh`` measures again; a cache missing an
    entry that can now be measured is refreshed).
    """
    import torch

    from ..benchmark.model_cost import measure_round_robin
    from ..models.fuse import fold_batchnorm
    from ..models.student import build_student
    from ..models.teacher import load_teacher, teacher_from_config
    from .acclimated_io import load_acclimated

    # the first seed whose teacher is on this machine (a checkout may hold only another seed's runs)
    seed = next((s for s in ab.seeds if (_run_dir(ab, s, "teacher") / "teacher").is_dir()), ab.seeds[0])
    teacher_weights = _run_dir(ab, seed, "teacher") / "teacher"
    accl = _run_dir(ab, seed, "acclimate") / "acclimated"
    wanted = {"student"} | {_cost_key(r) for r in ab.rows}
    if teacher_weights.is_dir():
        wanted.add("teacher_raw")
    if accl.is_dir() and teacher_weights.is_dir():
        wanted.add("teacher")
    # a teacher retrained in place (same directory, other weights) must be measured again
    weights_ids = {k: _weights_id(d) for k, d in (("teacher_raw", teacher_weights), ("teacher", accl)) if k in wanted}
    cache = Path(ab.out_dir) / "costs.json"
    if cache.is_file() and not refresh:
        old = json.loads(cache.read_text())
        if wanted <= set(old) and all(old.get("weights_ids", {}).get(k) == v for k, v in weights_ids.items()):
            return old
    size = tuple(ab.dataset.size or ab.model.input_size)
    x = torch.randn(6, 3, *size)
    entries = []
    models = {"student": ab.model}
    models.update({_cost_key(r): _override(ab.model, r.model, r.name) for r in ab.rows if r.model})
    for key, mcfg in models.items():
        student = build_student(dataclasses.replace(mcfg, pretrained=None)).eval()
        fold_batchnorm(student)  # the inference form the torch engine runs
        entries.append((key, student.to(memory_format=torch.channels_last),
                        x.contiguous(memory_format=torch.channels_last), ""))
    if "teacher_raw" in wanted:
        entries.append(("teacher_raw", load_teacher(teacher_weights, grid_stride=ab.teacher.grid_stride), x, ""))
    if "teacher" in wanted:
        tcfg = dataclasses.replace(ab.teacher, path=str(teacher_weights), arch=None)
        entries.append(("teacher", load_acclimated(accl, teacher_from_config(tcfg)).eval(), x, ""))
    rows = measure_round_robin(entries, warmup=1, runs=5)
    out = {r.name: {"params": r.params, "gflops": r.flops / 1e9, "latency_ms": r.latency_ms} for r in rows}
    out["conditions"] = (f"batch 6x3x{size[0]}x{size[1]}, fp32 CPU, {torch.get_num_threads()} torch thread(s), "
                         "median of 5 interleaved runs")
    out["weights_ids"] = weights_ids
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out, indent=2) + "\n")
    return out


def _mean_spread(vals: list[float]) -> tuple[float | None, float | None]:
    """Mean and half-range of the measured values; (None, None) when none was measured (the JSON
    table then holds null, not NaN, which strict JSON readers reject)."""
    vals = [v for v in vals if v is not None and not math.isnan(v)]
    if not vals:
        return None, None
    m = sum(vals) / len(vals)
    return m, (max(vals) - min(vals)) / 2 if len(vals) > 1 else 0.0


_SEED_KEYS = ("abs_rel", "rmse", "a1", "abs_rel_median_scaled", "cross_view", "confidence_ause_ratio")


def _seed_record(m: dict) -> dict:
    """One run's table entries from its ``eval/metrics.json`` (missing ones None; a confidence only
    for a bin-head student evaluated since the held-out evaluation scores it)."""
    conf = m.get("confidence")
    return {"abs_rel": m["metric"]["all"]["abs_rel"], "rmse": m["metric"]["all"]["rmse"],
            "a1": m["metric"]["all"]["a1"],
            "abs_rel_median_scaled": m["median"]["all"]["abs_rel"] if "median" in m else None,
            "cross_view": m.get("cross_view"),
            "confidence_ause_ratio": conf["all"]["ause_ratio"] if conf else None}


def _pm(value: float, spread: float, digits: int = 4) -> str:
    """``value ± spread``, or an em dash when there is no value."""
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f} ± {spread:.{digits}f}"


def _aggregate(row: dict) -> dict:
    """``row`` with its seed count and, per table entry, mean and half-range over ``row["per_seed"]``."""
    recs = list(row["per_seed"].values())
    row["seeds"] = len(recs)
    for k in _SEED_KEYS:
        row[k], row[f"{k}_spread"] = _mean_spread([r.get(k) for r in recs])
    return row


def _with_carried_rows(rows: list[dict], order: list[str], previous: Path, costs: dict[str, dict],
                       seeds: list[int]) -> list[dict]:
    """``rows`` (each with this machine's ``per_seed`` records) merged with the previous table
    (``previous`` JSON), so that results survive a fresh checkout, in the config's row ``order``:

    - a row none of this machine's runs cover is carried whole (flagged ``carried``);
    - a row run here for some seeds keeps the previous table's records of its other seeds (of the
      config's ``seeds``), listed in ``carried_seeds``: a new seed adds to the row;
    - a previous row without per-seed records (tables written before they were kept) cannot be
      merged seed by seed and is replaced by the runs here.

    Carried rows' cost columns are this machine's (``costs`` by row name), measured like every other row's."""
    prev = {r["name"]: r for r in (json.loads(previous.read_text()).get("rows", []) if previous.is_file() else [])}
    wanted = {str(s) for s in seeds}
    have = {r["name"] for r in rows}
    for r in rows:
        old = prev.get(r["name"], {}).get("per_seed", {})
        extra = {k: v for k, v in old.items() if k in wanted and k not in r["per_seed"]
                 and v not in r["per_seed"].values()}  # an adopted teacher's record is one teacher
        if extra:
            r["per_seed"] = dict(sorted({**r["per_seed"], **extra}.items()))
            r["carried_seeds"] = sorted(int(k) for k in extra)
        _aggregate(r)
    carried = []
    for name, r in prev.items():
        if name not in order or name in have:
            continue
        r = {**r, "carried": True}
        if "per_seed" in r:
            r["per_seed"] = {k: v for k, v in r["per_seed"].items() if k in wanted}
            if not r["per_seed"]:
                continue
            _aggregate(r)
        c = costs.get(name)
        if c:
            r.update(params=c["params"], gflops=c["gflops"], latency_ms=c["latency_ms"])
        carried.append(r)
    return sorted(rows + carried, key=lambda r: order.index(r["name"]))


def _carried_mark(row: dict) -> str:
    """The table's seed-column mark: ' †' for a carried row, ' (seeds 0, 1 †)' for carried seeds."""
    if row.get("carried"):
        return " †"
    if row.get("carried_seeds"):
        return f" (seed{'s' if len(row['carried_seeds']) > 1 else ''} {', '.join(map(str, row['carried_seeds']))} †)"
    return ""


def write_table(ab: AblationConfig, source: str = "config/ablation/synthetic.yaml") -> dict:
    """Collect finished runs into ``<results>.json`` and ``.md`` (mean ± half-range over seeds)."""
    root = Path(ab.out_dir)
    costs = measure_costs(ab)
    rows = []
    # (row name, eval directory under seed<k>/, cost entry)
    entries = [(r.name, f"{_slug(r.name)}/eval", _cost_key(r)) for r in ab.rows] + [
        ("teacher (acclimated)", "acclimate/eval", "teacher")]
    if ab.teacher_dataset:  # the teacher trained on its own data (the whole corpus): its own row
        entries.append((TEACHER_RAW_ROW, "teacher/eval", "teacher_raw"))
    reference = [(TEACHER_BEFORE_ROW, "acclimate/eval_teacher_before", "")]
    for name, sub, cost_key in entries + reference:
        per_seed: dict[str, dict] = {}
        base = Path(ab.teacher_dir or ab.out_dir) if sub.startswith("teacher/") else root
        for seed in ab.seeds:
            f = base / f"seed{seed}" / sub / "metrics.json"
            if f.is_file():
                r = _seed_record(json.loads(f.read_text()))
                if (f.parent.parent / "adopted.json").is_file() and r in per_seed.values():
                    continue  # the same shipped teacher adopted by another seed: one teacher, not a second seed
                per_seed[str(seed)] = r
        if not per_seed:
            continue
        row: dict[str, Any] = {"name": name, "per_seed": per_seed}
        cost = costs.get(cost_key)
        if cost:
            row.update(params=cost["params"], gflops=cost["gflops"], latency_ms=cost["latency_ms"])
        rows.append(row)
    rows = _with_carried_rows(rows, [n for n, _, _ in entries + reference], Path(ab.results).with_suffix(".json"),
                              {n: costs[k] for n, _, k in entries + reference if costs.get(k)}, ab.seeds)
    finished = sum(r["seeds"] for r in rows if r["name"] != TEACHER_BEFORE_ROW)
    expected = len(entries) * len(ab.seeds)
    table = {"config": to_dict(ab), "rows": rows, "cost_conditions": costs.get("conditions", ""),
             "runs_finished": finished, "runs_expected": expected}
    stem = Path(ab.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(table, indent=2, default=float) + "\n")
    status = ("complete" if finished == expected else
              f"IN PROGRESS: {finished} of {expected} runs finished; rerun the command to continue")
    md = [f"Distillation ablation on the synthetic world — {status}.", "",
          f"Command: `disdepth ablate --config {source}`; metric (unscaled) depth on held-out sequences, "
          "mean ± half-range over seeds (AbsRel median-scaled: each image's prediction scaled by "
          "median(GT)/median(prediction) first, i.e. structure without scale); the acclimated teacher row is a "
          "metric model too; cross-view: mean relative disagreement of adjacent cameras' depth in their overlaps "
          "(lower is more consistent); confidence: AUSE of the published confidence over a random order's "
          "(sparsification of AbsRel; below 1 = it ranks the errors, — = not measured for that run). "
          f"Training data: {ab.dataset.name}, ground truth {ab.dataset.resolved().gt_source}; evaluation ground "
          f"truth {ab.val_dataset.resolved().gt_source}. Student budget: {ab.student_budget.steps} steps of "
          f"{ab.student_budget.batch_size} samples (a row with its own says so in its name). Cost columns: {costs.get('conditions', 'not measured yet')}.", "",
          "| row | seeds | AbsRel | RMSE (m) | δ<1.25 | AbsRel median-scaled | cross-view | confidence AUSE / "
          "random | params (M) | GFLOPs | CPU latency (ms) |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cost = (f"{r['params'] / 1e6:.2f} | {r['gflops']:.1f} | {r['latency_ms']:.0f}" if "params" in r
                else " | | ")
        md.append(
            f"| {r['name']} | {r['seeds']}{_carried_mark(r)} | {r['abs_rel']:.4f} ± {r['abs_rel_spread']:.4f} | {r['rmse']:.3f} ± "
            f"{r['rmse_spread']:.3f} | {r['a1']:.4f} ± {r['a1_spread']:.4f} | {r['abs_rel_median_scaled']:.4f} ± "
            f"{r['abs_rel_median_scaled_spread']:.4f} | {r['cross_view']:.4f} ± "
            f"{r['cross_view_spread']:.4f} | {_pm(r.get('confidence_ause_ratio'), r.get('confidence_ause_ratio_spread'), 3)} | {cost} |"
        )
    if any(r.get("carried") or r.get("carried_seeds") for r in rows):
        md += ["", "† carried over from the previous table: the runs of these rows are not on this machine "
                   "(a row is recomputed from its runs as soon as one of its runs is here); "
                   "\"(seeds k †)\": only those seeds' results are carried, the others were run here."]
    md_path = stem.with_suffix(".md")
    old = md_path.read_text() if md_path.is_file() else ""
    if NOTES_MARKER in old:  # a hand-written reading of the table below the marker survives regeneration
        md += ["", NOTES_MARKER + old.split(NOTES_MARKER, 1)[1].rstrip("\n")]
    md_path.write_text("\n".join(md) + "\n")
    return table
