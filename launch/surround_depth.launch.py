"""surround_depth_node with its parameters, optional DDS settings and optional RViz.

    ros2 launch disdepth_ros surround_depth.launch.py params_file:=my.yaml
    ros2 launch disdepth_ros surround_depth.launch.py checkpoint:=/path/to/student backend:=onnxruntime rviz:=true
    ros2 launch disdepth_ros surround_depth.launch.py lifecycle:=true autostart:=false   # managed node
    ros2 launch disdepth_ros surround_depth.launch.py rmw:=rmw_fastrtps_cpp shm:=true    # one-host big images

rig/checkpoint/backend/use_sim_time override params_file only when given.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from disdepth_ros import launch_common as lc
from launch import LaunchDescription


def _setup(context):
    return [*lc.depth_node(context), *lc.rviz(context, use_sim_time=lc.sim_time_requested(context))]


def generate_launch_description():
    return LaunchDescription([
        *lc.node_arguments(),
        DeclareLaunchArgument("use_sim_time", default_value="",
                              description="follow /clock (true/false; empty: params_file)"),
        lc.rviz_argument(),
        *lc.dds_arguments(),
        OpaqueFunction(function=_setup),
    ])
