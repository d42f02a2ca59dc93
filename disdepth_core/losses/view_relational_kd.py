"""View-relational KD across adjacent cameras (full-surround paper), METHOD.md §6.

For each adjacent camera pair (i, j) the features of both views are pooled on a k x k
grid inside the image regions that see shared space (overlap masks from the rig
geometry), L2-normalised, and related by cosine similarity ``R_ij = F_i F_j^T``
(k^2 x k^2). The student's relation matrices are pulled towards the teacher's
(row-wise KL of temperature softmaxes), transferring how the teacher relates the two
views rather than the features themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def pooled_overlap_features(features: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Masked average pooling on a k x k grid over the mask's bounding box.

    features: (B, C, h, w); mask: (h, w) bool (resized to the features by the caller or
    here by nearest). Returns (B, k*k, C) L2-normalised; cells with no mask pixel are 0.
    """
    B, C, h, w = features.shape
    if mask.shape != (h, w):
        mask = F.interpolate(mask[None, None].float(), size=(h, w), mode="nearest")[0, 0] > 0.5
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return features.new_zeros(B, k * k, C)
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    m = mask[y0:y1, x0:x1].to(features.dtype)[None, None]
    f = features[:, :, y0:y1, x0:x1]
    num = F.adaptive_avg_pool2d(f * m, k)  # (B, C, k, k)
    den = F.adaptive_avg_pool2d(m, k)
    pooled = num / den.clamp_min(1e-6)
    pooled = pooled.flatten(2).transpose(1, 2)  # (B, k*k, C)
    return F.normalize(pooled, dim=-1)


def relation_matrix(fi: torch.Tensor, fj: torch.Tensor) -> torch.Tensor:
    """Cosine relation ``(B, k^2, k^2)`` between pooled, normalised features ``(B, k^2, C)``."""
    return fi @ fj.transpose(1, 2)


def view_relational_kd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    overlap_masks: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
    *,
    k: int,
    tau: float,
    mode: str = "kl",
) -> torch.Tensor:
    """Sum over adjacent pairs of the relation-matrix discrepancy.

    student, teacher: (B, V, C, h, w) features of the V cameras of B time steps (the
    channel counts may differ: relations are C-free). overlap_masks: (P, 2, H, W) bool
    from ``CameraRig.overlap_masks`` at any resolution (resized here); pairs: the P
    (i, j) camera index pairs. ``mode='kl'``: row-wise KL(softmax(R_t/tau) ||
    softmax(R_s/tau)); ``mode='smooth_l1'`` on the raw relations.
    """
    if len(pairs) != overlap_masks.shape[0]:
        raise ValueError(f"view_relational_kd_loss: {len(pairs)} pairs but {overlap_masks.shape[0]} mask pairs")
    student, teacher = student.float(), teacher.float()  # fp32 even under autocast
    total = student.new_zeros(())
    for p, (i, j) in enumerate(pairs):
        rel = []
        for feats in (student, teacher):
            fi = pooled_overlap_features(feats[:, i], overlap_masks[p, 0], k)
            fj = pooled_overlap_features(feats[:, j], overlap_masks[p, 1], k)
            rel.append(relation_matrix(fi, fj))
        r_s, r_t = rel[0], rel[1].detach()
        if mode == "kl":
            log_ps = F.log_softmax(r_s / tau, dim=-1)
            log_pt = F.log_softmax(r_t / tau, dim=-1)
            total = total + (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean()
        elif mode == "smooth_l1":
            total = total + F.smooth_l1_loss(r_s, r_t)
        else:
            raise ValueError(f"view_relational_kd_loss: unknown mode {mode!r} (kl or smooth_l1)")
    return total
