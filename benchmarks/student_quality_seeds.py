"""Seed spread of the as-deployed measurement: merge ``student_quality.py`` results per row.

``benchmarks/student_quality.py`` measures checkpoints on the two unseen world drives and the
boxes-and-spheres scene. Run it once per seed's fp16 export, then merge here: for each row, the
per-seed numbers and their mean ± sample standard deviation, plus the distilled-vs-twin AbsRel
reduction per seed. Writes ``<results>.json`` / ``.md``.

    python benchmarks/student_quality_seeds.py \\
        --entry "distilled=0:docs/results/student_quality.json:weights/student_distilled" \\
        --entry "distilled=1:out/sq_seed1/result.json:out/seed_exports/distilled_seed1" ... \\
        --twin distilled:supervised --results docs/results/student_quality_seeds
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

METRICS = ("abs_rel", "rmse", "a1")


def _entry(text: str) -> tuple[str, str, Path, str]:
    """``ROW=SEED:RESULT_JSON:CHECKPOINT`` -> (row, seed, json path, checkpoint key)."""
    try:
        row, rest = text.split("=", 1)
        seed, path, ck = rest.split(":", 2)
    except ValueError:
        raise SystemExit(f"--entry {text!r}: expected ROW=SEED:RESULT_JSON:CHECKPOINT") from None
    return row, seed, Path(path), ck


def _mean_std(v: list[float]) -> str:
    return f"{statistics.mean(v):.4f} ± {statistics.stdev(v):.4f}" if len(v) > 1 else f"{v[0]:.4f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entry", action="append", required=True, help="ROW=SEED:RESULT_JSON:CHECKPOINT")
    p.add_argument("--twin", action="append", default=[],
                   help="DISTILLED_ROW:TWIN_ROW: also report the AbsRel reduction per seed (repeatable)")
    p.add_argument("--results", type=Path, required=True)
    a = p.parse_args()
    rows: dict[str, dict[str, dict]] = {}
    for text in a.entry:
        row, seed, path, ck = _entry(text)
        if not path.is_file():
            print(f"--entry {text!r}: {path} does not exist", file=sys.stderr)
            return 2
        res = json.loads(path.read_text())
        if ck not in res["drives"] or ck not in res["ood"]["checkpoints"]:
            print(f"--entry {text!r}: {path} has no checkpoint {ck!r}", file=sys.stderr)
            return 2
        rows.setdefault(row, {})[seed] = {"drives": res["drives"][ck], "ood": res["ood"]["checkpoints"][ck],
                                          "best_constant": res["ood"]["best_constant"], "source": f"{path}:{ck}"}
    drives = sorted({d for r in rows.values() for s in r.values() for d in s["drives"]})
    md = ["# Students' seeds on data they never saw, measured as deployed", "",
          "Each number is `disdepth eval-bag --gt depth` of an fp16 export (`benchmarks/student_quality.py`); "
          "mean ± sample std over seeds. Command: `python benchmarks/student_quality_seeds.py "
          + " ".join(f'--entry "{e}"' for e in a.entry) + "".join(f' --twin "{t}"' for t in a.twin) + "`.", "",
          "| row | seeds | " + " | ".join(f"drive {d} AbsRel | RMSE | δ<1.25" for d in drives)
          + " | boxes & spheres AbsRel | δ<1.25 |",
          "|---|---|" + "---|---|---|" * len(drives) + "---|---|"]
    summary: dict = {"rows": {}, "twin": []}
    for row, seeds in rows.items():
        cells, out = [], {"per_seed": seeds}
        for d in drives:
            for m in METRICS:
                v = [s["drives"][d][m] for s in seeds.values() if d in s["drives"]]
                out[f"{d}.{m}"] = v
                cells.append(_mean_std(v))
        for m in ("abs_rel", "a1"):
            v = [s["ood"][m] for s in seeds.values()]
            out[f"ood.{m}"] = v
            cells.append(_mean_std(v))
        summary["rows"][row] = out
        md.append(f"| {row} | {', '.join(sorted(seeds))} | " + " | ".join(cells) + " |")
    bc = next(iter(next(iter(rows.values())).values()))["best_constant"]
    md.append(f"| best constant ({bc['constant_m']:.2f} m, chosen with the ground truth) | | "
              + " | ".join("" for _ in range(3 * len(drives))) + f" | {bc['abs_rel']:.4f} | {bc['a1']:.4f} |")
    md += ["", "Per seed (AbsRel): " + "; ".join(
        f"{row} " + ", ".join(f"seed {s}: " + " / ".join(f"{r['drives'][d]['abs_rel']:.4f}" for d in drives)
                              + f" / boxes {r['ood']['abs_rel']:.4f}" for s, r in sorted(seeds.items()))
        for row, seeds in rows.items()) + " (drives " + " / ".join(drives) + ")."]
    banded = [(row, d) for row, seeds in rows.items() for d in drives
              if all(d in s["drives"] and s["drives"][d].get("by_distance") for s in seeds.values())]
    if banded:
        first = next(iter(rows[banded[0][0]].values()))["drives"][banded[0][1]]["by_distance"]
        md += ["", "Where the error is: AbsRel per distance band, mean ± std over seeds (mean share of the summed "
               "per-pixel relative error).", "",
               "| row | drive | " + " | ".join(f"{b['from_m']}-{b['to_m']} m" for b in first) + " |",
               "|---|---|" + "---|" * len(first)]
        for row, d in banded:
            per_seed = [s["drives"][d]["by_distance"] for s in rows[row].values()]
            cells = []
            for k in range(len(first)):
                v = [bands[k]["abs_rel"] for bands in per_seed if bands[k]["abs_rel"] is not None]
                share = [bands[k]["error_share"] for bands in per_seed]
                cells.append(f"{_mean_std(v)} ({100 * statistics.mean(share):.0f} %)" if v else "")
            summary["rows"][row][f"{d}.by_distance"] = per_seed
            md.append(f"| {row} | {d} | " + " | ".join(cells) + " |")
    for pair in a.twin:
        dist, _, twin = pair.partition(":")
        if dist not in rows or twin not in rows:
            print(f"--twin {pair!r}: expected DISTILLED_ROW:TWIN_ROW, two of the rows {sorted(rows)}", file=sys.stderr)
            return 2
        red = {s: {d: 1 - rows[dist][s]["drives"][d]["abs_rel"] / rows[twin][s]["drives"][d]["abs_rel"]
                   for d in drives} for s in sorted(set(rows[dist]) & set(rows[twin]))}
        summary["twin"].append({"distilled": dist, "twin": twin, "abs_rel_reduction": red})
        md += ["", f"AbsRel of {dist!r} below {twin!r}, per seed and drive: " + "; ".join(
            f"seed {s}: " + " / ".join(f"{100 * v:.1f} %" for v in r.values()) for s, r in red.items())
            + " (drives " + " / ".join(drives) + "; negative = the distilled student is worse)."]
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    a.results.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
