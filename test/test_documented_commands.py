"""Every ``python -m MODULE`` and ``python benchmarks/SCRIPT.py`` command in README.md and docs/*.md
names a module or script that exists, and each benchmark script answers ``--help``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(r"python3? (?:-m ([A-Za-z_][\w.]*)|((?:benchmarks|tools)/[\w/]+\.py))")


def documented() -> tuple[set[str], set[str]]:
    modules, scripts = set(), set()
    for doc in DOCS:
        for module, script in COMMAND.findall(doc.read_text(encoding="utf-8")):
            (modules.add(module) if module else scripts.add(script))
    return modules, scripts


def test_documented_modules_exist():
    modules, _ = documented()
    assert "disdepth_ros.surround_depth_node" in modules  # the pattern finds commands at all
    missing = [m for m in sorted(modules) if importlib.util.find_spec(m) is None]
    assert not missing, f"documented `python -m` modules that do not exist: {missing}"


@pytest.mark.parametrize("script", sorted(documented()[1]))
def test_documented_benchmark_scripts_run(script):
    path = REPO / script
    assert path.is_file(), f"documented script {script} does not exist"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(path), "--help"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout
