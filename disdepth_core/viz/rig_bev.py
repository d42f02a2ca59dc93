"""Bird's-eye view of a camera rig: frusta on the ground plane and where views overlap."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..geometry import CameraRig, in_image, invert_transform, project, transform_points  # noqa: E402


def coverage_grid(rig: CameraRig, extent_m: float = 30.0, cells: int = 241, height_m: float | None = None):
    """How many cameras see each cell of a horizontal plane around the vehicle.

    Returns ``(xs, ys, count)``: cell centres (metres, base_link) and an int array
    ``(cells, cells)`` indexed ``[iy, ix]``; the plane is at ``height_m`` (default: the
    mean camera height, where the frusta are widest).
    """
    T = rig.T_base_cam
    z = float(T[:, 2, 3].mean()) if height_m is None else height_m
    xs = np.linspace(-extent_m, extent_m, cells)
    ys = np.linspace(-extent_m, extent_m, cells)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.from_numpy(np.stack([gx, gy, np.full_like(gx, z)], -1).reshape(-1, 3))
    count = torch.zeros(pts.shape[0], dtype=torch.int64)
    T_cam_base = invert_transform(T)
    for i in range(len(rig)):
        uv, depth = project(transform_points(T_cam_base[i], pts), rig.K[i])
        H, W = rig.sizes[i]
        count += (in_image(uv, H, W) & (depth > 0.1)).long()
    return xs, ys, count.reshape(cells, cells).numpy()


def plot_rig_bev(rig: CameraRig, out: str | Path, extent_m: float = 30.0, title: str | None = None) -> Path:
    """Write a PNG: vehicle outline, camera positions and headings, coverage and overlaps."""
    xs, ys, count = coverage_grid(rig, extent_m)
    fig, ax = plt.subplots(figsize=(7, 7), dpi=120)
    cmap = matplotlib.colors.ListedColormap(["#ffffff", "#cfe3f7", "#f4a259", "#d1495b"])
    # base_link x forward is drawn upward, y left drawn leftward.
    ax.pcolormesh(-ys, xs, np.clip(count, 0, 3).T, cmap=cmap, vmin=0, vmax=3, shading="nearest")
    ax.add_patch(matplotlib.patches.Rectangle((-0.95, -1.0), 1.9, 4.6, fill=False, lw=1.5, color="k"))
    for i, name in enumerate(rig.names):
        t = rig.T_base_cam[i, :3, 3].numpy()
        zaxis = rig.T_base_cam[i, :3, 2].numpy()
        ax.plot(-t[1], t[0], "o", color="#1d3557", ms=4)
        ax.arrow(-t[1], t[0], -zaxis[1] * 3, zaxis[0] * 3, head_width=0.6, color="#1d3557")
        ax.annotate(name, (-t[1] - zaxis[1] * 9, t[0] + zaxis[0] * 9), ha="center", fontsize=8)
    handles = [
        matplotlib.patches.Patch(color="#cfe3f7", label="seen by 1 camera"),
        matplotlib.patches.Patch(color="#f4a259", label="seen by 2 (overlap)"),
        matplotlib.patches.Patch(color="#d1495b", label="seen by 3+"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    return finish_bev(fig, ax, extent_m, title or f"rig '{rig.name}': coverage at camera height", out)


def finish_bev(fig, ax, extent_m: float, title: str, out: str | Path, title_size: float | None = None) -> Path:
    """Common bird's-eye axes (base_link x up, y left; ±extent metres, equal aspect), title, save as PNG."""
    ax.set_xlim(-extent_m, extent_m)
    ax.set_ylim(-extent_m, extent_m)
    ax.set_aspect("equal")
    ax.set_xlabel("-y (m, right)")
    ax.set_ylabel("x (m, forward)")
    ax.set_title(title, fontsize=title_size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
