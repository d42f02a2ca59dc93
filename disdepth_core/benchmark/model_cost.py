"""Parameters, FLOPs and CPU latency of a network on a fixed input batch.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matmuls and
attention; one multiply-accumulate = 2 FLOPs; element-wise ops are not counted). The CPU
scaled-dot-product-attention kernel is added to its registry (torch 2.13 counts only the
GPU kernels). Latency: ``warmup`` untimed calls, then the median of ``runs`` timed calls under
``torch.inference_mode()``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def _sdpa_cpu_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


_EXTRA_FLOP_FORMULAS = {}
if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
    _EXTRA_FLOP_FORMULAS[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flop


@dataclass
class ModelCost:
    """One benchmark row. ``flops`` for one call on the whole batch; ``latency_ms`` its median."""

    name: str
    params: int
    flops: int
    latency_ms: float
    latency_runs_ms: list[float]
    input_shape: list[int]
    note: str = ""

    def row(self) -> dict:
        return {
            "name": self.name,
            "params": self.params,
            "flops": self.flops,
            "latency_ms": round(self.latency_ms, 2),
            "latency_min_ms": round(min(self.latency_runs_ms), 2),
            "latency_runs_ms": [round(v, 2) for v in self.latency_runs_ms],
            "input_shape": self.input_shape,
            "note": self.note,
        }


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (no gradients)."""
    with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=_EXTRA_FLOP_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())


def time_call(fn: Callable[[], object], *, warmup: int = 1, runs: int = 3) -> list[float]:
    """Wall-clock milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed ones."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000.0)
    return times


def measure(name: str, module: torch.nn.Module, x: torch.Tensor, *, warmup: int = 1, runs: int = 3,
            note: str = "") -> ModelCost:
    """Params, FLOPs and median latency of ``module(x)`` (module in eval mode)."""
    module.eval()
    fn = lambda: module(x)  # noqa: E731
    flops = count_flops(fn)
    times = time_call(fn, warmup=warmup, runs=runs)
    return ModelCost(name, count_params(module), flops, statistics.median(times), times, list(x.shape), note)


def measure_round_robin(entries: list[tuple[str, torch.nn.Module, torch.Tensor, str]], *, warmup: int = 1,
                        runs: int = 3, progress: Callable[[str], None] | None = None) -> list[ModelCost]:
    """Like :func:`measure` for several models, timing them in turns (round r times every model once).

    On a shared machine, load changes over minutes; interleaving exposes every model to the same
    conditions, so ratios between rows stay meaningful even when absolute times drift. Each visit
    makes one untimed call before the timed one (see below), so a row is never timed cold.
    """
    flops, times = [], [[] for _ in entries]
    for name, module, x, _ in entries:
        module.eval()
        flops.append(count_flops(lambda m=module, x=x: m(x)))
        time_call(lambda m=module, x=x: m(x), warmup=warmup, runs=0)
        if progress:
            progress(f"counted and warmed up {name}")
    for r in range(runs):
        for i, (_, module, x, _) in enumerate(entries):
            # One untimed call per visit: with many models, the previous ones evict this model's
            # oneDNN kernels and cached buffers, and the first call after a switch pays for that.
            times[i] += time_call(lambda m=module, x=x: m(x), warmup=1, runs=1)
        if progress:
            progress(f"timing round {r + 1}/{runs} done")
    return [
        ModelCost(name, count_params(module), f, statistics.median(t), t, list(x.shape), note)
        for (name, module, x, note), f, t in zip(entries, flops, times, strict=True)
    ]


def markdown_table(rows: list[ModelCost], reference: str | None = None) -> str:
    """Rows as a markdown table; with ``reference`` (a row name) a 'speed-up' column vs that row."""
    ref = next((r for r in rows if r.name == reference), None)
    head = "| model | params (M) | GFLOPs | latency median (ms) | best (ms) |" + (
        f" speed-up vs {reference} (median / best) |" if ref else "") + " note |"
    sep = "|---|---:|---:|---:|---:|" + ("---:|" if ref else "") + "---|"
    lines = [head, sep]
    for r in rows:
        best = min(r.latency_runs_ms)
        cells = [r.name, f"{r.params / 1e6:.2f}", f"{r.flops / 1e9:.1f}", f"{r.latency_ms:.0f}", f"{best:.0f}"]
        if ref:
            cells.append(f"{ref.latency_ms / r.latency_ms:.1f}x / {min(ref.latency_runs_ms) / best:.1f}x")
        cells.append(r.note)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
