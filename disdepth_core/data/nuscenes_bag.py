"""A nuScenes-layout dataset as ROS 2 bags, one per scene, in the topics ``eval-bag`` and ``distill`` read.

Works on the official nuScenes (``v1.0-mini``, ``v1.0-trainval``) and on ``disdepth world --format
nuscenes``, through nuscenes-devkit. Per scene, every ``sample_data`` of the six cameras and of
``LIDAR_TOP`` (key frames and sweeps, in time order) becomes:

    /<CAM>/image_raw/compressed   sensor_msgs/CompressedImage, the JPEG as recorded (not re-encoded)
    /<CAM>/camera_info            sensor_msgs/CameraInfo from ``calibrated_sensor.camera_intrinsic``
    /LIDAR_TOP/points             sensor_msgs/PointCloud2 x y z intensity ring, LiDAR frame
    /tf_static                    base_link -> each camera and the LiDAR (``calibrated_sensor``), latched

Header stamps are the ``sample_data`` timestamps (us -> ns); the bag's receive time equals them.
Frame ids are the channel names (``CAM_FRONT``, ``LIDAR_TOP``). Not carried over: ego motion between
a camera's and the LiDAR's capture times (up to ~50 ms at nuScenes' 12 Hz / 20 Hz), so LiDAR labels
projected from such a bag are not motion-compensated, and box annotations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import bag_messages as bm
from ..errors import DisdepthError
from ..pipeline.decoding import compressed_topic
from ..pipeline.node_params import NUSCENES_CAMERAS as CAMERAS
from ..world.export_native import LIDAR_FIELDS
from .nuscenes import LIDAR, nuscenes_pose, open_nuscenes

BASE_FRAME = "base_link"


def _channel_chain(nusc, first_sd_token: str) -> list[dict]:
    """Every sample_data of one channel of a scene, from its first one along ``next``."""
    out, token = [], first_sd_token
    while token:
        sd = nusc.get("sample_data", token)
        out.append(sd)
        token = sd["next"]
    return out


def scene_to_bag(nusc, scene: dict, path: Path, *, storage: str = "mcap", progress: bool = True) -> dict:
    """Write one scene as the bag directory ``path`` (must not exist); returns what was written."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from tqdm import tqdm

    from ..world.export_bag import _latched_qos

    if path.exists():
        raise DisdepthError(f"bag directory {path} exists already (rosbag2 writes new bags only)")
    root = Path(nusc.dataroot)
    sample = nusc.get("sample", scene["first_sample_token"])
    channels = [c for c in (*CAMERAS, LIDAR) if c in sample["data"]]
    if not any(c in CAMERAS for c in channels):
        raise DisdepthError(f"scene {scene['name']}: no camera channels ({', '.join(CAMERAS)}) in its samples")
    records = sorted(((sd["timestamp"], ch, sd) for ch in channels for sd in _channel_chain(nusc, sample["data"][ch])),
                     key=lambda r: (r[0], r[1]))
    ts = bm.typestore()
    counts = {ch: 0 for ch in channels}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3) as w:
        conn = {}
        for ch in channels:
            if ch == LIDAR:
                conn[ch] = w.add_connection(f"/{ch}/points", bm.POINT_CLOUD2, typestore=ts)
            else:
                conn[ch] = w.add_connection(compressed_topic(f"/{ch}/image_raw"), bm.COMPRESSED_IMAGE, typestore=ts)
                conn[(ch, "info")] = w.add_connection(f"/{ch}/camera_info", bm.CAMERA_INFO, typestore=ts)
        c_tf = w.add_connection("/tf_static", bm.TF_MESSAGE, typestore=ts, offered_qos_profiles=_latched_qos())
        t0 = int(records[0][0]) * 1000
        tfs = []
        for ch in channels:
            sd = nusc.get("sample_data", sample["data"][ch])
            cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
            tfs.append((BASE_FRAME, ch, nuscenes_pose(cs).numpy()))
        w.write(c_tf, t0, bm.serialize(bm.tf_message(tfs, t0)))
        for t_us, ch, sd in tqdm(records, desc=f"scene {scene['name']}", unit="msg", disable=not progress):
            stamp = int(t_us) * 1000
            data = (root / sd["filename"]).read_bytes()
            if ch == LIDAR:
                pts = np.frombuffer(data, dtype="<f4").reshape(-1, 5)
                w.write(conn[ch], stamp, bm.serialize(bm.pointcloud_msg(pts, LIDAR_FIELDS, stamp, ch)))
            else:
                fmt = "png" if sd["filename"].lower().endswith(".png") else "jpeg"
                w.write(conn[ch], stamp, bm.serialize(bm.compressed_image_msg(data, fmt, stamp, ch)))
                cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
                K = np.asarray(cs["camera_intrinsic"], dtype=np.float64)
                w.write(conn[(ch, "info")], stamp,
                        bm.serialize(bm.camera_info_msg(K, int(sd["height"]), int(sd["width"]), stamp, ch)))
            counts[ch] += 1
    return {"scene": scene["name"], "bag": str(path), "messages": counts,
            "duration_s": (records[-1][0] - records[0][0]) / 1e6}


def nuscenes_to_bags(dataroot: str | Path, out: str | Path, *, version: str = "v1.0-mini",
                     scenes: list[str] | None = None, storage: str = "mcap", progress: bool = True) -> list[dict]:
    """Every scene (or the named ones) of ``dataroot``/``version`` -> ``out/<scene name>/`` bags.
    A scene whose bag exists already is skipped (resumable)."""
    nusc = open_nuscenes(dataroot, version)
    by_name = {s["name"]: s for s in nusc.scene}
    names = scenes or list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise DisdepthError(f"--scenes: {', '.join(unknown)} not in {version} (its scenes: {', '.join(by_name)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = out / name
        if (path / "metadata.yaml").is_file():
            written.append({"scene": name, "bag": str(path), "skipped": "exists"})
            continue
        written.append(scene_to_bag(nusc, by_name[name], path, storage=storage, progress=progress))
    return written
