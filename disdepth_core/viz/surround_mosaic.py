"""Mosaics of six surround images and colour-mapped depth maps, laid out like the car sees."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

# Front row left-to-right, back row as seen when looking backwards from the car's roof.
LAYOUT = [["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"], ["CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]]


def colorize_depth(depth: np.ndarray, valid: np.ndarray, d_max: float = 80.0) -> np.ndarray:
    """Depth (H, W) metres -> RGB uint8 with the turbo colour map on inverse depth; invalid = black."""
    cmap = matplotlib.colormaps["turbo"]
    inv = np.where(valid, 1.0 / np.maximum(depth, 1e-3), 0.0)
    x = np.clip((inv - 1.0 / d_max) / (1.0 / 1.0 - 1.0 / d_max), 0, 1) ** 0.5
    rgb = (cmap(x)[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def _grid(names: list[str]) -> list[list[int]]:
    if all(n in names for row in LAYOUT for n in row):
        return [[names.index(n) for n in row] for row in LAYOUT]
    per = (len(names) + 1) // 2
    idx = list(range(len(names)))
    return [idx[:per], idx[per:]]


def surround_mosaic(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, names: list[str], d_max: float = 80.0):
    """RGB (V, H, W, 3) uint8 + depth/valid (V, H, W) -> one uint8 image: two RGB rows over two depth rows."""
    V, H, W, _ = rgb.shape
    grid = _grid(names)
    cols = max(len(r) for r in grid)
    out = np.zeros((4 * H, cols * W, 3), dtype=np.uint8)
    for r, row in enumerate(grid):
        for c, i in enumerate(row):
            out[r * H:(r + 1) * H, c * W:(c + 1) * W] = rgb[i]
            out[(r + 2) * H:(r + 3) * H, c * W:(c + 1) * W] = colorize_depth(depth[i], valid[i], d_max)
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(grid):
        for c, i in enumerate(row):
            for rr in (r, r + 2):
                draw.text((c * W + 4, rr * H + 3), names[i] + (" depth" if rr >= 2 else ""), fill=(255, 255, 255))
    return np.asarray(img)


def save_surround_mosaic(path: str | Path, rgb, depth, valid, names, d_max: float = 80.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(surround_mosaic(rgb, depth, valid, names, d_max)).save(path)
    return path
