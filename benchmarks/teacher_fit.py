"""Is the relative teacher limited by what it saw or by what it can resolve? Train vs held-out streets.

Scores a relative-depth teacher (a local Hugging Face directory, e.g. ``weights/teacher_synthetic``)
with the held-out protocol for relative models (``evaluate_dataset(align="disparity")``: per image,
least-squares scale and shift of its disparity onto ``1/depth``, dense rendered depth, 0.5-80 m) on
the same number of frames from the corpus's *training* streets and from its *held-out* streets, per
distance band, at its own grid stride and at the other strides given. A teacher that scores about the
same on the streets it was trained on as on new ones is underfitting (capacity or resolution), not
short of data. Reports, asserts nothing; writes ``<results>.json``, ``.md`` and ``.png``.

    python benchmarks/teacher_fit.py --teacher weights/teacher_synthetic --frames 24 \\
        --strides 16 12 8 --results docs/results/teacher_fit
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def score(teacher, dataset, frames: int) -> dict:
    """Aligned metrics of ``teacher`` (a DepthTeacher at its grid stride) on ``frames`` samples spread over
    ``dataset``'s streets."""
    from disdepth_core.evaluation.evaluate import evaluate_dataset
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.training.stages import normalise

    m = ModelConfig()
    idx = list(range(0, len(dataset), max(1, len(dataset) // frames)))[:frames]
    with torch.no_grad():
        s = evaluate_dataset(lambda x: teacher(normalise(x, m.mean, m.std))["output"],
                             torch.utils.data.Subset(dataset, idx), dataset_name="synthetic", align="disparity",
                             progress=False, keep_examples=0)
    row = {k: s["metric"]["all"][k] for k in ("abs_rel", "rmse", "a1")}
    row["frames"] = len(idx)
    row["by_distance"] = [{"from_m": b["from_m"], "to_m": b["to_m"], "abs_rel": b["abs_rel"], "pixels": b["pixels"]}
                          for b in s["error_by_distance"] if b["pixels"]]
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="weights/teacher_synthetic")
    p.add_argument("--corpus", default="out/corpus", help="the rendered corpus (train/ and val/ under it)")
    p.add_argument("--frames", type=int, default=24, help="six-camera samples per split")
    p.add_argument("--size", type=int, nargs=2, default=(128, 224), metavar=("H", "W"))
    p.add_argument("--strides", type=int, nargs="+", default=[16], help="teacher grid strides; the first is its own")
    p.add_argument("--results", type=Path, default=Path("out/teacher_fit"))
    a = p.parse_args()
    torch.set_num_threads(1)
    for split in ("train", "val"):
        if not (Path(a.corpus) / split).is_dir():
            print(f"teacher_fit: error: {a.corpus}/{split} not found (render the corpus first: disdepth ablate "
                  "--config config/ablation/corpus.yaml renders it)", file=sys.stderr)
            return 1
    from disdepth_core.data.dataset_config import DatasetConfig
    from disdepth_core.data.registry import build_dataset
    from disdepth_core.models.teacher import load_teacher

    splits = {split: (name, build_dataset(DatasetConfig(name="synthetic", root=f"{a.corpus}/{split}", split=split,
                                                        size=tuple(a.size), gt_source="render")))
              for split, name in (("train", "training streets"), ("val", "held-out streets"))}
    rows = []
    for stride in a.strides:
        teacher = load_teacher(a.teacher, grid_stride=stride)
        for name, dataset in splits.values():
            t0 = time.time()
            r = score(teacher, dataset, a.frames)
            rows.append({"stride": stride, "split": name, **r, "teacher_input": list(teacher.input_size(*a.size)),
                         "seconds": round(time.time() - t0, 1)})
            print(f"stride {stride:2d} {name:17s} AbsRel {r['abs_rel']:.4f}  δ<1.25 {r['a1']:.4f}", flush=True)
    cmd = "python benchmarks/teacher_fit.py " + " ".join(sys.argv[1:])
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps({"command": cmd, "teacher": a.teacher, "rows": rows}, indent=1))
    bands = [f"{b['from_m']:g}-{b['to_m']:g}" for b in rows[0]["by_distance"]]
    lines = [f"# Teacher fit: training vs held-out streets ({a.teacher})", "",
             f"Command: `{cmd}`. Affine-aligned (disparity) AbsRel on dense rendered depth, {a.frames} six-camera "
             f"samples per split at {a.size[0]}x{a.size[1]}; the teacher's input is its grid stride's "
             "`patch * ceil(size / stride)`.", "",
             "| grid stride (teacher input) | streets | AbsRel | RMSE (m) | δ<1.25 | " + " | ".join(
                 f"AbsRel {b} m" for b in bands) + " |",
             "|---|---|---|---|---|" + "---|" * len(bands)]
    for r in rows:
        per = {f"{b['from_m']:g}-{b['to_m']:g}": b["abs_rel"] for b in r["by_distance"]}
        lines.append(f"| {r['stride']} ({r['teacher_input'][0]}x{r['teacher_input'][1]}) | {r['split']} | "
                     f"{r['abs_rel']:.4f} | {r['rmse']:.3f} | {r['a1']:.4f} | "
                     + " | ".join(f"{per[b]:.3f}" if b in per else "" for b in bands) + " |")
    a.results.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(rows, bands, a.results.with_suffix(".png"))
    print(f"-> {a.results}.md / .json / .png")
    return 0


def _plot(rows: list[dict], bands: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for r in rows:
        per = {f"{b['from_m']:g}-{b['to_m']:g}": b["abs_rel"] for b in r["by_distance"]}
        ax.plot(bands, [per.get(b, float("nan")) for b in bands], marker="o",
                linestyle="-" if r["split"].startswith("held") else "--",
                label=f"stride {r['stride']}, {r['split']} ({r['abs_rel']:.3f})")
    ax.set_xlabel("ground-truth depth band (m)")
    ax.set_ylabel("affine-aligned AbsRel")
    ax.set_title("relative teacher: training vs held-out streets")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
