"""``disdepth ablate --config FILE``: the whole distillation ablation, resumable."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="run the distillation ablation (teacher, acclimation, students) and write the table")
    p.add_argument("--config", required=True, help="ablation config YAML (config/ablation/*.yaml)")
    p.add_argument("--stop-after-minutes", type=float, default=None,
                   help="start no new run after this many minutes (run the command again to continue)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="train only these of the config's seeds (e.g. one process per seed on a multi-core machine)")
    p.add_argument("--rows", nargs="+", default=None, metavar="NAME",
                   help="train only these rows (by name; the teacher/acclimation only if they need them)")
    p.add_argument("--teacher-from", default=None, metavar="DIR",
                   help="adopt this trained teacher (weights directory with eval/, e.g. weights/teacher_synthetic) "
                        "as every seed's teacher instead of training one (sets teacher_from)")
    p.add_argument("--table-only", action="store_true",
                   help="only rewrite the table from finished runs (and copy the config's export students)")
    p.add_argument("--reevaluate", action="store_true",
                   help="evaluate the finished students of --rows/--seeds (default all) again with the current "
                        "held-out evaluation, replacing their eval/ (no training), then rewrite the table")
    p.add_argument("--measure-cost", action="store_true",
                   help="measure params/GFLOPs/CPU latency again (cached in <out_dir>/costs.json; run on a quiet machine)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..training.ablation import (
        AblationConfig,
        export_students,
        export_teacher,
        run_ablation,
        write_table,
    )

    ab = load_config(AblationConfig, args.config)
    if args.teacher_from:
        import dataclasses

        ab = dataclasses.replace(ab, teacher_from=args.teacher_from)
    if args.seeds and not set(args.seeds) <= set(ab.seeds):
        from ..errors import DisdepthError

        raise DisdepthError(f"--seeds {args.seeds}: the config's seeds are {ab.seeds}")
    if args.measure_cost:
        from ..training.ablation import measure_costs

        measure_costs(ab, refresh=True)
    if args.reevaluate:
        from ..training.ablation import reevaluate

        for run, before, now in reevaluate(ab, seeds=args.seeds, rows=args.rows):
            print(f"{run}: held-out AbsRel {before:.4f} -> {now:.4f}")
    if args.table_only or args.reevaluate:
        table = write_table(ab, args.config)
        exported = export_students(ab, args.config)
        t = export_teacher(ab, args.config)
        exported += [t] if t is not None else []
    else:
        table = run_ablation(ab, stop_after_minutes=args.stop_after_minutes, seeds=args.seeds, rows=args.rows,
                             source=args.config)
        exported = table.get("exported", [])
    print(f"{len(table['rows'])} rows -> {ab.results}.md / .json")
    for d in exported:
        print(f"exported student -> {d}")
    return 0
