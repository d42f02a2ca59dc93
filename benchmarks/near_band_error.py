"""Where a student's error close to the vehicle comes from: per camera, the pixels whose ground truth is
nearer than ``--near`` metres (default 5 m, the first band of ``student_quality.py``).

Input: a bag with dense depth ground truth and one or more ``disdepth eval-bag --save-predictions``
output directories of it (``benchmarks/student_quality.py`` keeps them under
``out/student_quality/eval_<name>_seed<drive>``). Per model and camera it reports the near pixels'
count, AbsRel, the scale (median prediction / GT) per sub-band, and the *tail*: the share of near
pixels put more than twice too far (relative error > 1) and the share of the summed relative error
they carry. A picture shows, per time step, the two cameras with the largest near error and their
relative-error maps (near pixels only). Reports, asserts nothing.

    python benchmarks/near_band_error.py --bag out/student_quality/world_seed777001 \\
        --predictions out/student_quality/eval_student_default_seed777001 --results out/near_band
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SUB_BANDS = ((0.0, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 5.0))


def _steps(bag: str):
    from disdepth_core.evaluation.bag_source import BagSource, BagTopics
    from disdepth_core.geometry import CameraRig
    from disdepth_core.paths import resolve_rig
    from disdepth_core.pipeline.sync_settings import SyncSettings

    rig = CameraRig.from_yaml(resolve_rig("nuscenes"))
    return list(BagSource(bag, rig, topics=BagTopics(gt="depth"), sync=SyncSettings.node_defaults(None),
                          depth_range=(0.1, 80.0)))


def _near_maps(steps, pred_dir: Path, near: float) -> dict:
    """{camera: [(step index, relative error map (H, W) NaN off the near pixels, GT (H, W))]}."""
    out: dict = {}
    for i, st in enumerate(steps):
        f = pred_dir / "predictions" / f"{st.timestamp_ns}.npz"
        if not f.is_file():
            raise SystemExit(f"near_band_error: {f} missing (run eval-bag with --save-predictions)")
        z = np.load(f)
        for v, cam in enumerate(st.cameras):
            gt = st.gt[v]
            ok = st.gt_valid[v] & (gt > 0) & (gt < near)
            rel = np.where(ok, np.abs(z[cam] - gt) / np.maximum(gt, 1e-3), np.nan)
            out.setdefault(cam, []).append((i, rel, np.where(ok, z[cam] / np.maximum(gt, 1e-3), np.nan), gt))
    return out


def summarise(maps: dict) -> dict:
    rows = {}
    for cam, items in maps.items():
        rel = np.concatenate([r[np.isfinite(r)] for _, r, _, _ in items])
        if rel.size == 0:
            continue
        ratio = np.concatenate([q[np.isfinite(q)] for _, _, q, _ in items])
        gt = np.concatenate([g[np.isfinite(r)] for _, r, _, g in items])
        tail = rel > 1.0
        rows[cam] = {
            "pixels": int(rel.size),
            "abs_rel": float(rel.mean()),
            "sum_rel": float(rel.sum()),
            "tail_share": float(tail.mean()),
            "tail_share_of_error": float(rel[tail].sum() / max(rel.sum(), 1e-12)),
            "scale_by_band": {f"{lo}-{hi}": float(np.median(ratio[(gt >= lo) & (gt < hi)]))
                              for lo, hi in SUB_BANDS if ((gt >= lo) & (gt < hi)).any()},
        }
    return rows


def _picture(steps, maps: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = matplotlib.colormaps["magma"].copy()
    cmap.set_bad("#9ab0c4")  # pixels not near (or without ground truth)
    worst = sorted(maps, key=lambda c: -np.nansum([np.nansum(r) for _, r, _, _ in maps[c]]))[:2]
    fig, ax = plt.subplots(len(steps), 4, figsize=(16, 2.9 * len(steps)), squeeze=False)
    for i, st in enumerate(steps):
        for j, cam in enumerate(worst):
            v = st.cameras.index(cam)
            rel = maps[cam][i][1]
            ax[i, 2 * j].imshow(st.images[v])
            ax[i, 2 * j].set_title(f"{cam} t{i}", fontsize=9)
            ax[i, 2 * j + 1].imshow(rel, vmin=0, vmax=3, cmap=cmap)
            n = np.isfinite(rel).sum()
            ax[i, 2 * j + 1].set_title(f"rel. error (0-3), GT < near (blue-grey: other): mean {np.nanmean(rel) if n else 0:.2f}",
                                       fontsize=9)
            for a in ax[i, 2 * j:2 * j + 2]:
                a.set_xticks([])
                a.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bag", required=True)
    ap.add_argument("--predictions", action="append", required=True,
                    help="an eval-bag --save-predictions output directory of --bag (repeatable)")
    ap.add_argument("--near", type=float, default=5.0, help="metres")
    ap.add_argument("--results", default="out/near_band", help="output prefix: .json, .md, _<name>.png")
    args = ap.parse_args(argv)
    steps = _steps(args.bag)
    res = {"bag": args.bag, "near_m": args.near, "models": {}}
    lines = [f"# Error nearer than {args.near:g} m: `{args.bag}`", "",
             "| model | camera | pixels | AbsRel | share of near error | put > 2x too far | their share of the camera's error | "
             "scale (median pred/GT) by GT band |", "|---|---|---|---|---|---|---|---|"]
    prefix = Path(args.results)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for pdir in args.predictions:
        name = Path(pdir).name
        maps = _near_maps(steps, Path(pdir), args.near)
        rows = summarise(maps)
        total = sum(r["sum_rel"] for r in rows.values())
        res["models"][pdir] = rows
        for cam, r in sorted(rows.items(), key=lambda kv: -kv[1]["sum_rel"]):
            bands = ", ".join(f"{k} m: {s:.2f}" for k, s in r["scale_by_band"].items())
            lines.append(f"| {name} | {cam} | {r['pixels']} | {r['abs_rel']:.3f} | {r['sum_rel'] / total:.0%} | "
                         f"{r['tail_share']:.0%} | {r['tail_share_of_error']:.0%} | {bands} |")
        _picture(steps, maps, prefix.parent / f"{prefix.name}_{name}.png", f"{name}: {args.bag}")
    prefix.with_suffix(".json").write_text(json.dumps(res, indent=1))
    prefix.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
