"""Launch files, RViz view and parameter YAML checked without ROS (launch/launch_ros are not installable here)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from disdepth_core.pipeline.node_params import NUSCENES_CAMERAS, SurroundDepthParams, flatten_params, params_from_flat

REPO = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
EXTERNAL_EXECUTABLES = {("rviz2", "rviz2")}


def console_scripts() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    return {ast.literal_eval(e).split("=")[0].strip() for e in v.elts}
    raise AssertionError("no console_scripts in setup.py")


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and ((isinstance(n.func, ast.Name) and n.func.id == name)
                 or (isinstance(n.func, ast.Attribute) and n.func.attr == name))]


def kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def test_the_three_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} == {"surround_depth.launch.py", "replay.launch.py",
                                              "synthetic_demo.launch.py"}


COMMON = REPO / "disdepth_ros" / "launch_common.py"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_static(path):
    """Executables exist, every LaunchConfiguration is declared, share paths exist (file + launch_common)."""
    tree = ast.parse(path.read_text())
    common = ast.parse(COMMON.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    assert "launch_common as lc" in path.read_text()
    scripts = console_scripts() | {"surround_depth_node"}
    for t in (tree, common):
        for call in calls(t, "Node") + calls(t, "LifecycleNode"):
            pkg, exe = kw(call, "package"), kw(call, "executable")
            if pkg is None:  # Node(**common) in launch_common
                continue
            pkg = "disdepth_ros" if isinstance(pkg, ast.Attribute) else ast.literal_eval(pkg)
            exe = "surround_depth_node" if isinstance(exe, ast.Attribute) else ast.literal_eval(exe)
            if pkg == "disdepth_ros":
                assert exe in scripts, f"{path.name}: executable {exe!r} is not a console script in setup.py"
            else:
                assert (pkg, exe) in EXTERNAL_EXECUTABLES, f"{path.name}: unexpected {pkg}/{exe}"
    declared = {ast.literal_eval(c.args[0]) for t in (tree, common) for c in calls(t, "DeclareLaunchArgument")}
    used = {ast.literal_eval(c.args[0]) for c in calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"{path.name}: used but not declared: {sorted(used - declared)}"
    assert "LaunchConfigurationEquals" not in path.read_text()  # deprecated in launch 3.x
    for call in calls(common, "share"):
        parts = [ast.literal_eval(e) for e in call.args]
        assert (REPO / Path(*parts)).is_file(), f"share path {parts} does not exist in the package"
    assert "RMW_IMPLEMENTATION" not in path.read_text()  # never forced: launch_common sets it only for rmw:=


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_builds_where_launch_is_installed(path):
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    desc = mod.generate_launch_description()
    assert desc.entities


def test_setup_installs_launch_and_config():
    text = (REPO / "setup.py").read_text()
    assert 'glob("launch/*.launch.py")' in text and 'tree("config"' in text
    assert "install_scripts=$base/lib/disdepth_ros" in (REPO / "setup.cfg").read_text()


def node_topics(p: SurroundDepthParams) -> set[str]:
    out = {p.cloud.topic, "/diagnostics"}
    for c in p.cameras:
        out |= {p.output.depth_topic.format(camera=c), p.output.depth_info_topic.format(camera=c)}
    return out


def test_rviz_view_parses_and_names_only_node_topics():
    cfg = yaml.safe_load((REPO / "config" / "surround_depth.rviz").read_text())
    vm = cfg["Visualization Manager"]
    assert vm["Global Options"]["Fixed Frame"] == "base_link"
    p = SurroundDepthParams()
    topics = [d["Topic"] for d in vm["Displays"] if "Topic" in d]
    assert {t["Value"] for t in topics} <= node_topics(p)
    assert {t["Value"] for t in topics} == {p.cloud.topic} | {f"/{c}/depth/image_raw" for c in NUSCENES_CAMERAS}
    want = "Reliable" if p.output.qos == "reliable" else "Best Effort"
    assert all(t["Reliability Policy"] == want for t in topics)
    cloud = next(d for d in vm["Displays"] if d["Class"] == "rviz_default_plugins/PointCloud2")
    assert cloud["Color Transformer"] == "AxisColor"


def test_shipped_yaml_equals_declared_defaults():
    data = yaml.safe_load((REPO / "config" / "surround_depth.yaml").read_text())["/**"]["ros__parameters"]

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    values = dict(flat(data))
    assert values.pop("use_sim_time") is False
    defaults = {fp.name: fp.default for fp in flatten_params()}
    assert values == defaults
    assert all(fp.description for fp in flatten_params())
    assert params_from_flat(values) == SurroundDepthParams()


def test_params_errors_name_the_parameter():
    from disdepth_core.config import ConfigError

    with pytest.raises(ConfigError, match="key 'output.depth_encoding': expected one of"):
        params_from_flat({"output.depth_encoding": "mono8"})
    with pytest.raises(ConfigError, match="key 'sync.slop'"):
        params_from_flat({"sync.slop": 0.0})
    with pytest.raises(ConfigError, match="key 'input.image_topic'"):
        params_from_flat({"input.image_topic": "/camera/image_raw"})
    with pytest.raises(ConfigError, match="unknown key"):
        params_from_flat({"cloud.colour": True})
