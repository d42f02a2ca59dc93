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


def markdown_table(rows: list[ModelCost], reference: str | None = None) -> str:
    """Rows as a markdown table; with ``reference`` (a row name) a 'speed-up' column vs that row."""
    ref = next((r for r in rows if r.name == reference), None)
    head = "| model | params (M) | GFLOPs | latency (ms) |" + (f" speed-up vs {reference} |" if ref else "") + " note |"
    sep = "|---|---:|---:|---:|" + ("---:|" if ref else "") + "---|"
    lines = [head, sep]
    for r in rows:
        cells = [r.name, f"{r.params / 1e6:.2f}", f"{r.flops / 1e9:.1f}", f"{r.latency_ms:.0f}"]
        if ref:
            cells.append(f"{ref.latency_ms / r.latency_ms:.1f}x")
        cells.append(r.note)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
