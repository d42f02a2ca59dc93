"""Evaluation figures: per-camera bars, error vs distance, RGB / prediction / GT / error mosaics,
sparsification curves of a confidence."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .rig_bev import finish_bev  # noqa: E402


def plot_camera_bars(summary: dict, out: Path) -> Path:
    """AbsRel and delta<1.25 per camera, metric and median-scaled."""
    cams = list(summary["metric"]["per_camera"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    x = np.arange(len(cams))
    for ax, key, label in ((axes[0], "abs_rel", "AbsRel (lower is better)"), (axes[1], "a1", "δ<1.25 (higher is better)")):
        for k, mode in enumerate(("metric", "median")):
            vals = [summary[mode]["per_camera"][c][key] for c in cams]
            ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, label=mode)
        ax.set_xticks(x, [c.replace("CAM_", "") for c in cams], rotation=30, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_error_by_distance(summary: dict, out: Path) -> Path:
    bins = [b for b in summary["error_by_distance"] if b["pixels"]]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    mids = [(b["from_m"] + b["to_m"]) / 2 for b in bins]
    ax.plot(mids, [b["mae_m"] for b in bins], "o-", label="MAE (m)")
    ax2 = ax.twinx()
    ax2.plot(mids, [b["abs_rel"] for b in bins], "s--", color="C1", label="AbsRel")
    ax.set_xlabel("ground-truth distance (m)")
    ax.set_ylabel("MAE (m)")
    ax2.set_ylabel("AbsRel")
    ax.set_title("error vs distance")
    fig.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_mosaic(example: dict, out: Path, max_depth: float = 80.0) -> Path:
    """Rows: cameras; columns: RGB, prediction, ground truth, |error| (where GT counts)."""
    imgs, pred, gt, mask = example["images"], example["pred"], example["gt"], example["mask"]
    V = imgs.shape[0]
    fig, axes = plt.subplots(V, 4, figsize=(12, 2.0 * V), dpi=90, squeeze=False)
    for v in range(V):
        rgb = imgs[v].permute(1, 2, 0).clamp(0, 1).numpy()
        p = pred[v].clamp(0, max_depth).numpy()
        g = torch.where(mask[v], gt[v], torch.full_like(gt[v], float("nan"))).numpy()
        e = np.abs(p - g)
        for ax, im, kw in (
            (axes[v, 0], rgb, {}),
            (axes[v, 1], p, {"cmap": "turbo_r", "vmin": 0, "vmax": max_depth}),
            (axes[v, 2], g, {"cmap": "turbo_r", "vmin": 0, "vmax": max_depth}),
            (axes[v, 3], e, {"cmap": "magma", "vmin": 0, "vmax": max(1.0, float(np.nanpercentile(e, 95)) if np.isfinite(e).any() else 1.0)}),
        ):
            ax.imshow(im, interpolation="nearest", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[v, 0].set_ylabel(example["cameras"][v].replace("CAM_", ""), fontsize=8)
    for ax, t in zip(axes[0], ("RGB", "prediction (m)", "ground truth (m)", "|error| (m)")):
        ax.set_title(t, fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_bev_points(pred_points: np.ndarray, gt_points: np.ndarray, out: Path, extent_m: float = 40.0,
                    title: str = "predicted vs ground-truth points", max_points: int = 40000) -> Path:
    """Bird's-eye view in base_link (x forward drawn up, y left drawn left) of predicted and GT
    points ``(M, 3)`` metres, taken at the same pixels; the vehicle outline at the origin."""
    rng = np.random.default_rng(0)

    def thin(p):
        p = p[np.isfinite(p).all(1)] if len(p) else p.reshape(0, 3)
        return p[rng.choice(len(p), max_points, replace=False)] if len(p) > max_points else p

    g, p = thin(gt_points), thin(pred_points)
    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    ax.scatter(-g[:, 1], g[:, 0], s=0.8, c="#1d3557", linewidths=0, label=f"ground truth ({len(gt_points)} px)")
    ax.scatter(-p[:, 1], p[:, 0], s=0.8, c="#e63946", linewidths=0, alpha=0.6, label=f"prediction ({len(pred_points)} px)")
    ax.add_patch(plt.Rectangle((-0.95, -1.0), 1.9, 4.6, fill=False, lw=1.5, color="k"))
    ax.legend(loc="lower right", fontsize=8, markerscale=8)
    return finish_bev(fig, ax, extent_m, title, out, title_size=9)


def plot_sparsification(conf: dict, out: Path, title: str = "sparsification") -> Path:
    """One panel per camera: AbsRel of the kept pixels vs removed fraction for the confidence order,
    the oracle (by true error) and the random order (``SparsificationAccumulator.summary()``)."""
    cams = list(conf["per_camera"])
    cols = min(3, len(cams))
    rows = (len(cams) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    x = 100 * np.asarray(conf["fractions"])
    for ax, cam in zip(axes.flat, cams):
        r = conf["per_camera"][cam]
        ax.plot(x, r["sparsification"], label=f"confidence (AUSE {r['ause']:.3f})", color="C0")
        ax.plot(x, r["oracle"], label="oracle (by true error)", color="C2")
        ax.plot(x, r["random"], "--", label=f"random (AUSE {r['ause_random']:.3f})", color="C7")
        ax.fill_between(x, r["oracle"], r["sparsification"], color="C0", alpha=0.12)
        verdict = "better than random" if r["better_than_random"] else "NOT better than random"
        ax.set_title(f"{cam} ({r['images']} images): {verdict}", fontsize=9)
        ax.set_xlabel("least confident pixels removed (%)", fontsize=8)
        ax.set_ylabel("AbsRel of the rest", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(cams):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
