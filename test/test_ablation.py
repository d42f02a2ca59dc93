"""The ablation table: mean ± half-range over seeds, honest progress status, config validation."""

from __future__ import annotations

import json

import pytest

from disdepth_core.config import ConfigError, from_dict, load_config
from disdepth_core.training.ablation import AblationConfig, write_table


def metrics(abs_rel, rmse, a1, cv):
    keys = dict(abs_rel=abs_rel, sq_rel=0.0, rmse=rmse, rmse_log=0.0, a1=a1, a2=1.0, a3=1.0)
    return {"metric": {"all": keys}, "median": {"all": keys}, "cross_view": cv}


def test_table_means_spreads_and_status(tmp_path):
    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "res" / "table"), "seeds": [0, 1],
        "rows": [{"name": "supervised"}, {"name": "+ CKD", "distill": {"ckd": True}}],
    })
    for seed, (ar, cv) in enumerate([(0.30, 0.10), (0.20, 0.06)]):
        d = tmp_path / "runs" / f"seed{seed}" / "supervised" / "eval"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(metrics(ar, 5.0 + seed, 0.5, cv)))
    d = tmp_path / "runs" / "seed0" / "ckd" / "eval"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics(0.1, 3.0, 0.8, 0.05)))
    table = write_table(ab, "my.yaml")
    rows = {r["name"]: r for r in table["rows"]}
    assert rows["supervised"]["seeds"] == 2
    assert rows["supervised"]["abs_rel"] == pytest.approx(0.25) and rows["supervised"]["abs_rel_spread"] == pytest.approx(0.05)
    assert rows["supervised"]["cross_view"] == pytest.approx(0.08)
    assert rows["+ CKD"]["seeds"] == 1 and rows["+ CKD"]["abs_rel_spread"] == 0.0
    assert "teacher (acclimated)" not in rows
    assert table["runs_finished"] == 3 and table["runs_expected"] == 6
    md = (tmp_path / "res" / "table.md").read_text()
    assert "IN PROGRESS: 3 of 6 runs finished" in md and "disdepth ablate --config my.yaml" in md
    assert json.loads((tmp_path / "res" / "table.json").read_text())["rows"][0]["name"] == "supervised"


def test_shipped_ablation_config_loads_and_seeds_must_differ(repo_root, tmp_path):
    ab = load_config(AblationConfig, repo_root / "config" / "ablation" / "synthetic.yaml")
    assert len(ab.rows) == 7 and len(ab.seeds) >= 2
    assert ab.model.backbone == "mobilenetv3_large"
    with pytest.raises(ConfigError, match="world.val_seeds"):
        from_dict(AblationConfig, {"world": {"train_seeds": [1, 2], "val_seeds": [2]}})
