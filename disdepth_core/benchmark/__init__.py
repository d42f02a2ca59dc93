"""Measurement helpers for ``disdepth bench`` (model cost now; runtime backends later)."""
