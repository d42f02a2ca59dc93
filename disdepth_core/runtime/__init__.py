"""Batched inference runtime: one engine call for all cameras of a time step."""

from .engine_api import DepthEngine, InferenceResult

__all__ = ["DepthEngine", "InferenceResult"]
