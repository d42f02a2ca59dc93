"""benchmarks/student_quality_seeds.py: per-row mean ± std over seeds and the reduction over the twin."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "student_quality_seeds.py"


def _load_student_quality():
    spec = importlib.util.spec_from_file_location("student_quality", REPO / "benchmarks" / "student_quality.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _result(path: Path, values: dict[str, tuple[float, float, float]], by_distance=None) -> Path:
    """A student_quality.py result: per checkpoint, (drive 1 AbsRel, drive 2 AbsRel, boxes AbsRel)."""
    res = {"drives": {}, "ood": {"best_constant": {"constant_m": 5.0, "abs_rel": 0.4, "a1": 0.3}, "checkpoints": {}}}
    for ck, (d1, d2, ood) in values.items():
        res["drives"][ck] = {"1": {"abs_rel": d1, "rmse": 3.0, "a1": 0.7, "by_distance": by_distance},
                             "2": {"abs_rel": d2, "rmse": 4.0, "a1": 0.8}}
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
             "--entry", f"sup=1:{b}:sup1", "--twin", "kd:sup", "--twin", "sup:kd", "--results", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["rows"]["kd"]["1.abs_rel"] == [0.16, 0.18]
    assert abs(m["twin"][0]["abs_rel_reduction"]["0"]["1"] - 0.2) < 1e-12  # 1 - 0.16 / 0.20
    assert abs(m["twin"][0]["abs_rel_reduction"]["1"]["2"] + 0.1) < 1e-12  # worse than the twin: negative
    assert m["twin"][1]["distilled"] == "sup"  # --twin repeats: each pair reported
    assert abs(m["twin"][1]["abs_rel_reduction"]["0"]["1"] + 0.25) < 1e-12  # 1 - 0.20 / 0.16
    md = out.with_suffix(".md").read_text()
    assert "0.1700 ± 0.0141" in md  # mean ± sample std of 0.16, 0.18


def test_unknown_checkpoint_is_one_line_error(tmp_path):
    a = _result(tmp_path / "a.json", {"kd0": (0.16, 0.20, 0.40)})
    r = _run("--entry", f"kd=0:{a}:nope", "--results", str(tmp_path / "m"))
    assert r.returncode == 2
    assert "has no checkpoint 'nope'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_distance_bands_merge_bins_and_share_the_error():
    sq = _load_student_quality()
    bins = [{"from_m": 0, "to_m": 5, "pixels": 100, "abs_rel": 0.4}, {"from_m": 5, "to_m": 10, "pixels": 300, "abs_rel": 0.1},
            {"from_m": 10, "to_m": 20, "pixels": 0, "abs_rel": None}, {"from_m": 20, "to_m": 30, "pixels": 50, "abs_rel": 0.2},
            {"from_m": 30, "to_m": 40, "pixels": 150, "abs_rel": 0.2}, {"from_m": 80, "to_m": 120, "pixels": 0, "abs_rel": None}]
    bands = sq.distance_bands(bins)
    assert [(b["from_m"], b["to_m"]) for b in bands] == [(0, 5), (5, 10), (10, 20), (20, 40), (40, 80)]
    assert [b["pixels"] for b in bands] == [100, 300, 0, 200, 0]
    assert abs(bands[3]["abs_rel"] - 0.2) < 1e-12 and bands[2]["abs_rel"] is None
    # summed error 40 + 30 + 40 = 110: the nearest band holds 40 / 110 of it
    assert abs(bands[0]["error_share"] - 40 / 110) < 1e-12
    assert abs(sum(b["error_share"] for b in bands) - 1.0) < 1e-12
    assert all(b["scale"] is None for b in bands)  # bins written before eval-bag reported a scale


def test_distance_bands_merge_the_scale_as_a_pixel_weighted_geometric_mean():
    sq = _load_student_quality()
    bins = [{"from_m": 20, "to_m": 30, "pixels": 100, "abs_rel": 0.5, "scale": 0.5},
            {"from_m": 30, "to_m": 40, "pixels": 300, "abs_rel": 1.0, "scale": 2.0},
            {"from_m": 0, "to_m": 5, "pixels": 10, "abs_rel": 0.0, "scale": 1.0}]
    bands = sq.distance_bands(bins)
    assert abs(bands[3]["scale"] - 2.0 ** 0.5) < 1e-12  # exp((100 ln 0.5 + 300 ln 2) / 400) = 2^(1/2)
    assert bands[0]["scale"] == 1.0 and bands[1]["scale"] is None


def test_merges_distance_bands_over_seeds(tmp_path):
    sq = _load_student_quality()
    near = sq.distance_bands([{"from_m": 0, "to_m": 5, "pixels": 10, "abs_rel": 0.5},
                              {"from_m": 5, "to_m": 10, "pixels": 10, "abs_rel": 0.1}])
    near2 = sq.distance_bands([{"from_m": 0, "to_m": 5, "pixels": 10, "abs_rel": 0.3},
                               {"from_m": 5, "to_m": 10, "pixels": 10, "abs_rel": 0.1}])
    a = _result(tmp_path / "a.json", {"kd0": (0.16, 0.20, 0.40)}, by_distance=near)
    b = _result(tmp_path / "b.json", {"kd1": (0.18, 0.22, 0.44)}, by_distance=near2)
    out = tmp_path / "merged"
    r = _run("--entry", f"kd=0:{a}:kd0", "--entry", f"kd=1:{b}:kd1", "--results", str(out))
    assert r.returncode == 0, r.stderr
    md = out.with_suffix(".md").read_text()
    # 0-5 m: mean 0.4 ± std 0.1414; shares 0.5 / 0.6 / 0.75 -> mean 0.79 of (5/6, 3/4) = 79 %
    assert "| kd | 1 | 0.4000 ± 0.1414 (79 %) | 0.1000 ± 0.0000 (21 %) |" in md
    assert "| kd | 2 |" not in md  # drive 2 has no bands
