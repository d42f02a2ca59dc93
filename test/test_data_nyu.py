"""NYU Depth V2 labelled .mat loader on a miniature file in the MATLAB v7.3 (HDF5) layout."""

from __future__ import annotations

import h5py
import pytest
import torch
from miniature_datasets import write_nyu_labeled

from disdepth_core.data.dataset_config import DatasetConfig
from disdepth_core.data.eval_crops import eval_mask
from disdepth_core.data.nyu import NYU_K
from disdepth_core.data.registry import build_dataset
from disdepth_core.data.splits import read_index_list, split_path
from disdepth_core.errors import DisdepthError

SIZE = (48, 64)  # (H, W): a tenth of 480x640, non-square to catch axis mix-ups


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nyu")
    write_nyu_labeled(root, size=SIZE)
    return root


def _cfg(root, **kw):
    return DatasetConfig(name="nyu", root=str(root), split=kw.pop("split", "test"), **kw)


def test_official_test_indices_list():
    idx = read_index_list(split_path("nyu_test_indices.txt"))
    assert len(idx) == 654 and len(set(idx)) == 654 and idx == sorted(idx)
    assert idx[:10] == [0, 1, 8, 13, 14, 15, 16, 17, 20, 27] and idx[-1] == 1448


def test_test_split_counts_layout_and_units(nyu_root):
    ds = build_dataset(_cfg(nyu_root))
    assert len(ds) == 654 and len(build_dataset(_cfg(nyu_root, split="train"))) == 795
    assert len(build_dataset(_cfg(nyu_root, split="all"))) == 1449
    s = ds[2]  # mat index 8
    H, W = SIZE
    assert s.meta["mat_index"] == 8 and s.images.shape == (1, 3, H, W)
    # red encodes the row, green the column: the HDF5 (W, H) axes were transposed back
    assert s.images[0, 0, :, 5].argmax() == H - 1 and s.images[0, 1, 5, :].argmax() == W - 1
    assert s.images[0, 2, 0, 0].item() == pytest.approx(8 / 255)
    r, c = 10, 50
    expected = 1.0 + r / H + c / (2 * W) + 8 / 1000
    assert s.depth[0, r, c].item() == pytest.approx(expected, abs=1e-6)  # metres
    assert not s.valid[0, 0, 0] and s.valid.float().mean() > 0.8  # raw depth has holes
    filled = build_dataset(_cfg(nyu_root, gt_source="filled"))[2]
    assert filled.valid.all()


def test_intrinsics_scaled_to_file_resolution_and_resize(nyu_root):
    s = build_dataset(_cfg(nyu_root))[0]
    assert s.K[0, 0, 0].item() == pytest.approx(NYU_K[0, 0].item() / 10, rel=1e-5)
    big = build_dataset(_cfg(nyu_root, size=(96, 128)))[0]
    assert big.K[0, 0, 0].item() == pytest.approx(NYU_K[0, 0].item() / 5, rel=1e-5)
    # dense GT resized by nearest sampling: exact source values only
    assert set(big.depth[big.valid].tolist()) <= set(s.depth[s.valid].tolist())


def test_eigen_crop_and_cap_on_samples(nyu_root):
    s = build_dataset(_cfg(nyu_root))[0]
    m = eval_mask(s.depth[0], "nyu", orig_size=s.meta["orig_size"], window=s.meta["window"])
    rows = torch.nonzero(m.any(1)).ravel()
    cols = torch.nonzero(m.any(0)).ravel()
    assert rows[0].item() == 4 and rows[-1].item() == 46 and cols[0].item() == 4 and cols[-1].item() == 59


def test_splits_mat_is_preferred(tmp_path):
    write_nyu_labeled(tmp_path, num_images=30, size=(12, 16), test_indices=[3, 4, 20])
    ds = build_dataset(_cfg(tmp_path))
    assert ds.items == [3, 4, 20]
    assert len(build_dataset(_cfg(tmp_path, split="train"))) == 27


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DisdepthError, match="nyu_depth_v2_labeled.mat"):
        build_dataset(_cfg(tmp_path))
    (tmp_path / "nyu_depth_v2_labeled.mat").write_bytes(b"not hdf5" * 100)
    with pytest.raises(DisdepthError, match="not an HDF5"):
        build_dataset(_cfg(tmp_path))
    small = tmp_path / "small"
    write_nyu_labeled(small, num_images=10, size=(12, 16))
    with pytest.raises(DisdepthError, match="has 10 images"):
        build_dataset(_cfg(small))
    with pytest.raises(DisdepthError, match="unknown split"):
        build_dataset(_cfg(small, split="val"))


def test_corrupt_image_record_is_skipped(tmp_path):
    path = write_nyu_labeled(tmp_path, num_images=5, size=(12, 16))
    with h5py.File(path, "r+") as f:  # store depth in gzip chunks, one per image
        d = f["rawDepths"][:]
        del f["rawDepths"]
        f.create_dataset("rawDepths", data=d, chunks=(1, 16, 12), compression="gzip")
    with h5py.File(path, "r") as f:
        info = f["rawDepths"].id.get_chunk_info(4)
    with open(path, "r+b") as fh:  # damage image 4's chunk on disk
        fh.seek(info.byte_offset)
        fh.write(b"\xff" * info.size)
    ds = build_dataset(_cfg(tmp_path, split="all"))
    out = ds[4]
    assert ds.num_corrupt == 1 and out.meta["index"] == 0 and out.meta["skipped_corrupt"] == [4]
