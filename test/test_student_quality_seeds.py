"""benchmarks/student_quality_seeds.py: per-row mean ± std over seeds and the reduction over the twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "student_quality_seeds.py"


def _result(path: Path, values: dict[str, tuple[float, float, float]]) -> Path:
    """A student_quality.py result: per checkpoint, (drive 1 AbsRel, drive 2 AbsRel, boxes AbsRel)."""
    res = {"drives": {}, "ood": {"best_constant": {"constant_m": 5.0, "abs_rel": 0.4, "a1": 0.3}, "checkpoints": {}}}
    for ck, (d1, d2, ood) in values.items():
        res["drives"][ck] = {"1": {"abs_rel": d1, "rmse": 3.0, "a1": 0.7}, "2": {"abs_rel": d2, "rmse": 4.0, "a1": 0.8}}
        res["ood"]["checkpoints"][ck] = {"abs_rel": ood, "a1": 0.2}
    path.write_text(json.dumps(res))
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_merges_seeds_and_reports_reduction(tmp_path):
    a = _result(tmp_path / "a.json", {"kd0": (0.16, 0.20, 0.40), "sup0": (0.20, 0.20, 0.30)})
    b = _result(tmp_path / "b.json", {"kd1": (0.18, 0.22, 0.44), "sup1": (0.20, 0.20, 0.34)})
    out = tmp_path / "merged"
    r = _run("--entry", f"kd=0:{a}:kd0", "--entry", f"kd=1:{b}:kd1", "--entry", f"sup=0:{a}:sup0",
             "--entry", f"sup=1:{b}:sup1", "--twin", "kd:sup", "--results", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["rows"]["kd"]["1.abs_rel"] == [0.16, 0.18]
    assert abs(m["twin"]["abs_rel_reduction"]["0"]["1"] - 0.2) < 1e-12  # 1 - 0.16 / 0.20
    assert abs(m["twin"]["abs_rel_reduction"]["1"]["2"] + 0.1) < 1e-12  # worse than the twin: negative
    md = out.with_suffix(".md").read_text()
    assert "0.1700 ± 0.0141" in md  # mean ± sample std of 0.16, 0.18


def test_unknown_checkpoint_is_one_line_error(tmp_path):
    a = _result(tmp_path / "a.json", {"kd0": (0.16, 0.20, 0.40)})
    r = _run("--entry", f"kd=0:{a}:nope", "--results", str(tmp_path / "m"))
    assert r.returncode == 2
    assert "has no checkpoint 'nope'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
