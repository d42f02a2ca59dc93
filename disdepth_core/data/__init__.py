"""Datasets: one sample type for multi-camera and single-camera data."""

from .sample import SurroundBatch, SurroundSample, collate_samples

__all__ = ["SurroundBatch", "SurroundSample", "collate_samples"]
