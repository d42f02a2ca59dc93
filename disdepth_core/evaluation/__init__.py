"""Evaluation: the standard depth metrics and the cross-view consistency metric."""

from .cross_view import cross_view_consistency
from .metrics import METRIC_KEYS, DepthMetricAccumulator, depth_metrics, median_scale

__all__ = ["METRIC_KEYS", "DepthMetricAccumulator", "cross_view_consistency", "depth_metrics", "median_scale"]
