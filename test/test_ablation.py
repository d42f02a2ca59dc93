"""The ablation table: mean ± half-range over seeds, honest progress status, config validation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

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
    (d / "metrics.json").write_text(json.dumps({**metrics(0.1, 3.0, 0.8, 0.05),
                                                "confidence": {"all": {"ause": 0.03, "ause_random": 0.04,
                                                                       "ause_ratio": 0.75}}}))
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
    # the confidence column: its AUSE over random where the run scored one, a dash where it did not
    assert rows["+ CKD"]["confidence_ause_ratio"] == pytest.approx(0.75)
    line = {ln.split(" | ")[0]: ln for ln in md.splitlines() if ln.startswith("| ")}
    assert "| 0.750 ± 0.000 |" in line["| + CKD"] and "| — |" in line["| supervised"]
    assert json.loads((tmp_path / "res" / "table.json").read_text())["rows"][0]["name"] == "supervised"


def test_shipped_ablation_config_loads_and_seeds_must_differ(repo_root, tmp_path):
    ab = load_config(AblationConfig, repo_root / "config" / "ablation" / "synthetic.yaml")
    assert len(ab.rows) == 7 and len(ab.seeds) >= 2
    assert ab.model.backbone == "mobilenetv3_large"
    with pytest.raises(ConfigError, match="world.val_seeds"):
        from_dict(AblationConfig, {"world": {"train_seeds": [1, 2], "val_seeds": [2]}})


@pytest.mark.slow  # 2 min; the carried-seed and best-export tests below also run tiny ablations end to end
def test_tiny_ablation_shares_teacher_exports_fp16_students_and_reports_cost(tmp_path):
    """End to end at a tiny size: render, teacher, acclimation, two rows, a second ablation with
    sparse LiDAR supervision reusing the first one's teacher, export of the chosen students."""
    import dataclasses

    from safetensors.torch import load_file

    from disdepth_core.models.checkpoint import load_student, read_student_meta
    from disdepth_core.models.teacher_config import TEACHER_PRESETS
    from disdepth_core.training.ablation import run_ablation

    budget = {"steps": 2, "batch_size": 1, "optim": {"lr": 1e-3, "warmup_steps": 1}}
    base = {
        "seeds": [0],
        "device": "cpu",
        "world": {"root": str(tmp_path / "world"), "train_seeds": [1], "val_seeds": [9], "frames": 2, "size": [64, 96]},
        "dataset": {"name": "synthetic", "split": "train", "size": [64, 96]},
        "val_dataset": {"name": "synthetic", "split": "val", "size": [64, 96]},
        "model": {"backbone": "resnet18", "input_size": [64, 96], "num_bins": 16, "decoder_channels": [8, 16, 16, 32]},
        "teacher": {"arch": dataclasses.asdict(TEACHER_PRESETS["tiny"])},
        "teacher_budget": budget, "acclimate_budget": budget, "student_budget": budget,
        "rows": [{"name": "supervised"}, {"name": "+ CKD", "distill": {"ckd": True, "acclimated": True}}],
    }
    dense = from_dict(AblationConfig, {**base, "out_dir": str(tmp_path / "dense"), "results": str(tmp_path / "dense_table"),
                                       "export_teacher": str(tmp_path / "w" / "teacher")})
    run_ablation(dense, progress=False)
    assert (tmp_path / "dense" / "seed0" / "teacher" / "eval" / "metrics.json").is_file()
    # a run that continued a trained teacher exports that teacher's provenance under "init"
    from disdepth_core.models.teacher_config import TeacherConfig
    from disdepth_core.training.ablation import export_teacher

    cont = dataclasses.replace(dense, teacher=TeacherConfig(path=str(tmp_path / "w" / "teacher")),
                               export_teacher=str(tmp_path / "w" / "teacher"))
    export_teacher(cont, "cfg.yaml", trained_by="python tools/train_corpus_teacher.py cfg.yaml --init w/teacher")
    info = json.loads((tmp_path / "w" / "teacher" / "disdepth_teacher.json").read_text())
    assert info["trained_by"].startswith("python tools/train_corpus_teacher.py")
    assert info["init"]["from"] == str(tmp_path / "w" / "teacher")
    assert info["init"]["trained_by"].startswith("disdepth ablate --config") and info["init"].get("init") is None

    # a shipped teacher adopted instead of trained: its weights and eval become the seed's teacher run
    adopt = from_dict(AblationConfig, {
        **base, "out_dir": str(tmp_path / "adopt"), "results": str(tmp_path / "adopt_table"),
        "teacher_from": str(tmp_path / "w" / "teacher"), "export_teacher": str(tmp_path / "w" / "teacher"),
        "rows": [{"name": "+ output KD", "distill": {"output_kd": True, "output_kd_form": "log",
                                                     "output_kd_align": "labels"}}]})
    table = run_ablation(adopt, progress=False)
    run = tmp_path / "adopt" / "seed0" / "teacher"
    assert json.loads((run / "adopted.json").read_text())["teacher_from"] == str(tmp_path / "w" / "teacher")
    assert (run / "teacher" / "model.safetensors").read_bytes() == (tmp_path / "w" / "teacher" / "model.safetensors").read_bytes()
    assert json.loads((run / "eval" / "metrics.json").read_text()) == json.loads(
        (tmp_path / "w" / "teacher" / "eval" / "metrics.json").read_text())
    assert (tmp_path / "adopt" / "seed0" / "output_kd" / "eval" / "metrics.json").is_file()
    assert str(tmp_path / "w" / "teacher") not in table["exported"]  # not exported onto itself
    from disdepth_core.errors import DisdepthError

    with pytest.raises(DisdepthError, match="missing .*eval/metrics.json"):
        run_ablation(dataclasses.replace(adopt, out_dir=str(tmp_path / "adopt2"), teacher_from=str(tmp_path / "w")),
                     progress=False)

    sparse = from_dict(AblationConfig, {
        **base, "out_dir": str(tmp_path / "sparse"), "teacher_dir": str(tmp_path / "dense"),
        "results": str(tmp_path / "sparse_table"),
        "dataset": {**base["dataset"], "gt_source": "lidar"},
        "export": [{"row": "+ CKD", "seed": 0, "to": str(tmp_path / "w" / "default")},
                   {"row": "supervised", "seed": 0, "to": str(tmp_path / "w" / "supervised")}],
    })
    table = run_ablation(sparse, progress=False)
    assert not (tmp_path / "sparse" / "seed0" / "teacher").exists()  # the dense ablation's teacher is reused
    assert (tmp_path / "sparse" / "seed0" / "acclimate" / "acclimated").is_dir()  # acclimated on sparse GT
    rows = {r["name"]: r for r in table["rows"]}
    from disdepth_core.training.ablation import TEACHER_BEFORE_ROW

    assert set(rows) == {"supervised", "+ CKD", "teacher (acclimated)", TEACHER_BEFORE_ROW}
    assert table["runs_finished"] == table["runs_expected"] == 3  # the reference row is not a run
    for r in (rows[n] for n in ("supervised", "+ CKD", "teacher (acclimated)")):
        assert r["params"] > 0 and r["gflops"] > 0 and r["latency_ms"] > 0
    assert rows["teacher (acclimated)"]["params"] != rows["supervised"]["params"]
    md = (tmp_path / "sparse_table.md").read_text()
    assert "ground truth lidar" in md and "GFLOPs" in md
    assert sorted(table["exported"]) == sorted(str(tmp_path / "w" / n) for n in ("default", "supervised"))
    for name, row in (("default", "+ CKD"), ("supervised", "supervised")):
        d = tmp_path / "w" / name
        assert all(v.dtype == torch.float16 for v in load_file(str(d / "model.safetensors")).values()
                   if v.is_floating_point())
        meta = read_student_meta(d)
        assert meta["row"] == row and meta["train_data"]["gt_source"] == "lidar"
        assert "disdepth ablate --config" in meta["trained_by"]
        run_metrics = json.loads((tmp_path / "sparse" / "seed0" / row.replace("+ ", "").lower() / "eval"
                                  / "metrics.json").read_text())
        assert meta["eval_held_out"]["abs_rel"] == run_metrics["metric"]["all"]["abs_rel"]
        assert (d / "eval" / "metrics.json").is_file()
        model = load_student(d)
        ref = load_student(tmp_path / "sparse" / "seed0" / row.replace("+ ", "").lower() / "student")
        for (k, a), b in zip(model.state_dict().items(), ref.state_dict().values(), strict=True):
            if a.is_floating_point():
                assert torch.allclose(a, b.half().float()), k  # fp16 of the trained weights
    # a teacher retrained in place is measured again, not taken from the cost cache
    import os

    from disdepth_core.training.ablation import measure_costs

    cache = json.loads((tmp_path / "sparse" / "costs.json").read_text())
    weights = next((tmp_path / "dense" / "seed0" / "teacher" / "teacher").glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    again = measure_costs(sparse)
    assert again["weights_ids"]["teacher_raw"] != cache["weights_ids"]["teacher_raw"]
    assert again["weights_ids"] == json.loads((tmp_path / "sparse" / "costs.json").read_text())["weights_ids"]
    assert measure_costs(sparse)["weights_ids"] == again["weights_ids"]  # unchanged weights: the cache
    # a checkout holding another seed's runs only: the teacher's cost comes from the seed that has one
    assert "teacher_raw" in measure_costs(dataclasses.replace(sparse, seeds=[7, 0]), refresh=True)["weights_ids"]


def test_rows_whose_runs_are_gone_are_carried_over_and_not_replaced_by_worse_ones(tmp_path):
    """A fresh checkout has the committed table but not the runs: rerunning one row keeps the others, and a
    'best' export does not replace a shipped student with a worse row."""
    from disdepth_core.training.ablation import export_students

    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0],
        "rows": [{"name": "supervised"}, {"name": "+ CKD", "distill": {"ckd": True}}],
        "export": [{"row": "best", "seed": 0, "to": str(tmp_path / "w" / "default")}]})
    for name, ar in (("supervised", 0.18), ("ckd", 0.25)):
        d = tmp_path / "runs" / "seed0" / name / "eval"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(metrics(ar, 5.0, 0.5, 0.1)))
    write_table(ab)
    import shutil

    shutil.rmtree(tmp_path / "runs" / "seed0" / "supervised")  # a new machine: only "+ CKD" was rerun
    table = write_table(ab)
    rows = {r["name"]: r for r in table["rows"]}
    assert [r["name"] for r in table["rows"]] == ["supervised", "+ CKD"]
    assert rows["supervised"]["carried"] and rows["supervised"]["abs_rel"] == pytest.approx(0.18)
    assert "carried" not in rows["+ CKD"] and table["runs_finished"] == 2
    md = (tmp_path / "t.md").read_text()
    assert "| supervised | 1 † |" in md and "carried over from the previous table" in md
    assert export_students(ab, "my.yaml") == [] and not (tmp_path / "w" / "default").exists()


def test_a_new_seed_on_a_fresh_checkout_adds_to_the_carried_seeds_of_its_row(tmp_path):
    """The table keeps each seed's result: a machine that runs seed 2 of a row whose seeds 0 and 1 ran
    elsewhere gets a three-seed row, not a one-seed row; a seed run here again replaces its carried record."""
    import shutil

    ab = from_dict(AblationConfig, {"out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"),
                                    "seeds": [0, 1, 2], "rows": [{"name": "supervised"}]})

    def run(seed, ar):
        d = tmp_path / "runs" / f"seed{seed}" / "supervised" / "eval"
        d.mkdir(parents=True, exist_ok=True)
        (d / "metrics.json").write_text(json.dumps(metrics(ar, 5.0 + seed, 0.5, 0.1)))

    run(0, 0.20)
    run(1, 0.22)
    write_table(ab)
    shutil.rmtree(tmp_path / "runs")  # a fresh checkout: the committed table only
    run(2, 0.30)
    row = write_table(ab)["rows"][0]
    assert row["seeds"] == 3 and row["carried_seeds"] == [0, 1] and "carried" not in row
    assert row["abs_rel"] == pytest.approx(0.24) and row["abs_rel_spread"] == pytest.approx(0.05)
    assert row["rmse"] == pytest.approx(6.0) and row["per_seed"]["2"]["abs_rel"] == pytest.approx(0.30)
    assert "| supervised | 3 (seeds 0, 1 †) |" in (tmp_path / "t.md").read_text()
    run(0, 0.10)  # seed 0 run here again: its new result, not the carried one
    row = write_table(ab)["rows"][0]
    assert row["carried_seeds"] == [1] and row["abs_rel"] == pytest.approx((0.10 + 0.22 + 0.30) / 3)
    shutil.rmtree(tmp_path / "runs")
    row = write_table(ab)["rows"][0]  # nothing here: the whole row carried, its seeds kept
    assert row["carried"] and row["seeds"] == 3 and row["abs_rel"] == pytest.approx((0.10 + 0.22 + 0.30) / 3)
    narrower = dataclasses.replace(ab, seeds=[0, 1])  # carried seeds outside the config's seeds are left out
    assert write_table(narrower)["rows"][0]["seeds"] == 2


def test_best_export_weighs_a_carried_row_by_the_export_seeds_own_result(tmp_path):
    """A row whose seed 0 ran elsewhere competes for the seed-0 'best' export with its seed-0 result, not its
    mean over seeds: here its mean (0.20) is worse than the row run here (0.19), its seed 0 (0.15) better."""
    import shutil

    from disdepth_core.training.ablation import export_students

    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0, 1],
        "rows": [{"name": "supervised"}, {"name": "+ CKD", "distill": {"ckd": True}}],
        "export": [{"row": "best", "seed": 0, "to": str(tmp_path / "w" / "default")}]})
    for seed, ar in ((0, 0.15), (1, 0.25)):
        d = tmp_path / "runs" / f"seed{seed}" / "ckd" / "eval"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(metrics(ar, 5.0, 0.5, 0.1)))
    write_table(ab)
    shutil.rmtree(tmp_path / "runs")
    d = tmp_path / "runs" / "seed0" / "supervised" / "eval"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics(0.19, 5.0, 0.5, 0.1)))
    rows = {r["name"]: r for r in write_table(ab)["rows"]}
    assert rows["+ CKD"]["carried"] and rows["+ CKD"]["abs_rel"] == pytest.approx(0.20)
    assert export_students(ab, "my.yaml") == [] and not (tmp_path / "w" / "default").exists()


def test_best_export_never_picks_a_reference_row(tmp_path):
    """A dense-label ceiling row is better by construction; 'best' picks among the deployable rows."""
    from disdepth_core.models.checkpoint import read_student_meta, save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student
    from disdepth_core.training.ablation import export_students

    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0],
        "rows": [{"name": "supervised"}, {"name": "dense", "dataset": {"gt_source": "render"}, "reference": True},
                 {"name": "+ CKD", "distill": {"ckd": True}}],
        "export": [{"row": "best", "seed": 0, "to": str(tmp_path / "w" / "default")}]})
    assert ab.rows[1].reference and not ab.rows[0].reference
    tiny = build_student(ModelConfig(backbone="resnet18", input_size=(64, 96), num_bins=8,
                                     decoder_channels=[8, 8, 8, 8])).eval()
    for slug, ar in (("supervised", 0.18), ("dense", 0.08), ("ckd", 0.21)):
        run = tmp_path / "runs" / "seed0" / slug
        save_student(tiny, run / "student")
        (run / "eval").mkdir()
        (run / "eval" / "metrics.json").write_text(json.dumps(metrics(ar, 5.0, 0.5, 0.1)))
    write_table(ab)
    assert export_students(ab, "my.yaml") == [tmp_path / "w" / "default"]
    meta = read_student_meta(tmp_path / "w" / "default")
    assert meta["row"] == "supervised" and "dense" not in meta["chosen_by"]
    # exported again unchanged: the committed files are left as they are (no churn in git)
    assert export_students(ab, "my.yaml") == [tmp_path / "w" / "default"]
    assert read_student_meta(tmp_path / "w" / "default") == meta
    assert [d.name for d in (tmp_path / "w").iterdir()] == ["default"]  # no export directory left behind
    # a different student replaces it
    save_student(build_student(ModelConfig(backbone="resnet18", input_size=(64, 96), num_bins=8,
                                           decoder_channels=[8, 8, 8, 16])).eval(), tmp_path / "runs" / "seed0" / "supervised" / "student")
    export_students(ab, "my.yaml")
    assert read_student_meta(tmp_path / "w" / "default")["saved_unix"] != meta["saved_unix"]


def test_an_adopted_teacher_is_adopted_again_when_the_weights_directory_changes(tmp_path):
    """A continued teacher shipped into the same weights directory reaches the rows run after it."""
    from disdepth_core.training.ablation import ensure_adopted

    weights, run = tmp_path / "w", tmp_path / "runs" / "seed0" / "teacher"
    (weights / "eval").mkdir(parents=True)
    (weights / "config.json").write_text("{}")
    (weights / "model.safetensors").write_bytes(b"v3")
    (weights / "eval" / "metrics.json").write_text(json.dumps(metrics(0.19, 5.5, 0.73, 0.2)))
    assert ensure_adopted(weights, run) and (run / "teacher" / "model.safetensors").read_bytes() == b"v3"
    assert not ensure_adopted(weights, run)  # the same weights: nothing to do
    (weights / "model.safetensors").write_bytes(b"v4")
    (weights / "eval" / "metrics.json").write_text(json.dumps(metrics(0.17, 5.0, 0.76, 0.2)))
    assert ensure_adopted(weights, run) and (run / "teacher" / "model.safetensors").read_bytes() == b"v4"
    assert json.loads((run / "eval" / "metrics.json").read_text())["metric"]["all"]["abs_rel"] == pytest.approx(0.17)
    trained = tmp_path / "runs" / "seed1" / "teacher"  # a teacher trained here is never replaced
    (trained / "eval").mkdir(parents=True)
    (trained / "eval" / "metrics.json").write_text("{}")
    assert not ensure_adopted(weights, trained) and not (trained / "teacher").exists()


def test_a_teacher_adopted_by_two_seeds_is_one_teacher_in_the_table(tmp_path):
    from disdepth_core.training.ablation import TEACHER_RAW_ROW

    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0, 1],
        "teacher_dataset": {"gt_source": "render"}, "rows": [{"name": "supervised"}]})
    for seed in (0, 1):
        run = tmp_path / "runs" / f"seed{seed}" / "teacher"
        (run / "eval").mkdir(parents=True)
        (run / "eval" / "metrics.json").write_text(json.dumps(metrics(0.16, 5.0, 0.79, 0.24)))
        (run / "adopted.json").write_text(json.dumps({"teacher_from": "weights/teacher_synthetic"}))
    rows = {r["name"]: r for r in write_table(ab)["rows"]}
    assert rows[TEACHER_RAW_ROW]["seeds"] == 1
    (tmp_path / "runs" / "seed1" / "teacher" / "adopted.json").unlink()  # two teachers trained here: two seeds
    (tmp_path / "runs" / "seed1" / "teacher" / "eval" / "metrics.json").write_text(json.dumps(metrics(0.18, 5.2, 0.77, 0.25)))
    rows = {r["name"]: r for r in write_table(ab)["rows"]}
    assert rows[TEACHER_RAW_ROW]["seeds"] == 2 and rows[TEACHER_RAW_ROW]["abs_rel"] == pytest.approx(0.17)


def test_export_row_must_exist():
    with pytest.raises(ConfigError, match=r"export\[0\].row"):
        from_dict(AblationConfig, {"rows": [{"name": "supervised"}], "export": [{"row": "all", "to": "w"}]})


def test_regenerating_the_table_keeps_hand_written_notes(tmp_path):
    from disdepth_core.training.ablation import NOTES_MARKER

    ab = from_dict(AblationConfig, {"out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0],
                                    "rows": [{"name": "supervised"}]})
    d = tmp_path / "runs" / "seed0" / "supervised" / "eval"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics(0.3, 5.0, 0.5, 0.1)))
    write_table(ab)
    md = tmp_path / "t.md"
    md.write_text(md.read_text() + f"\n{NOTES_MARKER}\nKD helps here because...\n")
    (d / "metrics.json").write_text(json.dumps(metrics(0.2, 4.0, 0.6, 0.1)))
    write_table(ab)
    text = md.read_text()
    assert "0.2000" in text and "0.3000" not in text and text.count(NOTES_MARKER) == 1
    assert text.rstrip().endswith("KD helps here because...")


def test_every_shipped_ablation_config_loads(repo_root):
    paths = sorted((repo_root / "config" / "ablation").glob("*.yaml"))
    assert len(paths) >= 3
    for p in paths:
        ab = load_config(AblationConfig, p)
        assert ab.rows and ab.model.input_size == tuple(ab.dataset.size)
    lidar = load_config(AblationConfig, repo_root / "config" / "ablation" / "synthetic_lidar.yaml")
    assert lidar.dataset.gt_source == "lidar" and lidar.val_dataset.resolved().gt_source == "render"
    assert lidar.teacher_dir == load_config(AblationConfig, repo_root / "config" / "ablation" / "synthetic.yaml").out_dir  # shares the dense ablation's teachers


def test_row_overrides_and_row_selection(repo_root):
    from disdepth_core.errors import DisdepthError
    from disdepth_core.training.ablation import _cost_key, _override, run_ablation

    ab = load_config(AblationConfig, repo_root / "config" / "ablation" / "corpus.yaml")
    rows = {r.name: r for r in ab.rows}
    no_lg = _override(ab.model, rows["supervised without LG-Conv"].model, "row")
    assert no_lg.lgconv_stages == [] and ab.model.lgconv_stages == [4]
    keep = _override(ab.dataset, rows["+ output KD"].dataset, "row")
    assert keep.unlabelled == "keep" and ab.dataset.unlabelled == "drop" and keep.labelled_every == 3
    assert _cost_key(rows["supervised without LG-Conv"]) != _cost_key(rows["supervised"])
    with pytest.raises(ConfigError, match="labelled_every"):
        _override(ab.dataset, {"labelled_every": 0}, "row")
    ab = dataclasses.replace(ab, world=None)
    with pytest.raises(DisdepthError, match="unknown row"):
        run_ablation(ab, rows=["no such row"], progress=False)


def test_a_row_with_its_own_budget_trains_and_exports_with_its_steps(tmp_path):
    """``steps`` on a row replaces the student budget's steps for that row only (and its checkpoints
    every tenth of them); the exported student's provenance records the steps it was trained for."""
    from disdepth_core.models.checkpoint import read_student_meta, save_student
    from disdepth_core.models.config import ModelConfig
    from disdepth_core.models.student import build_student
    from disdepth_core.models.teacher_config import TeacherConfig
    from disdepth_core.training.ablation import export_students, row_run_config

    ab = from_dict(AblationConfig, {
        "out_dir": str(tmp_path / "runs"), "results": str(tmp_path / "t"), "seeds": [0],
        "student_budget": {"steps": 400},
        "rows": [{"name": "supervised"}, {"name": "supervised, 800 steps", "steps": 800}],
        "export": [{"row": "best", "seed": 0, "to": str(tmp_path / "w" / "default")}]})
    short, long = (row_run_config(ab, r, 0, TeacherConfig()) for r in ab.rows)
    assert (short.steps, short.ckpt_every) == (400, 40) and (long.steps, long.ckpt_every) == (800, 80)
    assert short.out_dir != long.out_dir
    tiny = build_student(ModelConfig(backbone="resnet18", input_size=(64, 96), num_bins=8,
                                     decoder_channels=[8, 8, 8, 8])).eval()
    for cfg, ar in ((short, 0.20), (long, 0.17)):
        save_student(tiny, Path(cfg.out_dir) / "student")
        (Path(cfg.out_dir) / "eval").mkdir()
        (Path(cfg.out_dir) / "eval" / "metrics.json").write_text(json.dumps(metrics(ar, 5.0, 0.5, 0.1)))
    write_table(ab)
    assert "Student budget: 400 steps" in (tmp_path / "t.md").read_text()
    export_students(ab, "my.yaml")
    meta = read_student_meta(tmp_path / "w" / "default")
    assert meta["row"] == "supervised, 800 steps" and meta["steps"] == 800
    with pytest.raises(ConfigError, match="steps"):
        from_dict(AblationConfig, {"rows": [{"name": "x", "steps": -1}]})
