"""Evaluate depth on a ROS 2 bag: :func:`evaluate_bag` and the output directory of ``disdepth eval-bag``.

A *predictor* turns a :class:`~disdepth_core.evaluation.bag_source.BagStep` into depth
``(V, H, W)`` float32 metres in the step's camera order (NaN where it has none; REP 117 -Inf /
+Inf mean closer than / beyond the engine's range and are scored as ``min_depth`` /
``max_depth``), or ``None`` when it has no answer for the step (a live frame that never came
back). A predictor may also return ``(depth, confidence)`` with confidence ``(V, H, W)`` in [0, 1]
(or None): the per-pixel confidence is then scored by its sparsification curves and AUSE
(:mod:`disdepth_core.evaluation.sparsification`). :class:`EnginePredictor` runs a :class:`~disdepth_core.runtime.engine_api.DepthEngine` on
the cameras present in the step, exactly as the node batches them; :class:`RecordedPredictor`
looks the depth up by (camera, image stamp) in what the node published (``--live``).

Metrics are the ones of ``disdepth eval`` (:class:`~disdepth_core.evaluation.evaluate.EvalAccumulator`),
so ``metrics.json`` has the same keys, plus ``accounting``, ``timing``, ``bag``, ``model`` and
``confidence`` (sparsification per camera; ``None`` when the predictor gave no confidence).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .bag_source import BagSource, BagStep
from .engine_eval import rep117_to_caps
from .evaluate import EvalAccumulator, write_report
from .markdown import md_table
from .sparsification import SparsificationAccumulator

Predictor = Callable[[BagStep], "np.ndarray | tuple[np.ndarray, np.ndarray | None] | None"]


class EnginePredictor:
    """Runs ``engine.infer`` on the present cameras of each step at the images' size; keeps timings.

    Returns ``(depth, confidence)``, both (V, H, W) float32 (confidence 0 for absent cameras), or
    ``(depth, None)`` when the engine has no confidence.
    """

    def __init__(self, engine):
        self.engine = engine
        self.timings: list[dict[str, float]] = []

    def __call__(self, step: BagStep) -> tuple[np.ndarray, np.ndarray | None]:
        idx = np.flatnonzero(step.present)
        H, W = step.images.shape[1:3]
        res = self.engine.infer(step.images[idx], output_size=(H, W))
        self.timings.append(dict(res.timings_ms))
        out = np.full((len(step.cameras), H, W), np.nan, np.float32)
        out[idx] = res.depth.detach().to("cpu", torch.float32).numpy()
        if res.confidence is None:
            return out, None
        conf = np.zeros((len(step.cameras), H, W), np.float32)
        conf[idx] = res.confidence.detach().to("cpu", torch.float32).numpy()
        return out, conf


class RecordedPredictor:
    """Depth published by the node, ``{(camera, image stamp ns): (H, W) float32}``; None when any
    present camera of a step is missing from it (the frame never came back)."""

    def __init__(self, recorded: dict[tuple[str, int], np.ndarray]):
        self.recorded = recorded
        self.used: set[tuple[str, int]] = set()
        self.missing_keys: set[tuple[str, int]] = set()

    def __call__(self, step: BagStep) -> np.ndarray | None:
        H, W = step.images.shape[1:3]
        keys = [(cam, step.stamps_ns[cam]) for i, cam in enumerate(step.cameras) if step.present[i]]
        missing = [k for k in keys if k not in self.recorded]
        if missing:
            self.missing_keys.update(missing)
            return None
        out = np.full((len(step.cameras), H, W), np.nan, np.float32)
        for i, cam in enumerate(step.cameras):
            if not step.present[i]:
                continue
            key = (cam, step.stamps_ns[cam])
            d = self.recorded[key]
            if d.shape != (H, W):  # the node published at another resolution: bilinear like the engine
                d = torch.nn.functional.interpolate(torch.from_numpy(d)[None, None], size=(H, W), mode="bilinear",
                                                    align_corners=False)[0, 0].numpy()
            out[i] = d
            self.used.add(key)
        return out


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    a = np.asarray(values, np.float64)
    return {"count": int(a.size), "mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p90": float(np.percentile(a, 90)), "max": float(a.max())}


def bev_points(step: BagStep, depth: np.ndarray, mask: np.ndarray, stride: int = 2) -> np.ndarray:
    """Pixels ``mask`` (V, H, W) of depth (V, H, W) as base_link points (M, 3), every stride-th pixel."""
    from ..geometry import depth_to_base_points

    pts = depth_to_base_points(torch.from_numpy(depth.astype(np.float64)), torch.from_numpy(step.K),
                               torch.from_numpy(step.T_base_cam)).numpy()
    sub = np.zeros_like(mask)
    sub[:, ::stride, ::stride] = True
    return pts[mask & sub]


def evaluate_bag(source: BagSource, predict: Predictor, *, min_depth: float = 0.1, max_depth: float = 80.0,
                 save_predictions: Path | None = None, keep_examples: int = 3, progress: bool = True) -> dict:
    """Metrics of ``predict`` over every synchronised step of ``source`` (see the module docstring).

    Returns the summary of :meth:`EvalAccumulator.summary` plus ``accounting`` (frames found,
    evaluated, skipped by reason), ``timing`` (engine ms per step when the predictor has
    ``timings``, wall time, steps/s), ``gt_source``, ``cameras``, ``confidence`` (the
    :class:`SparsificationAccumulator` summary, or None when no step had a confidence) and ``_bev``
    (predicted and GT base_link points of the first evaluated step, for the figure).
    """
    lo, hi = float(min_depth), float(max_depth)
    acc = EvalAccumulator(source.cameras, lo, hi, keep_examples=keep_examples)
    spars = SparsificationAccumulator(source.cameras, lo, hi)
    accounting = source.accounting
    bev = None
    step_ms: list[float] = []
    t_start = time.perf_counter()
    bar = tqdm(desc="eval-bag", unit="frame", disable=not progress)
    saved: dict[int, int] = {}  # stamp -> later steps saved with it
    if save_predictions is not None:
        save_predictions.mkdir(parents=True, exist_ok=True)
    for step in source:
        t0 = time.perf_counter()
        pred_np = predict(step)
        conf_np = None
        if isinstance(pred_np, tuple):
            pred_np, conf_np = pred_np
        if pred_np is None:
            accounting.skip_step(step, "no_live_output", "the node published no depth for this step")
            bar.update(1)
            continue
        step_ms.append((time.perf_counter() - t0) * 1e3)
        pred = rep117_to_caps(torch.from_numpy(pred_np).float(), lo, hi)  # REP 117 too close / beyond range
        gt = torch.from_numpy(step.gt)
        valid = torch.from_numpy(step.gt_valid)
        mask = valid & (gt >= lo) & (gt <= hi)
        images = torch.from_numpy(step.images).permute(0, 3, 1, 2).float() / 255.0
        frame = {"_order": step.order, "timestamp_ns": step.timestamp_ns, "status": "evaluated",
                 "cameras": int(step.present.sum()), "gt_pixels": int(mask.sum()),
                 "predict_ms": round(step_ms[-1], 3)}
        acc.add(pred, gt, mask, K=torch.from_numpy(step.K), T_base_cam=torch.from_numpy(step.T_base_cam),
                valid=valid, images=images, frame=frame)
        spars.add(pred, gt, mask, torch.from_numpy(conf_np).float() if conf_np is not None else None)
        accounting.step_evaluated(step)
        if bev is None:
            m = mask.numpy()
            bev = {"pred": bev_points(step, np.nan_to_num(pred.numpy(), nan=hi), m),
                   "gt": bev_points(step, step.gt, m), "timestamp_ns": step.timestamp_ns, "K": step.K,
                   "T_base_cam": step.T_base_cam, "cameras": step.cameras}
        if save_predictions is not None:
            arrays = {cam: pred_np[i] for i, cam in enumerate(step.cameras) if step.present[i]}
            stamps = {f"stamp_ns.{cam}": np.int64(step.stamps_ns[cam]) for cam in arrays}
            n = saved[step.timestamp_ns] = saved.get(step.timestamp_ns, -1) + 1  # repeated stamps: _1, _2, ...
            np.savez_compressed(save_predictions / f"{step.timestamp_ns}{f'_{n}' if n else ''}.npz", **arrays, **stamps)
        bar.update(1)
    bar.close()
    wall = time.perf_counter() - t_start
    summary = acc.summary("rosbag")  # NaN metrics when nothing was evaluated; the accounting says why
    summary["per_frame"] = accounting.per_frame(summary["per_frame"])  # bag order; index = bag step index
    summary["accounting"] = accounting.to_json()
    timings = getattr(predict, "timings", None) or []
    summary["timing"] = {
        "wall_s": wall,
        "steps_per_s": acc.steps / wall if wall > 0 else None,
        "predict_ms": _percentiles(step_ms),
        **({f"engine_{k}_ms": _percentiles([t[k] for t in timings if k in t])
            for k in ("preprocess", "network", "postprocess", "total")} if timings else {}),
    }
    summary["gt_source"] = source.gt_mode
    summary["cameras"] = list(source.cameras)
    conf = spars.summary()
    summary["confidence"] = conf if conf["per_camera"] or conf["steps_without_confidence"] < acc.steps else None
    summary["_bev"] = bev
    return summary


def write_bag_report(summary: dict, out_dir: str | Path, *, title: str, command: str) -> Path:
    """``metrics.json``, ``per_frame.csv``, ``report.md`` and PNGs (``write_report``'s, with its
    confidence section, plus ``bev.png``)."""
    from ..viz.eval_plots import plot_bev_points

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bev = summary.pop("_bev", None)
    figures = []
    if bev is not None:
        figures.append(plot_bev_points(bev["pred"], bev["gt"], out / "bev.png",
                                       title=f"predicted vs ground truth ({summary['gt_source']}), "
                                             f"step {bev['timestamp_ns']}"))
    a = summary["accounting"]
    md = ["## Model and bag", ""]
    m, b = summary.get("model", {}), summary.get("bag", {})
    md += md_table([(k, f"`{v}`") for k, v in m.items()], ("model", "value")) + [""]
    md += md_table([(k, f"`{b[k]}`") for k in ("path", "storage", "message_count", "duration_s", "size_bytes")
                  if k in b], ("bag", "value")) + [""]
    md += md_table([(t, v["type"], v["count"]) for t, v in b.get("topics", {}).items()], ("topic", "type", "messages"))
    md += ["", f"Ground truth: {summary['gt_source']}; extrinsics: "
           + "; ".join(f"{k}: {v}" for k, v in summary.get("extrinsics", {}).items()), ""]
    md += ["## Frame accounting", "",
           f"Time steps found: **{a['steps_found']}**, evaluated: **{a['steps_evaluated']}** "
           f"(of which partial, fewer cameras: {a['steps_partial']}), skipped: **{a['skipped_total']}**", ""]
    md += md_table([(r, n) for r, n in sorted(a["skipped"].items())] or [("(none)", 0)], ("skip reason", "steps"))
    md += ["", "Per camera, every image message is counted once: images = evaluated + never synchronised + "
           "corrupt + duplicate + dropped (the identity is checked; dropped = its step was skipped for that reason, "
           "or `repeated_stamp`: replaced in the synchroniser's queue by a later image with the same stamp).", ""]
    md += md_table([(c, a["images_found"][c], a["images_evaluated"][c], a["images_unsynced"][c], a["images_corrupt"][c],
                   a["images_duplicate"][c],
                   ", ".join(f"{r}: {n}" for r, n in sorted(a["images_dropped"][c].items())) or "0",
                   a["cameras_without_gt"][c]) for c in a["cameras"]],
                 ("camera", "images", "evaluated", "never synchronised", "corrupt", "duplicate", "dropped",
                  "evaluated steps without GT"))
    if a["corrupt_messages"]:
        md += ["", "Corrupt messages per topic: " + ", ".join(f"{t}: {n}" for t, n in a["corrupt_messages"].items())]
    if a.get("duplicate_messages"):
        md += ["", "Duplicate messages per topic (same stamp and bytes as an earlier one, ignored): "
               + ", ".join(f"{t}: {n}" for t, n in a["duplicate_messages"].items())]
    if a.get("warnings"):
        md += ["", "Warnings:", ""] + [f"* {w}" for w in a["warnings"]]
    if summary.get("missing_cameras"):
        md += ["", f"Rig cameras without an image topic in the bag: {', '.join(summary['missing_cameras'])}"]
    if summary.get("live"):
        lv = summary["live"]
        md += ["", f"Live: {lv['returned']} of {lv['expected']} camera images came back from the node "
                   f"({lv['never_returned']} never did: their steps are skipped as no_live_output); replay and "
                   f"recording took {lv.get('wall_s', float('nan')):.1f} s; node log {lv.get('node_log', '')}. "
                   "The timing below is the lookup of the recorded depth, not the node's inference time "
                   "(see the node's /diagnostics)."]
    t = summary["timing"]
    md += ["", "## Timing", "", f"Wall time {t['wall_s']:.2f} s, {t['steps_per_s'] or 0:.2f} evaluated steps/s", ""]
    rows = [(k, v["count"], f"{v['mean']:.2f}", f"{v['p50']:.2f}", f"{v['p90']:.2f}", f"{v['max']:.2f}")
            for k, v in t.items() if isinstance(v, dict) and v.get("count")]
    md += md_table(rows, ("stage (ms per step)", "steps", "mean", "p50", "p90", "max")) if rows else ["(no steps)"]
    return write_report(summary, out, title=title, command=command, sections=md, figures=figures)
