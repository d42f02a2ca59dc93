"""Synchronised evaluation steps from a ROS 2 bag (MCAP or sqlite3), read with ``rosbags`` (no ROS).

:class:`BagSource` opens a bag, finds the camera topics of a rig (``{camera}`` patterns), their
CameraInfo and the ground truth -- dense ``/<CAM>/depth_gt`` images or a LiDAR PointCloud2
projected into each camera with the extrinsics of ``/tf_static`` (fallback: the rig) -- and
yields one :class:`BagStep` per synchronised set. Synchronisation is the node's: the same
:class:`~disdepth_core.sync.ApproximateTimeSync` with the node's settings
(:class:`~disdepth_core.pipeline.sync_settings.SyncSettings` of a node params YAML), fed in bag order
with the header stamp as the key and the bag receive time as ``now``, polled every 50 ms of
bag time like the node's timer. Decoding, the intrinsics policy and batch assembly are the node's
too (:mod:`disdepth_core.pipeline`): the same checks refuse the same images, the same K and the
same batch size come out.

Every stamp lookup (images, depth, CameraInfo, LiDAR) follows the one rule of
:mod:`~disdepth_core.evaluation.stamp_match`: repeated stamps are told apart by arrival order,
duplicates are dropped and counted, nothing is overwritten. A corrupt image with a readable
header stamp is a placeholder in the synchroniser, so the other cameras of its step are evaluated.

Every image is accounted for (:class:`BagAccounting`, whose identities are checked): a time step
is evaluated, or skipped with a reason (``no_sync_partner``, ``corrupt_message``,
``missing_camera_info``, ``no_gt``, and from the evaluator ``max_frames`` / ``no_live_output``);
an image is evaluated, unsynchronised, corrupt, a duplicate or dropped for a reason. Bad input -- a missing or
unreadable bag, no camera topics, wrong message types, no CameraInfo topic, no ground truth --
raises a one-line :class:`~disdepth_core.errors.DisdepthError` that lists what the bag contains.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .. import bag_messages as bm
from ..data.lidar_depth import points_to_depth_map
from ..errors import DisdepthError
from ..geometry import CameraRig, invert_transform, transform_points
from ..pipeline.batch import Frame, assemble_batch
from ..pipeline.decoding import compressed_topic
from ..pipeline.intrinsics import camera_info_to_K, intrinsics_for
from ..pipeline.sync_settings import SyncSettings
from ..runtime.resize import nearest_indices
from ..sync import ApproximateTimeSync
from .stamp_match import StampedStream, digest, stream_warnings

POLL_NS = 50_000_000  # the node polls its synchroniser every 50 ms
SKIP_REASONS = ("no_sync_partner", "corrupt_message", "missing_camera_info", "no_gt", "max_frames", "no_live_output")


# ----------------------------------------------------------------------------- inventory
@dataclasses.dataclass
class BagInventory:
    """What a bag holds: path, storage, ``topics`` {topic: (msgtype, count)}, time span (ns)."""

    path: Path
    storage: str
    topics: dict[str, tuple[str, int]]
    message_count: int
    start_ns: int
    duration_ns: int
    size_bytes: int

    def describe(self, limit: int = 40) -> str:
        """``/a (sensor_msgs/msg/Image, 3), ...`` -- one line."""
        items = [f"{t} ({ty}, {n})" for t, (ty, n) in sorted(self.topics.items())]
        more = f", ... {len(items) - limit} more" if len(items) > limit else ""
        return (", ".join(items[:limit]) + more) if items else "no topics"

    def to_json(self) -> dict:
        return {"path": str(self.path), "storage": self.storage, "message_count": self.message_count,
                "start_ns": self.start_ns, "duration_s": self.duration_ns / 1e9, "size_bytes": self.size_bytes,
                "topics": {t: {"type": ty, "count": n} for t, (ty, n) in sorted(self.topics.items())}}


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (YAML and decode errors span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no detail'}"


def _metadata_listing(path: Path) -> str:
    """Topics a (possibly unreadable) bag's metadata.yaml lists, for error messages."""
    meta = path / "metadata.yaml" if path.is_dir() else path.parent / "metadata.yaml"
    if not meta.is_file():
        return "no metadata.yaml"
    try:
        import yaml

        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        items = [f"{t['topic_metadata']['name']} ({t['topic_metadata']['type']}, {t['message_count']})"
                 for t in info.get("topics_with_message_count", [])]
        return "its metadata.yaml lists " + (", ".join(sorted(items)) or "no topics")
    except Exception as exc:  # noqa: BLE001 - any damage: say so, in one line
        return f"metadata.yaml unreadable ({type(exc).__name__})"


def open_bag(path: str | Path):
    """Open ``path`` (bag directory or single .mcap file) -> ``(reader, BagInventory)``; one-line errors."""
    from rosbags.rosbag2 import Reader

    p = Path(path)
    if not p.exists():
        raise DisdepthError(f"bag not found: {p}")
    try:
        reader = Reader(p)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - ReaderError, OSError, sqlite/mcap decode errors
        raise DisdepthError(f"bag {p} cannot be read ({one_line(exc)}); {_metadata_listing(p)}") from None
    topics: dict[str, tuple[str, int]] = {}
    for c in reader.connections:
        ty, n = topics.get(c.topic, (c.msgtype, 0))
        topics[c.topic] = (ty, n + int(c.msgcount))
    files = [p] if p.is_file() else [f for f in p.iterdir() if f.is_file()]
    storage = "mcap" if any(f.suffix == ".mcap" for f in files) else "sqlite3" if any(f.suffix == ".db3" for f in files) \
        else "unknown"
    inv = BagInventory(path=p, storage=storage, topics=topics, message_count=int(reader.message_count),
                       start_ns=int(reader.start_time) if reader.message_count else 0,
                       duration_ns=int(reader.duration) if reader.message_count else 0,
                       size_bytes=sum(f.stat().st_size for f in files))
    return reader, inv


# ----------------------------------------------------------------------------- tf
class StaticTransforms:
    """``/tf_static`` as a tree: ``T_parent_child`` per child frame; chains composed on request."""

    def __init__(self):
        self.parent: dict[str, tuple[str, np.ndarray]] = {}

    def add_message(self, msg) -> None:
        for t in msg.transforms:
            self.parent[t.child_frame_id.lstrip("/")] = (t.header.frame_id.lstrip("/"), bm.transform_to_matrix(t.transform))

    def lookup(self, target: str, frame: str) -> np.ndarray | None:
        """``T_target_frame`` (4, 4) when ``frame`` chains up to ``target``, else None."""
        T = np.eye(4)
        f = frame.lstrip("/")
        for _ in range(64):
            if f == target:
                return T
            if f not in self.parent:
                return None
            p, T_p_f = self.parent[f]
            T = T_p_f @ T
            f = p
        return None


# ----------------------------------------------------------------------------- accounting
class AccountingError(RuntimeError):
    """Internal error: the accounting identities do not hold (a bug in eval-bag, not bad input)."""


IMAGE_IDENTITY = ("images_found == images_evaluated + images_unsynced + images_corrupt + images_duplicate "
                  "+ sum(images_dropped)")


@dataclasses.dataclass
class BagAccounting:
    """Where every time step and image of the bag went; :meth:`check` asserts the two identities:

    ``steps_found == steps_evaluated + sum(skipped)`` and, per camera, :data:`IMAGE_IDENTITY`:
    every image message is evaluated (part of an evaluated step), never synchronised, corrupt
    (undecodable), a duplicate (same stamp and bytes as an earlier one) or dropped for a reason
    (``images_dropped[cam][reason]``: its step was skipped for that reason, or ``repeated_stamp``:
    a later image with the same stamp replaced it in the synchroniser's queue).
    """

    cameras: list[str]
    images_found: dict[str, int] = dataclasses.field(default_factory=dict)
    images_evaluated: dict[str, int] = dataclasses.field(default_factory=dict)
    images_unsynced: dict[str, int] = dataclasses.field(default_factory=dict)
    images_corrupt: dict[str, int] = dataclasses.field(default_factory=dict)
    images_duplicate: dict[str, int] = dataclasses.field(default_factory=dict)
    images_dropped: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    corrupt_messages: dict[str, int] = dataclasses.field(default_factory=dict)  # per topic, all topics
    duplicate_messages: dict[str, int] = dataclasses.field(default_factory=dict)  # per topic, all topics
    cameras_without_gt: dict[str, int] = dataclasses.field(default_factory=dict)  # in evaluated steps
    steps_found: int = 0
    steps_synced: int = 0
    steps_evaluated: int = 0
    steps_partial: int = 0  # evaluated with fewer cameras than the rig (drop_camera policy, corrupt image)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped_steps: list[dict] = dataclasses.field(default_factory=list)  # {timestamp_ns, reason, detail, _order}
    # one record per skipped step (for :meth:`per_frame`); off where only the counts are wanted (training
    # extraction of a long drive, where they would grow with every set read)
    per_step_records: bool = True
    warnings: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        for d in (self.images_found, self.images_evaluated, self.images_unsynced, self.images_corrupt,
                  self.images_duplicate, self.cameras_without_gt):
            for c in self.cameras:
                d.setdefault(c, 0)
        for c in self.cameras:
            self.images_dropped.setdefault(c, {})

    def drop_images(self, cameras, reason: str) -> None:
        for c in cameras:
            self.images_dropped[c][reason] = self.images_dropped[c].get(reason, 0) + 1

    def skip(self, stamp_ns: int, reason: str, detail: str = "", *, cameras=(), order: tuple = ()) -> None:
        """Skip one time step; ``cameras``: its decoded images, dropped for ``reason``; ``order``: the
        step's (timestamp_ns, arrival) sort key for :meth:`per_frame`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.drop_images(cameras, reason)
        if self.per_step_records:
            self.skipped_steps.append({"timestamp_ns": int(stamp_ns), "status": f"skipped:{reason}", "detail": detail,
                                       "_order": order or (int(stamp_ns), 0)})

    def skip_step(self, step: BagStep, reason: str, detail: str = "") -> None:
        """Skip a step :class:`BagSource` yielded (e.g. ``no_live_output``)."""
        self.skip(step.timestamp_ns, reason, detail, cameras=step.present_cameras, order=step.order)

    def step_evaluated(self, step: BagStep) -> None:
        self.steps_evaluated += 1
        if step.present.sum() < len(step.cameras):
            self.steps_partial += 1
        for c in step.present_cameras:
            self.images_evaluated[c] += 1

    def per_frame(self, evaluated_rows: list[dict]) -> list[dict]:
        """Evaluated rows (with ``_order``) and skipped rows in bag order, ``index`` = the bag step index."""
        rows = sorted(evaluated_rows + [dict(r) for r in self.skipped_steps], key=lambda r: tuple(r["_order"]))
        for i, r in enumerate(rows):
            r.pop("_order")
            r["index"] = i
        return rows

    def check(self) -> None:
        """Raise :class:`AccountingError` when an identity does not hold."""
        bad = []
        if self.steps_found != self.steps_evaluated + sum(self.skipped.values()):
            bad.append(f"steps: found {self.steps_found} != evaluated {self.steps_evaluated} + skipped "
                       f"{sum(self.skipped.values())}")
        for c in self.cameras:
            parts = (self.images_evaluated[c], self.images_unsynced[c], self.images_corrupt[c],
                     self.images_duplicate[c], sum(self.images_dropped[c].values()))
            if self.images_found[c] != sum(parts):
                bad.append(f"{c}: images found {self.images_found[c]} != evaluated + unsynced + corrupt + duplicate "
                           f"+ dropped = {' + '.join(map(str, parts))}")
        if bad:
            raise AccountingError("internal error, eval-bag accounting does not add up: " + "; ".join(bad))

    def to_json(self) -> dict:
        self.check()
        d = dataclasses.asdict(self)
        d.pop("skipped_steps")
        d.pop("per_step_records")
        d["skipped_total"] = sum(self.skipped.values())
        d["image_identity"] = IMAGE_IDENTITY + " (holds for every camera)"
        return d


# ----------------------------------------------------------------------------- steps
@dataclasses.dataclass
class BagStep:
    """One synchronised time step, all rig cameras in rig order (absent ones: ``present`` False).

    images (V, H, W, 3) uint8 RGB; stamps_ns {cam: image header stamp}; K (V, 3, 3) float64 at
    (H, W); T_base_cam (V, 4, 4) float64; gt (V, H, W) float32 metres (0 = none); gt_valid (V, H, W)
    bool; present (V,) bool; timestamp_ns = the earliest image stamp of the set; occurrence = the
    stamp's occurrence (arrival order among images with the same stamp, :mod:`.stamp_match`);
    arrival = bag position of the step's first image (orders steps that share a stamp).
    """

    index: int
    timestamp_ns: int
    cameras: list[str]
    present: np.ndarray
    stamps_ns: dict[str, int]
    images: np.ndarray
    K: np.ndarray
    T_base_cam: np.ndarray
    gt: np.ndarray
    gt_valid: np.ndarray
    gt_source: str
    occurrence: int = 0
    arrival: int = 0

    @property
    def order(self) -> tuple[int, int]:
        """Sort key of the step in the bag: (timestamp_ns, arrival)."""
        return self.timestamp_ns, self.arrival

    @property
    def present_cameras(self) -> list[str]:
        return [c for c, p in zip(self.cameras, self.present) if p]


@dataclasses.dataclass
class BagTopics:
    """Topic patterns (``{camera}`` = rig camera name) and ground-truth choice."""

    image: str = "/{camera}/image_raw"
    camera_info: str = "/{camera}/camera_info"
    depth_gt: str = "/{camera}/depth_gt"
    lidar: str = "/LIDAR_TOP/points"
    tf_static: str = "/tf_static"
    gt: str = "auto"  # auto | depth | lidar | none (cameras only: steps without labels)


_Image = collections.namedtuple("_Image", "arrival key frame")  # a synchroniser item; frame None = corrupt


class _Pending:
    __slots__ = ("set", "recv_ns")

    def __init__(self, s, recv_ns):
        self.set, self.recv_ns = s, recv_ns


class BagSource:
    """Evaluation steps of one bag (see the module docstring). Iterate once; then read ``accounting``.

    Args:
        path: bag directory or .mcap file. rig: the rig (camera names and order, extrinsic fallback,
        base frame). topics: :class:`BagTopics`. sync: :class:`SyncSettings` (default: the node's).
        cameras: subset of rig cameras (default: every rig camera whose image topic is in the bag).
        depth_range: (min, max) metres of LiDAR points kept. gt_wait_s: bag seconds a set waits for
        its ground truth / CameraInfo messages after its last image. max_steps: yield at most this
        many steps (0 = all); later sets are skipped as ``max_frames`` (the bag is still read to the
        end so that the accounting is complete). require_gt: False lets ``gt: auto`` fall back to
        ``none`` (steps without labels) when the bag has no ground truth, instead of refusing.
        per_step_records: False keeps only the counts of skipped steps, not one record each
        (``accounting.per_frame`` is then empty of skips; memory stays flat along any bag).
    """

    def __init__(self, path: str | Path, rig: CameraRig, *, topics: BagTopics | None = None,
                 sync: SyncSettings | None = None, cameras: list[str] | None = None,
                 depth_range: tuple[float, float] = (0.1, 80.0), gt_wait_s: float = 1.0, max_steps: int = 0,
                 require_gt: bool = True, per_step_records: bool = True):
        self.max_steps = int(max_steps)
        self.topics = topics or BagTopics()
        self.sync_cfg = sync or SyncSettings.node_defaults()
        self.depth_range = depth_range
        self.gt_wait_ns = int(gt_wait_s * 1e9)
        self.reader, self.inventory = open_bag(path)
        inv = self.inventory
        t = self.topics
        wanted = cameras or list(rig.names)
        unknown = [c for c in wanted if c not in rig.names]
        if unknown:
            raise DisdepthError(f"cameras {unknown} are not in rig '{rig.name}' ({', '.join(rig.names)})")
        # a camera's images: raw on the image topic, else compressed on <image topic>/compressed
        # (image_transport's name; JPEG/PNG decoded with the node's checks)
        self.image_topics: dict[str, str] = {}
        for c in wanted:
            raw_topic = t.image.format(camera=c)
            for topic in (raw_topic, compressed_topic(raw_topic)):
                if topic in inv.topics:
                    self.image_topics[c] = topic
                    break
        present = [c for c in wanted if c in self.image_topics]
        if not present:
            raise DisdepthError(f"{inv.path}: no camera topics ({t.image} for {', '.join(wanted)}); "
                                f"the bag contains: {inv.describe()}")
        if not any(inv.topics[self.image_topics[c]][1] for c in present):
            raise DisdepthError(f"{inv.path}: the camera topics have no messages "
                                f"({', '.join(self.image_topics[c] for c in present)}: 0 each); "
                                f"the bag contains: {inv.describe()}")
        self.missing_cameras = [c for c in wanted if c not in present]
        self.rig = rig.subset(present)
        self.cameras = present
        for c in present:
            topic = self.image_topics[c]
            self._expect_type(topic, bm.IMAGE if topic == t.image.format(camera=c) else bm.COMPRESSED_IMAGE)
            info = t.camera_info.format(camera=c)
            if info not in inv.topics:
                raise DisdepthError(f"{inv.path}: no CameraInfo for {c} ({info}); the bag contains: {inv.describe()}")
            self._expect_type(info, bm.CAMERA_INFO)
        has_depth = all(t.depth_gt.format(camera=c) in inv.topics for c in present)
        has_lidar = t.lidar in inv.topics
        mode = t.gt
        if mode not in ("auto", "depth", "lidar", "none"):
            raise DisdepthError(f"ground truth {mode!r}: expected auto, depth, lidar or none")
        if mode == "auto":
            mode = "depth" if has_depth else "lidar" if has_lidar else ""
        if mode == "depth" and not has_depth:
            absent = [t.depth_gt.format(camera=c) for c in present if t.depth_gt.format(camera=c) not in inv.topics]
            raise DisdepthError(f"{inv.path}: --gt depth but no {', '.join(absent)}; the bag contains: {inv.describe()}")
        if mode == "lidar" and not has_lidar:
            raise DisdepthError(f"{inv.path}: --gt lidar but no {t.lidar}; the bag contains: {inv.describe()}")
        if not mode and not require_gt:
            mode = "none"  # training data: a cameras-only bag still feeds the KD terms
        if not mode:
            raise DisdepthError(f"{inv.path}: no ground truth (neither {t.depth_gt} for every camera nor {t.lidar}); "
                                f"the bag contains: {inv.describe()}")
        self.gt_mode = mode
        if mode == "none":
            pass  # cameras only: every step comes out without labels (training data for KD-only terms)
        elif mode == "depth":
            for c in present:
                self._expect_type(t.depth_gt.format(camera=c), bm.IMAGE)
        else:
            self._expect_type(t.lidar, bm.POINT_CLOUD2)
        if t.tf_static in inv.topics:
            self._expect_type(t.tf_static, bm.TF_MESSAGE)
        self.accounting = BagAccounting(cameras=list(present), per_step_records=per_step_records)
        self._read_extrinsics()

    # ------------------------------------------------------------------ setup
    def _expect_type(self, topic: str, msgtype: str) -> None:
        got = self.inventory.topics[topic][0]
        if got != msgtype:
            raise DisdepthError(f"{self.inventory.path}: topic {topic} has type {got}, expected {msgtype}; "
                                f"the bag contains: {self.inventory.describe()}")

    def _conns(self, topics: list[str]):
        return [c for c in self.reader.connections if c.topic in topics]

    def _read_extrinsics(self) -> None:
        """T_base_cam per camera from /tf_static (else the rig); T_base_lidar for LiDAR ground truth."""
        t = self.topics
        tf = StaticTransforms()
        self.corrupt_tf = 0
        for conn, _, raw in self.reader.messages(connections=self._conns([t.tf_static])):
            try:
                tf.add_message(bm.deserialize(raw, conn.msgtype))
            except Exception:  # noqa: BLE001 - corrupt message: counted
                self.corrupt_tf += 1
        self.tf = tf
        base = self.rig.base_frame
        self.camera_frames: list[str] = []
        T = self.rig.T_base_cam.numpy().copy()
        self.extrinsics_source: dict[str, str] = {}
        for i, cam in enumerate(self.cameras):
            frame = self._first_frame_id(self.image_topics[cam]) or self.rig.frame_ids[i]
            self.camera_frames.append(frame)
            T_tf = tf.lookup(base, frame)
            if T_tf is not None:
                T[i] = T_tf
                self.extrinsics_source[cam] = f"/tf_static ({base} <- {frame})"
            else:
                self.extrinsics_source[cam] = f"rig '{self.rig.name}' ({frame} not in /tf_static)"
        self.T_base_cam = T
        self.T_base_lidar = None
        self.lidar_frame = ""
        if self.gt_mode == "lidar":
            self.lidar_frame = self._first_frame_id(t.lidar) or ""
            self.T_base_lidar = tf.lookup(base, self.lidar_frame) if self.lidar_frame else None
            if self.T_base_lidar is None:
                frames = ", ".join(sorted(tf.parent)) or "none"
                raise DisdepthError(f"{self.inventory.path}: LiDAR frame '{self.lidar_frame}' of {t.lidar} does not "
                                    f"chain to '{base}' in {t.tf_static} (frames there: {frames}); LiDAR ground truth "
                                    f"needs it")
            self.extrinsics_source[t.lidar] = f"/tf_static ({base} <- {self.lidar_frame})"

    def _first_frame_id(self, topic: str) -> str | None:
        for conn, _, raw in self.reader.messages(connections=self._conns([topic])):
            try:
                return bm.deserialize(raw, conn.msgtype).header.frame_id
            except Exception:  # noqa: BLE001 - try the next one
                continue
        return None

    def close(self) -> None:
        self.reader.close()

    def header_stamps(self, topic: str) -> list[int]:
        """Header stamps (ns) of every message of ``topic``, read from the first bytes only (no decoding)."""
        return [st for _, _, raw in self.reader.messages(connections=self._conns([topic]))
                if (st := bm.cdr_header_stamp_ns(raw)) is not None]

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[BagStep]:
        t, acc, cams = self.topics, self.accounting, self.cameras
        sc = self.sync_cfg
        try:
            sync = ApproximateTimeSync(cams, sc.queue_size, sc.slop, timeout_s=sc.missing_timeout,
                                       policy=sc.missing_policy, min_streams=min(sc.min_cameras, len(cams)))
        except ValueError as exc:
            raise DisdepthError(f"sync settings: {exc}") from None
        topic_kind: dict[str, tuple[str, str | None]] = {}
        for c in cams:
            topic_kind[self.image_topics[c]] = ("image", c)
            topic_kind[t.camera_info.format(camera=c)] = ("info", c)
            if self.gt_mode == "depth":
                topic_kind[t.depth_gt.format(camera=c)] = ("depth", c)
        if self.gt_mode == "lidar":
            topic_kind[t.lidar] = ("lidar", None)
        if self.corrupt_tf:
            acc.corrupt_messages[t.tf_static] = self.corrupt_tf
        # one StampedStream per topic: every stamp lookup follows the rule of stamp_match
        self.streams = {topic: StampedStream(topic) for topic in topic_kind}
        self._info = {c: self.streams[t.camera_info.format(camera=c)] for c in cams}
        self._depth = {c: self.streams[t.depth_gt.format(camera=c)] for c in cams} if self.gt_mode == "depth" else {}
        self._lidar = self.streams.get(t.lidar)
        self._queued: dict[int, tuple[int, str, str]] = {}  # arrival -> (stamp, cam, ok|corrupt): fed, in no set yet
        self._orphans: list[tuple[int, int, str, str]] = []  # (stamp, arrival, cam, status): images in no set
        self._set_spans: list[tuple[int, int]] = []
        pending: collections.deque[_Pending] = collections.deque()
        index = arrival = 0
        next_poll = None
        try:
            for conn, recv, raw in self.reader.messages(connections=self._conns(list(topic_kind))):
                kind, cam = topic_kind[conn.topic]
                if next_poll is None:
                    next_poll = recv + POLL_NS
                if recv >= next_poll:
                    while recv >= next_poll:  # the node's 20 Hz timer, in bag time
                        self._emitted(sync.poll(next_poll), next_poll, pending)
                        next_poll += POLL_NS
                    self._prune(recv)
                if kind == "image":
                    arrival += 1
                    self._add_image(sync, pending, conn, cam, recv, raw, arrival)
                else:
                    self._add_message(kind, conn, recv, raw)
                while pending and recv - pending[0].recv_ns > self.gt_wait_ns:
                    step = self._finalize(pending.popleft().set, index)
                    if step is not None:
                        index += 1
                        yield step
        except DisdepthError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bag that breaks while being read
            raise DisdepthError(f"bag {self.inventory.path} broke while reading ({one_line(exc)}); "
                                f"the bag contains: {self.inventory.describe()}") from None
        while pending:
            step = self._finalize(pending.popleft().set, index)
            if step is not None:
                index += 1
                yield step
        self._account_orphans()

    def _emitted(self, sets, recv: int, pending) -> None:
        for s in sets:
            for it in s.items.values():
                self._queued.pop(it.arrival, None)
            pending.append(_Pending(s, recv))

    def _add_image(self, sync, pending, conn, cam: str, recv: int, raw: bytes, arrival: int) -> None:
        """Decode one image and feed the synchroniser; a corrupt one whose header stamp is readable goes
        in as a placeholder so that the other cameras of its step still form a set."""
        acc, topic = self.accounting, conn.topic
        acc.images_found[cam] += 1
        try:
            msg = bm.deserialize(raw, conn.msgtype)
            if conn.msgtype == bm.COMPRESSED_IMAGE:
                frame = Frame.from_compressed(msg, recv)
                frame.decode()  # here, so that an undecodable image is counted corrupt like a raw one
            else:
                frame = Frame.from_image(msg, recv)
            stamp = bm.stamp_ns(msg.header)
        except Exception:  # noqa: BLE001 - corrupt/undecodable message (or refused by a check): counted, never fatal
            frame, stamp = None, bm.cdr_header_stamp_ns(raw)
        key = None if stamp is None else self.streams[topic].add(stamp, None, recv_ns=recv, raw_digest=digest(raw))
        if stamp is not None and key is None:
            acc.images_duplicate[cam] += 1
            acc.duplicate_messages[topic] = acc.duplicate_messages.get(topic, 0) + 1
            return
        if frame is None:
            acc.images_corrupt[cam] += 1
            acc.corrupt_messages[topic] = acc.corrupt_messages.get(topic, 0) + 1
            if stamp is None:  # not even a stamp: placed by its receive time
                self._orphans.append((int(recv), arrival, cam, "corrupt"))
                return
        prev = sync.queues[cam].get(stamp)
        if prev is not None:  # the synchroniser replaces a queued item of the same stamp (message_filters)
            p_stamp, _, p_status = self._queued.pop(prev.arrival)
            self._orphans.append((p_stamp, prev.arrival, cam, "displaced" if p_status == "ok" else p_status))
            if p_status == "ok":
                acc.drop_images([cam], "repeated_stamp")
        self._queued[arrival] = (stamp, cam, "ok" if frame is not None else "corrupt")
        self._emitted(sync.add(cam, stamp, _Image(arrival, key, frame), recv), recv, pending)

    def _add_message(self, kind: str, conn, recv: int, raw: bytes) -> None:
        acc, topic = self.accounting, conn.topic
        try:
            msg = bm.deserialize(raw, conn.msgtype)
            decoded = self._decode(kind, msg)
        except Exception:  # noqa: BLE001 - corrupt/undecodable message: counted, never fatal
            acc.corrupt_messages[topic] = acc.corrupt_messages.get(topic, 0) + 1
            return
        if self.streams[topic].add(bm.stamp_ns(msg.header), decoded, recv_ns=recv, raw_digest=digest(raw)) is None:
            acc.duplicate_messages[topic] = acc.duplicate_messages.get(topic, 0) + 1

    def _decode(self, kind: str, msg):
        if kind == "info":
            return camera_info_to_K(msg)  # the node's checks: an unusable CameraInfo is corrupt here
        if kind == "depth":
            return bm.image_to_depth(msg)
        return bm.pointcloud_to_array(msg, ["x", "y", "z"])

    def _prune(self, recv: int) -> None:
        """Forget messages received more than gt_wait + 5 s ago (every stream; CameraInfo keeps its latest)."""
        horizon = recv - self.gt_wait_ns - 5_000_000_000
        for st in self.streams.values():
            st.prune(horizon)

    def buffered(self) -> dict[str, int]:
        """Messages held per topic now (bounded by the prune horizon; for tests and diagnostics)."""
        return {topic: len(st) for topic, st in getattr(self, "streams", {}).items()}

    def _finalize(self, s, index: int) -> BagStep | None:
        acc, cams = self.accounting, self.cameras
        acc.steps_synced += 1
        stamps = {c: int(v) for c, v in s.stamps.items()}
        items = s.items
        t0 = min(stamps.values())
        order = (t0, min(it.arrival for it in items.values()))
        self._set_spans.append((t0, max(stamps.values())))
        ok = [c for c in stamps if items[c].frame is not None]  # the others are corrupt placeholders (counted)
        corrupt = [c for c in stamps if c not in ok]
        if not ok:
            acc.skip(t0, "corrupt_message", f"corrupt image of {', '.join(corrupt)}", order=order)
            return None
        if self.max_steps and index >= self.max_steps:
            acc.skip(t0, "max_frames", f"beyond --max-frames {self.max_steps}", cameras=ok, order=order)
            return None
        no_info = [c for c in ok if self._info[c].latest(items[c].key) is None]
        if no_info:
            acc.skip(t0, "missing_camera_info", f"no CameraInfo yet for {', '.join(no_info)}", cameras=ok,
                     order=order)
            return None
        occurrence = items[min(ok, key=lambda c: stamps[c])].key[1]
        # the node's batch (pipeline.batch): most common size, the others resized with their K scaled
        idx = {c: i for i, c in enumerate(cams)}
        frames = [items[c].frame for c in ok]
        Ks = [intrinsics_for(c, f.size, self.rig.K[idx[c]], self.rig.sizes[idx[c]], self._info[c].latest(items[c].key))
              for c, f in zip(ok, frames, strict=True)]
        batch = assemble_batch(frames, Ks)
        H, W = batch.size
        V = len(cams)
        images = np.zeros((V, H, W, 3), np.uint8)
        present = np.zeros(V, bool)
        K = np.tile(np.eye(3), (V, 1, 1))
        for j, c in enumerate(ok):
            images[idx[c]], K[idx[c]], present[idx[c]] = batch.images[j], batch.K[j], True
        for i, c in enumerate(cams):  # an absent camera: its K at the batch size (for LiDAR projection)
            if not present[i]:
                K[i] = intrinsics_for(c, (H, W), self.rig.K[i], self.rig.sizes[i],
                                      self._info[c].latest((t0, occurrence)))
        gt = np.zeros((V, H, W), np.float32)
        if self.gt_mode == "none":
            return BagStep(index=index, timestamp_ns=t0, cameras=list(cams), present=present,
                           stamps_ns={c: stamps[c] for c in ok}, images=images, K=K,
                           T_base_cam=self.T_base_cam.copy(), gt=gt, gt_valid=np.zeros_like(gt, bool),
                           gt_source="none", occurrence=occurrence, arrival=order[1])
        if self.gt_mode == "depth":
            for i, c in enumerate(cams):
                d = self._depth[c].exact(items[c].key) if c in ok else None
                if d is None:
                    continue
                if d.shape != (H, W):
                    d = d[nearest_indices(d.shape[0], H)][:, nearest_indices(d.shape[1], W)]
                gt[i] = np.where(np.isfinite(d) & (d > 0), d, 0.0)
            source = "dense depth_gt"
        else:
            hit = self._lidar.nearest(t0, int(self.sync_cfg.slop * 1e9), occurrence)
            source = "lidar"
            if hit is not None:
                (k, _), cloud = hit
                pts = torch.from_numpy(cloud[:, :3].astype(np.float64))
                pts = pts[torch.isfinite(pts).all(1)]
                T_base_lidar = torch.from_numpy(self.T_base_lidar)
                for i in range(V):
                    if not present[i]:
                        continue
                    T_cam_lidar = invert_transform(torch.from_numpy(self.T_base_cam[i])) @ T_base_lidar
                    gt[i] = points_to_depth_map(transform_points(T_cam_lidar, pts), torch.from_numpy(K[i]), (H, W),
                                                min_depth=self.depth_range[0]).numpy()
                source = f"lidar sweep {k}"
        valid = (gt > 0) & present[:, None, None]
        if not valid.any():
            acc.skip(t0, "no_gt", f"no {'depth_gt' if self.gt_mode == 'depth' else 'LiDAR sweep'} for this step",
                     cameras=ok, order=order)
            return None
        for i, c in enumerate(cams):
            if present[i] and not valid[i].any():
                acc.cameras_without_gt[c] += 1
        return BagStep(index=index, timestamp_ns=t0, cameras=list(cams), present=present,
                       stamps_ns={c: stamps[c] for c in ok}, images=images, K=K, T_base_cam=self.T_base_cam.copy(),
                       gt=gt, gt_valid=valid, gt_source=source, occurrence=occurrence, arrival=order[1])

    def _account_orphans(self) -> None:
        """Images never part of a set -> per-camera counts; groups of them not near any set -> skipped steps;
        the streams' repeated-stamp and duplicate warnings."""
        acc = self.accounting
        slop = int(self.sync_cfg.slop * 1e9)
        for arr, (stamp, cam, status) in self._queued.items():
            self._orphans.append((stamp, arr, cam, status))
            if status == "ok":
                acc.images_unsynced[cam] += 1
        self._queued.clear()
        orphans = sorted(self._orphans)
        spans = sorted(self._set_spans)
        groups: list[list[tuple[int, int, str, str]]] = []
        for o in orphans:
            if groups and o[0] - groups[-1][-1][0] < slop:
                groups[-1].append(o)
            else:
                groups.append([o])
        steps = len(spans)
        for g in groups:
            lo, hi = g[0][0], g[-1][0]
            if any(a - slop < hi and lo < b + slop for a, b in spans):
                continue  # the rest of a synchronised step (partial, or an image replaced by a repeated stamp)
            steps += 1
            order = (lo, min(o[1] for o in g))
            corrupt = sorted({c for *_, c, st in g if st == "corrupt"})
            got = sorted({c for *_, c, st in g if st != "corrupt"})
            if corrupt:
                acc.skip(lo, "corrupt_message", f"corrupt image of {', '.join(corrupt)}", order=order)
            else:
                missing = [c for c in self.cameras if c not in got]
                acc.skip(lo, "no_sync_partner", f"only {', '.join(got)}; no partner from {', '.join(missing)}",
                         order=order)
        acc.steps_found = steps
        acc.warnings.extend(stream_warnings(self.streams.values()))
