"""Training: teacher fitting, ghost-decoder acclimation and student distillation (METHOD.md §3-6)."""
