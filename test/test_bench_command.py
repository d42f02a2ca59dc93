"""``disdepth bench --models``: rows, table and JSON (tiny size; measures, never asserts timings)."""

from __future__ import annotations

import json

from disdepth_core.cli import main


def test_bench_models_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--models", "--size", "64x96", "--batch", "2", "--runs", "1", "--warmup", "0",
               "--only", "student_default,student/mobilenetv2+lgconv,teacher/tiny", "--json", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["student_default", "student/mobilenetv2+lgconv", "teacher/tiny"]
    for r in rows:
        assert r["params"] > 0 and r["flops"] > 0 and r["latency_ms"] > 0
        assert r["input_shape"] == [2, 3, 64, 96]
    text = capsys.readouterr().out
    assert "| model | params (M) | GFLOPs | latency median (ms) | best (ms) |" in text
    assert "| teacher/tiny |" in text


def test_bench_models_interleaved(capsys):
    rc = main(["bench", "--models", "--size", "64x96", "--batch", "1", "--runs", "2", "--warmup", "0",
               "--interleave", "--only", "student/resnet18,teacher/tiny"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "timing round 2/2 done" in text and "| student/resnet18 |" in text


def test_bench_needs_a_section(capsys):
    assert main(["bench"]) == 1
    assert "pass --models" in capsys.readouterr().err
