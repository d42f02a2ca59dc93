"""``synthetic_cameras_node``'s typed parameters: defaults, validation naming the parameter, and the
real executable (bad value -> exit 1 with one line naming it; a short box-room run publishes)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from disdepth_core.errors import ConfigError
from disdepth_ros.synthetic_cameras_params import SyntheticCamerasParams, ros_default, synthetic_params_from_values


def test_defaults():
    p = synthetic_params_from_values({})
    assert p == SyntheticCamerasParams()
    assert (p.source, p.size, p.rate, p.encoding, p.transport, p.cameras) == ("world", [96, 160], 10.0, "bgr8", "raw", [])
    # every field can be declared as a ROS parameter (rclpy cannot type an empty list)
    for f in dataclasses.fields(SyntheticCamerasParams):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert ros_default(default) != []


def test_values_as_rclpy_gives_them():
    import array

    p = synthetic_params_from_values({"rate": 5, "size": array.array("q", [32, 56]), "cameras": [""],
                                      "start_delay": 1, "count": 4, "stamp_source": "frames", "qos": None})
    assert p.rate == 5.0 and p.size == [32, 56] and p.cameras == [] and p.start_delay == 1.0
    assert p.count == 4 and p.stamp_source == "frames" and p.qos == "reliable"  # None = unset: the default


@pytest.mark.parametrize("values, key", [
    ({"rate": 0.0}, "rate"),
    ({"encoding": "yuv422"}, "encoding"),
    ({"transport": "compressed"}, "transport"),
    ({"source": "street"}, "source"),
    ({"stamp_source": "clock"}, "stamp_source"),
    ({"qos": "sensor_data"}, "qos"),
    ({"size": [96]}, "size"),
    ({"count": -1}, "count"),
    ({"num_frames": 0}, "num_frames"),
    ({"seed": "one"}, "seed"),
    ({"nonsense": 1}, "nonsense"),
])
def test_bad_values_name_the_parameter(values, key):
    with pytest.raises(ConfigError) as e:
        synthetic_params_from_values(values)
    assert e.value.key == key and f"'{key}'" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.ros
def test_executable_refuses_a_bad_parameter_and_runs_with_good_ones():
    pytest.importorskip("rclpy")
    from ros_harness import REPO, pick_domain_id, ros_env

    cmd = [sys.executable, "-m", "disdepth_ros.synthetic_cameras_node", "--ros-args"]
    env = ros_env(pick_domain_id())
    bad = subprocess.run([*cmd, "-p", "encoding:=yuv422"], capture_output=True, text=True, timeout=120, env=env,
                         cwd=REPO)
    lines = [ln for ln in (bad.stdout + bad.stderr).splitlines() if ln.startswith("synthetic_cameras_node: error:")]
    assert bad.returncode == 1 and len(lines) == 1, bad.stdout + bad.stderr
    assert "'encoding'" in lines[0] and "Traceback" not in bad.stderr
    good = subprocess.run([*cmd, "-p", "source:=box_room", "-p", "size:=[16, 24]", "-p", "num_frames:=1",
                           "-p", "count:=2", "-p", "rate:=20", "-p", 'cameras:=["CAM_FRONT"]'],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert good.returncode == 0, good.stdout + good.stderr
    out = good.stdout + good.stderr
    assert "1 cameras" in out and "box_room" in out and "published 2 time steps" in out
