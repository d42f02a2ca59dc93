"""Time per training step of ``disdepth distill``'s student with the teacher in the loop vs. cached
(reports numbers, asserts nothing).

    python benchmarks/teacher_cache_speedup.py --data out/extract_rss/data --teacher weights/teacher_synthetic \\
        --steps 30 --out out/cache_speedup

Three runs of the same student (``config/distill/default.yaml``, output KD, the same seed, so the
same samples in the same order): ``no cache`` (the teacher runs on every sample, every step),
``cache cold`` (the first pass: the teacher runs and its outputs are written) and ``cache warm``
(a second pass over the same samples: no teacher at all). Per-step time is the median of the
trainer's logged intervals (``log.csv``, every 10 steps), the first interval (start-up) left out.
Writes ``<out>/cache_speedup.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
from pathlib import Path


def _step_s(run: Path, log_every: int) -> float:
    t = [float(r["seconds"]) for r in csv.DictReader((run / "log.csv").open())]
    gaps = [(b - a) / log_every for a, b in zip(t, t[1:])][1:]
    return statistics.median(gaps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="an extraction directory (train/ and val/), as distill writes")
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--size", default="128x224")
    ap.add_argument("--out", default="out/cache_speedup")
    a = ap.parse_args(argv)
    import dataclasses

    import torch

    from disdepth_core.data.extraction_settings import ExtractionSettings
    from disdepth_core.paths import resolve_rig
    from disdepth_core.training.distill_bags import DistillRequest, training_config
    from disdepth_core.training.trainer import train

    out = Path(a.out)
    if out.exists():
        shutil.rmtree(out)
    h, w = (int(v) for v in a.size.split("x"))
    res = {"command": f"python benchmarks/teacher_cache_speedup.py --data {a.data} --teacher {a.teacher} "
                      f"--steps {a.steps} --size {a.size} --out {a.out}",
           "torch_threads": torch.get_num_threads(), "size": [h, w]}
    for name, cache in (("no_cache", None), ("cache_cold", out / "cache"), ("cache_warm", out / "cache")):
        req = DistillRequest(bags=[], teacher=Path(a.teacher), out=out / name, rig=resolve_rig("nuscenes"),
                             rig_given=True, cameras=None, config=None, steps=a.steps, size=(h, w), device="cpu",
                             extraction=ExtractionSettings())
        cfg = training_config(req, Path(a.data), False, has_val=False)
        cfg = dataclasses.replace(cfg, ckpt_every=10**6, eval_every_checkpoint=False,
                                  distill=dataclasses.replace(cfg.distill, teacher_cache=str(cache) if cache else ""))
        train(cfg, progress=False, resume=False)
        res[f"{name}_s_per_step"] = _step_s(Path(cfg.out_dir), cfg.log_every)
        print(f"{name}: {res[f'{name}_s_per_step']:.3f} s/step")
    res["speedup_warm_vs_no_cache"] = res["no_cache_s_per_step"] / res["cache_warm_s_per_step"]
    (out / "cache_speedup.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
