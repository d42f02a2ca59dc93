"""disdepth_ros: one distribution holding the ROS package ``disdepth_ros`` and the ROS-free
core ``disdepth_core``. Works with ``colcon build`` (ament_python) and with pip."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "disdepth_ros"


def tree(src: str, dst_root: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file under ``src`` into ``dst_root/src/...``."""
    out: dict[str, list[str]] = {}
    for f in sorted(Path(src).rglob("*")):
        if f.is_file():
            out.setdefault(str(Path(dst_root) / f.parent), []).append(str(f))
    return sorted(out.items())


# ros-ament-package lets `colcon build` work without a ROS install.
ROS_WHEELS = ["ros-rclpy", "ros-rmw-fastrtps-cpp", "ros-visualization-msgs", "ros-diagnostic-msgs", "ros-ament-package"]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time metric depth from six surround cameras, distilled from a transformer teacher",
    license="Apache-2.0",
    packages=find_packages(include=["disdepth_core", "disdepth_core.*", "disdepth_ros", "disdepth_ros.*"]),
    package_data={"disdepth_core": ["data/*", "data/**/*"]},
    include_package_data=True,
    python_requires=">=3.10",
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        *tree("config", f"share/{PACKAGE}"),
        *tree("weights", f"share/{PACKAGE}"),  # the shipped students (fp16 safetensors + config + eval)
    ],
    install_requires=[
        # torch is pinned: a looser spec pulls several GB of CUDA wheels on a CPU machine.
        "torch==2.13.0",
        "numpy>=1.24",
        "pyyaml>=6",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "pillow>=10",
        "rosbags>=0.10",
    ],
    extras_require={
        # ROS 2 from pip wheels, for machines without a ROS install. Never install these
        # into a sourced ROS 2 environment.
        "ros-wheels": ROS_WHEELS,
        "onnx": ["onnx>=1.16", "onnxruntime>=1.18", "onnxscript>=0.1"],
        "teacher": ["transformers>=4.45"],
        "datasets": ["nuscenes-devkit>=1.1", "h5py>=3.8", "scipy>=1.10"],  # scipy: NYU splits.mat
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",  # make test runs two workers (one per core here)
            "ruff>=0.6",
            "colcon-common-extensions>=0.3",
            "psutil>=5.9",  # ros2topic needs it; launch tests check that no process is left behind
            "rosbags-image>=0.9",
            "onnx>=1.16",
            "onnxruntime>=1.18",
            "onnxscript>=0.1",
            "transformers>=4.45",
            "nuscenes-devkit>=1.1",
            "h5py>=3.8",
            "scipy>=1.10",
        ],
    },
    entry_points={
        "console_scripts": [
            "disdepth = disdepth_core.cli:main",
            "surround_depth_node = disdepth_ros.surround_depth_node:main",
            "synthetic_cameras_node = disdepth_ros.synthetic_cameras_node:main",
            "bag_player = disdepth_ros.bag_player:main",
        ],
        # disdepth_core never imports disdepth_ros: `disdepth eval-bag --live` finds its recorder here
        "disdepth.eval_bag_live": ["ros = disdepth_ros.live_eval:record_live"],
    },
    zip_safe=False,
)
