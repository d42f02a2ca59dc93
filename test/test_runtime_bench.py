"""`disdepth bench --backend`: runs every available engine end to end and writes the JSON/table
fields the docs promise (values are measurements, never asserted against a time)."""

from __future__ import annotations

import json

import pytest

from disdepth_core.cli import main
from disdepth_core.config import save_config
from disdepth_core.models.config import ModelConfig

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("backends", [
    ["torch", "tensorrt"],
    pytest.param(["torch", "onnxruntime", "tensorrt"], marks=pytest.mark.slow),
])
def test_bench_backend_json_and_table(tmp_path, capsys, backends):
    student = tmp_path / "tiny.yaml"
    save_config(ModelConfig(backbone="mobilenetv2", decoder_channels=[8, 8, 8, 8], num_bins=8, input_size=(64, 96)),
                student)
    out = tmp_path / "bench.json"
    rc = main(["bench", "--backend", ",".join(backends), "--size", "64x96", "--student", str(student),
               "--runs", "1", "--backend-runs", "3", "--warmup", "1", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    ran = [b for b in backends if b != "tensorrt"]
    assert set(data["backends"]) - {"tensorrt"} == set(ran)
    for name in ran:
        b = data["backends"][name]
        assert b["p50_ms"] > 0 and b["p90_ms"] >= b["p50_ms"] and b["peak_memory_mb"] > 0 and b["points"] > 0
        assert set(b["stages_ms"]) == {"preprocess", "network", "postprocess", "pointcloud", "total"}
    assert "tensorrt" in data["skipped"] or "tensorrt" in data["backends"]
    assert data["student_vs_teacher_speedup"] > 0 and data["teacher_input"] == [56, 84]
    table = capsys.readouterr().out
    assert "| torch |" in table and "faster (goal >= 10x)" in table


def test_bench_rejects_unknown_backend(capsys):
    assert main(["bench", "--backend", "torch,magic"]) == 1
    assert "--backend: unknown magic" in capsys.readouterr().err
