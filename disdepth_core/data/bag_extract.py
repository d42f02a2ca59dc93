"""A user's rosbags as training data: synchronised sets, sub-sampled and split by time, written in the
native sequence format that :class:`~disdepth_core.data.synthetic.SyntheticWorldDataset` reads.

Each bag is read once, streamed, through :class:`~disdepth_core.evaluation.bag_source.BagSource`,
the code that ``eval-bag`` uses. It decodes, synchronises and checks intrinsics the way the node does.
Extrinsics come from ``/tf_static`` (the rig's as fallback). The ground truth is dense ``depth_gt`` or
LiDAR projected into each camera, or nothing (cameras only: the frames then feed KD terms only).
Only the kept sets touch the disk, one at a time, so memory does not grow with the length of the drive.

Sets are kept at most one per ``every_s`` seconds. A bag's last ``heldout_fraction`` of time is held out,
and ``gap_s`` seconds around the boundary are dropped, so that no held-out frame is a near duplicate of a
training one. The split is by time, never by random frame.

Layout written under ``out_root``::

    train/<bag>[_k<N>]/   one native sequence per bag, split and intrinsics; a new part when the
    val/<bag>[_k<N>]/     sizes or K change mid-drive (rig.yaml holds one K per camera)
    extraction.json       per bag: what it holds, where every set went (found = kept + skipped by reason)

Stored depth is z-depth in metres, 0 where ``valid`` is false. Images are PNG at the size the node
would see.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DisdepthError
from ..geometry import CameraRig
from .extraction_settings import ExtractionSettings
from .synthetic import FORMAT

__all__ = ["ExtractionSettings", "extract_bag", "extract_bags"]

EXTRACTION_FILE = "extraction.json"
SPLITS = ("train", "val")
SKIP_REASONS = ("incomplete_set", "subsampled", "split_gap")


def bag_name(path: str | Path) -> str:
    """The name a bag's sequences get: the directory name, or the file stem of a single .mcap."""
    p = Path(path)
    return p.stem if p.is_file() else p.name


def image_time_span(source) -> tuple[int, int]:
    """(first, last) header stamp (ns) of the first camera's images of a ``BagSource``."""
    topic = source.image_topics[source.cameras[0]]
    stamps = source.header_stamps(topic)
    if not stamps:
        raise DisdepthError(f"{source.inventory.path}: no readable image stamp on {topic}")
    return min(stamps), max(stamps)


class _SequenceWriter:
    """One native sequence: a split of one bag at one set of image sizes and intrinsics."""

    def __init__(self, root: Path, step, rig: CameraRig, bag: Path, gt_source: str):
        self.root, self.frames = root, []
        self.signature = self._signature(step)
        root.mkdir(parents=True, exist_ok=True)
        H, W = step.images.shape[1:3]
        seq_rig = CameraRig(step.cameras, [(H, W)] * len(step.cameras), torch.from_numpy(step.K),
                            torch.from_numpy(step.T_base_cam), frame_ids=[rig.frame_ids[rig.names.index(c)]
                                                                          for c in step.cameras],
                            base_frame=rig.base_frame, name=f"{rig.name} (from {bag.name})")
        from ..config import save_config

        save_config(seq_rig.to_config(), root / "rig.yaml")
        for cam in step.cameras:
            (root / "images" / cam).mkdir(parents=True, exist_ok=True)
            (root / "depth" / cam).mkdir(parents=True, exist_ok=True)
        (root / "meta.json").write_text(json.dumps({
            "format": FORMAT, "version": 1, "seed": None, "source": {"bag": str(bag), "gt": gt_source},
            "size": [H, W], "cameras": list(step.cameras), "base_frame": rig.base_frame,
            "depth": "z-depth along the optical axis in metres (REP 118); 0 where valid is false",
        }, indent=1) + "\n")

    @staticmethod
    def _signature(step) -> tuple:
        return tuple(step.images.shape[1:3]), np.round(step.K, 6).tobytes()

    def write(self, step) -> None:
        from ..world.export_native import save_npz

        index = len(self.frames)
        stem = f"{index:06d}"
        for c, cam in enumerate(step.cameras):
            Image.fromarray(step.images[c]).save(self.root / "images" / cam / f"{stem}.png")
            save_npz(self.root / "depth" / cam / f"{stem}.npz",
                     {"depth": step.gt[c].astype(np.float32), "valid": step.gt_valid[c]})
        self.frames.append({"index": index, "timestamp_ns": int(step.timestamp_ns)})

    def close(self) -> None:
        (self.root / "poses.json").write_text(json.dumps({"frames": self.frames}, indent=1) + "\n")


def extract_bag(path: str | Path, out_root: str | Path, rig: CameraRig, settings: ExtractionSettings, *,
                topics=None, sync=None, cameras=None, progress: bool = True) -> dict:
    """Extract one bag (see the module docstring); returns its entry of ``extraction.json``.
    ``cameras``: only these rig cameras (default: every rig camera the bag has)."""
    from tqdm import tqdm

    from ..evaluation.bag_source import BagSource, BagTopics

    settings.validate()
    topics = dataclasses.replace(topics or BagTopics(), gt=settings.gt)
    path, out_root = Path(path), Path(out_root)
    source = BagSource(path, rig, topics=topics, sync=sync, cameras=cameras, gt_wait_s=1.0, require_gt=False,
                       per_step_records=False)  # counts only: memory must not grow with the drive's length
    name = bag_name(path)
    for split in SPLITS:  # a bag extracted before (interrupted, other settings): its sequences are redone
        for old in (out_root / split).glob(f"{name}*"):
            if old.is_dir() and re.fullmatch(rf"{re.escape(name)}(_k\d+)?", old.name):
                shutil.rmtree(old)
    acc = source.accounting
    try:
        t0, t1 = image_time_span(source)
        split_ns = t1 - int(settings.heldout_fraction * (t1 - t0)) if settings.heldout_fraction > 0 else t1 + 1
        half_gap = int(settings.gap_s * 1e9 / 2) if settings.heldout_fraction > 0 else 0
        every_ns = int(settings.every_s * 1e9)
        last: dict[str, int] = {}
        writers: dict[str, list[_SequenceWriter]] = {s: [] for s in SPLITS}
        kept = {s: 0 for s in SPLITS}
        bar = tqdm(desc=f"extract {name}", unit="set", disable=not progress)
        for step in source:
            bar.update(1)
            if not step.present.all():
                absent = [c for c, p in zip(step.cameras, step.present) if not p]
                acc.skip_step(step, "incomplete_set", f"no image of {', '.join(absent)}")
                continue
            ts = step.timestamp_ns
            if split_ns - half_gap <= ts < split_ns + half_gap:
                acc.skip_step(step, "split_gap", "within the gap between training and held-out time")
                continue
            split = "val" if ts >= split_ns else "train"
            if split in last and ts - last[split] < every_ns:
                acc.skip_step(step, "subsampled", f"less than {settings.every_s} s after the last kept set")
                continue
            parts = writers[split]
            if not parts or parts[-1].signature != _SequenceWriter._signature(step):
                suffix = f"_k{len(parts)}" if parts else ""
                parts.append(_SequenceWriter(out_root / split / f"{name}{suffix}", step, source.rig, path,
                                             source.gt_mode))
            parts[-1].write(step)
            acc.step_evaluated(step)  # "evaluated" = kept for training or held-out evaluation
            last[split] = ts
            kept[split] += 1
        bar.close()
        for parts in writers.values():
            for w in parts:
                w.close()
    finally:
        source.close()
    a = acc.to_json()  # checks the identities: every set and image is kept or skipped with a reason
    return {
        "bag": str(path), "storage": source.inventory.storage, "gt": source.gt_mode,
        "cameras": source.cameras, "missing_cameras": source.missing_cameras,
        "extrinsics": source.extrinsics_source,
        "time_span_s": (t1 - t0) / 1e9, "split_at_s": (split_ns - t0) / 1e9 if settings.heldout_fraction else None,
        "sets_found": a["steps_found"], "kept": kept, "skipped": a["skipped"],
        "sequences": {s: [str(w.root.relative_to(out_root)) for w in writers[s]] for s in SPLITS},
        "accounting": a,
    }


def extract_bags(bags, out_root: str | Path, rig: CameraRig, settings: ExtractionSettings, *, topics=None,
                 sync=None, cameras=None, progress: bool = True) -> dict:
    """Extract every bag into ``out_root``; resumable: a bag already listed in ``extraction.json`` with
    the same settings is not read again. Returns (and writes) the whole ``extraction.json``."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    f = out_root / EXTRACTION_FILE
    want = {**dataclasses.asdict(settings), "cameras": list(cameras) if cameras else None}
    doc = json.loads(f.read_text()) if f.is_file() else {}
    if doc.get("settings") != want:
        doc = {"settings": want, "bags": {}}
    names = [bag_name(b) for b in bags]
    if len(set(names)) != len(names):
        raise DisdepthError(f"two bags have the same name ({', '.join(names)}): their sequences would collide")
    for bag, name in zip(bags, names):
        if name in doc["bags"] and doc["bags"][name]["bag"] == str(Path(bag)):
            continue
        doc["bags"][name] = extract_bag(bag, out_root, rig, settings, topics=topics, sync=sync, cameras=cameras,
                                        progress=progress)
        f.write_text(json.dumps(doc, indent=1) + "\n")  # after each bag: an interrupted run resumes there
    kept = {s: sum(b["kept"][s] for b in doc["bags"].values()) for s in SPLITS}
    if not kept["train"]:
        raise DisdepthError(f"no training set kept from {', '.join(map(str, bags))} (see {f})")
    doc["kept"] = kept
    doc["labels"] = sorted({b["gt"] for b in doc["bags"].values()})
    f.write_text(json.dumps(doc, indent=1) + "\n")
    return doc
