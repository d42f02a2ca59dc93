"""Packaging: package.xml declares what the code imports; a real colcon build installs the ROS layout."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Python import name -> package.xml key that provides it
ROS_KEYS = {
    "rclpy": "rclpy",
    "sensor_msgs": "sensor_msgs",
    "std_msgs": "std_msgs",
    "geometry_msgs": "geometry_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "visualization_msgs": "visualization_msgs",
    "builtin_interfaces": "builtin_interfaces",
    "rosgraph_msgs": "rosgraph_msgs",
    "tf2_ros": "tf2_ros",
    "tf2_msgs": "tf2_msgs",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "numpy": "python3-numpy",
    "yaml": "python3-yaml",
    "PIL": "python3-pil",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    "cv2": "python3-opencv",
    "lifecycle_msgs": "lifecycle_msgs",
    "rcl_interfaces": "rcl_interfaces",
    "ament_index_python": "ament_index_python",
}
# no rosdep rule installs what we need (test/data/rosdep_keys.yaml): the README's pip line does
PIP_ONLY = {"torch": "torch==2.13.0", "safetensors": "safetensors", "rosbags": "rosbags"}
ROSDEP_KEYS = yaml.safe_load((REPO / "test" / "data" / "rosdep_keys.yaml").read_text())


def package_xml():
    return ET.parse(REPO / "package.xml").getroot()


def imported_modules(roots):
    mods = set()
    for root in roots:
        for f in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                if isinstance(node, ast.Import):
                    mods |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods.add(node.module.split(".")[0])
    return mods


def test_package_xml_is_format3_ament_python():
    root = package_xml()
    assert root.get("format") == "3"
    assert root.findtext("name") == "disdepth_ros"
    assert root.find("export/build_type").text == "ament_python"
    # the version matches setup.py's
    assert f'version="{root.findtext("version")}"' in (REPO / "setup.py").read_text()


def test_package_xml_declares_every_imported_dependency():
    declared = {e.text for e in package_xml() if e.tag in ("exec_depend", "depend")}
    used = imported_modules(["disdepth_core", "disdepth_ros", "launch"])
    missing = sorted(ROS_KEYS[m] for m in used if m in ROS_KEYS and ROS_KEYS[m] not in declared)
    assert not missing, f"package.xml lacks exec_depend for {missing}"


def test_package_xml_uses_only_existing_rosdep_keys():
    """`rosdep install --from-paths` must resolve every dependency: each one is a key of rosdep's
    python.yaml or a package released in the distribution (checked list with its source)."""
    known = set(ROSDEP_KEYS["python_keys"]) | set(ROSDEP_KEYS["ros_packages"])
    deps = [(e.tag, e.text) for e in package_xml() if e.tag.endswith("depend")]
    assert deps
    bad = [f"<{tag}>{key}</{tag}>" for tag, key in deps if key not in known or key in ROSDEP_KEYS["absent"]]
    assert not bad, f"package.xml: no rosdep rule for {bad} (see test/data/rosdep_keys.yaml)"


def test_pip_only_dependencies_are_in_the_readme_install_line():
    used = imported_modules(["disdepth_core", "disdepth_ros"])
    readme = (REPO / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("pip install") and "torch" in ln)
    for mod, spec in PIP_ONLY.items():
        assert mod in used
        assert spec in line.split(), f"README's ROS-workspace pip line lacks {spec}: {line}"


def test_core_never_imports_ros():
    """disdepth_core imports neither ROS nor disdepth_ros (eval-bag --live reaches it through an entry point)."""
    ros = {"rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "diagnostic_msgs", "tf2_ros", "launch", "launch_ros",
           "rcl_interfaces", "builtin_interfaces", "message_filters", "disdepth_ros"}
    assert not (imported_modules(["disdepth_core"]) & ros)
    dynamic = [str(f.relative_to(REPO)) for f in (REPO / "disdepth_core").rglob("*.py")
               if "disdepth_ros" in f.read_text() and "import_module" in f.read_text()]
    assert not dynamic, f"importlib.import_module near a disdepth_ros name in {dynamic}"


def test_eval_bag_live_plugin_is_registered():
    from disdepth_core.commands.eval_bag import live_plugins, live_recorder

    assert '"disdepth.eval_bag_live": ["ros = disdepth_ros.live_eval:record_live"]' in (REPO / "setup.py").read_text()
    assert [e.value for e in live_plugins()] == ["disdepth_ros.live_eval:record_live"]
    assert live_recorder().__module__ == "disdepth_ros.live_eval"


def console_scripts():
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == "console_scripts":
                    return [ast.literal_eval(e).split("=")[0].strip() for e in v.elts]
    raise AssertionError("no console_scripts in setup.py")


def test_colcon_build_installs_ros_layout(colcon_install):
    share = colcon_install / "share" / "disdepth_ros"
    assert (share / "package.xml").is_file()
    assert (colcon_install / "share" / "ament_index" / "resource_index" / "packages" / "disdepth_ros").is_file()
    assert (share / "config" / "rigs" / "nuscenes.yaml").is_file()
    assert (share / "config" / "rigs" / "ddad.yaml").is_file()
    for f in (REPO / "launch").glob("*.launch.py"):
        assert (share / "launch" / f.name).is_file(), f.name
    for f in [*(REPO / "config").rglob("*"), *(REPO / "weights").rglob("*")]:  # incl. the shipped students
        if f.is_file():
            assert (share / f.relative_to(REPO)).is_file(), f
    lib = colcon_install / "lib" / "disdepth_ros"
    for exe in console_scripts():
        path = lib / exe
        assert path.is_file() and os.access(path, os.X_OK), f"{exe} not installed executable under {lib}"


def test_installed_cli_runs_from_install_space(colcon_install):
    site = next((colcon_install / "lib").glob("python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=str(site))
    # run from a directory outside the source tree so only the install space is used
    res = subprocess.run(
        [str(colcon_install / "lib" / "disdepth_ros" / "disdepth"), "rig", "--rig", "nuscenes"],
        capture_output=True, text=True, timeout=120, env=env, cwd=colcon_install,
    )
    assert res.returncode == 0, res.stderr
    assert "CAM_BACK_LEFT" in res.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import disdepth_core.paths as p; print(p.share_dir())"],
        capture_output=True, text=True, timeout=60, env=env, cwd=colcon_install,
    )
    assert probe.stdout.strip() == str(colcon_install / "share" / "disdepth_ros"), probe.stdout + probe.stderr
    probe = subprocess.run(  # the self-check's built-in images are package data of disdepth_core
        [sys.executable, "-c", "from disdepth_core.runtime import self_check_images as s; "
         "print(s.IMAGE_FILE); print(s.load_self_check_images().shape)"],
        capture_output=True, text=True, timeout=60, env=env, cwd=colcon_install,
    )
    assert probe.stdout.split() == [str(site / "disdepth_core" / "data" / "self_check_images.npz"), "(6,", "128,",
                                    "224,", "3)"], probe.stdout + probe.stderr
    if (REPO / "weights" / "student_default").is_dir():  # the node's default student loads from the install space
        probe = subprocess.run(
            [sys.executable, "-c", "from disdepth_core.runtime.model_metadata import resolve_checkpoint as r; "
             "from disdepth_core.models.checkpoint import load_student as l; d = r(''); l(d); print(d)"],
            capture_output=True, text=True, timeout=120, env=env, cwd=colcon_install,
        )
        assert probe.stdout.strip() == str(colcon_install / "share" / "disdepth_ros" / "weights" / "student_default"), \
            probe.stdout + probe.stderr
