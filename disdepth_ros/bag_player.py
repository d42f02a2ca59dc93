"""``bag_player``: play a ROS 2 bag (MCAP or sqlite3) read with ``rosbags``, for installs without ``ros2 bag``.

Publishes each message's raw CDR bytes unchanged on its topic (no decode/encode), at the
original spacing scaled by ``--rate``, optionally with ``/clock`` (rosgraph_msgs/Clock) so
that nodes on ``use_sim_time`` follow the bag. Usage::

    bag_player BAG [--rate 1.0] [--clock [HZ]] [--topics /a /b] [--loop] [--start-offset S]
               [--qos reliable|best_effort] [--wait-for-subscribers N] [--wait-for-node NAME]
               [--ros-args ...]

``--wait-for-node surround_depth_node`` (what ``replay.launch.py`` uses) starts once that node
exists and every played topic it subscribes to is matched -- the bag's other topics (ground
truth, LiDAR) need no subscriber. ``--wait-for-subscribers N`` waits for N subscribers on
*every* played topic.

On a full ROS install prefer ``ros2 bag play BAG --clock``; this player covers the same
common case (timing, rate, clock, topic selection) and nothing more (no seeking, no pause key).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

NODE_NAME = "bag_player"


def message_class(msgtype: str):
    """``'sensor_msgs/msg/Image'`` -> the rclpy message class (ImportError/AttributeError if absent)."""
    pkg, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: its type and the first line of its message (YAML errors span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def node_subscribed_topics(node, name: str, topics) -> set[str] | None:
    """The topics of ``topics`` that node ``name`` (any namespace) subscribes to; None if it is not running."""
    found = None
    for n, ns in node.get_node_names_and_namespaces():
        if n == name:
            subs = node.get_subscriber_names_and_types_by_node(n, ns)
            found = (found or set()) | ({t for t, _ in subs} & set(topics))
    return found


def wait_for_node(node, executor, stop, name: str, pubs: dict, settle_s: float = 0.5) -> None:
    """Spin until node ``name`` subscribes to at least one played topic, its set of them has been
    unchanged for ``settle_s`` and each of them is matched to our publisher (or ``stop``)."""
    log = node.get_logger()
    log.info(f"waiting for node '{name}' to subscribe")
    last, since = None, time.monotonic()
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)
        topics = node_subscribed_topics(node, name, pubs)
        if topics != last:
            last, since = topics, time.monotonic()
            continue
        if topics and time.monotonic() - since >= settle_s and all(pubs[t].get_subscription_count() > 0 for t in topics):
            log.info(f"node '{name}' subscribes to {len(topics)} played topic(s): starting")
            return


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bag_player", description="Play a ROS 2 bag (rosbags reader), raw CDR, with timing.")
    p.add_argument("bag", help="bag directory (metadata.yaml + .mcap/.db3) or a single .mcap file")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument("--clock", nargs="?", const=100.0, type=float, default=None, metavar="HZ",
                   help="publish /clock at HZ (default 100 when given) from the bag time")
    p.add_argument("--topics", nargs="+", default=None, help="play only these topics")
    p.add_argument("--loop", action="store_true", help="start again at the end")
    p.add_argument("--start-offset", type=float, default=0.0, help="skip this many seconds of the bag")
    p.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable", help="publisher reliability")
    p.add_argument("--wait-for-subscribers", type=int, default=0, metavar="N",
                   help="wait until every played topic has N subscribers before starting")
    p.add_argument("--wait-for-node", default=None, metavar="NAME",
                   help="wait until node NAME runs and every played topic it subscribes to is matched")
    p.add_argument("--delay", type=float, default=0.0, help="seconds to wait before playing (after discovery)")
    args = p.parse_args(argv)
    if not args.rate > 0:
        p.error(f"--rate must be > 0, got {args.rate}")
    if args.clock is not None and not args.clock > 0:
        p.error(f"--clock must be > 0 Hz, got {args.clock}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    ros_args = argv[argv.index("--ros-args"):] if "--ros-args" in argv else []
    args = parse_args(argv[1: len(argv) - len(ros_args)] if ros_args else argv[1:])

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from rosbags.rosbag2 import Reader
    from rosgraph_msgs.msg import Clock

    from .conversions import ns_to_stamp
    from .shutdown import init_with_stop_event

    bag = Path(args.bag)
    if not bag.exists():
        print(f"bag_player: error: bag not found: {bag}", file=sys.stderr)
        return 1
    try:  # open the bag before any ROS start-up: an unreadable bag is one line and exit 1
        Reader(bag).open()
    except Exception as exc:  # rosbags raises ReaderError, yaml errors, OSError ... for broken bags
        print(f"bag_player: error: cannot read bag {bag}: {one_line(exc)}", file=sys.stderr)
        return 1
    stop = init_with_stop_event([argv[0], *ros_args])
    node = rclpy.create_node(NODE_NAME)
    log = node.get_logger()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        with Reader(bag) as reader:
            conns = [c for c in reader.connections if args.topics is None or c.topic in args.topics]
            if args.topics:
                missing = sorted(set(args.topics) - {c.topic for c in reader.connections})
                if missing:
                    log.warning(f"topics not in the bag: {', '.join(missing)}")
            pubs = {}
            for c in conns:
                if c.topic in pubs:
                    continue
                try:
                    cls = message_class(c.msgtype)
                except (ImportError, AttributeError, ValueError):
                    log.warning(f"skipping {c.topic}: message type {c.msgtype} is not importable here")
                    continue
                latched = c.topic == "/tf_static"
                qos = QoSProfile(
                    depth=10 if not latched else 100,
                    reliability=ReliabilityPolicy.RELIABLE if args.qos == "reliable" or latched
                    else ReliabilityPolicy.BEST_EFFORT,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
                )
                pubs[c.topic] = node.create_publisher(cls, c.topic, qos)
            if not pubs:
                log.error("nothing to play")
                return 1
            conns = [c for c in conns if c.topic in pubs]
            clock_pub = node.create_publisher(Clock, "/clock", 10) if args.clock else None
            log.info(f"playing {bag} ({reader.message_count} messages, {reader.duration / 1e9:.1f} s) "
                     f"topics {', '.join(sorted(pubs))} at rate {args.rate}"
                     + (f" with /clock at {args.clock} Hz" if clock_pub else ""))
            if args.wait_for_subscribers > 0:
                while not stop.is_set() and any(p.get_subscription_count() < args.wait_for_subscribers
                                                for p in pubs.values()):
                    executor.spin_once(timeout_sec=0.05)
            if args.wait_for_node:
                wait_for_node(node, executor, stop, args.wait_for_node, pubs)
            t_delay = time.monotonic() + args.delay
            while not stop.is_set() and time.monotonic() < t_delay:
                executor.spin_once(timeout_sec=0.05)

            start_ns = reader.start_time + int(args.start_offset * 1e9)
            played = 0
            while not stop.is_set():
                t0_wall = time.monotonic()
                next_clock = t0_wall

                def bag_now(t0=t0_wall) -> int:
                    return start_ns + int((time.monotonic() - t0) * args.rate * 1e9)

                for conn, stamp, raw in reader.messages(connections=conns, start=start_ns):
                    target = t0_wall + (stamp - start_ns) / 1e9 / args.rate
                    while not stop.is_set():
                        now = time.monotonic()
                        if clock_pub is not None and now >= next_clock:
                            clock_pub.publish(Clock(clock=ns_to_stamp(min(bag_now(), stamp))))
                            next_clock = now + 1.0 / args.clock
                        if now >= target:
                            break
                        wake = min(target, next_clock) if clock_pub is not None else target
                        time.sleep(max(0.0, min(wake - now, 0.05)))
                    if stop.is_set():
                        break
                    if clock_pub is not None:
                        clock_pub.publish(Clock(clock=ns_to_stamp(stamp)))
                    pubs[conn.topic].publish(bytes(raw))
                    played += 1
                if not args.loop:
                    break
            log.info(f"played {played} messages")
            time.sleep(0.3)  # let reliable writers deliver the tail
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
