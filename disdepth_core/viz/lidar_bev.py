"""Bird's-eye view of a LiDAR sweep in base_link with the camera rig drawn on top."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..geometry import CameraRig  # noqa: E402
from .rig_bev import finish_bev  # noqa: E402


def plot_lidar_bev(points_base: np.ndarray, rig: CameraRig, out: str | Path, extent_m: float = 40.0,
                   title: str | None = None) -> Path:
    """``points_base (N, 3)`` metres in base_link -> PNG (x forward drawn up, coloured by height),
    with the vehicle outline, each camera's position, heading and horizontal field of view."""
    fig, ax = plt.subplots(figsize=(7, 7), dpi=120)
    p = points_base
    sc = ax.scatter(-p[:, 1], p[:, 0], c=np.clip(p[:, 2], -0.5, 4.0), s=0.6, cmap="viridis", linewidths=0)
    fig.colorbar(sc, ax=ax, fraction=0.04, label="height above ground (m)")
    ax.add_patch(plt.Rectangle((-0.95, -1.0), 1.9, 4.6, fill=False, lw=1.5, color="k"))
    for i, name in enumerate(rig.names):
        T = rig.T_base_cam[i].numpy()
        H, W = rig.sizes[i]
        fx, cx = float(rig.K[i, 0, 0]), float(rig.K[i, 0, 2])
        t = T[:3, 3]
        for u in (-0.5, W - 0.5):  # frustum edges: rays through the image's left/right border at unit depth
            d = T[:3, :3] @ np.array([(u - cx) / fx, 0.0, 1.0])
            d = d / np.linalg.norm(d[:2]) * 12.0
            ax.plot([-t[1], -t[1] - d[1]], [t[0], t[0] + d[0]], color="#d1495b", lw=0.8)
        z = T[:3, 2]
        ax.annotate(name, (-t[1] - z[1] * 14, t[0] + z[0] * 14), ha="center", fontsize=7, color="#1d3557")
        ax.plot(-t[1], t[0], "o", color="#1d3557", ms=3)
    return finish_bev(fig, ax, extent_m, title or f"LiDAR sweep ({len(p)} points) and rig '{rig.name}'", out)
