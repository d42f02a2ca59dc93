"""The built-in image set of the engine self-check: six street images from the synthetic world.

Shipped as ``disdepth_core/data/self_check_images.npz`` (about 140 KB) so that loading it
needs numpy only -- no renderer at run time. The file holds ``images`` (6, 128, 224, 3)
uint8 RGB and ``cameras``, ``seeds``, ``frame``, ``recipe`` (how it was made). The images are
rendered once by :mod:`disdepth_core.world` (three streets, the front and back-left camera
of the nuScenes rig, sensor noise off so that the file compresses); the renderer is
bit-deterministic, so re-rendering gives the same bytes. Regenerate with::

    OMP_NUM_THREADS=1 python -m disdepth_core.runtime.self_check_images --out disdepth_core/data/self_check_images.npz
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from ..errors import DisdepthError

IMAGE_FILE = Path(__file__).resolve().parent.parent / "data" / "self_check_images.npz"
SIZE = (128, 224)  # the shipped students' input size (H, W); other sizes are resized by the engine
SEEDS = (3, 11, 19)  # one street each
CAMERAS = ("CAM_FRONT", "CAM_BACK_LEFT")  # along the road and across it: near and far depth
FRAME = 5


def load_self_check_images(path: str | Path | None = None) -> np.ndarray:
    """The image set, ``(N, H, W, 3)`` uint8 RGB (default: the shipped file)."""
    p = Path(path) if path else IMAGE_FILE
    try:
        with np.load(p, allow_pickle=False) as data:
            images = data["images"]
    except FileNotFoundError:
        raise DisdepthError(f"self-check image set not found: {p} (regenerate: python -m "
                            "disdepth_core.runtime.self_check_images --out <file>)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise DisdepthError(f"{p}: not a self-check image set ({type(exc).__name__}: {exc})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise DisdepthError(f"{p}: images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
    return images


def render_self_check_images() -> np.ndarray:
    """Render the set with the synthetic world (about 1 s on one CPU core): (6, 128, 224, 3) uint8."""
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from ..world.config import small_world_config
    from ..world.sequence import WorldSequence

    rig = CameraRig.from_yaml(resolve_rig("nuscenes")).resized(*SIZE)
    idx = [rig.names.index(c) for c in CAMERAS]
    out = []
    for seed in SEEDS:
        seq = WorldSequence(rig, FRAME + 1, seed=seed, cfg=small_world_config(noise_std=0.0))
        out.append(seq.render(FRAME).rgb.numpy()[idx])
    return np.ascontiguousarray(np.concatenate(out))


def self_check_file_bytes(images: np.ndarray) -> bytes:
    """The ``.npz`` bytes of the set (images + the recipe), as shipped."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf, images=images, cameras=np.array(CAMERAS), seeds=np.array(SEEDS), frame=np.array(FRAME),
        recipe=np.array("disdepth_core.world, nuscenes rig resized to 128x224, small_world_config(noise_std=0)"),
    )
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="render the built-in self-check image set")
    ap.add_argument("--out", default=str(IMAGE_FILE), help=f"output .npz (default {IMAGE_FILE})")
    args = ap.parse_args(argv)
    images = render_self_check_images()
    Path(args.out).write_bytes(self_check_file_bytes(images))
    print(f"wrote {args.out}: {images.shape[0]} images {images.shape[1]}x{images.shape[2]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
