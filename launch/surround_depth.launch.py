"""surround_depth_node with its parameters, the Fast DDS SHM profile and optional RViz.

    ros2 launch disdepth_ros surround_depth.launch.py checkpoint:=/path/to/student backend:=torch rviz:=true
"""

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    share = FindPackageShare("disdepth_ros")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    return LaunchDescription([
        DeclareLaunchArgument("rig", default_value="nuscenes", description="rig file or shipped rig name"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "surround_depth.yaml"]),
                              description="node parameters (YAML)"),
        DeclareLaunchArgument("checkpoint", default_value="", description="student checkpoint / exported model"),
        DeclareLaunchArgument("backend", default_value="torch", description="torch | onnxruntime | tensorrt"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock (bag replay)"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz with the shipped view"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds_shm.xml"]),
                              description="Fast DDS profile (shared memory, large segment)"),
        SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        Node(
            package="disdepth_ros",
            executable="surround_depth_node",
            name="surround_depth_node",
            output="screen",
            emulate_tty=True,
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    "rig": LaunchConfiguration("rig"),
                    "engine.checkpoint": LaunchConfiguration("checkpoint"),
                    "engine.backend": LaunchConfiguration("backend"),
                    "use_sim_time": use_sim_time,
                },
            ],
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            arguments=["-d", PathJoinSubstitution([share, "config", "surround_depth.rviz"])],
            parameters=[{"use_sim_time": use_sim_time}],
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ])
