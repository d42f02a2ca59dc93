"""Training losses: depth supervision, the three distillation terms of METHOD.md §4-6, output KD
and the confidence's spread calibration.

The hyper-parameters that a training run configures (weights, temperatures, kernel widths,
grid sizes) have no defaults here: their one default is in
:class:`disdepth_core.training.config.DistillConfig`, and callers pass them.
"""

from .attentive_kd import attentive_kd_loss, spatial_attention
from .cross_interaction_kd import (
    bin_chamfer_loss,
    cross_interaction_kd_loss,
    scale_invariant_depth,
    soft_bin_targets,
)
from .relative_output_kd import relative_output_kd_log_loss, relative_output_kd_loss, ssi_normalise
from .scale_shift_invariant import SSI_LOSSES, align_scale_shift, ssi_disparity_loss, ssi_relative_disparity_loss
from .silog import silog_loss
from .spread_calibration import spread_calibration_loss
from .view_relational_kd import pooled_overlap_features, relation_matrix, view_relational_kd_loss

__all__ = [
    "align_scale_shift",
    "SSI_LOSSES",
    "ssi_disparity_loss",
    "ssi_relative_disparity_loss",
    "attentive_kd_loss",
    "bin_chamfer_loss",
    "cross_interaction_kd_loss",
    "pooled_overlap_features",
    "relation_matrix",
    "relative_output_kd_log_loss",
    "relative_output_kd_loss",
    "ssi_normalise",
    "scale_invariant_depth",
    "silog_loss",
    "soft_bin_targets",
    "spread_calibration_loss",
    "spatial_attention",
    "view_relational_kd_loss",
]
