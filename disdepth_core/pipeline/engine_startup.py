"""Load, warm up and check the node's engine, and the one-line start-up summary (no ROS).

Warm-up: one engine call on a black batch of all cameras at the network size. The first call
pays for allocation, kernel selection and (ONNX Runtime, TensorRT) lazy initialisation; doing
it at start-up keeps that out of the first real frame's latency. Then the output-health check
(a checkpoint whose output is not finite refuses to start) and, unless ``engine.self_check`` is
false, the self-check against the PyTorch reference (above tolerance: a one-line
``DisdepthError``, the node does not start).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from ..geometry import CameraRig
from ..runtime.factory import create_engine
from ..runtime.model_metadata import resolve_checkpoint
from ..runtime.output_health import require_healthy_output
from ..runtime.self_check import require_self_check, run_self_check
from ..sim.oracle_opt_in import ORACLE_BACKEND
from .node_params import SurroundDepthParams

Log = Callable[[str], object]


def warm_up(engine, n_cameras: int) -> float:
    """One ``engine.infer`` on a black ``(n_cameras, H, W, 3)`` batch; returns its time (ms)."""
    h, w = engine.input_size
    t0 = time.perf_counter()
    engine.infer(np.zeros((n_cameras, h, w, 3), np.uint8))
    return (time.perf_counter() - t0) * 1e3


def start_engine(p: SurroundDepthParams, *, info: Log, warning: Log):
    """The engine of ``p.engine`` for ``p.cameras``, warmed up and checked -> (engine, warm-up ms).

    The engine checks an exported model's camera order against the node's cameras.
    """
    engine_cfg = p.engine if p.engine.cameras else dataclasses.replace(p.engine, cameras=list(p.cameras))
    engine = create_engine(engine_cfg)
    warmup_ms = warm_up(engine, len(p.cameras))
    health = require_healthy_output(engine, p.engine.backend)
    if health is not None:
        info(health.line())
    if p.engine.self_check:
        check = require_self_check(run_self_check(engine, engine_cfg, tolerance=p.engine.self_check_tolerance))
        if check.level == "warning":
            warning(check.line())
        else:
            info(check.line())
    else:
        info("self-check off (engine.self_check false)")
    return engine, warmup_ms


def startup_summary(p: SurroundDepthParams, rig: CameraRig, engine, warmup_ms: float, *, confidence: bool,
                    has_confidence: bool, tf_status: str) -> str:
    """The node's one start-up line: cameras, engine, model, sizes, output, cloud, sync, QoS, /tf_static."""
    e = p.engine
    model = e.gt_frames if e.backend == ORACLE_BACKEND else str(resolve_checkpoint(e.checkpoint))
    c = p.cloud
    return (
        f"{len(rig.names)} cameras [{', '.join(rig.names)}] rig '{rig.name}'; engine {e.backend} on "
        f"{engine.device} model {model} input {engine.input_size[0]}x{engine.input_size[1]} "
        f"(warm-up {warmup_ms:.0f} ms); output {p.output.depth_encoding} at {p.output.resolution} resolution, "
        f"confidence {'on' if confidence else 'off'}; cloud {'on' if c.enabled else 'off'} (stride {c.stride}, "
        f"max {c.max_range} m, min confidence {c.min_confidence if has_confidence else 0}, rgb {c.rgb}, "
        f"frame {c.frame_id}); sync slop {p.sync.slop} s queue {p.sync.queue_size} policy {p.sync.missing_policy} "
        f"timeout {p.sync.missing_timeout} s; input QoS {p.input.qos} ({p.input.transport}), output QoS "
        f"{p.output.qos}; /tf_static: {tf_status}"
    )
