"""Plots and images people look at (PNG): rigs, mosaics, metrics."""
