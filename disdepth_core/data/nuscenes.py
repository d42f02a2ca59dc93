"""nuScenes, six cameras per keyframe, through the official ``nuscenes-devkit``.

Layout under ``root`` (the nuScenes download, unpacked as the devkit expects)::

    <root>/v1.0-trainval/{sample,sample_data,calibrated_sensor,ego_pose,scene,...}.json
    <root>/samples/CAM_FRONT/*.jpg ... samples/LIDAR_TOP/*.pcd.bin

* Samples: every keyframe ``sample`` of the split's scenes, in scene order; cameras in the
  order CAM_FRONT, CAM_FRONT_RIGHT, CAM_BACK_RIGHT, CAM_BACK, CAM_BACK_LEFT, CAM_FRONT_LEFT.
* Splits: the devkit's official scene lists (``nuscenes.utils.splits.create_splits_scenes``:
  train, val, test, mini_train, mini_val, ...), custom splits from
  ``<root>/<version>/splits.json`` (the devkit's custom-split file), or ``all``.
* Calibration: nuScenes' ego frame is x forward, y left, z up (= our ``base_link``) and its
  camera frame is the optical frame, so ``calibrated_sensor`` gives ``T_base_cam`` directly
  (rotation stored as w, x, y, z) and ``camera_intrinsic`` gives ``K``.
* GT: the LIDAR_TOP keyframe sweep projected into each camera, with the ego motion between
  the LiDAR and the camera timestamps compensated through the two ``ego_pose`` records
  (lidar -> ego(t_lidar) -> global -> ego(t_cam) -> camera), as the devkit's
  ``map_pointcloud_to_image`` does; nearest point per pixel, 0.1-80 m by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..geometry import CameraRig, invert_transform, make_transform, quaternion_to_matrix, transform_points
from .base_dataset import CorruptFileError, DepthDataset, log, read_rgb, read_split_file, require_dir
from .dataset_config import DatasetConfig
from .lidar_depth import points_to_depth_map
from .sample import SurroundSample

__all__ = ["NuScenesDataset", "nuscenes_pose", "open_nuscenes"]

LIDAR = "LIDAR_TOP"


def nuscenes_pose(record: dict) -> torch.Tensor:
    """A ``calibrated_sensor``/``ego_pose`` record -> (4, 4) float64 (rotation is w, x, y, z)."""
    R = quaternion_to_matrix(torch.tensor(record["rotation"], dtype=torch.float64))
    return make_transform(R, torch.tensor(record["translation"], dtype=torch.float64))


def open_nuscenes(root: str | Path, version: str, *, version_key: str = "--version"):
    """nuscenes-devkit's ``NuScenes`` over ``root``/``version``, with one-line errors naming what is wrong."""
    from nuscenes.nuscenes import NuScenes

    root = require_dir(Path(root), "nuscenes", "the nuScenes directory (v1.0-*/ and samples/)")
    tdir = root / version
    if not (tdir / "sample.json").is_file():
        found = sorted(p.parent.name for p in root.glob("*/sample.json"))
        raise DisdepthError(
            f"nuscenes root {root}: expected the table directory {tdir} with sample.json "
            f"({version_key}={version!r}; versions found: {', '.join(found) or 'none'})"
        )
    try:
        return NuScenes(version=version, dataroot=str(root), verbose=False)
    except (AssertionError, KeyError, IndexError, FileNotFoundError, json.JSONDecodeError) as exc:
        raise DisdepthError(f"{tdir}: tables not readable by nuscenes-devkit ({exc.__class__.__name__}: {exc})") from None


class NuScenesDataset(DepthDataset):
    """nuScenes keyframes: six cameras (``N = 6``) with sparse LiDAR GT."""

    name = "nuscenes"
    sparse_gt = True

    def __init__(self, cfg: DatasetConfig, split: str | None = None):
        super().__init__(cfg, split)
        self.root = Path(self.cfg.root)
        self.nusc = open_nuscenes(self.root, self.cfg.version, version_key="dataset.version")
        tdir = self.root / self.cfg.version
        by_name = {s["name"]: s for s in self.nusc.scene}
        wanted = self._split_scene_names(by_name)
        scenes = [by_name[n] for n in wanted if n in by_name]
        self.missing_scenes = [n for n in wanted if n not in by_name]
        if not scenes:
            raise DisdepthError(
                f"nuscenes: none of the {len(wanted)} scenes of split {self.split!r} is in {tdir} "
                f"(it holds {len(by_name)} scenes, e.g. {next(iter(by_name), '-')}; "
                "for v1.0-mini use mini_train/mini_val, or split 'all')"
            )
        if self.missing_scenes:
            log.info("nuscenes: %d scenes of split %r are not in %s", len(self.missing_scenes), self.split, tdir)
        self.incomplete: list[str] = []  # keyframes lacking a camera or the LiDAR
        need = [*self.cfg.cameras, LIDAR]
        for scene in scenes:
            tok = scene["first_sample_token"]
            while tok:
                sample = self.nusc.get("sample", tok)
                if all(ch in sample["data"] for ch in need):
                    self.items.append((scene["name"], tok))
                else:
                    self.incomplete.append(tok)
                tok = sample["next"]
        if self.incomplete:
            log.warning("nuscenes: %d keyframes lack one of %s and are left out", len(self.incomplete), need)
        self._limit()

    def _split_scene_names(self, by_name: dict) -> list[str]:
        from nuscenes.utils.splits import create_splits_scenes, get_scenes_of_custom_split

        if self.cfg.split_file:
            return read_split_file(self.cfg.split_file, "nuscenes")
        if self.split == "all":
            return list(by_name)
        official = create_splits_scenes()
        if self.split in official:
            return list(official[self.split])
        custom = self.root / self.cfg.version / "splits.json"
        if custom.is_file():
            try:
                return list(get_scenes_of_custom_split(self.split, self.nusc))
            except (ValueError, AssertionError) as exc:
                raise DisdepthError(f"nuscenes: {exc}") from None
        raise DisdepthError(
            f"nuscenes: unknown split {self.split!r} (official: {', '.join(official)}; 'all'; "
            f"or custom splits in {custom})"
        )

    # -- calibration ----------------------------------------------------------------
    def _camera_records(self, sample: dict) -> list[tuple[dict, dict, dict]]:
        out = []
        for ch in self.cfg.cameras:
            sd = self.nusc.get("sample_data", sample["data"][ch])
            out.append((sd, self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"]),
                        self.nusc.get("ego_pose", sd["ego_pose_token"])))
        return out

    def rig(self, index: int) -> CameraRig:
        """The calibrated rig of sample ``index`` (nuScenes calibration is fixed per scene/log)."""
        scene, tok = self.items[index]
        recs = self._camera_records(self.nusc.get("sample", tok))
        return CameraRig(
            list(self.cfg.cameras),
            [(sd["height"], sd["width"]) for sd, _, _ in recs],
            torch.tensor([cs["camera_intrinsic"] for _, cs, _ in recs], dtype=torch.float64),
            torch.stack([nuscenes_pose(cs) for _, cs, _ in recs]),
            name=f"nuscenes:{scene}",
            notes=f"calibrated_sensor records of {self.cfg.version} scene {scene}",
        )

    # -- loading --------------------------------------------------------------------
    def load_raw(self, index: int) -> SurroundSample:
        from nuscenes.utils.data_classes import LidarPointCloud

        scene, tok = self.items[index]
        sample = self.nusc.get("sample", tok)
        lidar_sd = self.nusc.get("sample_data", sample["data"][LIDAR])
        lidar_path = self.root / lidar_sd["filename"]
        try:
            nbytes = lidar_path.stat().st_size
            if nbytes == 0 or nbytes % 20:  # float32 x, y, z, intensity, ring
                raise CorruptFileError(lidar_path, f"size {nbytes} bytes is not a whole number of 20-byte points")
            pc = LidarPointCloud.from_file(str(lidar_path))
        except FileNotFoundError:
            raise CorruptFileError(lidar_path, "file missing") from None
        except (ValueError, OSError) as exc:
            raise CorruptFileError(lidar_path, f"not a float32 x 5 point cloud ({exc})") from None
        points = torch.from_numpy(pc.points[:3].T.astype(np.float64))
        T_global_lidar = nuscenes_pose(self.nusc.get("ego_pose", lidar_sd["ego_pose_token"])) @ nuscenes_pose(
            self.nusc.get("calibrated_sensor", lidar_sd["calibrated_sensor_token"])
        )
        images, depths, Ks, Ts, files, stamps = [], [], [], [], [], []
        for sd, cs, ego in self._camera_records(sample):
            path = self.root / sd["filename"]
            img = read_rgb(path)
            if images and img.shape != images[0].shape:
                raise CorruptFileError(path, f"image is {tuple(img.shape[1:])}, other cameras {tuple(images[0].shape[1:])}")
            T_ego_cam = nuscenes_pose(cs)
            T_cam_lidar = invert_transform(nuscenes_pose(ego) @ T_ego_cam) @ T_global_lidar
            K = torch.tensor(cs["camera_intrinsic"], dtype=torch.float64)
            depth = points_to_depth_map(
                transform_points(T_cam_lidar, points), K, img.shape[-2:], self.cfg.min_depth, self.cfg.max_depth
            )
            images.append(img)
            depths.append(depth)
            Ks.append(K)
            Ts.append(T_ego_cam)
            files.append(sd["filename"])
            stamps.append(int(sd["timestamp"]) * 1000)
        depth = torch.stack(depths)
        return SurroundSample(
            images=torch.stack(images),
            depth=depth,
            valid=depth > 0,
            K=torch.stack(Ks),
            T_base_cam=torch.stack(Ts),
            cameras=list(self.cfg.cameras),
            timestamp_ns=int(sample["timestamp"]) * 1000,
            meta={"scene": scene, "sample_token": tok, "files": files, "camera_timestamps_ns": stamps,
                  "lidar_file": lidar_sd["filename"], "lidar_timestamp_ns": int(lidar_sd["timestamp"]) * 1000},
        )

    def summary(self) -> dict:
        out = super().summary()
        out.update(version=self.cfg.version, missing_scenes=len(self.missing_scenes), incomplete=len(self.incomplete))
        return out
