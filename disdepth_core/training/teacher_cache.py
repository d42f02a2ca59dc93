"""Teacher outputs computed once per frame and kept on disk (fp16), so KD that needs only the
teacher's *output* (output KD, CKD) trains without the teacher in the loop after one pass.

Layout: ``<root>/<key>/<split>_<sequence>_<frame>.npy`` holding the teacher output
``(V, H, W)`` float16 at the student's working resolution. ``key`` hashes the teacher's
weights file, its grid stride, output kind and the working size, so a retrained teacher or
another resolution never reads stale entries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch


def teacher_cache_key(teacher_dir: str | Path, grid_stride: int, output_kind: str, size: tuple[int, int]) -> str:
    """Hash of the teacher weights + everything that changes its output at this resolution."""
    h = hashlib.sha256()
    for f in sorted(Path(teacher_dir).glob("*.safetensors")):
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    h.update(f"{grid_stride}|{output_kind}|{size[0]}x{size[1]}".encode())
    return h.hexdigest()[:16]


def frame_key(meta: dict) -> str:
    """``<split>_<sequence>_<frame>`` of a synthetic sample's meta (``sequence`` path, ``frame`` index)."""
    seq = Path(meta["sequence"])
    return f"{seq.parent.name}_{seq.name}_{int(meta['frame']):06d}"


class TeacherOutputCache:
    """Look up / fill the teacher output of each sample of a batch."""

    def __init__(self, root: str | Path, key: str):
        self.dir = Path(root) / key
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def outputs(self, batch, x: torch.Tensor, compute) -> torch.Tensor:
        """Teacher output ``(B*V, H, W)`` float32 for the batch; ``x`` the normalised images
        ``(B*V, 3, H, W)``; ``compute(x_b) -> (V, H, W)`` runs the teacher on one sample's cameras."""
        B = len(batch.meta)
        V = x.shape[0] // B
        out = []
        for b in range(B):
            f = self.dir / f"{frame_key(batch.meta[b])}.npy"
            if f.is_file():
                out.append(torch.from_numpy(np.load(f).astype(np.float32)).to(x.device))
                self.hits += 1
                continue
            with torch.no_grad():
                t = compute(x[b * V:(b + 1) * V]).half().float()  # what later epochs read back
            tmp = f.with_suffix(f".{os.getpid()}.tmp.npy")  # one per process: two never write one file
            np.save(tmp, t.cpu().numpy().astype(np.float16))
            tmp.replace(f)  # atomic: two processes filling one cache never read half a file
            self.misses += 1
            out.append(t)
        return torch.cat(out)


def fill_cache(cfg, *, shard: int = 0, num_shards: int = 1, progress: bool = True) -> TeacherOutputCache:
    """Compute the teacher output of every training sample of ``cfg`` (a student TrainConfig
    with ``distill.teacher_cache``) that is not cached yet; ``shard``/``num_shards`` split the
    samples between processes (sample i goes to shard i % num_shards)."""
    from tqdm import tqdm

    from ..data.registry import build_dataset
    from ..data.sample import collate_samples
    from .stages import StudentStage, normalise

    stage = StudentStage(cfg, torch.device("cpu"))
    if stage.cache is None:
        from ..errors import DisdepthError

        raise DisdepthError("this run uses no teacher output cache (distill.teacher_cache, output-only KD terms)")
    ds = build_dataset(cfg.dataset, split=cfg.dataset.split)
    for i in tqdm(range(shard, len(ds), num_shards), desc=f"teacher cache {shard}/{num_shards}", disable=not progress):
        batch = collate_samples([ds[i]])
        x = normalise(batch.images.flatten(0, 1), cfg.model.mean, cfg.model.std)
        stage.cache.outputs(batch, x, lambda xb: stage.teacher(xb)["output"])
    return stage.cache
