"""The config system: typed loading, defaults, and errors that name file, key and expectation."""

from __future__ import annotations

import dataclasses

import pytest

from disdepth_core.config import ConfigError, cfg_field, from_dict, load_config, save_config, to_dict


@dataclasses.dataclass
class Inner:
    bins: int = cfg_field(64, min=2, help="number of depth bins")
    mode: str = cfg_field("bins", choices=("bins", "regression"))


@dataclasses.dataclass
class Outer:
    name: str = cfg_field(help="required")
    lr: float = cfg_field(1e-3, gt=0)
    size: tuple[int, int] = cfg_field((352, 640))
    inner: Inner = cfg_field(default_factory=Inner)
    layers: list[Inner] = cfg_field(default_factory=list)
    path: str | None = None
    d_min: float = 0.1
    d_max: float = 80.0

    def validate(self):
        if self.d_min >= self.d_max:
            raise ConfigError(f"d_min ({self.d_min}) must be < d_max ({self.d_max})", key="d_min")


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_and_types(tmp_path):
    cfg = load_config(Outer, write(tmp_path, "name: x\nlr: 1\nsize: [192, 320]\ninner: {bins: 8}\n"))
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.size == (192, 320)
    assert cfg.inner == Inner(bins=8, mode="bins")
    assert cfg.path is None


def test_round_trip(tmp_path):
    cfg = from_dict(Outer, {"name": "a", "layers": [{"bins": 3}], "path": "p"})
    save_config(cfg, tmp_path / "o.yaml")
    assert load_config(Outer, tmp_path / "o.yaml") == cfg
    save_config(cfg, tmp_path / "o.json")
    assert load_config(Outer, tmp_path / "o.json") == cfg
    assert to_dict(cfg)["size"] == [352, 640]


@pytest.mark.parametrize(
    "text, key, words",
    [
        ("name: x\nlrr: 1\n", "lrr", "unknown key"),
        ("name: x\ninner: {binz: 3}\n", "inner.binz", "unknown key"),
        ("name: x\nlr: fast\n", "lr", "expected a number"),
        ("name: x\ninner: {bins: 2.5}\n", "inner.bins", "expected an integer"),
        ("name: x\ninner: {bins: true}\n", "inner.bins", "expected an integer"),
        ("name: x\ninner: {bins: 1}\n", "inner.bins", ">= 2"),
        ("name: x\nlr: 0\n", "lr", "> 0"),
        ("name: x\ninner: {mode: magic}\n", "inner.mode", "one of"),
        ("name: x\nsize: [1, 2, 3]\n", "size", "2 items"),
        ("name: x\nlayers: [{bins: 4}, {bins: 0}]\n", "layers[1].bins", ">= 2"),
        ("lr: 1\n", "name", "missing required key"),
        ("name: x\nd_min: 90\n", "d_min", "must be < d_max"),
        ("name: x\nlr: .nan\n", "lr", "finite"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path, text, key, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Outer, p)
    msg = str(info.value)
    assert str(p) in msg
    assert f"key '{key}'" in msg
    assert words in msg
    assert info.value.key == key


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(Outer, write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Outer, write(tmp_path, "- a\n- b\n"))


def test_section(tmp_path):
    p = write(tmp_path, "model:\n  bins: 16\n")
    assert load_config(Inner, p, section="model").bins == 16
    with pytest.raises(ConfigError, match="key 'train'"):
        load_config(Inner, p, section="train")
    p = write(tmp_path, "model:\n  bins: 1\n")
    with pytest.raises(ConfigError, match="key 'model.bins'"):
        load_config(Inner, p, section="model")


def test_extends_lays_a_file_over_its_base(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "b.yaml").write_text("name: base\nlr: 0.5\ninner: {bins: 8, mode: regression}\n"
                                              "layers: [{bins: 3}, {bins: 4}]\n")
    p = write(tmp_path, "extends: base/b.yaml\nlr: 2\ninner: {bins: 16}\nlayers: [{bins: 5}]\n")
    cfg = load_config(Outer, p)
    assert cfg.name == "base" and cfg.lr == 2.0  # inherited / overridden scalar
    assert cfg.inner == Inner(bins=16, mode="regression")  # mappings merge key by key
    assert cfg.layers == [Inner(bins=5)]  # a list replaces the base's whole
    # a base may itself extend, relative to its own folder
    (tmp_path / "base" / "b2.yaml").write_text("extends: b.yaml\nname: two\n")
    assert load_config(Outer, write(tmp_path, "extends: base/b2.yaml\n")) == dataclasses.replace(
        load_config(Outer, tmp_path / "base" / "b.yaml"), name="two")


@pytest.mark.parametrize("text, words", [
    ("extends: nope.yaml\nname: x\n", "base config nope.yaml not found"),
    ("extends: c.yaml\nname: x\n", "a cycle"),
    ("extends: [a, b]\nname: x\n", "expected the path of a base config file"),
])
def test_extends_errors_name_file_and_key(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(Outer, p)
    assert str(p) in str(info.value) and info.value.key == "extends" and words in str(info.value)


def test_extends_cycle_through_a_base(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="a cycle"):
        load_config(Outer, tmp_path / "a.yaml")
