"""Tiny synthetic-world bags for the eval-bag tests (written with the world's BagWriter or rosbags)."""

from __future__ import annotations

from pathlib import Path

from disdepth_core import bag_messages as bm
from disdepth_core.geometry import CameraRig
from disdepth_core.sim.frames_file import GroundTruthFrames

REPO = Path(__file__).resolve().parent.parent


def world_bag(out: Path, *, size=(64, 96), frames=3, storage="mcap", seed=0) -> tuple[Path, Path, GroundTruthFrames]:
    """A world drive as a bag (``out/bag``) and the same frames as a frames file (``out/frames.npz``)."""
    from disdepth_core.world.config import small_world_config
    from disdepth_core.world.export_bag import BagWriter
    from disdepth_core.world.sequence import WorldSequence

    rig = CameraRig.from_yaml(REPO / "config" / "rigs" / "nuscenes.yaml").resized(*size)
    seq = WorldSequence(rig, frames, seed=seed, cfg=small_world_config())
    fr = GroundTruthFrames.from_world(seq)
    frames_path = fr.save(out / "frames.npz")
    w = BagWriter(seq, out / "bag", storage=storage)
    w.begin()
    for f in seq:
        w.write(f)
    w.end()
    return out / "bag", frames_path, fr


def custom_bag(path: Path, fr: GroundTruthFrames, steps: int, *, drop=(), corrupt=(), corrupt_header=(),
               duplicate=(), no_depth=(), info_from=None, stamp_of=None, cameras=None, topics_override=None,
               period_ns=100_000_000, tf_static=True, compressed=False) -> Path:
    """A bag built message by message from ``fr`` (frame ``k % F`` at step ``k``), with faults:

    ``drop``: {(step, cam)} images left out; ``corrupt``: {(step, cam)} images written as truncated
    CDR (header intact); ``corrupt_header``: {(step, cam)} images cut to 8 bytes (no stamp left);
    ``duplicate``: {(step, cam)} images written twice; ``no_depth``: steps without depth_gt;
    ``info_from``: {cam: first step with CameraInfo}; ``stamp_of``: step -> header stamp of all its
    messages (default: the receive time ``t0 + step * period_ns``); ``cameras``: write only these;
    ``topics_override``: {topic: msgtype} to write instead (bad-input bags, one message each);
    ``tf_static``: False writes no /tf_static (no extrinsics in the bag); ``compressed``: images as
    lossless PNG ``CompressedImage`` on ``/<cam>/image_raw/compressed`` instead of raw ``Image``.
    """
    from rosbags.rosbag2 import Writer

    ts = bm.typestore()
    with Writer(path, version=9) as w:
        if topics_override is not None:
            for topic, msgtype in topics_override.items():
                c = w.add_connection(topic, msgtype, typestore=ts)
                if msgtype == "std_msgs/msg/String":
                    msg = ts.types[msgtype](data="hello")
                else:
                    msg = bm.camera_info_msg(fr.K[0], *fr.size, 0, "x") if msgtype == bm.CAMERA_INFO \
                        else bm.image_msg(fr.images[0, 0], 0, "x")
                w.write(c, 1, bm.serialize(msg))
            return path
        conn = {}
        for cam in cameras or fr.cameras:
            for kind, ty in (("image_raw", bm.IMAGE), ("camera_info", bm.CAMERA_INFO), ("depth_gt", bm.IMAGE)):
                if kind == "image_raw" and compressed:
                    conn[(cam, kind)] = w.add_connection(f"/{cam}/image_raw/compressed", bm.COMPRESSED_IMAGE,
                                                         typestore=ts)
                    continue
                conn[(cam, kind)] = w.add_connection(f"/{cam}/{kind}", ty, typestore=ts)
        t0 = int(fr.stamps_ns[0])
        if tf_static:
            c_tf = w.add_connection("/tf_static", bm.TF_MESSAGE, typestore=ts)
            w.write(c_tf, t0, bm.serialize(bm.tf_message(
                [(fr.base_frame, fr.frame_ids[i], fr.T_base_cam[i]) for i in range(len(fr.cameras))], t0)))
        H, W = fr.size
        for k in range(steps):
            t = t0 + k * period_ns
            st = t if stamp_of is None else int(stamp_of(k))
            f = k % fr.num_frames
            for i, cam in enumerate(fr.cameras):
                if cameras is not None and cam not in cameras:
                    continue
                fid = fr.frame_ids[i]
                if (k, cam) not in drop:
                    raw = bm.serialize(bm.compressed_image_msg(bm.encode_image(fr.images[f, i]), "png", st, fid)
                                       if compressed else bm.image_msg(fr.images[f, i], st, fid))
                    raw = raw[: len(raw) // 3] if (k, cam) in corrupt else raw[:8] if (k, cam) in corrupt_header else raw
                    for _ in range(2 if (k, cam) in duplicate else 1):
                        w.write(conn[(cam, "image_raw")], t, raw)
                if info_from is None or k >= info_from.get(cam, 0):
                    w.write(conn[(cam, "camera_info")], t, bm.serialize(bm.camera_info_msg(fr.K[i], H, W, st, fid)))
                if k not in no_depth:
                    d = fr.depth[f, i]
                    w.write(conn[(cam, "depth_gt")], t, bm.serialize(bm.depth_msg(d, d > 0, st, fid)))
    return path
