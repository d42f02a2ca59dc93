"""Replay a bag into surround_depth_node on sim time, with optional RViz.

    ros2 launch disdepth_ros replay.launch.py bag:=/data/scene.mcap checkpoint:=/path rate:=0.5 rviz:=true

``player:=ros2`` (default) runs ``ros2 bag play --clock``; ``player:=disdepth`` runs the package's
``bag_player`` (rosbags based) for installs without rosbag2.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, SetEnvironmentVariable
from launch.conditions import IfCondition, LaunchConfigurationEquals
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    share = FindPackageShare("disdepth_ros")
    bag = LaunchConfiguration("bag")
    rate = LaunchConfiguration("rate")
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="bag to play (directory or .mcap)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
        DeclareLaunchArgument("player", default_value="ros2", description="ros2 (rosbag2) | disdepth (bag_player)"),
        DeclareLaunchArgument("rig", default_value="nuscenes", description="rig file or shipped rig name"),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "surround_depth.yaml"]),
                              description="node parameters (YAML)"),
        DeclareLaunchArgument("checkpoint", default_value="", description="student checkpoint / exported model"),
        DeclareLaunchArgument("backend", default_value="torch", description="torch | onnxruntime | tensorrt"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz with the shipped view"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds_shm.xml"]),
                              description="Fast DDS profile (shared memory, large segment)"),
        SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        ExecuteProcess(
            cmd=["ros2", "bag", "play", bag, "--clock", "--rate", rate],
            output="screen",
            condition=LaunchConfigurationEquals("player", "ros2"),
        ),
        Node(
            package="disdepth_ros",
            executable="bag_player",
            name="bag_player",
            arguments=[bag, "--clock", "--rate", rate, "--wait-for-subscribers", "1"],
            output="screen",
            condition=LaunchConfigurationEquals("player", "disdepth"),
        ),
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
                    "use_sim_time": True,
                },
            ],
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            arguments=["-d", PathJoinSubstitution([share, "config", "surround_depth.rviz"])],
            parameters=[{"use_sim_time": True}],
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ])
