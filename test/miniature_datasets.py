"""Test fixtures: miniature datasets written in the real on-disk formats.

Each writer produces a tiny copy of one dataset's layout (file names, file formats,
calibration conventions) filled with a known 3D scene, so loaders can be checked end to
end without the real data: the LiDAR points are returned in the world frame, and GT
back-projected by a loader must land on them.

* :func:`write_kitti_raw` - KITTI raw ``<date>/<drive>_sync`` + ``data_depth_annotated``
* :func:`write_nyu_labeled` - ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 / HDF5) + ``splits.mat``
* :func:`write_nuscenes` - nuScenes tables (``v1.0-*``/*.json) + ``samples/`` files
* :func:`write_ddad` - DDAD/DGP ``ddad.json`` + scene JSON + calibration + rgb/point_cloud
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch

from disdepth_core.data.lidar_depth import points_to_depth_map
from disdepth_core.geometry import (
    CameraRig,
    invert_transform,
    make_transform,
    matrix_to_quaternion,
    quaternion_to_matrix,
    scale_intrinsics,
    transform_points,
)

__all__ = [
    "ring_world_points",
    "write_ddad",
    "write_kitti_raw",
    "write_nuscenes",
    "write_nyu_labeled",
]


def ring_world_points(center_xy=(0.0, 0.0), radius: float = 12.0, n: int = 6000, seed: int = 0) -> np.ndarray:
    """A static scene ``(n, 3)`` (metres, world frame): a cylindrical wall plus a ground disc."""
    rng = np.random.default_rng(seed)
    n_wall = n * 2 // 3
    a = rng.uniform(-math.pi, math.pi, n_wall)
    wall = np.stack([center_xy[0] + radius * np.cos(a), center_xy[1] + radius * np.sin(a),
                     rng.uniform(0.2, 4.0, n_wall)], 1)
    n_g = n - n_wall
    r = np.sqrt(rng.uniform(2.0**2, (radius - 0.5) ** 2, n_g))
    b = rng.uniform(-math.pi, math.pi, n_g)
    ground = np.stack([center_xy[0] + r * np.cos(b), center_xy[1] + r * np.sin(b), np.zeros(n_g)], 1)
    return np.concatenate([wall, ground]).astype(np.float64)


def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _noise_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pose_T(yaw: float, t) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    R = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return make_transform(R, torch.tensor(t, dtype=torch.float64))


# ============================================================================= KITTI
# Real calibration of the 2011_09_26 recordings (KITTI raw calib files).
_KITTI_CAM = {
    "R_rect_00": [9.999239e-01, 9.837760e-03, -7.445048e-03, -9.869795e-03, 9.999421e-01, -4.278459e-03,
                  7.402527e-03, 4.351614e-03, 9.999631e-01],
    "P_rect_02": [7.215377e02, 0.0, 6.095593e02, 4.485728e01, 0.0, 7.215377e02, 1.728540e02, 2.163791e-01,
                  0.0, 0.0, 1.0, 2.745884e-03],
    "P_rect_03": [7.215377e02, 0.0, 6.095593e02, -3.395242e02, 0.0, 7.215377e02, 1.728540e02, 2.199936e00,
                  0.0, 0.0, 1.0, 2.729905e-03],
}
_KITTI_VELO = {
    "R": [7.533745e-03, -9.999714e-01, -6.166020e-04, 1.480249e-02, 7.280733e-04, -9.998902e-01,
          9.998621e-01, 7.523790e-03, 1.480755e-02],
    "T": [-4.069766e-03, -7.631618e-02, -2.717806e-01],
}
KITTI_RAW_SIZE = (375, 1242)


def write_kitti_raw(
    root: Path,
    frames: list[tuple[str, int]],
    *,
    size: tuple[int, int] = KITTI_RAW_SIZE,
    annotated: bool = True,
    seed: int = 0,
) -> dict:
    """Write KITTI raw drives for ``frames`` = [(``<date>/<drive>_sync``, frame), ...].

    Images (``size``, default the real 375x1242; intrinsics scaled to it) for cameras 02
    and 03, Velodyne scans of a ring world, and annotated depth PNGs (the projected scan,
    uint16 / 256) under ``<root>/data_depth_annotated/train``. Returns
    ``{"velodyne": {(drive, frame): (M, 4) points}}``.
    """
    rng = np.random.default_rng(seed)
    H0, W0 = KITTI_RAW_SIZE
    H, W = size
    out = {"velodyne": {}}
    for date in sorted({d.split("/")[0] for d, _ in frames}):
        ddir = root / date
        ddir.mkdir(parents=True, exist_ok=True)
        lines = ["calib_time: 09-Jan-2012 13:57:47", "corner_dist: 9.950000e-02"]
        for num in ("00", "01", "02", "03"):
            lines.append(f"S_{num}: {W0:.6e} {H0:.6e}")
            P0 = torch.tensor(_KITTI_CAM.get(f"P_rect_{num}", _KITTI_CAM["P_rect_02"]), dtype=torch.float64)
            P0 = P0.reshape(3, 4)
            t = torch.linalg.solve(P0[:, :3], P0[:, 3])  # P = K [I | t]
            K = scale_intrinsics(P0[:, :3], (H0, W0), (H, W))
            P = torch.cat([K, (K @ t)[:, None]], 1)
            lines.append(f"S_rect_{num}: {W:.6e} {H:.6e}")
            lines.append(f"R_rect_{num}: " + " ".join(f"{v:.6e}" for v in _KITTI_CAM["R_rect_00"]))
            lines.append(f"P_rect_{num}: " + " ".join(f"{v:.6e}" for v in P.ravel().tolist()))
        (ddir / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
        (ddir / "calib_velo_to_cam.txt").write_text(
            "calib_time: 15-Mar-2012 11:37:16\n"
            + "R: " + " ".join(f"{v:.6e}" for v in _KITTI_VELO["R"]) + "\n"
            + "T: " + " ".join(f"{v:.6e}" for v in _KITTI_VELO["T"]) + "\n"
            + "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"
        )
    from disdepth_core.data.kitti import KittiCalib  # the loader's own calibration reader: one source of truth

    for i, (drive, frame) in enumerate(frames):
        ddir = root / drive
        name = f"{frame:010d}"
        world = ring_world_points(radius=20.0, n=20000, seed=seed + i)
        # Velodyne frame = world here (the car sits at the origin); add reflectance.
        velo = np.concatenate([world, rng.uniform(0, 1, (len(world), 1))], 1).astype(np.float32)
        vpath = ddir / "velodyne_points" / "data" / f"{name}.bin"
        vpath.parent.mkdir(parents=True, exist_ok=True)
        velo.tofile(vpath)
        out["velodyne"][(drive, frame)] = velo
        for cam in ("image_02", "image_03"):
            _save_png(ddir / cam / "data" / f"{name}.png", _noise_image(rng, H, W))
            if annotated:
                calib = KittiCalib.from_files(root / drive.split("/")[0], cam)
                pts = torch.from_numpy(velo[:, :3].astype(np.float64))
                pts = pts[pts[:, 0] >= 0]
                depth = points_to_depth_map(transform_points(calib.T_cam_velo, pts), calib.K, (H, W))
                png = np.round(depth.numpy() * 256.0).astype(np.uint16)
                gdir = root / "data_depth_annotated" / "train" / drive.split("/")[1] / "proj_depth" / "groundtruth"
                _save_png(gdir / cam / f"{name}.png", png)
    return out


# ============================================================================= NYU
_MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2012 HDF5 schema 1.00 ."


def write_nyu_labeled(root: Path, num_images: int = 1449, size: tuple[int, int] = (48, 64), seed: int = 0,
                      test_indices: list[int] | None = None) -> Path:
    """Write ``nyu_depth_v2_labeled.mat`` as MATLAB v7.3 does (HDF5, axes reversed).

    Image ``i`` has red = row, green = column (scaled), blue = i % 256; ``depths`` is
    ``1 + row / H + column / (2 W) + i / 1000`` metres and ``rawDepths`` the same with
    every 7th pixel a hole (0). With ``test_indices`` also writes ``splits.mat``
    (``testNdxs``/``trainNdxs``, 1-based column vectors). Returns the .mat path.
    """
    import h5py

    H, W = size
    root.mkdir(parents=True, exist_ok=True)
    path = root / "nyu_depth_v2_labeled.mat"
    r = np.arange(H)[:, None].repeat(W, 1)
    c = np.arange(W)[None, :].repeat(H, 0)
    with h5py.File(path, "w", userblock_size=512) as f:
        images = f.create_dataset("images", (num_images, 3, W, H), dtype=np.uint8)
        depths = f.create_dataset("depths", (num_images, W, H), dtype=np.float32)
        raw = f.create_dataset("rawDepths", (num_images, W, H), dtype=np.float32)
        img = np.stack([r * 255 // max(H - 1, 1), c * 255 // max(W - 1, 1), np.zeros_like(r)]).astype(np.uint8)
        hole = ((r * W + c) % 7) == 0
        for i in range(num_images):
            img[2] = i % 256
            images[i] = img.transpose(0, 2, 1)  # (3, H, W) -> MATLAB's (3, W, H) as h5py sees it
            d = (1.0 + r / H + c / (2.0 * W) + i / 1000.0).astype(np.float32)
            depths[i] = d.T
            raw[i] = np.where(hole, 0.0, d).astype(np.float32).T
    with open(path, "r+b") as fh:  # MATLAB's text header in the HDF5 user block
        fh.write(_MATLAB_HEADER.ljust(116, b" ")[:116] + b"\x00" * 8 + b"\x00\x02IM")
    if test_indices is not None:
        import scipy.io

        test = np.array(sorted(test_indices)) + 1
        train = np.array([i + 1 for i in range(num_images) if i + 1 not in set(test)])
        scipy.io.savemat(root / "splits.mat", {"testNdxs": test[:, None], "trainNdxs": train[:, None]})
    return path


# ============================================================================= nuScenes
NUSCENES_CHANNELS = [
    "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_FRONT_LEFT",
]


def _token(*parts) -> str:
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def _rig(name: str, size: tuple[int, int]) -> CameraRig:
    from disdepth_core.paths import resolve_rig

    return CameraRig.from_yaml(resolve_rig(name)).resized(*size)


def write_nuscenes(
    root: Path,
    *,
    version: str = "v1.0-mini",
    scenes: dict[str, int] | None = None,
    size: tuple[int, int] = (90, 160),
    speed: float = 20.0,
    yaw_rate: float = 0.5,
    camera_offsets_s: tuple[float, ...] = (0.0, 0.01, 0.02, 0.04, -0.03, -0.015),
    seed: int = 0,
    corrupt: tuple[str, int] | None = None,
) -> dict:
    """Write a nuScenes database: ``scenes`` = {scene name: number of keyframe samples}.

    Six cameras (calibration of ``config/rigs/nuscenes.yaml`` at ``size``) and LIDAR_TOP
    per keyframe; the ego vehicle drives at ``speed`` m/s while turning at ``yaw_rate``
    rad/s, and each camera fires ``camera_offsets_s`` after the LiDAR, so GT needs the
    ego-motion compensation between the two timestamps. ``corrupt = (channel, sample
    number)`` truncates that file. Returns ``{"world": (M, 3) points, "T_global_ego":
    {timestamp_us: (4, 4)}}``.
    """
    scenes = scenes or {"scene-0061": 3, "scene-0103": 2}
    rng = np.random.default_rng(seed)
    rig = _rig("nuscenes", size)
    H, W = size
    world = ring_world_points(radius=15.0, n=8000, seed=seed)
    t_lidar = make_transform(torch.eye(3, dtype=torch.float64), torch.tensor([0.94, 0.0, 1.84], dtype=torch.float64))
    # nuScenes LIDAR_TOP axes: x right, y forward, z up -> rotation of -90 deg about z.
    t_lidar[:3, :3] = torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    tables = {k: [] for k in ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor",
                              "ego_pose", "log", "scene", "sample", "sample_data", "sample_annotation", "map")}
    log_token = _token("log")
    tables["log"].append({"token": log_token, "logfile": "n015-2018-07-24-11-22-45+0800", "vehicle": "n015",
                          "date_captured": "2018-07-24", "location": "singapore-onenorth"})
    tables["map"].append({"token": _token("map"), "log_tokens": [log_token], "category": "semantic_prior",
                          "filename": "maps/53992ee3023e5494b90c316c183be829.png"})
    # the devkit checks that every map record's mask image exists (real: maps/<md5>.png)
    _save_png(root / tables["map"][0]["filename"], np.zeros((8, 8), dtype=np.uint8))
    channels = NUSCENES_CHANNELS + ["LIDAR_TOP"]
    cs_tokens = {}
    for ch in channels:
        st = _token("sensor", ch)
        tables["sensor"].append({"token": st, "channel": ch, "modality": "lidar" if ch == "LIDAR_TOP" else "camera"})
        if ch == "LIDAR_TOP":
            T, K = t_lidar, []
        else:
            i = rig.index(ch)
            T, K = rig.T_base_cam[i], rig.K[i].tolist()
        cs = _token("cs", ch)
        cs_tokens[ch] = cs
        tables["calibrated_sensor"].append({
            "token": cs, "sensor_token": st, "translation": T[:3, 3].tolist(),
            "rotation": matrix_to_quaternion(T[:3, :3]).tolist(), "camera_intrinsic": K,
        })
    poses: dict[int, torch.Tensor] = {}

    def ego_pose(ts_us: int, scene_start_us: int) -> str:
        t = (ts_us - scene_start_us) * 1e-6  # seconds since the scene started
        T = _pose_T(yaw_rate * t, [speed * t * 0.3, 0.5 * math.sin(t), 0.0])
        poses[ts_us] = T
        tok = _token("ego", ts_us)
        q = matrix_to_quaternion(T[:3, :3]).tolist()
        tables["ego_pose"].append({"token": tok, "timestamp": ts_us, "rotation": q, "translation": T[:3, 3].tolist()})
        return tok

    t0 = 1_532_402_900_000_000
    sample_no = 0
    for s_i, (scene_name, n) in enumerate(scenes.items()):
        scene_token = _token("scene", scene_name)
        sample_tokens = [_token("sample", scene_name, k) for k in range(n)]
        prev_sd = {ch: "" for ch in channels}
        sd_records = {ch: [] for ch in channels}
        for k, stok in enumerate(sample_tokens):
            ts = t0 + (s_i * 100 + k) * 500_000
            tables["sample"].append({"token": stok, "timestamp": ts, "scene_token": scene_token,
                                     "prev": sample_tokens[k - 1] if k else "",
                                     "next": sample_tokens[k + 1] if k + 1 < n else ""})
            for c_i, ch in enumerate(channels):
                sts = ts if ch == "LIDAR_TOP" else ts + int(camera_offsets_s[c_i] * 1e6)
                ep = ego_pose(sts, t0 + s_i * 100 * 500_000)
                stem = f"n015-2018-07-24-11-22-45+0800__{ch}__{sts}"
                if ch == "LIDAR_TOP":
                    fname = f"samples/{ch}/{stem}.pcd.bin"
                    T_g_l = poses[sts] @ t_lidar
                    pts = transform_points(invert_transform(T_g_l), torch.from_numpy(world)).numpy()
                    arr = np.zeros((len(pts), 5), dtype=np.float32)
                    arr[:, :3] = pts
                    arr[:, 3] = rng.uniform(0, 100, len(pts))
                    arr[:, 4] = rng.integers(0, 32, len(pts))
                    p = root / fname
                    p.parent.mkdir(parents=True, exist_ok=True)
                    data = arr.tobytes()
                    if corrupt == (ch, sample_no):
                        data = data[: len(data) // 2 + 3]
                    p.write_bytes(data)
                    fmt = "pcd"
                else:
                    fname = f"samples/{ch}/{stem}.jpg"
                    from PIL import Image

                    p = root / fname
                    p.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(_noise_image(rng, H, W)).save(p, quality=90)
                    if corrupt == (ch, sample_no):
                        p.write_bytes(p.read_bytes()[:40])
                    fmt = "jpg"
                tok = _token("sd", ch, sts)
                rec = {"token": tok, "sample_token": stok, "ego_pose_token": ep,
                       "calibrated_sensor_token": cs_tokens[ch], "timestamp": sts, "fileformat": fmt,
                       "is_key_frame": True, "height": 0 if ch == "LIDAR_TOP" else H,
                       "width": 0 if ch == "LIDAR_TOP" else W, "filename": fname, "prev": prev_sd[ch], "next": ""}
                if sd_records[ch]:
                    sd_records[ch][-1]["next"] = tok
                sd_records[ch].append(rec)
                prev_sd[ch] = tok
            sample_no += 1
        for ch in channels:
            tables["sample_data"].extend(sd_records[ch])
        tables["scene"].append({"token": scene_token, "log_token": log_token, "nbr_samples": n,
                                "first_sample_token": sample_tokens[0], "last_sample_token": sample_tokens[-1],
                                "name": scene_name, "description": "miniature"})
    tdir = root / version
    tdir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        (tdir / f"{name}.json").write_text(json.dumps(rows, indent=0))
    return {"world": world, "T_global_ego": poses, "T_ego_lidar": t_lidar}


# ============================================================================= DDAD
DDAD_CHANNELS = ["CAMERA_01", "CAMERA_05", "CAMERA_06", "CAMERA_07", "CAMERA_08", "CAMERA_09"]


def _dgp_pose(T: torch.Tensor) -> dict:
    q = matrix_to_quaternion(T[:3, :3]).tolist()
    t = T[:3, 3].tolist()
    return {"translation": {"x": t[0], "y": t[1], "z": t[2]},
            "rotation": {"qx": q[1], "qy": q[2], "qz": q[3], "qw": q[0]}}


def _rfc3339(ts_us: int) -> str:
    import datetime

    dt = datetime.datetime.fromtimestamp(ts_us // 1_000_000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_us % 1_000_000:06d}Z"


def write_ddad(
    root: Path,
    *,
    scenes: dict[str, tuple[int, int]] | None = None,
    size: tuple[int, int] = (76, 121),
    speed: float = 15.0,
    camera_offsets_s: tuple[float, ...] = (0.0, 0.02, -0.02, 0.03, -0.03, 0.05),
    structured_points: bool = False,
    seed: int = 0,
    corrupt: tuple[str, str, int] | None = None,
) -> dict:
    """Write a DDAD (DGP) dataset: ``scenes`` = {scene dir: (split id, number of samples)}.

    ``<root>/ddad.json`` (SceneDataset: ``scene_splits`` 0 = train, 1 = val) and per scene
    ``scene_<sha1>.json`` (samples + data), ``calibration/<sha1>.json`` (extrinsics =
    sensor pose in the vehicle frame), ``rgb/CAMERA_XX/<ts>.png`` and
    ``point_cloud/LIDAR/<ts>.npz`` (``data``: X, Y, Z, INTENSITY in the LiDAR frame). Each
    datum's ``pose`` is that sensor's pose in the scene's world frame at its own
    timestamp. ``corrupt = (scene, channel, sample)`` truncates that file.
    """
    scenes = scenes or {"000000": (0, 3), "000150": (1, 2)}
    rng = np.random.default_rng(seed)
    rig = _rig("ddad", size)
    H, W = size
    world = ring_world_points(radius=18.0, n=8000, seed=seed)
    T_v_lidar = _pose_T(0.02, [1.2, 0.0, 1.9])
    calib = {"names": [], "intrinsics": [], "extrinsics": []}
    for ch in DDAD_CHANNELS + ["LIDAR"]:
        if ch == "LIDAR":
            T, intr = T_v_lidar, {"fx": 0.0, "fy": 0.0, "cx": 0.0, "cy": 0.0, "skew": 0.0}
        else:
            i = rig.index(ch)
            K = rig.K[i]
            T = rig.T_base_cam[i]
            intr = {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2]),
                    "skew": 0.0, "fov": 0.0, "fisheye": 0, "k1": 0.0, "k2": 0.0, "k3": 0.0, "p1": 0.0, "p2": 0.0}
        calib["names"].append(ch)
        calib["intrinsics"].append(intr)
        calib["extrinsics"].append(_dgp_pose(T))
    calib_text = json.dumps(calib)
    calib_key = hashlib.sha1(calib_text.encode()).hexdigest()
    splits: dict[str, dict] = {}
    poses = {}
    t0 = 1_561_645_824_000_000
    for s_i, (scene, (split_id, n)) in enumerate(scenes.items()):
        sdir = root / scene
        (sdir / "calibration").mkdir(parents=True, exist_ok=True)
        (sdir / "calibration" / f"{calib_key}.json").write_text(calib_text)
        data, samples = [], []
        prev = {}
        for k in range(n):
            ts = t0 + (s_i * 1000 + k) * 100_000
            keys = []
            for c_i, ch in enumerate(["LIDAR"] + DDAD_CHANNELS):
                sts = ts if ch == "LIDAR" else ts + int(camera_offsets_s[c_i - 1] * 1e6)
                t = (sts - t0) * 1e-6 - s_i * 100.0  # seconds since the scene started
                T_w_v = _pose_T(0.3 * t, [speed * t, 0.2 * t, 0.0])
                poses[(scene, ch, k)] = T_w_v
                if ch == "LIDAR":
                    T_w_s = T_w_v @ T_v_lidar
                    pts = transform_points(invert_transform(T_w_s), torch.from_numpy(world)).numpy()
                    inten = rng.uniform(0, 1, len(pts))
                    if structured_points:
                        arr = np.zeros(len(pts), dtype=[("X", "<f4"), ("Y", "<f4"), ("Z", "<f4"), ("INTENSITY", "<f4")])
                        arr["X"], arr["Y"], arr["Z"], arr["INTENSITY"] = pts[:, 0], pts[:, 1], pts[:, 2], inten
                    else:
                        arr = np.concatenate([pts, inten[:, None]], 1).astype(np.float32)
                    fname = f"point_cloud/LIDAR/{sts}.npz"
                    (sdir / fname).parent.mkdir(parents=True, exist_ok=True)
                    np.savez_compressed(sdir / fname, data=arr)
                    datum = {"point_cloud": {"filename": fname, "point_format": ["X", "Y", "Z", "INTENSITY"],
                                             "annotations": {}, "metadata": {}, "pose": _dgp_pose(T_w_s)}}
                else:
                    T_w_s = T_w_v @ rig.T_base_cam[rig.index(ch)]
                    fname = f"rgb/{ch}/{sts}.png"
                    _save_png(sdir / fname, _noise_image(rng, H, W))
                    datum = {"image": {"filename": fname, "height": H, "width": W, "channels": 3,
                                       "annotations": {}, "metadata": {}, "pose": _dgp_pose(T_w_s)}}
                if corrupt == (scene, ch, k):
                    p = sdir / fname
                    p.write_bytes(p.read_bytes()[:50])
                datum_id = {"log": scene, "name": ch, "timestamp": _rfc3339(sts), "index": str(k)}
                key = hashlib.sha1(json.dumps(datum_id, sort_keys=True).encode()).hexdigest()
                rec = {"id": datum_id, "key": key, "datum": datum, "next_key": "", "prev_key": prev.get(ch, "")}
                if ch in prev:
                    next(d for d in data if d["key"] == prev[ch])["next_key"] = key
                prev[ch] = key
                data.append(rec)
                keys.append(key)
            samples.append({"id": {"log": scene, "name": "", "timestamp": _rfc3339(ts), "index": str(k)},
                            "datum_keys": keys, "calibration_key": calib_key, "metadata": {}})
        scene_json = {"name": scene, "description": "miniature", "log": scene, "samples": samples,
                      "metadata": {}, "data": data, "ontologies": {}}
        text = json.dumps(scene_json)
        fname = f"scene_{hashlib.sha1(text.encode()).hexdigest()}.json"
        (sdir / fname).write_text(text)
        splits.setdefault(str(split_id), {"filenames": []})["filenames"].append(f"{scene}/{fname}")
    meta = {"name": "DDAD", "version": "1.0", "creation_date": "2020-06-01", "creator": "miniature",
            "description": "miniature DDAD", "origin": "PUBLIC", "available_annotation_types": [],
            "frame_per_second": 10.0}
    (root / "ddad.json").write_text(json.dumps({"metadata": meta, "scene_splits": splits}, indent=1))
    return {"world": world, "T_world_vehicle": poses, "T_vehicle_lidar": T_v_lidar}


def quaternion_xyzw_to_matrix(q: dict) -> torch.Tensor:
    """A DGP rotation ``{"qx", "qy", "qz", "qw"}`` -> (3, 3) float64 (helper for tests)."""
    return quaternion_to_matrix(torch.tensor([q["qw"], q["qx"], q["qy"], q["qz"]], dtype=torch.float64))
