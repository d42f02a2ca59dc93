"""Deterministic, resumable batch selection: the samples of step ``s`` depend only on (seed, s).

Each epoch is a seeded permutation of the dataset; a global batch of
``batch_size * world_size`` consecutive indices is split across ranks. Resuming at step
``s`` therefore sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import torch

from ..data.sample import SurroundBatch, collate_samples


def step_indices(num_samples: int, step: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """Dataset indices of this rank's share of global batch ``step``."""
    if num_samples <= 0:
        raise ValueError("the training dataset is empty")
    global_bs = batch_size * world_size
    start = step * global_bs
    out = []
    for pos in range(start + rank * batch_size, start + (rank + 1) * batch_size):
        epoch, offset = divmod(pos, num_samples)
        perm = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        out.append(int(perm[offset]))
    return out


def fetch_batch(dataset, step: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> SurroundBatch:
    """Load and collate this rank's samples for ``step``; augmentation is seeded by (seed, step, rank)."""
    if hasattr(dataset, "seed"):
        dataset.seed(seed * 1_000_003 + step * 101 + rank)
    idx = step_indices(len(dataset), step, batch_size, seed, rank, world_size)
    return collate_samples([dataset[i] for i in idx])
