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


def test_docs_state_the_rep117_values_the_engine_produces():
    """README, docs and the engine's docstrings say what ``postprocess_depth`` does: NaN invalid,
    +Inf beyond ``max_depth``, -Inf closer than ``min_depth``."""
    import torch

    from disdepth_core.runtime import engine_api
    from disdepth_core.runtime.processing import postprocess_depth

    out = postprocess_depth(torch.tensor([[[0.2, 5.0, 90.0, float("nan")]]]), (1, 4), 0.5, 80.0, mode="nearest")
    assert out[0, 0, 0] == float("-inf") and out[0, 0, 1] == 5.0 and out[0, 0, 2] == float("inf")
    assert torch.isnan(out[0, 0, 3])
    texts = {"README.md": (REPO / "README.md").read_text(encoding="utf-8"),
             "docs/ros_node.md": (REPO / "docs" / "ros_node.md").read_text(encoding="utf-8"),
             "docs/runtime.md": (REPO / "docs" / "runtime.md").read_text(encoding="utf-8"),
             "InferenceResult": engine_api.InferenceResult.__doc__}
    for name, text in texts.items():
        flat = " ".join(text.replace("−", "-").split())
        assert "-Inf is not used" not in flat, name
        assert re.search(r"-Inf[^.;]{0,40}(closer|too close)", flat), f"{name} does not say -Inf = closer than min_depth"
