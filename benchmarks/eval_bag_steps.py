"""Time every step of ``disdepth eval-bag`` along a bag: does the time per step stay flat?

    python benchmarks/eval_bag_steps.py --json out/eval_bag_steps.json -- /tmp/long_bag \
        --checkpoint weights/student_default --input-size 64x96 --device cpu --gt depth --quiet

Runs ``disdepth eval-bag`` in this process with the arguments after ``--`` and records the clock
at every predictor call, so one step (call to call) is everything eval-bag does per synchronised
set: bag reading, decoding, sync, batch assembly, the engine call and the metric accumulation.
The ``disdepth_core`` first on the import path is measured: ``PYTHONPATH=/other/checkout`` runs
the same script against another version (the path is reported). Reported: total wall time,
steps, per-step ms (median, mean, p90) of the first and the last 10 % of steps and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default="", help="write the results here as JSON")
    ap.add_argument("--csv", default="", help="write every step's time here (step,ms)")
    ap.add_argument("eval_bag_args", nargs=argparse.REMAINDER, help="-- BAG [eval-bag options]")
    args = ap.parse_args(argv)
    rest = args.eval_bag_args[1:] if args.eval_bag_args[:1] == ["--"] else args.eval_bag_args
    if not rest:
        ap.error("give the eval-bag arguments after --")

    import disdepth_core
    from disdepth_core.cli import main as disdepth
    from disdepth_core.evaluation import bag_eval

    calls: list[float] = []
    call = bag_eval.EnginePredictor.__call__

    def timed(self, step):
        calls.append(time.perf_counter())
        return call(self, step)

    bag_eval.EnginePredictor.__call__ = timed
    t0 = time.perf_counter()
    rc = disdepth(["eval-bag", *rest])
    total = time.perf_counter() - t0
    step_ms = np.diff(calls) * 1e3  # call to call: one whole step each
    tenth = max(1, len(step_ms) // 10)

    def stats(x: np.ndarray) -> dict:
        return {"median_ms": float(np.median(x)), "mean_ms": float(np.mean(x)), "p90_ms": float(np.percentile(x, 90))}

    res = {
        "command": " ".join(["python", "benchmarks/eval_bag_steps.py", *(argv if argv is not None else sys.argv[1:])]),
        "disdepth_core": str(Path(disdepth_core.__file__).parent), "rc": rc, "total_s": total,
        "steps": len(calls), "first_to_last_call_s": float(calls[-1] - calls[0]) if calls else None,
    }
    if len(step_ms):
        first, last = stats(step_ms[:tenth]), stats(step_ms[-tenth:])
        res.update({"steps_per_tenth": tenth, "first_10pct": first, "last_10pct": last, "all": stats(step_ms),
                    "last_over_first_median": last["median_ms"] / first["median_ms"]})
    if args.csv:
        Path(args.csv).write_text("step,ms\n" + "".join(f"{i + 1},{m:.3f}\n" for i, m in enumerate(step_ms)))
    text = json.dumps(res, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(text)
    return rc


if __name__ == "__main__":
    sys.exit(main())
