"""Issue 17 in one call on a lent GPU: the corpus teacher trained further, then the KD student and its twin.

    PYTHONUNBUFFERED=1 PYTHONPATH=. python3 tools/gpu_corpus_run.py --minutes 8 --out $OUT

It is written for the device machine. That machine's python3 has torch with CUDA and the other
packages this needs, and nothing is installed. The steps:

1. render the corpus of ``config/ablation/corpus.yaml`` with every CPU core (skipped when present);
2. the teacher: fine-tune the shipped ``weights/teacher_synthetic`` on the whole corpus, dense, with
   the ablation's loss and sky depth, batch ``--teacher-batch``. It runs as many steps as fit
   ``--teacher-share`` of the time left, measured by a short probe run first, so the cosine
   schedule ends when the time does; ``--teacher-grid-stride 8`` runs it at 1.5x the shipped
   input resolution (``results.json`` records the stride: a config using the returned teacher
   needs ``teacher.grid_stride`` set to it);
3. the rows "supervised (log bins, gaps)" and "+ output KD (log bins, gaps)" (the shipped pair) of the ablation from that teacher, in two processes side by
   side (probed side by side too), batch ``--student-batch``, with the steps that fit the rest;
4. every run is evaluated as the ablation does, through the exported checkpoint and the engine on the
   held-out streets. The driver writes at most 8 files to ``--out``, the device tool's limit:
   ``teacher/{config.json,model.safetensors}`` (fp16, a Hugging Face directory),
   ``supervised/`` and ``output_kd/`` ``{config.yaml,model.safetensors}`` (fp16), ``results.json``
   (per run: steps, batch, s/step, wall time, held-out metrics) and ``run.log``.

The next CPU session copies these into ``weights/``, refills the teacher cache and evaluates the
students as deployed with ``benchmarks/student_quality.py``. On a CPU it runs as a smoke test:
``--device cpu --probe-steps 12 --max-steps 12 --minutes 3``. The ``run.log`` records what ran where.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# the shipped pair: the default's recipe and its like-for-like twin (same head, labels only)
ROWS = {"supervised": "supervised (log bins, gaps)", "output_kd": "+ output KD (log bins, gaps)"}


def log(out: Path, msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(out / "run.log", "a") as f:
        f.write(line + "\n")


def seconds_per_step(run: Path) -> float:
    """From a probe run's log.csv (cumulative seconds per logged step): the time of the later steps."""
    head, *rows = (ln.split(",") for ln in (run / "log.csv").read_text().splitlines())
    i_step, i_s = head.index("step"), head.index("seconds")
    (s0, t0), (s1, t1) = (int(rows[0][i_step]), float(rows[0][i_s])), (int(rows[-1][i_step]), float(rows[-1][i_s]))
    return (t1 - t0) / max(1, s1 - s0)


def launch(cfg, path: Path) -> subprocess.Popen:
    from disdepth_core.config import save_config

    save_config(cfg, path)
    return subprocess.Popen([sys.executable, "-m", "disdepth_core.cli", "train", "--config", str(path)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_all(procs: list[subprocess.Popen], what: str) -> None:
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"{what}: exit codes {codes}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=8.0, help="wall time for everything after the render")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("out/gpu_corpus"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--config", default="config/ablation/corpus.yaml")
    ap.add_argument("--teacher-from", default="weights/teacher_synthetic")
    ap.add_argument("--teacher-grid-stride", type=int, default=0,
                    help="run (and fine-tune) the teacher at this grid stride, e.g. 8: 1.5x the shipped teacher's "
                         "input resolution (docs/results/teacher_fit.md: it underfits, worst within 5 m); 0 = the stride "
                         "the teacher was trained at (its disdepth_teacher.json), else the config's")
    ap.add_argument("--teacher-batch", type=int, default=16)
    ap.add_argument("--student-batch", type=int, default=8)
    ap.add_argument("--teacher-share", type=float, default=0.5)
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--max-steps", type=int, default=0, help="cap on each run's steps (0 = none; smoke tests)")
    ap.add_argument("--eval-allowance-s", type=float, default=60.0, help="time kept for each stage's evaluation")
    a = ap.parse_args()
    from disdepth_core.config import load_config
    from disdepth_core.models.teacher_config import TeacherConfig
    from disdepth_core.training.ablation import (
        AblationConfig,
        StageBudget,
        row_run_config,
        teacher_run_config,
        with_rendered_world,
    )

    a.out.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    ab = load_config(AblationConfig, a.config)
    import torch

    log(a.out, f"torch {torch.__version__}, cuda {torch.cuda.is_available()} "
               f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}, {os.cpu_count()} CPU cores")
    ab = with_rendered_world(dataclasses.replace(ab, world=dataclasses.replace(ab.world, workers=os.cpu_count() or 1)),
                             progress=False)
    log(a.out, f"corpus ready in {time.monotonic() - t_start:.0f} s")
    ab = dataclasses.replace(ab, out_dir=str(a.work), device=a.device, teacher_cache="")
    deadline = time.monotonic() + a.minutes * 60
    results: dict = {"device": a.device, "torch": torch.__version__, "runs": {}}

    def budget(base: StageBudget, batch: int, steps: int) -> StageBudget:
        warm = min(base.optim.warmup_steps, max(1, steps // 10))
        return dataclasses.replace(base, steps=steps, batch_size=batch,
                                   optim=dataclasses.replace(base.optim, warmup_steps=warm))

    def sized(sps: float, seconds: float) -> int:
        n = max(a.probe_steps, int(seconds / sps))
        return min(n, a.max_steps) if a.max_steps else n

    # -- the teacher: probe, then the sized run
    from disdepth_core.models.teacher import trained_grid_stride

    # the stride asked for, else the one the teacher was trained at (the shipped one: 12), else the config's
    stride = a.teacher_grid_stride or trained_grid_stride(a.teacher_from) or ab.teacher.grid_stride
    results["teacher_grid_stride"] = stride
    teacher_src = TeacherConfig(path=a.teacher_from, grid_stride=stride)
    probe = dataclasses.replace(ab, out_dir=str(a.work / "probe"), teacher=teacher_src,
                                teacher_budget=budget(ab.teacher_budget, a.teacher_batch, a.probe_steps))
    pcfg = dataclasses.replace(teacher_run_config(probe, 0), val_dataset=None)
    wait_all([launch(pcfg, a.work / "probe_teacher.yaml")], "teacher probe")
    sps = seconds_per_step(Path(pcfg.out_dir))
    left = deadline - time.monotonic()
    steps = sized(sps, left * a.teacher_share - a.eval_allowance_s)
    log(a.out, f"teacher: {sps:.3f} s/step at batch {a.teacher_batch}, grid stride {stride}; {steps} steps")
    tab = dataclasses.replace(ab, teacher=teacher_src, teacher_budget=budget(ab.teacher_budget, a.teacher_batch, steps),
                              checkpoint_eval_samples=24)
    tcfg = teacher_run_config(tab, 0)
    t0 = time.monotonic()
    wait_all([launch(tcfg, a.work / "teacher.yaml")], "teacher")
    results["runs"]["teacher"] = {"steps": steps, "batch": a.teacher_batch, "s_per_step_probe": sps,
                                  "wall_s": time.monotonic() - t0, "init": a.teacher_from,
                                  "eval": json.loads((Path(tcfg.out_dir) / "eval" / "metrics.json").read_text())["metric"]["all"]}
    log(a.out, f"teacher done: aligned AbsRel {results['runs']['teacher']['eval']['abs_rel']:.4f}")
    trained = TeacherConfig(path=str(Path(tcfg.out_dir) / "teacher"), grid_stride=stride)

    # -- the two students side by side: probe together, then the sized runs together
    rows = {key: next(r for r in ab.rows if r.name == name) for key, name in ROWS.items()}
    pab = dataclasses.replace(ab, out_dir=str(a.work / "probe"),
                              student_budget=budget(ab.student_budget, a.student_batch, a.probe_steps))
    pcfgs = {k: dataclasses.replace(row_run_config(pab, r, 0, trained), val_dataset=None) for k, r in rows.items()}
    wait_all([launch(c, a.work / f"probe_{k}.yaml") for k, c in pcfgs.items()], "student probes")
    sps = max(seconds_per_step(Path(c.out_dir)) for c in pcfgs.values())
    steps = sized(sps, deadline - time.monotonic() - a.eval_allowance_s)
    log(a.out, f"students: {sps:.3f} s/step each at batch {a.student_batch}, two at once; {steps} steps")
    sab = dataclasses.replace(ab, student_budget=budget(ab.student_budget, a.student_batch, steps))
    cfgs = {k: row_run_config(sab, r, 0, trained) for k, r in rows.items()}
    t0 = time.monotonic()
    wait_all([launch(c, a.work / f"{k}.yaml") for k, c in cfgs.items()], "students")
    for k, c in cfgs.items():
        m = json.loads((Path(c.out_dir) / "eval" / "metrics.json").read_text())
        results["runs"][k] = {"row": ROWS[k], "steps": steps, "batch": a.student_batch, "s_per_step_probe": sps,
                              "wall_s": time.monotonic() - t0, "eval": m["metric"]["all"],
                              "eval_median_scaled": m["median"]["all"]}
        log(a.out, f"{ROWS[k]}: AbsRel {m['metric']['all']['abs_rel']:.4f}, d1 {m['metric']['all']['a1']:.4f}")

    # -- what comes back: fp16 weights, configs, results, log (8 files)
    from disdepth_core.models.checkpoint import load_student, save_student
    from disdepth_core.models.teacher import load_teacher_model, save_teacher

    tmp = a.work / "export"
    shutil.rmtree(tmp, ignore_errors=True)
    save_teacher(load_teacher_model(trained.path), tmp / "teacher", fp16=True)
    for k, c in cfgs.items():
        save_student(load_student(Path(c.out_dir) / "student"), tmp / k, fp16=True)
    for d, files in (("teacher", ("config.json", "model.safetensors")),
                     *((k, ("config.yaml", "model.safetensors")) for k in cfgs)):
        (a.out / d).mkdir(exist_ok=True)
        for f in files:
            shutil.copy2(tmp / d / f, a.out / d / f)
    results["total_s"] = time.monotonic() - t_start
    (a.out / "results.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    log(a.out, f"done in {results['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
