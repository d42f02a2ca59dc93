"""The training loop shared by the three stages: resumable, seeded, single process or DDP.

``train(cfg)`` builds the stage, restores ``<out_dir>/checkpoints/last`` when present,
runs ``cfg.steps`` optimiser steps with a progress bar, logs scalars to
``<out_dir>/log.csv``, checkpoints every ``ckpt_every`` steps, then exports the stage's
result, draws ``loss_curve.png`` and, with ``val_dataset``, evaluates on held-out data.

Distributed: run under ``torchrun --nproc_per_node N`` (gloo on CPU, NCCL on CUDA). Each
rank loads its own share of every global batch; the trainable module is wrapped in
DistributedDataParallel so all ranks hold identical weights after every step.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..config import save_config
from ..errors import DisdepthError
from ..runtime.factory import resolve_device
from .batching import fetch_batch
from .config import TrainConfig
from .stage import TrainingStage
from .stages import STAGES, lr_factor
from .state import load_training_state, save_training_state


def distributed_context(timeout_s: float | None = None) -> tuple[int, int, int]:
    """(rank, world_size, local_rank); initialises the process group under torchrun.

    ``timeout_s``: how long a collective (a barrier) may wait, when this call initialises the
    group (default torch's 30 min; ``disdepth distill`` waits longer while rank 0 extracts)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        import datetime

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        kw = {"timeout": datetime.timedelta(seconds=timeout_s)} if timeout_s else {}
        dist.init_process_group(backend=backend, **kw)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def train(
    cfg: TrainConfig,
    *,
    resume: bool = True,
    progress: bool = True,
    config_source: str = "",
    stop_after: int | None = None,
) -> Path:
    """Run (or resume) the training run ``cfg`` describes; returns its output directory.

    ``stop_after``: checkpoint and return once this step is reached (a time-boxed slice
    of a long run; call again to continue). Export and evaluation happen only when the
    run reaches ``cfg.steps``.
    """
    from ..data.registry import build_dataset

    rank, world, local_rank = distributed_context()
    device = resolve_device(cfg.device, local_rank, key="device")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints" / "last"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "train_config.yaml")
    torch.manual_seed(cfg.seed)
    dataset = build_dataset(cfg.dataset, split=cfg.dataset.split)
    if len(dataset) == 0:
        raise DisdepthError(f"training data {cfg.dataset.name} ({cfg.dataset.root}, split {cfg.dataset.split}) is empty")
    stage: TrainingStage = STAGES[cfg.stage](cfg, device)
    use_cuda_tricks = device.type == "cuda"
    if use_cuda_tricks and cfg.channels_last:
        for m in stage.modules.values():
            m.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(stage.param_groups(cfg.optim), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    start = 0
    if resume and ckpt_dir.is_dir():
        start, _ = load_training_state(ckpt_dir, stage.modules, optimizer)
        if rank == 0:
            print(f"resumed {out} at step {start}/{cfg.steps}")
    trainable = stage.trainable
    runner = trainable  # the module that runs forward: DDP-wrapped under torchrun
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        runner = DDP(trainable, device_ids=[device.index] if device.type == "cuda" else None,
                     find_unused_parameters=True)
    log_path = out / "log.csv"
    val_ds = None
    if rank == 0 and cfg.val_dataset is not None and cfg.eval_every_checkpoint:
        val_ds = build_dataset(cfg.val_dataset, split=cfg.val_dataset.split)
    fields: list[str] | None = None
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {cfg.stage}",
               disable=not progress or rank != 0, unit="step")
    for step in bar:
        if stop_after is not None and step >= stop_after:
            if rank == 0:
                save_training_state(ckpt_dir, stage.modules, optimizer, step, {"config": config_source})
            bar.close()
            if world > 1:
                dist.barrier()
            return out
        f = lr_factor(step, cfg.steps, cfg.optim.warmup_steps, cfg.optim.schedule, cfg.optim.min_lr_ratio)
        for g, lr in zip(optimizer.param_groups, base_lrs):
            g["lr"] = lr * f
        batch = fetch_batch(dataset, step, cfg.batch_size, cfg.seed, rank, world)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_cuda_tricks and cfg.amp):
            terms = stage.losses(batch, runner)
        loss = terms["total"]
        if not torch.isfinite(loss):
            raise DisdepthError(f"step {step}: loss is {float(loss)} (terms: { {k: float(v) for k, v in terms.items()} })")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps - 1):
            row = {"step": step, "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 2)}
            row.update({k: round(float(v.detach()) if torch.is_tensor(v) else float(v), 6) for k, v in terms.items()})
            new = not log_path.exists() or step == 0
            with log_path.open("w" if new else "a", newline="") as fh:
                if fields is None or new:
                    fields = list(row)
                w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
                if new:
                    w.writeheader()
                w.writerow(row)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            if rank == 0:
                save_training_state(ckpt_dir, stage.modules, optimizer, step + 1, {"config": config_source})
                if val_ds is not None:
                    _checkpoint_eval(stage, cfg, out, device, step + 1, val_ds)
                    for m in stage.modules.values():
                        m.train()
            if world > 1:
                dist.barrier()
    if world > 1:  # every rank records a checksum of its weights: they must be identical
        digest = _weights_digest(trainable)
        (out / f"ddp_rank{rank}.json").write_text(json.dumps({"rank": rank, "world": world, "sha256": digest}))
    if rank == 0:
        stage.export(out)
        _plot_losses(log_path, out / "loss_curve.png", title=f"{cfg.stage}: {out.name}")
        if cfg.val_dataset is not None:
            _evaluate(stage, cfg, out, device, val_ds)
    if world > 1:
        dist.barrier()
    return out


def held_out_summary(stage: TrainingStage | None, cfg: TrainConfig, ds, device, *, deployed: Path | None, max_samples: int,
                     progress: bool) -> dict:
    """Held-out metrics of the stage's model. A student is measured as deployed: ``deployed`` is its
    exported checkpoint directory, run by the inference engine (eval mode, the engine's pre- and
    post-processing, REP 117 values scored like ``eval-bag``); a teacher or an acclimated teacher
    (not deployed by the node) through its predictor, a relative teacher after per-image
    scale/shift alignment of its disparity."""
    from ..evaluation.evaluate import evaluate_dataset

    if deployed is not None:
        from ..evaluation.engine_eval import evaluate_checkpoint

        return evaluate_checkpoint(deployed, ds, dataset_name=cfg.val_dataset.name, device=str(device),
                                   max_samples=max_samples, progress=progress)
    predict = stage.predictor()
    with torch.no_grad():
        return evaluate_dataset(predict, ds, dataset_name=cfg.val_dataset.name, max_samples=max_samples,
                                device=device, progress=progress, align=stage.predictor_align)


def evaluate_exported_student(out: Path, cfg: TrainConfig, device, ds=None, progress: bool = True) -> dict:
    """The final held-out report of a student run ``out``: its exported ``out/student`` through the
    engine (``held_out_summary``) -> ``out/eval`` (metrics.json, report.md, PNGs); returns the summary.
    Also what ``disdepth ablate --reevaluate`` runs on a finished run."""
    from ..data.registry import build_dataset
    from ..evaluation.evaluate import write_report

    if ds is None:
        ds = build_dataset(cfg.val_dataset, split=cfg.val_dataset.split)
    summary = held_out_summary(None, cfg, ds, device, deployed=out / "student", max_samples=cfg.val_max_samples,
                               progress=progress)
    write_report(dict(summary), out / "eval", title=f"{cfg.stage} run {out.name} on {cfg.val_dataset.name} "
                 "(exported checkpoint through the inference engine)")
    return summary


def _checkpoint_eval(stage: TrainingStage, cfg: TrainConfig, out: Path, device, step: int, ds) -> None:
    """Held-out metrics of this checkpoint -> a row of ``eval_history.csv`` and ``eval_curve.png``."""
    deployed = None
    if cfg.stage == "student":  # export exactly as the final student is exported, then run it through the engine
        deployed = stage.export(out / "checkpoints" / "eval")
    n = cfg.checkpoint_eval_samples or cfg.val_max_samples
    summary = held_out_summary(stage, cfg, ds, device, deployed=deployed, max_samples=n, progress=False)
    row = {"step": step, "samples": summary["samples"]}
    for mode in ("metric", "median"):
        for k in ("abs_rel", "rmse", "a1"):
            row[f"{mode}_{k}"] = round(float(summary[mode]["all"][k]), 6)
    row["cross_view"] = round(float(summary.get("cross_view") or float("nan")), 6)
    conf = summary.get("confidence")  # a bin-head student through the engine: does its confidence rank errors?
    row["confidence_ause_ratio"] = round(float(conf["all"]["ause_ratio"]), 6) if conf else float("nan")
    path = out / "eval_history.csv"
    rows = []
    if path.is_file():
        with path.open() as fh:
            rows = [r for r in csv.DictReader(fh) if int(r["step"]) < step]
    rows.append(row)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerows(rows)
    _plot_eval_history(path, out / "eval_curve.png", title=f"{cfg.stage}: {out.name} held-out ({cfg.val_dataset.name})")
    tqdm.write(f"step {step}: held-out AbsRel {row['metric_abs_rel']:.4f}  RMSE {row['metric_rmse']:.3f}  "
               f"d1 {row['metric_a1']:.4f}  (median-scaled AbsRel {row['median_abs_rel']:.4f}, {row['samples']} samples)")


def _plot_eval_history(csv_path: Path, png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5), dpi=110)
    for k, lab in (("metric_abs_rel", "AbsRel"), ("median_abs_rel", "AbsRel median-scaled")):
        ax[0].plot(steps, [float(r[k]) for r in rows], marker="o", ms=3, label=lab)
    ax[1].plot(steps, [float(r["metric_a1"]) for r in rows], marker="o", ms=3, color="tab:green")
    ax[0].set_xlabel("step")
    ax[0].set_title("held-out AbsRel (lower is better)", fontsize=9)
    ax[0].legend(fontsize=7)
    ax[1].set_xlabel("step")
    ax[1].set_title("held-out δ<1.25", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def _evaluate(stage: TrainingStage, cfg: TrainConfig, out: Path, device, ds=None) -> None:
    """Final held-out report; ``ds`` is the held-out dataset the checkpoint evaluations already built."""
    from ..data.registry import build_dataset
    from ..evaluation.evaluate import evaluate_dataset, write_report

    if ds is None:
        ds = build_dataset(cfg.val_dataset, split=cfg.val_dataset.split)
    if cfg.stage == "student":  # its export, written by stage.export just before
        evaluate_exported_student(out, cfg, device, ds)
    else:
        summary = held_out_summary(stage, cfg, ds, device, deployed=None, max_samples=cfg.val_max_samples,
                                   progress=True)
        write_report(summary, out / "eval", title=f"{cfg.stage} run {out.name} on {cfg.val_dataset.name}")
    reference = stage.reference_predictor()  # acclimation: "preserves performance" is measured, not assumed
    if reference is not None:
        predict_ref, align = reference
        with torch.no_grad():
            ref = evaluate_dataset(predict_ref, ds, dataset_name=cfg.val_dataset.name,
                                   max_samples=cfg.val_max_samples, device=device, progress=True, align=align)
        write_report(ref, out / "eval_teacher_before", title=f"teacher before acclimation ({out.name})")


def _plot_losses(log_path: Path, png: Path, title: str) -> None:
    if not log_path.exists():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with log_path.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("step", "lr", "seconds")]
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for k in keys:
        vals = [float(r[k]) if r.get(k) not in (None, "") else float("nan") for r in rows]
        ax.plot(steps, vals, label=k, lw=1.2 if k == "total" else 0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def _weights_digest(module: torch.nn.Module) -> str:
    import hashlib

    # parameters only: BatchNorm running statistics are per-rank between DDP's buffer broadcasts
    h = hashlib.sha256()
    for k, v in sorted(module.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
