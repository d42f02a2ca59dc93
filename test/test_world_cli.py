"""``disdepth world``: reproducible output for a seed, one-line errors for bad arguments."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from disdepth_core.cli import main
from disdepth_core.config import save_config
from disdepth_core.world.config import small_world_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "world.yaml"
    save_config(small_world_config(), path)
    return path


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _world(out: Path, cfg: Path, *extra: str, frames: int = 2) -> int:
    return main(["world", "--out", str(out), "--frames", str(frames), "--seed", "5", "--size", "64x96",
                 "--config", str(cfg), "--quiet", *extra])


@pytest.mark.parametrize("fmt", ["native", "nuscenes", "bag"])
def test_same_seed_gives_byte_identical_output(tmp_path, fast_config, fmt):
    a, b = tmp_path / "a" / "out", tmp_path / "b" / "out"  # same leaf name: a bag names its file after it
    frames = 2 if fmt == "native" else 1
    assert _world(a, fast_config, "--format", fmt, frames=frames) == 0
    assert _world(b, fast_config, "--format", fmt, frames=frames) == 0
    da, db = _digest(a), _digest(b)
    assert len(da) >= 2 and da == db
    if fmt == "native":
        assert {"meta.json", "rig.yaml", "world.yaml", "poses.json", "lidar/000001.bin",
                "images/CAM_FRONT/000000.png", "depth/CAM_BACK/000001.npz"} <= set(da)
        c = tmp_path / "c"
        assert main(["world", "--out", str(c), "--frames", "1", "--seed", "6", "--size", "64x96",
                     "--config", str(fast_config), "--quiet"]) == 0
        assert _digest(c)["images/CAM_FRONT/000000.png"] != da["images/CAM_FRONT/000000.png"]


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "disdepth_core.cli", "world", *args], cwd=REPO,
                          capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize(
    "args, code, needle",
    [
        (["--frames", "-3"], 2, "--frames"),
        (["--frames", "2", "--rig", "no_such_rig"], 1, "unknown rig 'no_such_rig'"),
        (["--frames", "2", "--size", "100x160"], 1, "multiples of 32"),
        (["--frames", "2", "--format", "tiff"], 2, "--format"),
    ],
)
def test_bad_arguments_fail_with_one_line(tmp_path, args, code, needle):
    r = _run_cli("--out", str(tmp_path / "o"), *args)
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "o").exists() or code == 1


def test_unwritable_or_nonempty_output_fails_with_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["world", "--out", str(blocker / "sub"), "--frames", "1", "--size", "64x96", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create output directory" in err[0]
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["world", "--out", str(tmp_path / "full"), "--frames", "1", "--size", "64x96", "--quiet"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["world", "--out", str(blocker), "--frames", "1", "--size", "64x96", "--format", "bag",
                 "--quiet"]) == 1
    assert "exists already" in capsys.readouterr().err
