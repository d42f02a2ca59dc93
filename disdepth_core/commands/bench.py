"""``disdepth bench``: measure costs. ``--models``: parameters, FLOPs and CPU latency of every
student backbone with and without LG-Conv and of the teacher architectures, on one batch of
``--batch`` cameras at ``--size`` (default 6 x 352x640).

``--backend [LIST]``: the depth engines (torch, onnxruntime, tensorrt; default all available)
on one step of ``--batch`` cameras at ``--size``: p50/p90 of pre-processing, network,
post-processing and point cloud, throughput, peak memory, and the default student vs the
Depth Anything V2-S architecture teacher (see :mod:`disdepth_core.benchmark.backends`).

Sections are independent flags; each adds its own table. ``--json``: with ``--models`` alone a
JSON list of model rows; with ``--backend`` a JSON object (``backends`` with per-backend
``p50_ms``..., ``student_vs_teacher_speedup``..., and ``models`` when ``--models`` is also given).
"""

from __future__ import annotations

import argparse
import gc
import json
import math

from .common import parse_size, positive_int

DEFAULT_STUDENT = "student_default"
TEACHERS = ("tiny", "da_v2_small", "da_v2_base")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark models (params, FLOPs, CPU latency) and depth engine backends")
    what = p.add_argument_group("what to benchmark (at least one)")
    what.add_argument("--models", action="store_true", help="every backbone +/- LG-Conv and the teacher architectures")
    what.add_argument("--backend", nargs="?", const="all", default=None, metavar="LIST",
                      help="depth engines to time, comma-separated (torch,onnxruntime,tensorrt; default: all)")
    p.add_argument("--size", type=parse_size, default=(352, 640), help="image size HxW (default 352x640)")
    p.add_argument("--batch", type=positive_int, default=6, help="images per call, i.e. cameras (default 6)")
    p.add_argument("--runs", type=positive_int, default=3, help="timed runs per model; the median is reported")
    p.add_argument("--interleave", action="store_true", help="hold all models and time them round-robin "
                   "(same machine load for every row; but with many models in one process the small ones "
                   "slow down several-fold, so the default times each model alone, built just before)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up runs per model (default 1)")
    p.add_argument("--only", default=None, help="comma-separated row names or prefixes to run (e.g. "
                   "'student_default,teacher/da_v2_small')")
    p.add_argument("--student", default=DEFAULT_STUDENT, help="student config (name or YAML) whose decoder/head "
                   "all student rows use (default: student_default)")
    from ..models.teacher_config import TeacherConfig

    p.add_argument("--teacher-grid-stride", type=positive_int, default=TeacherConfig.grid_stride,
                   help=f"teacher input = patch * ceil(H / stride) (default {TeacherConfig.grid_stride}: "
                        "teacher.grid_stride's, as in training)")
    p.add_argument("--no-fold", action="store_true", help="time students as trained (BatchNorm unfolded, "
                   "contiguous NCHW) instead of their inference form (BN folded, channels-last)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    eng = p.add_argument_group("--backend options")
    eng.add_argument("--checkpoint", default=None, help="student checkpoint directory (default: the shipped student, "
                     "else random weights of --student's architecture)")
    eng.add_argument("--device", default="auto", help="engine device: auto, cpu, cuda, cuda:N (default auto)")
    eng.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    eng.add_argument("--compile", action="store_true", help="torch backend: torch.compile (CUDA graphs on GPU)")
    eng.add_argument("--backend-runs", type=positive_int, default=20, help="timed steps per backend (default 20)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=run)


def _selected(name: str, only: list[str] | None) -> bool:
    return only is None or any(name == o or name.startswith(o) for o in only)


def model_rows(args: argparse.Namespace) -> list:
    """Benchmark rows for ``--models``: each model built, measured and freed in turn (or, with
    ``--interleave``, all held and timed round-robin)."""
    from dataclasses import replace

    import torch

    from ..benchmark.model_cost import measure, measure_round_robin
    from ..models.backbones import list_backbones
    from ..models.registry import load_model_config
    from ..models.teacher import DepthTeacher, build_teacher_model
    from ..models.teacher_config import TEACHER_PRESETS

    only = [o.strip() for o in args.only.split(",")] if args.only else None
    h, w = args.size
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, h, w)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    base = load_model_config(args.student)
    lg_stages = list(base.lgconv_stages) or [4]
    first = DEFAULT_STUDENT if args.student == DEFAULT_STUDENT else f"student:{args.student}"
    plan: list[tuple[str, object]] = [(first, base)]
    for name in list_backbones():
        plan.append((f"student/{name}", replace(base, backbone=name, lgconv_stages=[])))
        plan.append((f"student/{name}+lgconv", replace(base, backbone=name, lgconv_stages=lg_stages)))
    entries = []
    dec = "-".join(str(c) for c in base.decoder_channels)
    for label, cfg in plan:
        if not _selected(label, only):
            continue
        note = (f"{cfg.backbone}, LG-Conv stages {list(cfg.lgconv_stages) or 'none'}, decoder {dec}, "
                f"{cfg.head} head" + (f" N={cfg.num_bins}" if cfg.head == "bins" else ""))
        note += ", as trained" if args.no_fold else ", BN folded + channels-last"
        entries.append((label, lambda cfg=cfg: _student(cfg, args.no_fold), x if args.no_fold else x_cl, note))
    for preset in TEACHERS:
        label = f"teacher/{preset}"
        if not _selected(label, only):
            continue
        patch = TEACHER_PRESETS[preset].patch_size
        th, tw = patch * math.ceil(h / args.teacher_grid_stride), patch * math.ceil(w / args.teacher_grid_stride)
        factory = lambda p=preset: (DepthTeacher(build_teacher_model(p), grid_stride=args.teacher_grid_stride), None)  # noqa: E731
        entries.append((label, factory, x, f"Depth Anything arch, random weights, ViT input {th}x{tw}"))
    progress = lambda m: print(f"  ... {m}", flush=True)  # noqa: E731
    if args.interleave:
        built = [(label, factory(), xs, note) for label, factory, xs, note in entries]
        rows = measure_round_robin([(lb, mp[0], xs, n) for lb, mp, xs, n in built], warmup=args.warmup,
                                   runs=args.runs, progress=progress)
        for r, (_, mp, _, _) in zip(rows, built, strict=True):
            r.params = mp[1] or r.params
            _report(r)
        return rows
    rows = []
    for label, factory, xs, note in entries:
        model, params = factory()
        cost = measure(label, model, xs, warmup=args.warmup, runs=args.runs, note=note)
        cost.params = params or cost.params
        rows.append(_report(cost))
        del model
        gc.collect()
    return rows


def _student(cfg, no_fold: bool):
    """(model ready to time, parameter count as trained) for a student config."""
    from dataclasses import replace

    import torch

    from ..benchmark.model_cost import count_params
    from ..models.fuse import fold_batchnorm
    from ..models.student import build_student

    model = build_student(replace(cfg, pretrained=None)).eval()
    params = count_params(model)  # as trained (folding merges BN parameters into conv biases)
    if not no_fold:
        fold_batchnorm(model)
        model = model.to(memory_format=torch.channels_last)
    return model, params


def _report(cost):
    print(f"  {cost.name:<36} {cost.params / 1e6:7.2f} M  {cost.flops / 1e9:8.1f} GFLOPs  "
          f"{cost.latency_ms:9.1f} ms  (runs: {', '.join(f'{t:.0f}' for t in cost.latency_runs_ms)})", flush=True)
    return cost


def run(args: argparse.Namespace) -> int:
    import torch

    from ..benchmark.model_cost import markdown_table
    from ..errors import DisdepthError

    if not args.models and not args.backend:
        raise DisdepthError("nothing to benchmark: pass --models and/or --backend")
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = args.size
    print(f"benchmark: batch {args.batch} x 3 x {h} x {w}, {torch.get_num_threads()} torch threads, "
          f"warm-up {args.warmup}, median of {args.runs} runs", flush=True)
    rows = []
    if args.models:
        rows += model_rows(args)
        ref = "teacher/da_v2_small" if any(r.name == "teacher/da_v2_small" for r in rows) else None
        print()
        print(markdown_table(rows, reference=ref))
    data: object = [r.row() for r in rows]
    if args.backend:
        from ..benchmark.backends import markdown_table as backend_table

        data = backend_results(args)
        if args.models:
            data["models"] = [r.row() for r in rows]
        print()
        print(backend_table(data))
    if args.json:
        from pathlib import Path

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def backend_results(args: argparse.Namespace) -> dict:
    """``--backend``: the engine benchmark of :func:`disdepth_core.benchmark.backends.bench_backends`."""
    from ..benchmark.backends import bench_backends
    from ..errors import DisdepthError
    from ..models.registry import load_model_config
    from ..runtime.engine_config import BACKENDS
    from ..runtime.model_metadata import default_checkpoint

    engines = list(BACKENDS)
    names = engines if args.backend == "all" else [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = [b for b in names if b not in engines]
    if unknown:
        raise DisdepthError(f"--backend: unknown {', '.join(unknown)} (expected some of {', '.join(engines)})")
    checkpoint = args.checkpoint
    if checkpoint is None and default_checkpoint().is_dir():
        checkpoint = str(default_checkpoint())
    print(f"backends {', '.join(names)}: {args.batch} cameras x {args.size[0]}x{args.size[1]}, "
          f"{args.precision}, {args.backend_runs} steps after {max(args.warmup, 1)} warm-up; "
          f"weights: {checkpoint or 'random (architecture of ' + args.student + ')'}", flush=True)
    return bench_backends(names, checkpoint=checkpoint, model_config=load_model_config(args.student),
                          size=args.size, batch=args.batch, runs=args.backend_runs, warmup=max(args.warmup, 1),
                          device=args.device, precision=args.precision, teacher_runs=args.runs,
                          compile=args.compile, teacher_grid_stride=args.teacher_grid_stride,
                          progress=lambda m: print(m, flush=True))
