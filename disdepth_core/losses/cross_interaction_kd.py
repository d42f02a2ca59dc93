"""Cross-interaction KD with depth bins (full-surround paper), METHOD.md §5.

The teacher (a foundation model) predicts relative depth: only its ordering is
trustworthy. Per image it is turned into a scale-invariant variable ``u`` in [0, 1]
(near -> far), softly assigned to N bins uniformly spaced in ``u``; the student's
per-pixel bin probabilities learn that distribution (KL), while the student's metric
bin centres are supervised by ground truth through two depths: its own
``sum p_s c`` and the *cross* depth ``sum p_t c`` (teacher probabilities with student
centres). A chamfer term keeps the centres near the ground-truth depths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .silog import silog_loss


def scale_invariant_depth(
    teacher_output: torch.Tensor,
    *,
    disparity: bool = True,
    valid: torch.Tensor | None = None,
    low: float = 0.02,
    high: float = 0.98,
) -> torch.Tensor:
    """Teacher relative output ``(B, H, W)`` -> ``u`` ``(B, H, W)`` in [0, 1], 0 = nearest.

    Robust per-image min-max between the ``low``/``high`` quantiles (over ``valid`` pixels
    when given). Invariant to any positive affine change of the teacher output
    (``a * r + b``, ``a > 0``). ``disparity=True``: larger output = closer.
    """
    B = teacher_output.shape[0]
    r = teacher_output.reshape(B, -1).float()
    if disparity:
        r = -r
    if valid is not None:
        v = valid.reshape(B, -1)
        # quantiles over valid pixels only: fill invalid with the median of valid ones
        med = torch.stack([r[b][v[b]].median() if v[b].any() else r[b].median() for b in range(B)])
        rq = torch.where(v, r, med[:, None])
    else:
        rq = r
    q = torch.quantile(rq, torch.tensor([low, high], device=r.device, dtype=r.dtype), dim=1)  # (2, B)
    lo, hi = q[0][:, None], q[1][:, None]
    u = (r - lo) / (hi - lo).clamp_min(1e-8)
    return u.clamp(0.0, 1.0).reshape(teacher_output.shape)


def soft_bin_targets(u: torch.Tensor, num_bins: int, *, sigma: float, kernel: str = "gaussian") -> torch.Tensor:
    """Soft assignment of ``u`` ``(B, H, W)`` to N bins uniform in [0, 1] -> ``(B, N, H, W)``.

    ``sigma`` is the kernel width in bin units (Gaussian std or triangle half-width).
    Each pixel's distribution sums to 1.
    """
    centres = (torch.arange(num_bins, device=u.device, dtype=u.dtype) + 0.5) / num_bins
    dist = (u[:, None] - centres[None, :, None, None]) * num_bins  # in bin units
    if kernel == "gaussian":
        w = torch.exp(-0.5 * (dist / sigma) ** 2)
    elif kernel == "triangular":
        w = (1.0 - dist.abs() / max(sigma, 1e-6)).clamp_min(0.0)
    else:
        raise ValueError(f"soft_bin_targets: unknown kernel {kernel!r} (gaussian or triangular)")
    w = w + 1e-12  # a pixel far from all centres still gets a valid distribution
    return w / w.sum(1, keepdim=True)


def bin_chamfer_loss(centres: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, max_points: int = 4096) -> torch.Tensor:
    """Bidirectional chamfer distance between bin centres ``(B, N)`` and valid GT depths.

    target, valid: ``(B, H, W)``. Up to ``max_points`` GT depths per image are used (a
    deterministic stride, so the loss is reproducible). Metres^2, averaged over images
    with ground truth.
    """
    losses = []
    for b in range(centres.shape[0]):
        d = target[b][valid[b]]
        if d.numel() == 0:
            continue
        if d.numel() > max_points:
            d = d[:: (d.numel() + max_points - 1) // max_points]
        diff = (centres[b][:, None] - d[None, :]) ** 2  # (N, M)
        losses.append(diff.min(1).values.mean() + diff.min(0).values.mean())
    if not losses:
        return centres.sum() * 0.0
    return torch.stack(losses).mean()


def cross_interaction_kd_loss(
    student_logits: torch.Tensor,
    student_centres: torch.Tensor,
    teacher_output: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    *,
    sigma: float,
    kd_weight: float,
    cross_weight: float,
    chamfer_weight: float,
    teacher_is_disparity: bool = True,
) -> dict[str, torch.Tensor]:
    """The CKD terms; returns a dict with ``kd``, ``cross``, ``chamfer`` and weighted ``total``.

    student_logits: (B, N, h, w) the student's bin logits over N ordered bins (the KL is
    computed from them with ``log_softmax``: clamping probabilities would zero the gradient
    exactly where a confidently wrong student needs it most); student_centres: (B, N)
    metres, increasing; teacher_output: (B, H, W) relative (any positive affine scale);
    target/valid: (B, H, W) metric GT (sparse or dense). The teacher is resized to the
    probability resolution; the cross depth is upsampled to GT resolution.

    * kd = KL(p_t || p_s), mean over pixels (all pixels: ordering holds for sky too)
    * cross = SILog(sum_i p_t,i c_i, GT) at valid GT pixels
    * chamfer = bin_chamfer_loss(c, GT)
    """
    B, N, h, w = student_logits.shape
    with torch.no_grad():
        t_small = F.interpolate(teacher_output[:, None].float(), size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        u = scale_invariant_depth(t_small, disparity=teacher_is_disparity)
        p_t = soft_bin_targets(u, N, sigma=sigma)
    log_ps = F.log_softmax(student_logits.float(), dim=1)
    kd = (p_t * (torch.log(p_t) - log_ps)).sum(1).mean()
    cross_small = (p_t * student_centres.float()[:, :, None, None]).sum(1)  # (B, h, w) metres
    cross_depth = F.interpolate(cross_small[:, None], size=target.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    cross = silog_loss(cross_depth, target, valid)
    chamfer = bin_chamfer_loss(student_centres, target, valid)
    total = kd_weight * kd + cross_weight * cross + chamfer_weight * chamfer
    return {"kd": kd, "cross": cross, "chamfer": chamfer, "total": total}
