"""Render a corpus of many streets once, in parallel worker processes, resumably.

A street is one :class:`WorldSequence` (one seed, one rig) written in the native format to
``<root>/<split>/seed<k>``. Each street is rendered into ``seed<k>.partial`` and renamed
when complete, so an interrupted corpus resumes by rendering only the streets that are
missing, and a reader never sees half a street. Workers run one torch thread each (torch
intra-op threads thrash when processes share cores).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class StreetJob:
    """One street (or place) to render: ``<root>/<split>/seed<seed>`` seen by ``rig``, from the WorldConfig
    YAML ``config`` (None: the corpus's)."""

    split: str
    seed: int
    rig: str
    config: str | None = None

    def out(self, root: Path) -> Path:
        return root / self.split / f"seed{self.seed}"


def street_done(path: Path) -> bool:
    return (path / "poses.json").is_file() and (path / "meta.json").is_file()


def _render_street(job: StreetJob, root: str, frames: int, size: tuple[int, int], world_yaml: str | None) -> float:
    import torch

    torch.set_num_threads(1)
    from ..config import load_config
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from .config import WorldConfig
    from .export_native import NativeWriter
    from .sequence import WorldSequence

    t0 = time.time()
    final = job.out(Path(root))
    tmp = final.with_name(final.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    cfg = load_config(WorldConfig, world_yaml) if world_yaml else WorldConfig()
    rig = CameraRig.from_yaml(resolve_rig(job.rig)).resized(*size)
    seq = WorldSequence(rig, frames, seed=job.seed, cfg=cfg)
    w = NativeWriter(seq, tmp)
    w.begin()
    for f in seq:
        w.write(f)
    w.end()
    meta = json.loads((tmp / "meta.json").read_text())
    meta["rig"] = job.rig
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    tmp.rename(final)
    return time.time() - t0


def render_corpus(root: str | Path, jobs: list[StreetJob], *, frames: int, size: tuple[int, int],
                  world_yaml: str | None = None, workers: int = 1, progress: bool = True) -> dict:
    """Render every job whose street is missing; returns a summary (counts, seconds, bytes).

    The summary of the call that rendered streets is written to ``<root>/corpus.json`` (render
    wall and CPU seconds of the streets rendered by that call, size on disk, the records of
    earlier calls that rendered into the same root under ``earlier_renders``); a call with
    nothing left to render returns it unchanged.
    """
    from tqdm import tqdm

    root = Path(root)
    todo = [j for j in jobs if not street_done(j.out(root))]
    for split in {j.split for j in jobs}:
        (root / split).mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    busy = 0.0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="corpus streets", unit="street",
               disable=not progress)
    if todo:
        if workers <= 1:
            for j in todo:
                busy += _render_street(j, str(root), frames, tuple(size), j.config or world_yaml)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futs = [pool.submit(_render_street, j, str(root), frames, tuple(size), j.config or world_yaml)
                        for j in todo]
                for fut in as_completed(futs):
                    busy += fut.result()
                    bar.update()
    bar.close()
    nbytes = sum(f.stat().st_size for j in jobs for f in j.out(root).rglob("*") if f.is_file())
    summary = {
        "streets": len(jobs), "rendered_now": len(todo), "frames_per_street": frames, "size": list(size),
        "splits": {s: sum(1 for j in jobs if j.split == s) for s in sorted({j.split for j in jobs})},
        "rigs": {r: sum(1 for j in jobs if j.rig == r) for r in sorted({j.rig for j in jobs})},
        "world_config": world_yaml,
        "split_configs": {s: sorted({j.config for j in jobs if j.split == s and j.config}) for s in
                          sorted({j.split for j in jobs if j.config})},
        "wall_seconds": round(time.time() - t0, 1),
        "render_cpu_seconds": round(busy, 1), "workers": workers, "bytes": nbytes,
    }
    prev = root / "corpus.json"
    if prev.is_file():
        before = json.loads(prev.read_text())
        if not todo:  # nothing rendered: keep the record of the render that made it
            return before
        # streets added to a rendered corpus (e.g. a new split): keep the earlier renders' records
        summary["earlier_renders"] = before.pop("earlier_renders", []) + [before]
    prev.write_text(json.dumps(summary, indent=1) + "\n")
    return summary
