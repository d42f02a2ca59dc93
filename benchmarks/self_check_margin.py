"""How far the engine self-check's tolerance is from honest engines and from real faults.

Exports a checkpoint (default: the shipped student) to ONNX with ``disdepth export``, then
measures the self-check numbers (worst image's median / p99 / max relative depth error on the
built-in images, vs PyTorch fp32) for: the honest ONNX file in onnxruntime, PyTorch fp16 and
bf16 autocast (CPU stand-ins for reduced-precision engines), a convolution's weights scaled by
1.1 in the ONNX file (first and last), and BGR fed instead of RGB. Markdown table on stdout
(the table in docs/runtime.md).

    OMP_NUM_THREADS=1 python benchmarks/self_check_margin.py [--checkpoint DIR] [--out out/self_check]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))  # onnx_faults: the deliberate faults the tests use


def main() -> int:
    from onnx_faults import scale_initializer

    from disdepth_core.cli import main as disdepth
    from disdepth_core.runtime import torch_engine
    from disdepth_core.runtime.engine_config import EngineConfig
    from disdepth_core.runtime.factory import create_engine
    from disdepth_core.runtime.model_metadata import default_checkpoint, load_checkpoint_student
    from disdepth_core.runtime.self_check import _run, relative_depth_errors, run_self_check, summarize_errors
    from disdepth_core.runtime.self_check_images import load_self_check_images
    from disdepth_core.runtime.torch_engine import TorchEngine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(default_checkpoint()))
    ap.add_argument("--out", default=str(REPO / "out" / "self_check"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_file = out / "student.onnx"
    if disdepth(["export", "--checkpoint", args.checkpoint, "--out", str(onnx_file)]) != 0:
        return 1

    rows = []

    def check(name: str, path: Path) -> None:
        cfg = EngineConfig(backend="onnxruntime", checkpoint=str(path), device="cpu")
        engine = create_engine(cfg)
        t0 = time.perf_counter()
        r = run_self_check(engine, cfg)
        rows.append((name, r.median_rel_error, r.p99_rel_error, r.max_rel_error, f"{time.perf_counter() - t0:.2f} s"))

    check("onnxruntime CPU fp32", onnx_file)
    for which, label in ((0, "first"), (-1, "last")):
        bad = out / f"scaled_{label}.onnx"
        scale_initializer(onnx_file, bad, 1.1, which=which)
        check(f"{label} convolution's weights x 1.1 in the ONNX file", bad)

    images = load_self_check_images()
    model = load_checkpoint_student(args.checkpoint)
    ref_engine = TorchEngine(model, device="cpu")
    ref = _run(ref_engine, images, ref_engine.input_size)

    def against_ref(name: str, depth) -> None:
        med, p99, mx, _ = summarize_errors(relative_depth_errors(depth, ref, ref_engine.depth_range))
        rows.append((name, med, p99, mx, ""))

    against_ref("PyTorch bf16 autocast", _run(TorchEngine(model, device="cpu", precision="bf16"), images,
                                              ref_engine.input_size))
    fp16 = TorchEngine(model, device="cpu", precision="bf16")
    torch_engine.AUTOCAST_DTYPES["bf16"] = torch.float16  # CPU fp16 autocast: the engine refuses 'fp16' off CUDA
    try:
        against_ref("PyTorch fp16 autocast", _run(fp16, images, ref_engine.input_size))
    finally:
        torch_engine.AUTOCAST_DTYPES["bf16"] = torch.bfloat16
    onnx_engine = create_engine(EngineConfig(backend="onnxruntime", checkpoint=str(onnx_file), device="cpu"))
    against_ref("BGR fed instead of RGB (onnxruntime)", _run(onnx_engine, images[..., ::-1].copy(),
                                                             ref_engine.input_size))

    print(f"\nonnxruntime vs PyTorch fp32 on the built-in images, {args.checkpoint}\n")
    print("| deployed vs PyTorch fp32 | worst-image median | worst-image p99 (gate) | max pixel | check time |")
    print("| --- | --- | --- | --- | --- |")
    for name, med, p99, mx, t in rows:
        print(f"| {name} | {med:.2g} | {p99:.2g} | {mx:.2g} | {t} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
