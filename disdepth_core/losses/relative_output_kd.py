"""Output KD from a relative-depth teacher (METHOD §3's optional ``L_out``, our design).

A foundation teacher's output is disparity up to an unknown per-image scale and shift, so
only its *structure* can be transferred: both the teacher's output and the student's
disparity ``1 / depth`` are normalised per image to zero median and unit mean absolute
deviation (MiDaS' scale-and-shift-invariant normalisation), and the loss is the mean
absolute difference. It is invariant to any positive affine change of the teacher and to
any global scale of the student, so metric scale still comes from the labels alone; it
applies to every frame, labelled or not.

That form (``relative_output_kd_loss``, "mad") compares disparities, which are large only
near the camera: on a street it is almost all road, and a far building or the top of a
tree -- exactly what sparse LiDAR labels miss -- hardly counts. The "log" form
(:func:`relative_output_kd_log_loss`) instead fits the teacher's output to the student's own
(detached) disparity per image by least squares in disparity, turns it into a depth target
clamped to the student's range, and takes the mean ``|log d_s - log d_target|``: every distance
counts alike, as in the AbsRel the student is judged by, and it is still invariant to any affine
change of the teacher.

The fit is unweighted, as in the affine-aligned evaluation of a relative model. A fit weighted
``g^2`` (relative residuals) looks like the right thing for AbsRel, but it hands the far pixels,
where a teacher's disparity is least certain, most of the weight. Measured with the shipped
teacher on held-out corpus streets (``benchmarks/kd_target_quality.py``, 24 samples), the depth
of the fitted target scores AbsRel 0.248 unweighted against 0.369 weighted ``g^2`` when fitted to
dense depth, and 0.253 against 0.509 when fitted to the sparse LiDAR labels.

Fitted to the student, the target can only reshape the student's structure, and on a labelled
frame it may pull against the labels. Given the frame's metric labels (``label_depth``), the log
form fits the teacher to *them* instead (the same fit, on the label pixels only) where a frame has
enough of them: the target becomes a dense metric pseudo-label that agrees with the sparse
labels where they are and carries the teacher's structure where they are not (sky and building
tops included, clamped to the student's range).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .scale_shift_invariant import align_scale_shift


def ssi_normalise(x: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """``(B, H, W)`` -> per image ``(x - median) / mean|x - median|`` over ``valid`` (all if None)."""
    B = x.shape[0]
    flat = x.reshape(B, -1)
    v = torch.ones_like(flat, dtype=torch.bool) if valid is None else valid.reshape(B, -1)
    out = []
    for b in range(B):
        xb = flat[b]
        sel = xb[v[b]] if bool(v[b].any()) else xb
        med = sel.median()
        mad = (sel - med).abs().mean().clamp_min(eps)
        out.append((xb - med) / mad)
    return torch.stack(out).reshape(x.shape)


def teacher_disparity_at(teacher_output: torch.Tensor, size, teacher_is_disparity: bool) -> torch.Tensor:
    """The teacher's output (B, h, w) detached, resized to ``size`` and as disparity (grows when nearer)."""
    t = teacher_output.detach().float()
    if t.shape[-2:] != tuple(size):
        t = F.interpolate(t[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return t if teacher_is_disparity else 1.0 / t.clamp_min(1e-6)


def fit_teacher_disparity(
    teacher_disp: torch.Tensor, ref_depth: torch.Tensor, valid: torch.Tensor, d_min: float, d_max: float,
    weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's relative disparity (B, H, W) fitted per image by least squares onto ``1/ref_depth``
    (metres) on ``valid`` (``weight`` optional, default none), clamped to ``[1/d_max, 1/d_min]``;
    returns that target disparity (B, H, W) and the fitted scales (B,)."""
    ref = torch.where(valid, ref_depth, torch.ones_like(ref_depth))
    s, t = align_scale_shift(teacher_disp, 1.0 / ref, valid, weight=weight)
    return (s[:, None, None] * teacher_disp + t[:, None, None]).clamp(1.0 / d_max, 1.0 / d_min), s


def teacher_ground_pixels(
    teacher_disp: torch.Tensor, ground_depth: torch.Tensor, *, near_m: float = 2.0, far_m: float = 20.0,
    tol: float = 0.05, iters: int = 3, min_pixels: int = 200, bands: int = 16, min_share: float = 0.0,
) -> torch.Tensor:
    """The pixels (B, H, W) bool that the teacher agrees are flat ground: metric pseudo-labels for free.

    ``ground_depth`` (B, H, W) metres is where each pixel's ray meets the ground
    (:func:`disdepth_core.geometry.ground_plane_depth`, 0 above the horizon): the one metric fact a
    calibrated rig knows about an unlabelled frame -- where the ground is not covered by something
    standing on it. Candidates are pixels whose ray meets the ground within ``[near_m, far_m]``.
    What stands on the ground (a car, a wall) must not pull the fit, so it starts robust: the
    candidates are split into ``bands`` of equal ground distance (log spaced), where the ground has one
    disparity and the teacher should too, and the teacher's relative disparity is fitted to the
    ground's by least squares on the bands' *medians* (right while most of each band is ground).
    Then only pixels whose fitted depth is within ``tol`` (log) of the ground's are kept and the fit
    repeated on them, ``iters`` times. An image keeps its pixels only if at least ``min_pixels``
    and at least ``min_share`` of its candidates remain and the scale is positive; otherwise none.
    ``ground_depth`` there is the pseudo-label. The share matters on a street: where a parked car, a
    wall or the raised sidewalk covers most of the ground in view, the fit can settle on them, and
    then only a few hundred pixels agree (docs/results/ground_anchor_quality.md: with no share test
    16 % of held-out street images had pseudo-labels more than 20 % off; with 0.25, none).
    """
    cand = (ground_depth >= near_m) & (ground_depth <= far_m)
    g_disp = torch.where(cand, 1.0 / ground_depth.clamp_min(1e-6), torch.ones_like(ground_depth))
    lo, hi = math.log(near_m), math.log(far_m)
    band = ((ground_depth.clamp(near_m, far_m).log() - lo) / (hi - lo) * bands).long().clamp(0, bands - 1)
    B = teacher_disp.shape[0]
    med_t = torch.zeros(B, bands, dtype=teacher_disp.dtype, device=teacher_disp.device)
    med_g = torch.ones_like(med_t)
    n = torch.zeros_like(med_t)
    for b in range(B):
        for k in range(bands):
            m = cand[b] & (band[b] == k)
            if bool(m.any()):
                med_t[b, k], med_g[b, k], n[b, k] = teacher_disp[b][m].median(), g_disp[b][m].median(), m.sum()
    s, t = align_scale_shift(med_t, med_g, n > 0, weight=n)
    keep = cand
    for _ in range(iters):
        fitted = (s[:, None, None] * teacher_disp + t[:, None, None]).clamp_min(1e-6)
        keep = cand & ((fitted.log() - g_disp.log()).abs() < tol)
        s, t = align_scale_shift(teacher_disp, g_disp, keep)
    n_kept, n_cand = keep.flatten(1).sum(-1), cand.flatten(1).sum(-1)
    ok = (n_kept >= min_pixels) & (n_kept >= min_share * n_cand) & (s > 0)
    return keep & ok[:, None, None]


def rescale_to_anchor(
    target_disp: torch.Tensor, anchor_depth: torch.Tensor, anchor_valid: torch.Tensor, d_min: float, d_max: float,
    min_pixels: int = 50,
) -> torch.Tensor:
    """``target_disp`` (B, H, W) 1/m rescaled per image by one factor: the median of ``anchor_depth *
    target_disp`` (anchor depth / target depth) over ``anchor_valid``, for an image with at least
    ``min_pixels`` anchor pixels (others unchanged); clamped to ``[1/d_max, 1/d_min]``."""
    a = anchor_depth.float()
    av = anchor_valid & (a > 0) & torch.isfinite(a)
    log_ratio = torch.where(av, torch.log(a.clamp_min(1e-6)) + torch.log(target_disp), torch.nan)
    k = torch.exp(log_ratio.flatten(1).nanmedian(-1).values)
    k = torch.where((av.flatten(1).sum(-1) >= min_pixels) & torch.isfinite(k), k, torch.ones_like(k))
    return (target_disp / k[:, None, None]).clamp(1.0 / d_max, 1.0 / d_min)


def relative_output_kd_log_loss(
    student_depth: torch.Tensor,
    teacher_output: torch.Tensor,
    *,
    d_min: float,
    d_max: float,
    teacher_is_disparity: bool = True,
    valid: torch.Tensor | None = None,
    label_depth: torch.Tensor | None = None,
    label_valid: torch.Tensor | None = None,
    min_label_pixels: int = 50,
    scale_depth: torch.Tensor | None = None,
    scale_valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean ``|log d_s - log d_t|`` with ``d_t = 1 / clamp(s * r_t + t, 1/d_max, 1/d_min)``.

    ``(s, t)`` per image: least squares of the teacher's relative disparity ``r_t`` onto the
    student's detached disparity ``1/d_s``, or, for an image with at least ``min_label_pixels``
    pixels in ``label_valid``, onto the labels' disparity ``1/label_depth`` on those pixels.
    An image fitted to the student whose ``scale_valid`` has at least ``min_label_pixels`` pixels
    gets its metric scale from ``scale_depth`` (e.g. ground pseudo-labels): ``d_t`` is multiplied by
    the median ratio ``scale_depth / d_t`` over them -- the student's shape, the anchor's scale (one
    number per image, so a few metres of anchor do not have to fix a shift as well).
    student_depth: (B, H, W) metres (grad flows into it); teacher_output: (B, h, w);
    d_min/d_max: the student's depth range (metres); valid: (B, H, W) pixels (default all);
    label_depth / label_valid: (B, H, W) metric labels (metres) and where they are, or None;
    scale_depth / scale_valid: (B, H, W) metric anchor (metres) and where it is, or None.
    """
    d = student_depth.float().clamp(d_min, d_max)
    r = teacher_disparity_at(teacher_output, d.shape[-2:], teacher_is_disparity)
    m = torch.ones_like(d, dtype=torch.bool) if valid is None else valid
    with torch.no_grad():
        target_disp, _ = fit_teacher_disparity(r, d, m, d_min, d_max)
        if scale_depth is not None and scale_valid is not None:
            target_disp = rescale_to_anchor(target_disp, scale_depth, scale_valid, d_min, d_max, min_label_pixels)
        if label_depth is not None and label_valid is not None:
            g = label_depth.float()
            lv = label_valid & (g > 0) & torch.isfinite(g)
            from_labels, s_l = fit_teacher_disparity(r, g, lv, d_min, d_max)
            use = (lv.flatten(1).sum(-1) >= min_label_pixels) & (s_l > 0)
            target_disp = torch.where(use[:, None, None], from_labels, target_disp)
    err = (torch.log(d) + torch.log(target_disp)).abs()
    return (err * m).sum() / m.sum().clamp_min(1)


def relative_output_kd_loss(
    student_depth: torch.Tensor,
    teacher_output: torch.Tensor,
    *,
    teacher_is_disparity: bool = True,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean ``|N(1/d_s) - N(r_t)|`` with ``N`` = :func:`ssi_normalise`.

    student_depth: (B, H, W) metres (grad flows into it); teacher_output: (B, h, w) the
    teacher's relative output (resized to the student's size); ``teacher_is_disparity``
    False means the teacher output grows with depth (it is inverted first). ``valid``
    (B, H, W) optionally restricts the pixels (default: all, sky included: ordering holds).
    """
    d = student_depth.float()
    t = teacher_disparity_at(teacher_output, d.shape[-2:], teacher_is_disparity)
    s_disp = 1.0 / d.clamp_min(1e-3)
    err = (ssi_normalise(s_disp, valid) - ssi_normalise(t, valid)).abs()
    if valid is not None:
        return (err * valid).sum() / valid.sum().clamp_min(1)
    return err.mean()
