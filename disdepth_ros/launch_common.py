"""What the three launch files share: arguments, the depth node, DDS settings, optional RViz.

Rules (issue 14):
- A launch argument overrides the node's ``params_file`` only when the user gave it: ``rig``,
  ``checkpoint``, ``backend`` and ``use_sim_time`` default to empty, which means "whatever the
  params file (or the node's own default) says".
- The RMW and the DDS profile are the user's: ``rmw:=rmw_fastrtps_cpp`` sets
  ``RMW_IMPLEMENTATION`` for the launched processes and ``shm:=true`` the shipped Fast DDS
  shared-memory profile (both recommended for six big images on one host; off by default so
  a user's choice is never overridden).
- ``rviz:=true`` where rviz2 is not installed says so once and launches everything else.

Needs ``launch``/``launch_ros`` (a ROS 2 install); imported only by the launch files.
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "disdepth_ros"
DEPTH_NODE = "surround_depth_node"
OVERRIDES = {  # launch argument -> node parameter, passed only when the argument is not empty
    "rig": "rig",
    "checkpoint": "engine.checkpoint",
    "backend": "engine.backend",
    "use_sim_time": "use_sim_time",
}


def share(*parts: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare(PACKAGE), *parts])


def node_arguments(*, backend_help: str = "torch | onnxruntime | tensorrt") -> list[DeclareLaunchArgument]:
    """The depth node's launch arguments (empty = keep what params_file says)."""
    return [
        DeclareLaunchArgument("params_file", default_value=share("config", "surround_depth.yaml"),
                              description="node parameters (YAML); the arguments below override it only when given"),
        DeclareLaunchArgument("rig", default_value="", description="rig file or shipped rig name (empty: params_file)"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="student checkpoint / exported model (empty: params_file, else the shipped default)"),
        DeclareLaunchArgument("backend", default_value="", description=f"{backend_help} (empty: params_file)"),
        DeclareLaunchArgument("lifecycle", default_value="false",
                              description="run the depth node as a managed lifecycle node"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="lifecycle:=true only: configure and activate it at launch"),
    ]


def dds_arguments() -> list:
    """``rmw`` and ``shm`` arguments and the environment they set (nothing by default)."""
    return [
        DeclareLaunchArgument("rmw", default_value="",
                              description="set RMW_IMPLEMENTATION for these processes (empty: keep yours; "
                                          "rmw_fastrtps_cpp recommended for big images on one host)"),
        DeclareLaunchArgument("shm", default_value="false",
                              description="use the shipped Fast DDS shared-memory profile (UDP off: one host only)"),
        DeclareLaunchArgument("fastdds_profile", default_value=share("config", "fastdds_shm.xml"),
                              description="the Fast DDS profile shm:=true uses"),
        OpaqueFunction(function=_dds_environment),
    ]


def _truthy(context: LaunchContext, name: str) -> bool:
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError(f"launch argument '{name}': expected true or false, got {value!r}")
    return value in ("true", "1", "yes", "on")


def _dds_environment(context: LaunchContext) -> list:
    actions = []
    rmw = LaunchConfiguration("rmw").perform(context).strip()
    if rmw:
        actions.append(SetEnvironmentVariable("RMW_IMPLEMENTATION", rmw))
    if _truthy(context, "shm"):
        actions.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")))
    return actions


def depth_node_overrides(context: LaunchContext, forced: dict | None = None) -> dict:
    """Node parameters from the launch arguments the user gave (plus ``forced`` ones)."""
    out = {}
    for arg, param in OVERRIDES.items():
        if arg not in context.launch_configurations:
            continue
        value = LaunchConfiguration(arg).perform(context).strip()
        if value:
            out[param] = _truthy(context, arg) if arg == "use_sim_time" else value
    out.update(forced or {})
    return out


def depth_node(context: LaunchContext, forced: dict | None = None, extra: dict | None = None) -> list:
    """The depth node (plain, or managed with optional autostart) with params_file + given overrides."""
    parameters = [LaunchConfiguration("params_file").perform(context), depth_node_overrides(context, forced)]
    if extra:
        parameters.append(extra)
    common = dict(package=PACKAGE, executable=DEPTH_NODE, name=DEPTH_NODE, output="screen", emulate_tty=True,
                  parameters=parameters)
    if not _truthy(context, "lifecycle"):
        return [Node(**common)]
    node = LifecycleNode(namespace="", arguments=["--lifecycle"], **common)
    actions = [node]
    if _truthy(context, "autostart"):
        actions += _autostart(node)
    return actions


def _autostart(node: LifecycleNode) -> list:
    """configure once the process runs, activate once it reaches 'inactive' (launch_ros events)."""
    import lifecycle_msgs.msg
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.event_handlers import OnProcessStart
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState

    def change(transition: int) -> EmitEvent:
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition))

    T = lifecycle_msgs.msg.Transition
    return [
        RegisterEventHandler(OnProcessStart(target_action=node, on_start=[change(T.TRANSITION_CONFIGURE)])),
        RegisterEventHandler(OnStateTransition(target_lifecycle_node=node, start_state="configuring",
                                               goal_state="inactive", entities=[change(T.TRANSITION_ACTIVATE)])),
    ]


def rviz_argument() -> DeclareLaunchArgument:
    return DeclareLaunchArgument("rviz", default_value="false", description="start RViz with the shipped view")


def rviz(context: LaunchContext, use_sim_time: bool) -> list:
    """RViz with the shipped view when rviz:=true; one line and nothing else if rviz2 is not installed."""
    if not _truthy(context, "rviz"):
        return []
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        return [LogInfo(msg="rviz:=true but package 'rviz2' is not installed (apt install ros-$ROS_DISTRO-rviz2); "
                            "launching without RViz")]
    return [Node(package="rviz2", executable="rviz2", name="rviz2",
                 arguments=["-d", share("config", "surround_depth.rviz")],
                 parameters=[{"use_sim_time": use_sim_time}])]


def sim_time_requested(context: LaunchContext) -> bool:
    value = LaunchConfiguration("use_sim_time").perform(context).strip()
    return bool(value) and _truthy(context, "use_sim_time")
