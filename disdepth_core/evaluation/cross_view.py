"""Cross-view depth consistency on overlaps of adjacent cameras (METHOD.md §6).

For pixels of camera i inside its overlap with camera j: back-project i's depth to 3D,
move the points into j's frame, project; where they land inside j and j has a valid
depth there (nearest pixel), the disagreement is ``|z_in_j - depth_j(u, v)| / depth_j(u, v)``.
The metric is the mean over all such pixels of all pairs, both directions. Occlusions
(i sees a surface j does not) add a floor that ground truth itself shows, so compare
predictions with the GT value of the same metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..geometry import backproject, in_image, invert_transform, project, transform_points


def cross_view_consistency(
    depth: torch.Tensor,
    K: torch.Tensor,
    T_base_cam: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    overlap_masks: torch.Tensor,
    *,
    valid: torch.Tensor | None = None,
    max_depth: float = 80.0,
) -> tuple[float, int]:
    """Mean relative disagreement and the number of pixels it is taken over.

    depth: (V, H, W) metres for one time step; K: (V, 3, 3) at (H, W); T_base_cam:
    (V, 4, 4); pairs and overlap_masks ``(P, 2, h, w)`` as from ``CameraRig`` (resized
    to (H, W) by nearest if needed); valid: optional (V, H, W) bool. Returns
    ``(nan, 0)`` when no pixel qualifies.
    """
    V, H, W = depth.shape
    depth = depth.double()
    K = K.double()
    T = T_base_cam.double()
    ok = torch.isfinite(depth) & (depth > 0) & (depth <= max_depth)
    if valid is not None:
        ok &= valid
    if overlap_masks.shape[-2:] != (H, W):
        overlap_masks = F.interpolate(overlap_masks.float(), size=(H, W), mode="nearest") > 0.5
    total, count = 0.0, 0
    for p, (i, j) in enumerate(pairs):
        for side, (a, b) in enumerate(((i, j), (j, i))):
            sel = overlap_masks[p, side] & ok[a]
            if not sel.any():
                continue
            pts = backproject(torch.where(ok[a], depth[a], torch.ones_like(depth[a])), K[a])[sel]  # (M, 3)
            pts_b = transform_points(invert_transform(T[b]) @ T[a], pts)
            uv, z = project(pts_b, K[b])
            inside = in_image(uv, H, W) & (z > 0)
            if not inside.any():
                continue
            u = uv[inside, 0].round().long().clamp(0, W - 1)
            v = uv[inside, 1].round().long().clamp(0, H - 1)
            db = depth[b, v, u]
            good = ok[b, v, u]
            if not good.any():
                continue
            rel = (z[inside][good] - db[good]).abs() / db[good]
            total += float(rel.sum())
            count += int(good.sum())
    return (total / count if count else float("nan")), count
