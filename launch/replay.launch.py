"""Replay a bag into surround_depth_node on sim time, with optional RViz.

    ros2 launch disdepth_ros replay.launch.py bag:=/data/scene.mcap checkpoint:=/path rate:=0.5 rviz:=true
    ros2 launch disdepth_ros replay.launch.py bag:=/data/drive player:=disdepth   # without rosbag2

``player:=ros2`` (default) runs ``ros2 bag play --clock``; ``player:=disdepth`` runs the package's
``bag_player`` (rosbags based), which starts once the depth node has subscribed to the bag's
camera topics. The node always runs on sim time here.
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from disdepth_ros import launch_common as lc
from launch import LaunchDescription

PLAYERS = ("ros2", "disdepth")


def _setup(context):
    bag = LaunchConfiguration("bag").perform(context)
    rate = LaunchConfiguration("rate").perform(context)
    player = LaunchConfiguration("player").perform(context).strip()
    if player not in PLAYERS:
        raise ValueError(f"launch argument 'player': expected one of {', '.join(PLAYERS)}, got {player!r}")
    if player == "ros2":
        play = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "--rate", rate], output="screen")
    else:
        play = Node(package=lc.PACKAGE, executable="bag_player", name="bag_player", output="screen",
                    arguments=[bag, "--clock", "--rate", rate, "--wait-for-node", lc.DEPTH_NODE])
    return [*lc.depth_node(context, forced={"use_sim_time": True}), play, *lc.rviz(context, use_sim_time=True)]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="bag to play (directory or .mcap)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
        DeclareLaunchArgument("player", default_value="ros2", description="ros2 (rosbag2) | disdepth (bag_player)"),
        *lc.node_arguments(),
        lc.rviz_argument(),
        *lc.dds_arguments(),
        OpaqueFunction(function=_setup),
    ])
