"""Backend benchmark: latency split, throughput and peak memory of each depth engine, and the
student vs the Depth Anything V2-S architecture teacher (``disdepth bench --backend``).

One timed step is what the node does per time step: ``engine.infer`` on a batch of camera
images (pre-processing, network, post-processing, each timed by the engine with a device
synchronise in between) followed by the merged point cloud of :mod:`disdepth_core.runtime.pointcloud`
(node defaults: stride 2, max range 50 m, packed RGB). Reported per backend: p50/p90 of each
stage and of the end-to-end step, throughput (steps/s and images/s at the p50), and peak memory:
on the CPU the process RSS sampled every 2 ms during the timed runs (the whole process, model
and libraries included), on CUDA ``torch.cuda.max_memory_allocated`` (torch's allocator only:
onnxruntime's own CUDA arena is not counted). Measurements only: nothing here asserts a time.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import DisdepthError
from ..models.teacher_config import TeacherConfig
from ..runtime.engine_config import EngineConfig
from ..runtime.onnx_export import sample_images

STAGES = ("preprocess", "network", "postprocess", "pointcloud", "total")
TEACHER_LABELS = {"da_v2_small": "Depth Anything V2-S architecture", "da_v2_base": "Depth Anything V2-B architecture"}
CLOUD = {"stride": 2, "max_range": 50.0}  # the node's default cloud settings


class RssSampler:
    """Peak resident set size (bytes) of this process, sampled every ``period_s`` in a thread."""

    def __init__(self, period_s: float = 0.002) -> None:
        self.period_s = period_s
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.period_s)

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90))}


def bench_engine(engine, images: np.ndarray, K: torch.Tensor, T_base_cam: torch.Tensor, *, runs: int = 10,
                 warmup: int = 2) -> dict:
    """Time ``runs`` steps (after ``warmup``) of ``engine`` + point cloud on ``images`` (N, H, W, 3) uint8."""
    from ..runtime.pointcloud import depth_to_cloud

    dev = engine.device
    colors = torch.from_numpy(images).to(dev)
    K, T = K.to(dev), T_base_cam.to(dev)

    def step() -> dict[str, float]:
        res = engine.infer(images)
        t0 = time.perf_counter()
        cloud = depth_to_cloud(res.depth, K, T, colors=colors, **CLOUD)  # ends with the host copy (synchronises)
        ms = dict(res.timings_ms)
        ms["pointcloud"] = (time.perf_counter() - t0) * 1e3
        ms["network_total"] = ms["total"]
        ms["total"] = ms["total"] + ms["pointcloud"]
        ms["points"] = float(len(cloud.points))
        return ms

    for _ in range(warmup):
        step()
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    samples = []
    with RssSampler() as rss:
        for _ in range(runs):
            samples.append(step())
    stages = {s: percentiles([m[s] for m in samples]) for s in STAGES}
    p50 = stages["total"]["p50"]
    n = images.shape[0]
    return {
        "p50_ms": p50,
        "p90_ms": stages["total"]["p90"],
        "steps_per_s": 1e3 / p50,
        "images_per_s": n * 1e3 / p50,
        "stages_ms": stages,
        "points": int(samples[-1]["points"]),
        "peak_memory_mb": (torch.cuda.max_memory_allocated(dev) if cuda else rss.peak) / 2**20,
        "memory_kind": "cuda_max_allocated" if cuda else "process_rss",
        "runs": runs,
    }


def time_module(fn, x: torch.Tensor, *, runs: int, warmup: int) -> list[float]:
    """Wall times (ms) of ``fn(x)`` under inference mode, synchronised on CUDA."""
    out = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            t0 = time.perf_counter()
            fn(x)
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1e3)
    return out


def student_vs_teacher(student: torch.nn.Module, size: tuple[int, int], batch: int, device: torch.device, *,
                       runs: int, warmup: int, precision: str = "fp32", teacher_arch: str = "da_v2_small",
                       grid_stride: int = TeacherConfig.grid_stride) -> dict:
    """Network time of the student vs the Depth Anything V2-S architecture (random weights) on one batch.

    The student runs in its inference form (BatchNorm folded, channels_last). Both get the same normalised ``(batch, 3, H, W)`` input in eager PyTorch on ``device``; the
    teacher wrapper resizes it to its ViT grid (``patch * ceil(H / grid_stride)``), as in training.
    """
    from ..models.fuse import fold_batchnorm
    from ..models.teacher import DepthTeacher, build_teacher_model

    teacher = DepthTeacher(build_teacher_model(teacher_arch), grid_stride=grid_stride).eval().to(device)
    student = student.eval()
    fold_batchnorm(student)  # the inference form the torch engine runs
    student = student.to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, *size, device=device).contiguous(memory_format=torch.channels_last)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def run(m):
        def f(inp):
            if dtype is None:
                return m(inp)
            with torch.autocast(device.type, dtype=dtype):
                return m(inp)
        return f

    s = percentiles(time_module(run(student), x, runs=runs, warmup=warmup))
    t = percentiles(time_module(run(teacher), x.contiguous(), runs=runs, warmup=warmup))
    return {
        "teacher_arch": teacher_arch,
        "teacher_input": list(teacher.input_size(*size)),
        "student_network_p50_ms": s["p50"],
        "teacher_network_p50_ms": t["p50"],
        "student_vs_teacher_speedup": t["p50"] / s["p50"],
        "precision": precision,
    }


def _default_rig(batch: int, size: tuple[int, int]):
    from ..geometry import CameraRig
    from ..paths import resolve_rig

    rig = CameraRig.from_yaml(resolve_rig("nuscenes")).resized(*size)
    if batch != len(rig):
        raise DisdepthError(f"--batch {batch}: the point-cloud stage uses the {len(rig)}-camera nuScenes rig")
    return rig


def bench_backends(backends: list[str], *, checkpoint: str | None, model_config, size: tuple[int, int],
                   batch: int = 6, runs: int = 10, warmup: int = 2, device: str = "auto", precision: str = "fp32",
                   teacher_runs: int = 3, compile: bool = False, teacher_arch: str = "da_v2_small",
                   teacher_grid_stride: int = TeacherConfig.grid_stride, progress=print) -> dict:
    """Benchmark each backend in ``backends`` on a ``batch`` x ``size`` step; see module docstring.

    ``checkpoint``: a student checkpoint directory; ``None`` saves a randomly initialised student of
    ``model_config`` (the default student architecture: timings are the same) to a temporary one.
    Backends that cannot run here are listed under ``skipped`` with the reason.
    """
    from ..errors import CapabilityError
    from ..models.checkpoint import load_student, save_student
    from ..models.student import build_student
    from ..runtime.factory import create_engine, resolve_device

    dev = resolve_device(device)
    tmp = None
    if checkpoint is None:
        tmp = tempfile.TemporaryDirectory(prefix="disdepth_bench_")
        torch.manual_seed(0)
        checkpoint = str(save_student(build_student(dataclasses.replace(model_config, pretrained=None)),
                                      Path(tmp.name) / "student"))
        weights = "random weights (architecture of the default student)"
    else:
        weights = checkpoint
    rig = _default_rig(batch, size)
    images = sample_images(batch, size, seed=0)
    result: dict = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "torch_threads": torch.get_num_threads(),
        "batch": batch,
        "size": list(size),
        "precision": precision,
        "weights": weights,
        "cloud": dict(CLOUD, rgb=True),
        "backends": {},
        "skipped": {},
    }
    try:
        for name in backends:
            cfg = EngineConfig(backend=name, checkpoint=checkpoint, device=str(dev), precision=precision,
                               compile=compile and name == "torch", input_size=tuple(size))
            try:
                engine = create_engine(cfg)
            except (CapabilityError, DisdepthError) as exc:
                result["skipped"][name] = str(exc)
                progress(f"  {name:<12} skipped: {exc}")
                continue
            stats = bench_engine(engine, images, rig.K, rig.T_base_cam, runs=runs, warmup=warmup)
            if name == "onnxruntime":
                stats["providers"] = engine.providers
            result["backends"][name] = stats
            progress(f"  {name:<12} p50 {stats['p50_ms']:8.1f} ms  p90 {stats['p90_ms']:8.1f} ms  "
                     f"{stats['images_per_s']:7.1f} images/s  peak {stats['peak_memory_mb']:.0f} MiB")
            del engine
        progress(f"  student vs teacher {teacher_arch} (network only, eager torch) ...")
        result.update(student_vs_teacher(load_student(checkpoint), size, batch, dev, runs=teacher_runs, warmup=1,
                                         precision=precision, teacher_arch=teacher_arch,
                                         grid_stride=teacher_grid_stride))
        progress(f"  teacher {result['teacher_network_p50_ms']:.1f} ms vs student "
                 f"{result['student_network_p50_ms']:.1f} ms: {result['student_vs_teacher_speedup']:.1f}x")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return result


def markdown_table(result: dict) -> str:
    """Backend rows (ms, p50 / p90) + the student/teacher line, as GitHub markdown."""
    h, w = result["size"]
    lines = [
        f"{result['batch']} cameras x {h}x{w}, {result['precision']}, device: {result['device']}, "
        f"torch threads: {result['torch_threads']}; times in ms as p50 / p90",
        "",
        "| backend | pre-process | network | post-process | point cloud | end to end | images/s | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in result["backends"].items():
        st = s["stages_ms"]
        cells = [f"{st[k]['p50']:.1f} / {st[k]['p90']:.1f}" for k in STAGES]
        mem = f"{s['peak_memory_mb']:.0f} MiB ({'RSS' if s['memory_kind'] == 'process_rss' else 'CUDA'})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {s['images_per_s']:.1f} | {mem} |")
    for name, why in result["skipped"].items():
        lines.append(f"| {name} | skipped: {why} | | | | | | |")
    if "student_vs_teacher_speedup" in result:
        lines += ["", f"Network only, eager torch: student {result['student_network_p50_ms']:.1f} ms vs teacher "
                  f"({TEACHER_LABELS.get(result['teacher_arch'], result['teacher_arch'])}, random weights) "
                  f"{result['teacher_network_p50_ms']:.1f} ms (ViT input "
                  f"{result['teacher_input'][0]}x{result['teacher_input'][1]}): "
                  f"**{result['student_vs_teacher_speedup']:.1f}x** faster (goal >= 10x)."]
    return "\n".join(lines)
