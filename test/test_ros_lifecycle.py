"""surround_depth_node --lifecycle driven through the real lifecycle_msgs services over DDS.

unconfigured (no outputs) -> configure (engine loaded, publishers, still no output) -> activate
(depth flows) -> deactivate (depth stops, process alive) -> activate again -> cleanup ->
shutdown; and a configure that fails (missing checkpoint) returns failure, logs one line and
leaves the node unconfigured so a corrected parameter can be configured.
"""

from __future__ import annotations

import signal
import time

import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from ros_harness import Child, Listener  # noqa: E402

from disdepth_core.geometry import CameraRig  # noqa: E402
from disdepth_core.sim.box_room import make_box_room_frames  # noqa: E402

H, W = 96, 160
RATE = 5.0
NODE = "/surround_depth_node"


@pytest.fixture(scope="module")
def frames_path(tmp_path_factory, nuscenes_rig_path):
    rig = CameraRig.from_yaml(nuscenes_rig_path).resized(H, W)
    return make_box_room_frames(rig, 4, rate_hz=RATE).save(tmp_path_factory.mktemp("scene") / "frames.npz")


# the state each transition ends in when it succeeds
TARGET = {"configure": "inactive", "activate": "active", "deactivate": "inactive", "cleanup": "unconfigured",
          "unconfigured_shutdown": "finalized"}
TRANSITIONAL = {"configuring", "activating", "deactivating", "cleaningup", "shuttingdown", "errorprocessing"}


class Lifecycle:
    """Client of the node's lifecycle services (what `ros2 lifecycle set` calls).

    A request can be answered and the answer still be lost: Fast DDS drops a service response
    when the server has not yet matched the client's response reader, although the client already
    reports the service ready (ros2/rmw_fastrtps#467; seen here under two xdist workers as a
    `get_state` with no answer in 60 s). So a query is resent, and a transition whose answer is
    lost is judged by the steady state the node is then in: resending a transition that did happen
    would fail it, and one that failed would log its error twice.
    """

    def __init__(self, listener: Listener):
        from lifecycle_msgs.srv import ChangeState, GetState

        self.lis = listener
        self.change = listener.node.create_client(ChangeState, f"{NODE}/change_state")
        self.get = listener.node.create_client(GetState, f"{NODE}/get_state")

    def _ask(self, client, request, seconds: float):
        """Send one request; its future, done unless no answer came within ``seconds``."""
        assert self.lis.spin_until(client.service_is_ready, 60.0), f"{client.srv_name} never appeared"
        fut = client.call_async(request)
        if not self.lis.spin_until(fut.done, seconds):
            print(f"{client.srv_name}: no answer in {seconds} s")
        return fut

    def query(self, client, request, timeout: float = 60.0, attempt: float = 10.0):
        """The response to an idempotent request (a query, setting parameters), resent until answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (fut := self._ask(client, request, attempt)).done():
                return fut.result()
        raise AssertionError(f"{client.srv_name}: no answer in {timeout} s")

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self.query(self.get, GetState.Request()).current_state.label

    def transition(self, label: str, answer: float = 20.0, timeout: float = 60.0) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        req = ChangeState.Request()
        req.transition = Transition(id=getattr(Transition, f"TRANSITION_{label.upper()}"))
        if (fut := self._ask(self.change, req, answer)).done():
            return fut.result().success
        # Judged by the state, never resent: the request reached the node (only responses are dropped),
        # and the node answers get_state only after the change_state it received first, so a steady
        # state is its outcome.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fut.done():
                return fut.result().success
            if (now := self.state()) not in TRANSITIONAL:
                return now == TARGET[label]
            self.lis.spin_for(0.5)
        raise AssertionError(f"{self.change.srv_name} {label}: still {now} after {timeout} s")


def test_lifecycle_transitions_gate_the_output(env, ros, frames_path, procs, tmp_path):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy, ctx = ros
    lis = Listener(rclpy, ctx, name="lifecycle_test")
    try:
        topic = "/CAM_FRONT/depth/image_raw"
        lis.sub(Image, topic, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        node = Child("disdepth_ros.surround_depth_node",
                     ["--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=ground_truth",
                      "-p", f"engine.gt_frames:={frames_path}", "-p", "engine.device:=cpu"],
                     env, tmp_path / "node.log", args=["--lifecycle"])
        procs.append(node)
        lc = Lifecycle(lis)
        assert lc.state() == "unconfigured", node.log()
        assert lis.node.count_publishers(topic) == 0  # nothing advertised before configure

        cams = Child("disdepth_ros.synthetic_cameras_node",
                     ["-p", f"frames:={frames_path}", "-p", f"rate:={RATE}"],
                     env, tmp_path / "pub.log")
        procs.append(cams)
        assert lc.transition("configure"), node.log()
        assert lc.state() == "inactive"
        assert "warm-up" in node.log()  # the engine was loaded and run during configure
        assert lis.wait_matched([topic], timeout=30), node.log()
        lis.spin_for(3.0)
        assert lis.msgs[topic] == [], "inactive node published depth"

        assert lc.transition("activate") and lc.state() == "active"
        assert lis.spin_until(lambda: len(lis.msgs[topic]) >= 3, timeout=45), f"{node.log()}\n{cams.log()}"

        assert lc.transition("deactivate") and lc.state() == "inactive"
        lis.spin_for(1.0)  # what was in flight
        n = len(lis.msgs[topic])
        lis.spin_for(3.0)
        assert len(lis.msgs[topic]) == n, "deactivated node kept publishing"
        assert node.alive()

        assert lc.transition("activate")  # the engine was kept: activating again is immediate
        assert lis.spin_until(lambda: len(lis.msgs[topic]) >= n + 3, timeout=45), node.log()
        assert lc.transition("deactivate") and lc.transition("cleanup")
        assert lc.state() == "unconfigured"
        assert "engine released" in node.log()
        assert lc.transition("unconfigured_shutdown")
        assert lc.state() == "finalized"
        assert node.stop(signal.SIGINT) == 0, node.log()
    finally:
        lis.close()


def test_failed_configure_reports_one_line_and_can_be_retried(env, ros, frames_path, procs, tmp_path):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    rclpy, ctx = ros
    lis = Listener(rclpy, ctx, name="lifecycle_fail_test")
    try:
        missing = tmp_path / "no_such_student"
        node = Child("disdepth_ros.surround_depth_node",
                     ["--params-file", "config/surround_depth.yaml", "-p", "engine.backend:=torch",
                      "-p", f"engine.checkpoint:={missing}", "-p", "engine.device:=cpu"],
                     env, tmp_path / "node.log", args=["--lifecycle"])
        procs.append(node)
        lc = Lifecycle(lis)
        assert not lc.transition("configure")
        assert lc.state() == "unconfigured" and node.alive()
        errors = [ln for ln in node.log().splitlines() if "configure failed" in ln]
        assert len(errors) == 1 and str(missing) in errors[0], node.log()
        assert "Traceback" not in node.log()

        # fix the parameter through the parameter service, then configure again
        client = lis.node.create_client(SetParameters, f"{NODE}/set_parameters")
        req = SetParameters.Request(parameters=[
            Parameter(name="engine.backend",
                      value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="ground_truth")),
            Parameter(name="engine.gt_frames",
                      value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(frames_path))),
        ])
        assert all(r.successful for r in lc.query(client, req).results)
        t0 = time.monotonic()
        assert lc.transition("configure"), node.log()
        assert lc.state() == "inactive", f"after {time.monotonic() - t0:.1f} s\n{node.log()}"
        assert node.stop(signal.SIGINT) == 0, node.log()
    finally:
        lis.close()
