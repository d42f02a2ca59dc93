"""The `disdepth` CLI: help for every subcommand, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from disdepth_core.cli import build_parser


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "disdepth_core.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_top_level_help_lists_subcommands():
    res = run_cli("--help")
    assert res.returncode == 0
    for name in subcommands():
        assert name in res.stdout


@pytest.mark.parametrize("name", subcommands())
def test_every_subcommand_has_help(name):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([name, "--help"])
    assert info.value.code == 0


def test_bad_arguments_exit_2_with_one_line():
    for args in (["no-such-command"], ["rig", "--size", "12"], ["rig", "--bogus"], []):
        res = run_cli(*args)
        assert res.returncode == 2, args
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "error:" in lines[0], res.stderr


def test_user_error_exits_1_with_one_line(tmp_path):
    res = run_cli("rig", "--rig", "no_such_rig")
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0
    assert "unknown rig 'no_such_rig'" in res.stderr and "nuscenes" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncameras: []\n")
    res = run_cli("rig", "--rig", str(bad))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert f"{bad}: key 'cameras': a rig needs at least one camera" in res.stderr


def test_rig_command_draws_png(tmp_path):
    out = tmp_path / "bev.png"
    res = run_cli("rig", "--rig", "ddad", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "CAMERA_01" in res.stdout and "<->" in res.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
