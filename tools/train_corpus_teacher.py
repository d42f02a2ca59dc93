"""Train only the corpus ablation's teacher for one seed (what `disdepth ablate` does first), so the
supervised rows can train on the other core at the same time:

    python tools/train_corpus_teacher.py config/ablation/corpus.yaml 0

or continue a trained teacher (a new cosine schedule from its weights), into its own run directory,
and export it with its provenance chain (the init's own ``disdepth_teacher.json`` under ``init``):

    python tools/train_corpus_teacher.py config/ablation/corpus.yaml 0 --init weights/teacher_synthetic \\
        --steps 3000 --lr 2e-4 --teacher-dir out/teacher_continued --export weights/teacher_synthetic

The run resumes from its last checkpoint when called again with the same arguments.
"""

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from disdepth_core.config import load_config
from disdepth_core.models.teacher import TEACHER_PROVENANCE
from disdepth_core.models.teacher_config import TeacherConfig
from disdepth_core.training.ablation import (
    AblationConfig,
    _finished,
    _run_dir,
    export_teacher,
    teacher_run_config,
    with_rendered_world,
)
from disdepth_core.training.trainer import train


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("seed", type=int, nargs="?")
    ap.add_argument("--init", default="", help="a trained teacher's weights directory to continue from")
    ap.add_argument("--steps", type=int, default=0, help="steps of this run (default: the config's teacher budget)")
    ap.add_argument("--lr", type=float, default=0.0, help="peak learning rate (default: the config's)")
    ap.add_argument("--warmup", type=int, default=-1, help="warm-up steps (default: the config's)")
    ap.add_argument("--grid-stride", type=int, default=0,
                    help="the teacher's grid stride (input patch * ceil(size / stride); default: the config's)")
    ap.add_argument("--teacher-dir", default="", help="where the run lives (default: the config's teacher_dir/out_dir)")
    ap.add_argument("--export", default="", help="when finished, export the teacher here (fp16, with provenance)")
    a = ap.parse_args(argv)

    ab = load_config(AblationConfig, a.config)
    seed = a.seed if a.seed is not None else ab.seeds[0]
    ab = dataclasses.replace(with_rendered_world(ab), seeds=[seed])
    optim = dataclasses.replace(ab.teacher_budget.optim, **({"lr": a.lr} if a.lr else {}),
                                **({"warmup_steps": a.warmup} if a.warmup >= 0 else {}))
    ab = dataclasses.replace(ab, teacher_budget=dataclasses.replace(
        ab.teacher_budget, optim=optim, **({"steps": a.steps} if a.steps else {})))
    if a.teacher_dir:
        ab = dataclasses.replace(ab, teacher_dir=a.teacher_dir)
    if a.grid_stride:
        ab = dataclasses.replace(ab, teacher=dataclasses.replace(ab.teacher, grid_stride=a.grid_stride))
    if a.init:
        ab = dataclasses.replace(ab, teacher=TeacherConfig(path=a.init, grid_stride=ab.teacher.grid_stride))
    cfg = teacher_run_config(ab, seed)
    if not _finished(_run_dir(ab, seed, "teacher")):
        train(cfg)
    if a.export:
        ab = dataclasses.replace(ab, export_teacher=a.export)
        cmd = "python tools/train_corpus_teacher.py " + shlex.join(argv)
        prov = Path(a.export) / TEACHER_PROVENANCE
        if prov.is_file() and json.loads(prov.read_text()).get("trained_by") == cmd:
            print(f"{a.export}: exported by this command already")  # again would record itself as its init
            return 0
        print(f"exported to {export_teacher(ab, a.config, trained_by=cmd)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
