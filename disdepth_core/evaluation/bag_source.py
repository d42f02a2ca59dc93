"""Synchronised evaluation steps from a ROS 2 bag (MCAP or sqlite3), read with ``rosbags`` (no ROS).

:class:`BagSource` opens a bag, finds the camera topics of a rig (``{camera}`` patterns), their
CameraInfo and the ground truth -- dense ``/<CAM>/depth_gt`` images or a LiDAR PointCloud2
projected into each camera with the extrinsics of ``/tf_static`` (fallback: the rig) -- and
yields one :class:`BagStep` per synchronised set. Synchronisation is the node's: the same
:class:`~disdepth_core.sync.ApproximateTimeSync` with the node's defaults, fed in bag order
with the header stamp as the key and the bag receive time as ``now``, polled every 50 ms of
bag time like the node's timer.

Every image is accounted for (:class:`BagAccounting`): a time step is evaluated, or skipped
with a reason (``no_sync_partner``, ``corrupt_message``, ``missing_camera_info``, ``no_gt``,
and from the evaluator ``max_frames`` / ``no_live_output``). Bad input -- a missing or
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
from ..geometry import CameraRig, invert_transform, scale_intrinsics, transform_points
from ..runtime.resize import nearest_indices, resize_rgb
from ..sync import ApproximateTimeSync

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
        raise DisdepthError(f"bag {p} cannot be read ({type(exc).__name__}: {str(exc).strip() or 'no detail'}); "
                            f"{_metadata_listing(p)}") from None
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
@dataclasses.dataclass
class BagAccounting:
    """Where every time step and image of the bag went. ``steps_found == steps_evaluated + sum(skipped)``."""

    cameras: list[str]
    images_found: dict[str, int] = dataclasses.field(default_factory=dict)
    images_corrupt: dict[str, int] = dataclasses.field(default_factory=dict)
    images_unsynced: dict[str, int] = dataclasses.field(default_factory=dict)
    corrupt_messages: dict[str, int] = dataclasses.field(default_factory=dict)  # per topic, all topics
    cameras_without_gt: dict[str, int] = dataclasses.field(default_factory=dict)  # in evaluated steps
    steps_found: int = 0
    steps_synced: int = 0
    steps_evaluated: int = 0
    steps_partial: int = 0  # evaluated with fewer cameras than the rig (drop_camera policy)
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    skipped_steps: list[dict] = dataclasses.field(default_factory=list)  # {timestamp_ns, reason, detail}

    def skip(self, stamp_ns: int, reason: str, detail: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.skipped_steps.append({"timestamp_ns": int(stamp_ns), "status": f"skipped:{reason}", "detail": detail})

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("skipped_steps")
        d["skipped_total"] = sum(self.skipped.values())
        return d


# ----------------------------------------------------------------------------- steps
@dataclasses.dataclass
class BagStep:
    """One synchronised time step, all rig cameras in rig order (absent ones: ``present`` False).

    images (V, H, W, 3) uint8 RGB; stamps_ns {cam: image header stamp}; K (V, 3, 3) float64 at
    (H, W); T_base_cam (V, 4, 4) float64; gt (V, H, W) float32 metres (0 = none); gt_valid (V, H, W)
    bool; present (V,) bool; timestamp_ns = the earliest image stamp of the set.
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


@dataclasses.dataclass
class BagTopics:
    """Topic patterns (``{camera}`` = rig camera name) and ground-truth choice."""

    image: str = "/{camera}/image_raw"
    camera_info: str = "/{camera}/camera_info"
    depth_gt: str = "/{camera}/depth_gt"
    lidar: str = "/LIDAR_TOP/points"
    tf_static: str = "/tf_static"
    gt: str = "auto"  # auto | depth | lidar


@dataclasses.dataclass
class SyncSettings:
    """The node's synchroniser settings (``sync.*`` of ``config/surround_depth.yaml``)."""

    slop: float = 0.05
    queue_size: int = 10
    missing_timeout: float = 0.5
    missing_policy: str = "drop_camera"
    min_cameras: int = 1

    @classmethod
    def node_defaults(cls) -> SyncSettings:
        """Read ``sync`` from the shipped ``config/surround_depth.yaml`` (the node's defaults)."""
        from ..config import load_yaml
        from ..paths import config_path

        path = config_path("surround_depth.yaml")
        try:
            sync = load_yaml(path)["/**"]["ros__parameters"]["sync"]
        except (KeyError, TypeError):
            raise DisdepthError(f"{path}: no '/**: ros__parameters: sync:' section") from None
        return cls(slop=float(sync["slop"]), queue_size=int(sync["queue_size"]),
                   missing_timeout=float(sync["missing_timeout"]), missing_policy=str(sync["missing_policy"]),
                   min_cameras=int(sync["min_cameras"]))


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
        end so that the accounting is complete).
    """

    def __init__(self, path: str | Path, rig: CameraRig, *, topics: BagTopics | None = None,
                 sync: SyncSettings | None = None, cameras: list[str] | None = None,
                 depth_range: tuple[float, float] = (0.1, 80.0), gt_wait_s: float = 1.0, max_steps: int = 0):
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
        present = [c for c in wanted if t.image.format(camera=c) in inv.topics]
        if not present:
            raise DisdepthError(f"{inv.path}: no camera topics ({t.image} for {', '.join(wanted)}); "
                                f"the bag contains: {inv.describe()}")
        self.missing_cameras = [c for c in wanted if c not in present]
        self.rig = rig.subset(present)
        self.cameras = present
        for c in present:
            self._expect_type(t.image.format(camera=c), bm.IMAGE)
            info = t.camera_info.format(camera=c)
            if info not in inv.topics:
                raise DisdepthError(f"{inv.path}: no CameraInfo for {c} ({info}); the bag contains: {inv.describe()}")
            self._expect_type(info, bm.CAMERA_INFO)
        has_depth = all(t.depth_gt.format(camera=c) in inv.topics for c in present)
        has_lidar = t.lidar in inv.topics
        mode = t.gt
        if mode == "auto":
            mode = "depth" if has_depth else "lidar" if has_lidar else ""
        if mode == "depth" and not has_depth:
            absent = [t.depth_gt.format(camera=c) for c in present if t.depth_gt.format(camera=c) not in inv.topics]
            raise DisdepthError(f"{inv.path}: --gt depth but no {', '.join(absent)}; the bag contains: {inv.describe()}")
        if mode == "lidar" and not has_lidar:
            raise DisdepthError(f"{inv.path}: --gt lidar but no {t.lidar}; the bag contains: {inv.describe()}")
        if not mode:
            raise DisdepthError(f"{inv.path}: no ground truth (neither {t.depth_gt} for every camera nor {t.lidar}); "
                                f"the bag contains: {inv.describe()}")
        self.gt_mode = mode
        if mode == "depth":
            for c in present:
                self._expect_type(t.depth_gt.format(camera=c), bm.IMAGE)
        else:
            self._expect_type(t.lidar, bm.POINT_CLOUD2)
        if t.tf_static in inv.topics:
            self._expect_type(t.tf_static, bm.TF_MESSAGE)
        self.accounting = BagAccounting(cameras=list(present))
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
            frame = self._first_frame_id(t.image.format(camera=cam)) or self.rig.frame_ids[i]
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
            topic_kind[t.image.format(camera=c)] = ("image", c)
            topic_kind[t.camera_info.format(camera=c)] = ("info", c)
            if self.gt_mode == "depth":
                topic_kind[t.depth_gt.format(camera=c)] = ("depth", c)
        if self.gt_mode == "lidar":
            topic_kind[t.lidar] = ("lidar", None)
        for c in cams:
            acc.images_found[c] = acc.images_corrupt[c] = acc.images_unsynced[c] = acc.cameras_without_gt[c] = 0
        if self.corrupt_tf:
            acc.corrupt_messages[t.tf_static] = self.corrupt_tf
        self._info: dict[str, dict[int, tuple[np.ndarray, tuple[int, int]]]] = {c: {} for c in cams}
        self._depth: dict[str, dict[int, tuple[int, object]]] = {c: {} for c in cams}  # stamp -> (recv, msg)
        self._lidar: dict[int, tuple[int, object]] = {}
        self._images: list[tuple[str, int, str]] = []  # (cam, stamp, 'ok'|'corrupt') of every image
        self._synced: set[tuple[str, int]] = set()
        self._set_spans: list[tuple[int, int]] = []
        pending: collections.deque[_Pending] = collections.deque()
        index = 0
        next_poll = None
        try:
            for conn, recv, raw in self.reader.messages(connections=self._conns(list(topic_kind))):
                kind, cam = topic_kind[conn.topic]
                if next_poll is None:
                    next_poll = recv + POLL_NS
                while recv >= next_poll:  # the node's 20 Hz timer, in bag time
                    for s in sync.poll(next_poll):
                        pending.append(_Pending(s, next_poll))
                    next_poll += POLL_NS
                try:
                    msg = bm.deserialize(raw, conn.msgtype)
                    decoded = self._decode(kind, msg)
                except Exception:  # noqa: BLE001 - corrupt/undecodable message: counted, never fatal
                    acc.corrupt_messages[conn.topic] = acc.corrupt_messages.get(conn.topic, 0) + 1
                    if kind == "image":
                        acc.images_found[cam] += 1
                        acc.images_corrupt[cam] += 1
                        self._images.append((cam, int(recv), "corrupt"))
                    continue
                if kind == "image":
                    stamp = bm.stamp_ns(msg.header)
                    acc.images_found[cam] += 1
                    self._images.append((cam, stamp, "ok"))
                    for s in sync.add(cam, stamp, decoded, recv):
                        pending.append(_Pending(s, recv))
                elif kind == "info":
                    self._info[cam][bm.stamp_ns(msg.header)] = decoded
                elif kind == "depth":
                    self._depth[cam][bm.stamp_ns(msg.header)] = (recv, decoded)
                else:
                    self._lidar[bm.stamp_ns(msg.header)] = (recv, decoded)
                while pending and recv - pending[0].recv_ns > self.gt_wait_ns:
                    step = self._finalize(pending.popleft().set, index)
                    if step is not None:
                        index += 1
                        yield step
                self._prune(recv)
        except DisdepthError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bag that breaks while being read
            raise DisdepthError(f"bag {self.inventory.path} broke while reading ({type(exc).__name__}: {exc}); "
                                f"the bag contains: {self.inventory.describe()}") from None
        while pending:
            step = self._finalize(pending.popleft().set, index)
            if step is not None:
                index += 1
                yield step
        self._account_orphans()

    def _decode(self, kind: str, msg):
        if kind == "image":
            return bm.image_to_rgb(msg)
        if kind == "info":
            K = bm.camera_info_to_K(msg)
            if not (np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0 and msg.height > 0 and msg.width > 0):
                raise ValueError("CameraInfo without usable K / size")
            return K, (int(msg.height), int(msg.width))
        if kind == "depth":
            return bm.image_to_depth(msg)
        return bm.pointcloud_to_array(msg, ["x", "y", "z"])

    def _prune(self, recv: int) -> None:
        horizon = recv - self.gt_wait_ns - 5_000_000_000
        for d in (*self._depth.values(), self._lidar):
            if len(d) > 64:
                for k in [k for k, (r, _) in d.items() if r < horizon]:
                    del d[k]

    def _camera_info(self, cam: str, stamp: int):
        infos = self._info[cam]
        if not infos:
            return None
        if stamp in infos:
            return infos[stamp]
        before = [s for s in infos if s <= stamp]
        return infos[max(before)] if before else infos[min(infos)]

    def _finalize(self, s, index: int) -> BagStep | None:
        acc, cams = self.accounting, self.cameras
        acc.steps_synced += 1
        stamps = {c: int(v) for c, v in s.stamps.items()}
        for c, v in stamps.items():
            self._synced.add((c, v))
        t0 = min(stamps.values())
        self._set_spans.append((t0, max(stamps.values())))
        if self.max_steps and index >= self.max_steps:
            acc.skip(t0, "max_frames", f"beyond --max-frames {self.max_steps}")
            return None
        no_info = [c for c in stamps if self._camera_info(c, stamps[c]) is None]
        if no_info:
            acc.skip(t0, "missing_camera_info", f"no CameraInfo yet for {', '.join(no_info)}")
            return None
        sizes = [s.items[c].shape[:2] for c in stamps]
        H, W = collections.Counter(sizes).most_common(1)[0][0]
        V = len(cams)
        images = np.zeros((V, H, W, 3), np.uint8)
        present = np.zeros(V, bool)
        K = np.tile(np.eye(3), (V, 1, 1))
        for i, c in enumerate(cams):
            info = self._camera_info(c, stamps.get(c, t0)) if c in stamps else self._camera_info(c, t0)
            if info is not None:
                K_info, info_hw = info
                K[i] = scale_intrinsics(torch.from_numpy(K_info), info_hw, (H, W)).numpy() if info_hw != (H, W) else K_info
            else:
                K[i] = scale_intrinsics(self.rig.K[i], self.rig.sizes[i], (H, W)).numpy()
            if c in stamps:
                present[i] = True
                img = s.items[c]
                images[i] = img if img.shape[:2] == (H, W) else resize_rgb(img[None], (H, W))[0].numpy()
        gt = np.zeros((V, H, W), np.float32)
        if self.gt_mode == "depth":
            for i, c in enumerate(cams):
                hit = self._depth[c].get(stamps[c]) if c in stamps else None
                if hit is None:
                    continue
                d = hit[1]
                if d.shape != (H, W):
                    d = d[nearest_indices(d.shape[0], H)][:, nearest_indices(d.shape[1], W)]
                gt[i] = np.where(np.isfinite(d) & (d > 0), d, 0.0)
            source = "dense depth_gt"
        else:
            near = [k for k in self._lidar if abs(k - t0) <= self.sync_cfg.slop * 1e9]
            source = "lidar"
            if near:
                k = min(near, key=lambda k: abs(k - t0))
                pts = torch.from_numpy(self._lidar[k][1][:, :3].astype(np.float64))
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
            acc.skip(t0, "no_gt", f"no {'depth_gt' if self.gt_mode == 'depth' else 'LiDAR sweep'} for this step")
            return None
        for i, c in enumerate(cams):
            if present[i] and not valid[i].any():
                acc.cameras_without_gt[c] += 1
        return BagStep(index=index, timestamp_ns=t0, cameras=list(cams), present=present, stamps_ns=stamps,
                       images=images, K=K, T_base_cam=self.T_base_cam.copy(), gt=gt, gt_valid=valid, gt_source=source)

    def _account_orphans(self) -> None:
        """Images never part of a set -> per-camera counts; groups of them not near any set -> skipped steps."""
        acc = self.accounting
        slop = int(self.sync_cfg.slop * 1e9)
        orphans = sorted((stamp, cam, status) for cam, stamp, status in self._images
                         if status == "corrupt" or (cam, stamp) not in self._synced)
        for _, cam, status in orphans:
            if status == "ok":
                acc.images_unsynced[cam] += 1
        spans = sorted(self._set_spans)
        groups: list[list[tuple[int, str, str]]] = []
        for o in orphans:
            if groups and o[0] - groups[-1][-1][0] < slop:
                groups[-1].append(o)
            else:
                groups.append([o])
        steps = len(spans)
        for g in groups:
            lo, hi = g[0][0], g[-1][0]
            if any(a - slop < hi and lo < b + slop for a, b in spans):
                continue  # the rest of an evaluated (partial) step
            steps += 1
            corrupt = sorted({c for _, c, st in g if st == "corrupt"})
            got = sorted({c for _, c, st in g if st == "ok"})
            if corrupt:
                acc.skip(lo, "corrupt_message", f"corrupt image of {', '.join(corrupt)}")
            else:
                missing = [c for c in self.cameras if c not in got]
                acc.skip(lo, "no_sync_partner", f"only {', '.join(got)}; no partner from {', '.join(missing)}")
        acc.steps_found = steps
