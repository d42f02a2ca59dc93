"""Declaring ``surround_depth_node``'s parameters on an rclpy node, with descriptors.

The parameters themselves (names, defaults, ranges, descriptions) are defined once, ROS-free, in
:mod:`disdepth_core.pipeline.node_params`; this module turns them into declared ROS parameters
and back into a validated :class:`SurroundDepthParams`.
"""

from __future__ import annotations

import difflib

from rcl_interfaces.msg import ParameterDescriptor

from disdepth_core.errors import DisdepthError
from disdepth_core.pipeline.node_params import (
    ROS_BUILTIN_PARAMS,
    SurroundDepthParams,
    flatten_params,
    params_from_flat,
)


def check_known_parameters(given, known: set[str]) -> None:
    """Refuse a parameter from a params file or ``-p`` that the node does not have (a misspelt key
    would otherwise be ignored silently and the default used), naming the nearest known key."""
    for name in sorted(given):
        if name in known or name in ROS_BUILTIN_PARAMS or name.startswith("qos_overrides."):
            continue
        near = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise DisdepthError(f"unknown parameter '{name}'{hint}; `ros2 param list` or docs/ros_node.md list the known ones")


def declare_and_read_params(node) -> SurroundDepthParams:
    """Declare every parameter on ``node`` (or read it, when declared before: lifecycle cleanup ->
    configure) and return them validated; errors name the parameter."""
    values = {}
    for fp in flatten_params():
        desc = ParameterDescriptor(description=fp.description, additional_constraints=fp.constraints,
                                   dynamic_typing=True)
        if node.has_parameter(fp.name):
            values[fp.name] = node.get_parameter(fp.name).value
        else:
            values[fp.name] = node.declare_parameter(fp.name, fp.default, desc).value
    check_known_parameters(node._parameter_overrides, set(values))
    return params_from_flat(values)
