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
    p.add_argument("--table-only", action="store_true", help="only rewrite the table from finished runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..training.ablation import AblationConfig, run_ablation, write_table

    ab = load_config(AblationConfig, args.config)
    if args.seeds and not set(args.seeds) <= set(ab.seeds):
        from ..errors import DisdepthError

        raise DisdepthError(f"--seeds {args.seeds}: the config's seeds are {ab.seeds}")
    table = write_table(ab, args.config) if args.table_only else run_ablation(
        ab, stop_after_minutes=args.stop_after_minutes, seeds=args.seeds, source=args.config)
    print(f"{len(table['rows'])} rows -> {ab.results}.md / .json")
    return 0
