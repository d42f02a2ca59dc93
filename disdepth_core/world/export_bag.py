"""A synthetic sequence as a ROS 2 bag (MCAP or sqlite3), written with ``rosbags`` (no ROS needed).

Topics (per camera ``<CAM>`` of the rig): ``/<CAM>/image_raw`` (bgr8), ``/<CAM>/camera_info``,
``/<CAM>/depth_gt`` (32FC1 metres, NaN = no ground truth), ``/LIDAR_TOP/points``
(PointCloud2 x, y, z, intensity, ring in the LiDAR frame) and ``/tf_static`` (base_link to
every optical frame and the LiDAR; transient-local QoS so players latch it). Header stamps
are the sequence clock; the bag's receive time equals the header stamp.
"""

from __future__ import annotations

from pathlib import Path

from .. import bag_messages as bm
from ..errors import DisdepthError
from .export_native import LIDAR_FIELDS
from .renderer import FrameRender
from .sequence import WorldSequence

STORAGES = ("mcap", "sqlite3")


def _latched_qos():
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(sec=0, nsec=0)
    return [Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
                durability=QosDurability.TRANSIENT_LOCAL, deadline=zero, lifespan=zero,
                liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=zero,
                avoid_ros_namespace_conventions=False)]


def camera_topics(cam: str) -> dict[str, str]:
    return {"image": f"/{cam}/image_raw", "info": f"/{cam}/camera_info", "depth": f"/{cam}/depth_gt"}


class BagWriter:
    """Writes a :class:`WorldSequence` frame by frame into the bag directory ``path`` (must not exist)."""

    def __init__(self, seq: WorldSequence, path: str | Path, storage: str = "mcap"):
        if storage not in STORAGES:
            raise DisdepthError(f"unknown bag storage {storage!r} (expected one of {', '.join(STORAGES)})")
        self.seq, self.path, self.storage = seq, Path(path), storage
        self.lidar_topic = f"/{seq.cfg.lidar.name}/points"

    def begin(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if self.path.exists():
            raise DisdepthError(f"bag directory {self.path} exists already (rosbag2 writes new bags only)")
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.path, version=9, storage_plugin=plugin)
        self.writer.open()
        ts = bm.typestore()
        self.conn = {}
        for cam in self.seq.rig.names:
            t = camera_topics(cam)
            self.conn[t["image"]] = self.writer.add_connection(t["image"], bm.IMAGE, typestore=ts)
            self.conn[t["info"]] = self.writer.add_connection(t["info"], bm.CAMERA_INFO, typestore=ts)
            self.conn[t["depth"]] = self.writer.add_connection(t["depth"], bm.IMAGE, typestore=ts)
        self.conn[self.lidar_topic] = self.writer.add_connection(self.lidar_topic, bm.POINT_CLOUD2, typestore=ts)
        self.conn["/tf_static"] = self.writer.add_connection("/tf_static", bm.TF_MESSAGE, typestore=ts,
                                                             offered_qos_profiles=_latched_qos())
        rig = self.seq.rig
        stamp = self.seq.timestamp_ns(0)
        tfs = [(rig.base_frame, rig.frame_ids[i], rig.T_base_cam[i].numpy()) for i in range(len(rig))]
        tfs.append((rig.base_frame, self.seq.cfg.lidar.frame_id, self.seq.T_base_lidar.numpy()))
        self._write("/tf_static", stamp, bm.tf_message(tfs, stamp))

    def _write(self, topic: str, stamp: int, msg) -> None:
        self.writer.write(self.conn[topic], stamp, bm.serialize(msg))

    def write(self, f: FrameRender) -> None:
        rig = self.seq.rig
        H, W = rig.common_size()
        stamp = f.timestamp_ns
        for i, cam in enumerate(rig.names):
            t = camera_topics(cam)
            frame = rig.frame_ids[i]
            self._write(t["image"], stamp, bm.image_msg(f.rgb[i].numpy(), stamp, frame))
            self._write(t["info"], stamp, bm.camera_info_msg(rig.K[i].numpy(), H, W, stamp, frame))
            self._write(t["depth"], stamp, bm.depth_msg(f.depth[i].numpy(), f.valid[i].numpy(), stamp, frame))
        self._write(self.lidar_topic, stamp,
                    bm.pointcloud_msg(f.lidar.numpy(), LIDAR_FIELDS, stamp, self.seq.cfg.lidar.frame_id))

    def end(self) -> None:
        self.writer.close()
