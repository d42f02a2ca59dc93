"""Evaluate a depth predictor on a dataset: standard metrics per camera, cross-view consistency.

``evaluate_dataset(predict, dataset, cfg)`` runs ``predict(images (V,3,H,W) in [0,1]) ->
depth (V,H,W) metres`` (or ``(depth, confidence (V,H,W) in [0, 1] or None)``) on every sample, masks GT with the dataset's protocol
(:func:`disdepth_core.data.eval_crops.eval_mask`: caps and crops), accumulates the seven
metrics (metric and median-scaled), the cross-view consistency on adjacent-camera
overlaps (multi-camera data), absolute-error-by-distance bins and, with a confidence, its
sparsification curves and AUSE per camera (``confidence``, as ``eval-bag`` reports it; ``None``
when a paired predictor gave none, absent for a depth-only one). Returns a JSON-ready
summary; :func:`write_report` turns it into ``metrics.json``, ``report.md`` and PNGs.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.eval_crops import eval_mask
from ..geometry import CameraRig
from .cross_view import cross_view_consistency
from .metrics import METRIC_KEYS, DepthMetricAccumulator

DISTANCE_BINS = (0, 5, 10, 20, 30, 40, 60, 80, 120, 200)
DENSE_GT_FRACTION = 0.3  # GT covering more of the image than this is dense (rendered), else sparse (LiDAR)


class ErrorByDistance:
    """Mean absolute error, AbsRel and scale of valid pixels binned by GT distance (metres).

    ``scale`` is the geometric mean of pred/GT in the band, ``exp(mean(log(pred / gt)))``: 1 is no
    bias, 0.5 puts that band's surfaces at half their distance (AbsRel alone cannot say which way).
    """

    def __init__(self, edges=DISTANCE_BINS):
        self.edges = list(edges)
        n = len(self.edges) - 1
        self.abs = [0.0] * n
        self.rel = [0.0] * n
        self.log_ratio = [0.0] * n
        self.count = [0] * n

    def update(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> None:
        p, g = pred[mask].double(), gt[mask].double()
        for i in range(len(self.edges) - 1):
            sel = (g > self.edges[i]) & (g <= self.edges[i + 1])
            if sel.any():
                err = (p[sel] - g[sel]).abs()
                self.abs[i] += float(err.sum())
                self.rel[i] += float((err / g[sel]).sum())
                self.log_ratio[i] += float(torch.log(p[sel].clamp_min(1e-6) / g[sel]).sum())
                self.count[i] += int(sel.sum())

    def summary(self) -> list[dict]:
        return [
            {"from_m": self.edges[i], "to_m": self.edges[i + 1], "pixels": c,
             "mae_m": self.abs[i] / c if c else None, "abs_rel": self.rel[i] / c if c else None,
             "scale": math.exp(self.log_ratio[i] / c) if c else None}
            for i, c in enumerate(self.count)
        ]


class EvalAccumulator:
    """Everything one evaluation run collects, one time step at a time (shared by ``disdepth eval``
    and ``disdepth eval-bag``): the seven metrics (metric and median-scaled) per camera, absolute
    error by distance, cross-view consistency of the prediction (and of dense GT, the occlusion
    floor), per-frame rows and a few examples for the mosaics.

    ``add`` takes one step: pred, gt ``(V, H, W)`` metres, mask ``(V, H, W)`` bool (the pixels that
    count), the step's K ``(V, 3, 3)`` and T_base_cam ``(V, 4, 4)``; ``summary`` returns the
    JSON-ready dict (keys as documented in :func:`evaluate_dataset`).
    """

    def __init__(self, cameras, min_depth: float, max_depth: float, keep_examples: int = 3):
        self.cameras = list(cameras)
        self.lo, self.hi = float(min_depth), float(max_depth)
        self.acc = DepthMetricAccumulator(self.cameras, min_depth=self.lo, max_depth=self.hi)
        self.by_dist = ErrorByDistance()
        self.cv_sum, self.cv_n, self.gt_cv_sum, self.gt_cv_n = 0.0, 0, 0.0, 0
        self.cv_dense: bool | None = None  # every step had dense GT (cross-view on GT pixels)
        self.rig_cache: dict = {}
        self.keep_examples = keep_examples
        self.examples: list[dict] = []
        self.per_frame: list[dict] = []
        self.steps = 0

    @torch.no_grad()
    def add(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, *, K: torch.Tensor,
            T_base_cam: torch.Tensor, valid: torch.Tensor | None = None, images: torch.Tensor | None = None,
            frame: dict | None = None, example_extra: dict | None = None) -> dict:
        """Add one step; ``valid`` (default ``mask``) is the GT validity. The cross-view metric of the
        prediction and of the GT (its occlusion floor) are both taken on the evaluated pixels ``mask``
        when the GT is dense (more than ``DENSE_GT_FRACTION`` of the pixels), else the prediction's on
        all its pixels and no floor. Returns
        the step's per-frame row (``frame`` plus ``cross_view`` and ``<cam>.abs_rel``)."""
        lo, hi = self.lo, self.hi
        valid = mask if valid is None else valid
        rows = self.acc.update(pred, gt, mask)
        self.by_dist.update(pred.clamp(lo, hi), gt, mask)
        frame = dict(frame or {})
        if len(self.cameras) > 1:
            key = (tuple(K.flatten().tolist()), tuple(T_base_cam.flatten().tolist()), tuple(gt.shape))
            if key not in self.rig_cache:
                rig = CameraRig(self.cameras, [tuple(gt.shape[-2:])] * len(self.cameras), K.double(), T_base_cam.double())
                self.rig_cache[key] = (rig.adjacent_pairs(),
                                       rig.overlap_masks(depth_range=(max(lo, 1.0), hi), num_depths=16))
            pairs, masks = self.rig_cache[key]
            # Dense GT: prediction and GT are compared on the same pixels (the evaluated GT pixels),
            # so a perfect prediction scores exactly the GT's own value (the occlusion floor).
            # Sparse GT (LiDAR): every predicted pixel, and no floor.
            dense = bool(mask.float().mean() > DENSE_GT_FRACTION)
            self.cv_dense = dense if self.cv_dense is None else (self.cv_dense and dense)
            cv, cnt = cross_view_consistency(pred.clamp(lo, hi), K, T_base_cam, pairs, masks,
                                             valid=mask if dense else None, max_depth=hi)
            if cnt:
                self.cv_sum += cv * cnt
                self.cv_n += cnt
                frame["cross_view"] = cv
            if dense:
                gcv, gcnt = cross_view_consistency(gt, K, T_base_cam, pairs, masks, valid=mask, max_depth=hi)
                if gcnt:
                    self.gt_cv_sum += gcv * gcnt
                    self.gt_cv_n += gcnt
        for c, cam in enumerate(self.cameras):
            frame[f"{cam}.abs_rel"] = rows["metric"][c]["abs_rel"]
        self.per_frame.append(frame)
        if len(self.examples) < self.keep_examples and images is not None:
            self.examples.append({"images": images, "pred": pred, "gt": gt, "mask": mask, "cameras": self.cameras,
                                  **(example_extra or {})})
        self.steps += 1
        return frame

    def summary(self, dataset: str) -> dict:
        summary = self.acc.summary()
        cross_view = self.cv_sum / self.cv_n if self.cv_n else math.nan
        for mode in ("metric", "median"):
            summary[mode]["all"]["cross_view"] = cross_view
        summary["cross_view"] = cross_view
        summary["cross_view_gt"] = self.gt_cv_sum / self.gt_cv_n if self.gt_cv_n else None
        summary["cross_view_pixels"] = ("evaluated GT pixels (same set as cross_view_gt)" if self.cv_dense
                                        else "every predicted pixel (sparse GT: no floor)")
        summary["error_by_distance"] = self.by_dist.summary()
        summary["depth_range"] = [self.lo, self.hi]
        summary["samples"] = self.steps
        summary["dataset"] = dataset
        summary["per_frame"] = self.per_frame
        summary["_examples"] = self.examples
        return summary


@torch.no_grad()
def evaluate_dataset(
    predict: Callable[[torch.Tensor], torch.Tensor],
    dataset,
    *,
    dataset_name: str,
    crop: str = "default",
    min_depth: float | None = None,
    max_depth: float | None = None,
    max_samples: int = 0,
    device: torch.device | str = "cpu",
    keep_examples: int = 3,
    progress: bool = True,
    align: str = "none",
) -> dict:
    """Metrics of ``predict`` over ``dataset`` (see the module docstring).

    ``align="disparity"`` is the protocol for affine-invariant (relative) models such as a
    foundation-model teacher: ``predict`` returns relative disparity, which is aligned per
    image to the ground-truth disparity ``1/depth`` by least-squares scale and shift on the
    evaluated pixels, then inverted to depth (and clamped to the depth caps).

    Keys: ``metric``/``median`` (``per_camera``, ``all``), ``cross_view``, ``cross_view_gt``,
    ``error_by_distance``, ``depth_range``, ``samples``, ``dataset``, ``confidence`` (only for a
    predictor returning ``(depth, confidence)``: the :class:`SparsificationAccumulator` summary, or
    None if it never gave one) (+ ``per_frame`` and ``_examples``, which :func:`write_report` writes
    out and removes).
    """
    from ..data.eval_crops import DEPTH_CAPS

    lo, hi = DEPTH_CAPS[dataset_name]
    lo = lo if min_depth is None else min_depth
    hi = hi if max_depth is None else max_depth
    from .sparsification import SparsificationAccumulator

    n = len(dataset) if not max_samples else min(max_samples, len(dataset))
    acc = spars = None
    paired = gave_confidence = False  # the predictor returns (depth, confidence); and a confidence came
    for idx in tqdm(range(n), desc=f"eval {dataset_name}", disable=not progress, unit="sample"):
        s = dataset[idx]
        if acc is None:
            acc = EvalAccumulator(s.cameras, lo, hi, keep_examples=keep_examples)
            spars = SparsificationAccumulator(s.cameras, lo, hi)
        pred = predict(s.images.to(device))
        conf = None
        if isinstance(pred, tuple):  # (depth, confidence or None)
            pred, conf = pred
            paired, gave_confidence = True, gave_confidence or conf is not None
        pred = pred.float().cpu()
        gt = s.depth
        meta = s.meta or {}
        mask = s.valid & eval_mask(gt, dataset_name, crop, min_depth=lo, max_depth=hi,
                                   orig_size=meta.get("orig_size"), window=meta.get("window"),
                                   flipped=bool(meta.get("flipped", False)))
        if align == "disparity":
            pred = disparity_aligned_depth(pred, gt, mask, lo, hi)
        elif align != "none":
            raise ValueError(f"align must be 'none' or 'disparity', got {align!r}")
        acc.add(pred, gt, mask, K=s.K, T_base_cam=s.T_base_cam, valid=s.valid, images=s.images,
                frame={"index": idx, "timestamp_ns": int(s.timestamp_ns)})
        spars.add(pred, gt, mask, None if conf is None else conf.float().cpu())
    if acc is None:
        raise ValueError(f"{dataset_name}: the dataset has no samples to evaluate")
    summary = acc.summary(dataset_name)
    if paired:
        summary["confidence"] = spars.summary() if gave_confidence else None
    return summary


def disparity_aligned_depth(disparity: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, lo: float, hi: float):
    """Relative disparity (V, H, W) -> depth, after per-image scale/shift alignment to 1/gt on ``mask``."""
    from ..losses.scale_shift_invariant import align_scale_shift

    gt_disp = torch.where(mask, 1.0 / gt.clamp_min(1e-6), torch.zeros_like(gt))
    s, t = align_scale_shift(disparity.double(), gt_disp.double(), mask)
    aligned = (s[:, None, None] * disparity.double() + t[:, None, None]).clamp(1.0 / hi, 1.0 / lo)
    return (1.0 / aligned).float()


def headline(summary: dict, mode: str = "metric") -> dict:
    """The flat row used by tables: abs_rel, rmse, a1, ..., cross_view."""
    row = {k: summary[mode]["all"][k] for k in METRIC_KEYS}
    row["cross_view"] = summary.get("cross_view")
    return row


def write_report(summary: dict, out_dir: str | Path, *, title: str, command: str = "",
                 sections: Sequence[str] = (), figures: Sequence[Path] = ()) -> Path:
    """Write metrics.json, per_frame.csv, report.md and PNGs (bars, error vs distance, mosaics).

    ``sections``: extra markdown lines placed after the metric tables; ``figures``: PNGs the
    caller wrote into ``out_dir``, listed with the others.
    """
    from ..viz.eval_plots import plot_camera_bars, plot_error_by_distance, plot_mosaic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = summary.pop("_examples", [])
    per_frame = summary.pop("per_frame", [])
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    if per_frame:
        keys = sorted({k for f in per_frame for k in f}, key=lambda k: (k not in ("index", "timestamp_ns"), k))
        with open(out / "per_frame.csv", "w", newline="") as fh:  # csv quotes a detail with commas
            w = csv.DictWriter(fh, fieldnames=keys, lineterminator="\n")
            w.writeheader()
            w.writerows(per_frame)
    pngs = [plot_camera_bars(summary, out / "per_camera.png"), plot_error_by_distance(summary, out / "error_vs_distance.png")]
    for i, ex in enumerate(examples):
        pngs.append(plot_mosaic(ex, out / f"mosaic_{i}.png", max_depth=summary["depth_range"][1]))
    md = [f"# {title}", ""]
    if command:
        md += ["Command:", "", f"    {command}", ""]
    md += [f"Dataset: {summary['dataset']}, samples: {summary['samples']}, depth range "
           f"{summary['depth_range'][0]}-{summary['depth_range'][1]} m", ""]
    for mode in ("metric", "median"):
        md += [f"## {'Metric (no scaling)' if mode == 'metric' else 'Median-scaled'}", "",
               "| camera | images | " + " | ".join(METRIC_KEYS) + " |",
               "|---|---|" + "---|" * len(METRIC_KEYS)]
        for cam, row in summary[mode]["per_camera"].items():
            md.append(f"| {cam} | {row['images']} | " + " | ".join(f"{row[k]:.4f}" for k in METRIC_KEYS) + " |")
        a = summary[mode]["all"]
        md.append(f"| **all** | {a['images']} | " + " | ".join(f"**{a[k]:.4f}**" for k in METRIC_KEYS) + " |")
        md.append("")
    cv = summary.get("cross_view")
    md += [f"Cross-view consistency (mean relative disagreement on adjacent-camera overlaps): "
           f"{cv:.4f}" if cv == cv and cv is not None else "Cross-view consistency: n/a (single camera)"]
    if summary.get("cross_view_gt") is not None:
        md.append(f"(the same metric on the ground truth itself, the occlusion floor: {summary['cross_view_gt']:.4f})")
    md += ["", "## Error by distance", "",
           "scale: geometric mean of prediction / ground truth (1 = unbiased, below 1 = put too near).", "",
           "| from m | to m | pixels | MAE m | AbsRel | scale |", "|---|---|---|---|---|---|"]
    for b in summary["error_by_distance"]:
        if b["pixels"]:
            md.append(f"| {b['from_m']} | {b['to_m']} | {b['pixels']} | {b['mae_m']:.3f} | {b['abs_rel']:.4f} | "
                      f"{b['scale']:.3f} |")
    if "confidence" in summary:  # the key is there when the predictor could give one (None: it gave none)
        from ..viz.eval_plots import plot_sparsification
        from .sparsification import confidence_section

        conf = summary["confidence"]
        md += ["", *confidence_section(conf)]
        if conf and conf["per_camera"]:
            pngs.append(plot_sparsification(conf, out / "sparsification_abs_rel.png",
                                            title=f"sparsification (AbsRel), {summary['dataset']}"))
    if sections:
        md += ["", *sections]
    pngs += [Path(f) for f in figures]
    md += ["", "Figures: " + ", ".join(p.name for p in pngs)]
    (out / "report.md").write_text("\n".join(md) + "\n")
    return out
