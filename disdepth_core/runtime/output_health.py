"""Output-health check: is what the engine produces depth at all? Any backend, before serving.

The deployed engine runs the built-in street images
(:mod:`~disdepth_core.runtime.self_check_images`) at its input size. Healthy means: at most
:data:`MAX_INVALID_FRACTION` of the pixels NaN (REP 117 *invalid*: the network produced no
finite value) and at most :data:`MAX_OUT_OF_RANGE_FRACTION` at -Inf/+Inf (closer/farther than
the depth range), per image. A checkpoint with NaN weights (100 % NaN), a model whose output
collapsed to a range end, or an engine build that returns garbage is refused with one line
before the first camera arrives (issue 15), whatever the backend -- the self-check against
PyTorch (:mod:`~disdepth_core.runtime.self_check`) cannot catch a broken *reference*. The
thresholds are loose on purpose: a street has sky beyond 80 m, and a weak model may saturate.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..errors import DisdepthError

MAX_INVALID_FRACTION = 0.05  # NaN pixels per image
MAX_OUT_OF_RANGE_FRACTION = 0.9  # -Inf/+Inf pixels per image


@dataclasses.dataclass
class OutputHealth:
    """Per built-in image: fraction of NaN and of +-Inf pixels; the worst of each; time (s)."""

    nan_fraction: list[float]
    out_of_range_fraction: list[float]
    seconds: float

    @property
    def healthy(self) -> bool:
        return max(self.nan_fraction) <= MAX_INVALID_FRACTION and max(self.out_of_range_fraction) <= \
            MAX_OUT_OF_RANGE_FRACTION

    def line(self) -> str:
        worst_nan, worst_inf = max(self.nan_fraction), max(self.out_of_range_fraction)
        verdict = "ok" if self.healthy else "FAILED"
        return (f"output health {verdict}: {len(self.nan_fraction)} built-in images, worst NaN fraction "
                f"{worst_nan:.3f} (limit {MAX_INVALID_FRACTION}), worst out-of-range fraction {worst_inf:.3f} "
                f"(limit {MAX_OUT_OF_RANGE_FRACTION}), {self.seconds:.2f} s")


def check_output_health(engine, images: np.ndarray | None = None) -> OutputHealth:
    """Run ``engine`` (any backend) on ``images`` (N, H, W, 3) uint8 (default: the built-in set)
    at its input size, one image per call (also warms the engine up)."""
    from .self_check_images import load_self_check_images

    images = load_self_check_images() if images is None else images
    t0 = time.perf_counter()
    nan, oor = [], []
    plan, replans = engine.plan, engine.replans
    try:
        for img in images:
            d = engine.infer(img[None], output_size=tuple(engine.input_size)).depth.detach().float().cpu().numpy()
            nan.append(float(np.isnan(d).mean()))
            oor.append(float(np.isinf(d).mean()))
    finally:  # a check is not a stream change: the first real set plans afresh, unlogged
        engine.plan, engine.replans = plan, replans
    return OutputHealth(nan, oor, time.perf_counter() - t0)


def require_healthy_output(engine, backend: str, images: np.ndarray | None = None) -> OutputHealth | None:
    """:func:`check_output_health`, raising a one-line DisdepthError naming the backend when unhealthy.

    None for a backend that is no network (the test-only oracle knows only its own frames'
    images; the self-check skips it by the same rule)."""
    from .self_check import NOT_A_NETWORK

    if backend in NOT_A_NETWORK:
        return None
    health = check_output_health(engine, images)
    if not health.healthy:
        raise DisdepthError(f"refusing to serve: {backend} engine {health.line()} -- the model's output is not "
                            "depth (NaN weights, a broken export or a collapsed model?)")
    return health
