"""NYU Depth V2, labelled set (``nyu_depth_v2_labeled.mat``), official 654-image test split.

The ``.mat`` is MATLAB v7.3, i.e. HDF5, read with h5py. MATLAB stores arrays
column-major, so h5py sees every axis reversed: ``images`` is ``(1449, 3, 640, 480)``
= (N, C, W, H) and ``depths``/``rawDepths`` are ``(1449, 640, 480)`` = (N, W, H); one
image is ``images[i].transpose(0, 2, 1)`` -> (3, 480, 640) and one depth ``depths[i].T``.

* ``gt_source: raw`` (default): ``rawDepths``, the Kinect depth projected onto the RGB
  image with holes (0) -- the BTS/AdaBins/NeWCRFs evaluation protocol.
* ``gt_source: filled``: ``depths``, the same maps with holes in-painted (colourisation).

Splits: ``test`` = the 654 official test images (``testNdxs`` of the official
``splits.mat``: read from ``<root>/splits.mat`` if present, else the shipped copy
``splits/nyu_test_indices.txt``), ``train`` = the other 795, ``all`` = 1449.

Intrinsics: the Kinect RGB camera of the NYU toolbox (``camera_params.m``), for the
640x480 image: fx = 518.8579, fy = 519.4696, cx = 325.5824, cy = 253.7362 (pixels).
The camera sits at the base-frame origin looking along base x (no extrinsics exist).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..geometry import make_transform, scale_intrinsics, yaw_pitch_roll_to_optical_rotation
from .base_dataset import CorruptFileError, DepthDataset
from .dataset_config import DatasetConfig
from .sample import SurroundSample
from .splits import read_index_list, split_path

__all__ = ["NYU_FILE", "NYU_K", "NYU_SIZE", "NyuDataset"]

NYU_FILE = "nyu_depth_v2_labeled.mat"
NYU_SIZE = (480, 640)
NYU_K = torch.tensor(
    [[5.1885790117450188e02, 0.0, 3.2558244941119034e02],
     [0.0, 5.1946961112127485e02, 2.5373616633400465e02],
     [0.0, 0.0, 1.0]],
    dtype=torch.float64,
)
_FIELDS = {"raw": "rawDepths", "filled": "depths"}


class NyuDataset(DepthDataset):
    """NYU Depth V2 labelled set, one camera per sample (``N = 1``), dense GT."""

    name = "nyu"
    sparse_gt = False

    def __init__(self, cfg: DatasetConfig, split: str | None = None):
        import h5py

        super().__init__(cfg, split)
        root = Path(self.cfg.root)
        self.path = root if root.suffix == ".mat" else root / NYU_FILE
        if not self.path.is_file():
            raise DisdepthError(f"nyu root: expected the labelled dataset file {self.path} (not found)")
        self.field = _FIELDS[self.cfg.gt_source]
        try:
            with h5py.File(self.path, "r") as f:
                for key in ("images", self.field):
                    if key not in f:
                        raise DisdepthError(f"{self.path}: no dataset {key!r} (is this nyu_depth_v2_labeled.mat?)")
                n, c, w, h = f["images"].shape
                if c != 3 or f[self.field].shape != (n, w, h):
                    raise DisdepthError(
                        f"{self.path}: images {f['images'].shape} / {self.field} {f[self.field].shape} are not "
                        "the (N, 3, W, H) / (N, W, H) layout of the labelled set"
                    )
        except OSError as exc:
            raise DisdepthError(f"{self.path}: not an HDF5 (MATLAB v7.3) file ({exc})") from None
        self.num_images, self.native_size = n, (h, w)
        self.items = self._split_indices(root if root.is_dir() else root.parent)
        bad = [i for i in self.items if not 0 <= i < n]
        if bad:
            raise DisdepthError(
                f"{self.path}: has {n} images, but split {self.split!r} needs index {max(bad)} (0-based)"
            )
        self.K = scale_intrinsics(NYU_K, NYU_SIZE, self.native_size)
        self.T_base_cam = make_transform(yaw_pitch_roll_to_optical_rotation(0.0), torch.zeros(3, dtype=torch.float64))
        self._h5 = None
        self._limit()

    def _split_indices(self, root: Path) -> list[int]:
        if self.cfg.split_file:
            p = Path(self.cfg.split_file)
            if not p.is_file():
                raise DisdepthError(f"nyu: split file {p} not found (dataset.split_file)")
            return read_index_list(p)
        if self.split == "all":
            return list(range(self.num_images))
        if self.split not in ("test", "train"):
            raise DisdepthError(f"nyu: unknown split {self.split!r} (test = 654 official, train = 795, all)")
        test = self._official_test(root)
        if self.split == "test":
            return test
        ts = set(test)
        return [i for i in range(self.num_images) if i not in ts]

    def _official_test(self, root: Path) -> list[int]:
        mat = root / "splits.mat"
        if mat.is_file():
            import scipy.io

            try:
                nd = scipy.io.loadmat(mat)["testNdxs"]
            except (ValueError, KeyError, OSError, NotImplementedError) as exc:
                raise DisdepthError(f"{mat}: not the official splits.mat with testNdxs ({exc})") from None
            return sorted(int(x) - 1 for x in np.asarray(nd).ravel())
        return read_index_list(split_path("nyu_test_indices.txt"))

    def _file(self):
        if self._h5 is None:  # opened lazily, once per DataLoader worker process
            import h5py

            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    def load_raw(self, index: int) -> SurroundSample:
        idx = self.items[index]
        try:
            f = self._file()
            img = np.asarray(f["images"][idx]).transpose(0, 2, 1)  # (3, W, H) -> (3, H, W)
            depth = np.asarray(f[self.field][idx], dtype=np.float32).T  # (W, H) -> (H, W)
        except (OSError, KeyError, ValueError) as exc:
            raise CorruptFileError(self.path, f"image {idx} unreadable ({exc})") from None
        depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
        d = torch.from_numpy(depth)
        return SurroundSample(
            images=torch.from_numpy(np.ascontiguousarray(img)).float().div_(255.0)[None],
            depth=d[None],
            valid=(d > 0)[None],
            K=self.K[None].clone(),
            T_base_cam=self.T_base_cam[None].clone(),
            cameras=list(self.cfg.cameras),
            timestamp_ns=0,
            meta={"mat_index": idx, "file": str(self.path)},
        )
