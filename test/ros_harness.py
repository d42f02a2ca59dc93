"""Helpers for tests with real ROS processes over real DDS: isolated env, child processes, a listener."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHM_PROFILE = REPO / "config" / "fastdds_shm.xml"


def ros_env(domain_id: int) -> dict[str, str]:
    """Environment isolating one test run: own domain, localhost discovery, the SHM profile, the oracle opt-in."""
    env = dict(os.environ)
    env.update({
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "FASTDDS_DEFAULT_PROFILES_FILE": str(SHM_PROFILE),
        "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_COLORIZED_OUTPUT": "0",
        "DISDEPTH_ENABLE_ORACLE": "1",  # the tests' perfect model (disdepth_core.sim.oracle_engine)
    })
    return env


def pick_domain_id() -> int:
    """A DDS domain in 1..100 (valid on Linux with the default ports), random + pid so parallel runs
    rarely collide. Under pytest-xdist (``make test`` runs 2 workers) each worker draws from its own
    slice of that range, so two workers' nodes never share a domain."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or "1")
    count = min(max(count, 1), 100)
    index = int(worker[2:]) % count if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = 100 // count
    return 1 + index * span + (os.getpid() * 7 + random.randrange(1000)) % span


class Child:
    """A node process whose output goes to a log file; stopped with SIGINT, killed if it hangs."""

    def __init__(self, module: str, ros_args: list[str], env: dict[str, str], log: Path, args: list[str] = ()):
        self.log_path = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args, *(["--ros-args", *ros_args] if ros_args else [])],
            env=env, stdout=self._fh, stderr=subprocess.STDOUT, cwd=REPO,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._fh.closed:
            self._fh.flush()
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float) -> bool:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if text in self.log():
                return True
            time.sleep(0.1)
        return False

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        """Signal the process and wait; returns its exit code (None if it had to be killed).

        30 s, not less: with three CPU-bound trainings on the 2 cores, a node that logged "shutting
        down" at once was still tearing down after 10 s and was killed; unloaded it exits at once."""
        code = None
        if self.alive():
            self.proc.send_signal(sig)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        else:
            code = self.proc.returncode
        self._fh.close()
        return code


class Listener:
    """Subscriptions in the test process; messages stored per topic with their receive time."""

    def __init__(self, rclpy_mod, context, name: str = "test_listener"):
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy_mod
        self.node = rclpy_mod.create_node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.msgs: dict[str, list] = collections.defaultdict(list)

    def sub(self, msg_type, topic: str, qos) -> None:
        self.node.create_subscription(msg_type, topic, lambda m, t=topic: self.msgs[t].append((time.monotonic(), m)),
                                      qos)

    def spin_until(self, cond, timeout: float) -> bool:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if cond():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return cond()

    def wait_matched(self, topics, timeout: float) -> bool:
        """Spin until every topic in ``topics`` has a publisher (discovery done both ways)."""
        return self.spin_until(lambda: all(self.node.count_publishers(t) > 0 for t in topics), timeout)

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()


def reliable(depth: int = 50):
    """Reliable QoS of ``depth`` (the node's default output QoS)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)


def best_effort(depth: int = 50):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT)


# where every received image of a camera ends up (SurroundDepthNode.accounting): received = the sum of these
ACCOUNTING_PARTS = ("dropped_bad", "published", "dropped_stale", "dropped_error", "dropped_sync_overflow",
                    "dropped_sync_replaced", "pending")


def camera_values(diag_array, cam: str) -> dict | None:
    """The key/values of ``cam``'s status in a DiagnosticArray, or None if it has none."""
    st = next((x for x in diag_array.status if x.name.endswith(f": {cam}")), None)
    return None if st is None else {v.key: v.value for v in st.values}


def accounting_of(diag_msgs: list, cams) -> dict | str:
    """The node's image accounting per camera from the last received /diagnostics (for a failure message)."""
    if not diag_msgs:
        return "no /diagnostics received"
    keys = ("received", *ACCOUNTING_PARTS)
    return {cam: {k: v for k, v in (camera_values(diag_msgs[-1][1], cam) or {}).items() if k in keys} for cam in cams}


def assert_accounted(diag_array, cams) -> dict:
    """Every camera's images are accounted for (the node's identity, see SurroundDepthNode.accounting)."""
    out = {}
    for cam in cams:
        kv = camera_values(diag_array, cam)
        assert kv is not None, f"no diagnostics status for {cam}"
        assert int(kv["unaccounted"]) == 0 and int(kv["received"]) == sum(int(kv[k]) for k in ACCOUNTING_PARTS), (
            cam, kv)
        out[cam] = kv
    return out
