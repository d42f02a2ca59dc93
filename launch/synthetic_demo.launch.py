"""Synthetic cameras -> surround_depth_node (-> RViz): the whole pipeline without a vehicle.

    ros2 launch disdepth_ros synthetic_demo.launch.py checkpoint:=/path/to/student rviz:=true
    # plumbing check with the test-only oracle (disdepth_core.sim: true depth of a frames file), opt-in:
    DISDEPTH_ENABLE_ORACLE=1 ros2 launch disdepth_ros synthetic_demo.launch.py backend:=ground_truth frames:=/tmp/frames.npz
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from disdepth_ros import launch_common as lc
from launch import LaunchDescription


def _setup(context):
    frames = LaunchConfiguration("frames").perform(context)
    sim_time = lc.sim_time_requested(context)
    cameras = {"frames": frames, "rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
               "use_sim_time": sim_time}
    rig = LaunchConfiguration("rig").perform(context).strip()
    if rig:
        cameras["rig"] = rig
    return [
        Node(package=lc.PACKAGE, executable="synthetic_cameras_node", name="synthetic_cameras_node",
             output="screen", parameters=[cameras]),
        *lc.depth_node(context, extra={"engine.gt_frames": frames} if frames else None),
        *lc.rviz(context, use_sim_time=sim_time),
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("frames", default_value="",
                              description="frames .npz to publish; empty = a street rendered by the synthetic world"),
        DeclareLaunchArgument("rate", default_value="10.0", description="camera rate, Hz"),
        *lc.node_arguments(),
        DeclareLaunchArgument("use_sim_time", default_value="", description="follow /clock (true/false)"),
        lc.rviz_argument(),
        *lc.dds_arguments(),
        OpaqueFunction(function=_setup),
    ])
