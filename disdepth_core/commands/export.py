"""``disdepth export``: a student checkpoint -> ONNX (or a TensorRT plan), verified against PyTorch.

    disdepth export --checkpoint DIR --format onnx|tensorrt --batch 6 --size HxW [--fp16|--int8] --out FILE

After writing, the exported model and the PyTorch student run the same pre-processed batch;
max absolute/relative errors are printed and stored in ``FILE.export.json``; above tolerance
the command fails (exit 1, one line). Then the engine self-check the node runs at start
(:mod:`disdepth_core.runtime.self_check`: the built-in image set through the deployed engine
-- onnxruntime on the CPU, and the TensorRT plan when one is built -- and through PyTorch)
prints its line; above ``--self-check-tolerance`` the command fails with that line.
``--verify-only`` re-checks an existing ONNX file.
"""

from __future__ import annotations

import argparse

from .common import parse_size, positive_int

TOLERANCES = {"fp32": (1e-3, 1e-4), "fp16": (0.05, 0.02), "int8": (0.5, 0.1)}  # (atol metres, rtol)
CONFIDENCE_ATOL = {"fp32": 1e-3, "fp16": 0.05, "int8": 0.1}  # confidence in [0, 1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a student to ONNX/TensorRT and verify it against PyTorch")
    p.add_argument("--checkpoint", default="", help="student checkpoint directory (default: the shipped student)")
    p.add_argument("--format", choices=["onnx", "tensorrt"], default="onnx")
    p.add_argument("--batch", type=positive_int, default=6, help="batch (cameras) to export and verify with")
    p.add_argument("--max-batch", type=positive_int, default=None, help="TensorRT profile maximum batch")
    p.add_argument("--size", type=parse_size, default=None, help="network input HxW (default: the checkpoint's)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true", help="TensorRT: FP16 kernels")
    prec.add_argument("--int8", action="store_true", help="TensorRT: INT8 (+FP16) with entropy calibration")
    p.add_argument("--calib", default=None, help="INT8 calibration images: a frames .npz or a folder of PNG/JPEG")
    p.add_argument("--rig", default="nuscenes", help="rig whose camera order is recorded (default: nuscenes)")
    p.add_argument("--atol", type=float, default=None, help="parity tolerance, metres (default by precision)")
    p.add_argument("--rtol", type=float, default=None, help="relative parity tolerance (default by precision)")
    p.add_argument("--self-check-tolerance", type=float, default=None,
                   help="engine self-check: largest p99 relative depth error (default 0.02)")
    p.add_argument("--verify-only", action="store_true", help="only verify the existing --out ONNX file")
    p.add_argument("--out", required=True, help="output file (.onnx, or .plan for tensorrt)")
    p.set_defaults(func=run)


def load_calibration_images(path: str, size: tuple[int, int], limit: int = 64):
    """(M, H, W, 3) uint8 RGB from a frames ``.npz`` or an image folder (folder images resized to ``size``)."""
    from pathlib import Path

    import numpy as np

    from ..errors import DisdepthError

    p = Path(path)
    if p.suffix == ".npz":
        from ..sim.frames_file import GroundTruthFrames

        frames = GroundTruthFrames.load(p).images
        imgs = frames.reshape(-1, *frames.shape[2:])
    elif p.is_dir():
        from PIL import Image

        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))[:limit]
        if not files:
            raise DisdepthError(f"--calib {p}: no PNG/JPEG images in the folder")
        imgs = np.stack([np.asarray(Image.open(f).convert("RGB").resize(size[::-1])) for f in files])
    else:
        raise DisdepthError(f"--calib {p}: expected a frames .npz file or a folder of images")
    return np.ascontiguousarray(imgs[:limit])  # the engine pre-processing resizes them to the network size


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import DisdepthError
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from ..runtime.model_metadata import load_checkpoint_student, metadata_for_student, resolve_checkpoint
    from ..runtime.onnx_export import (
        check_parity,
        export_student_onnx,
        sample_images,
        verify_onnx,
        write_report,
    )
    from ..runtime.self_check import DEFAULT_TOLERANCE, require_self_check, weights_sha256

    precision = "int8" if args.int8 else "fp16" if args.fp16 else "fp32"
    if args.format == "onnx" and precision != "fp32":
        raise DisdepthError("--fp16/--int8 apply to --format tensorrt; an ONNX export is fp32 "
                            "(onnxruntime's TensorRT provider can still run it in fp16: engine.precision fp16)")
    tolerance = DEFAULT_TOLERANCE if args.self_check_tolerance is None else args.self_check_tolerance
    if not tolerance > 0:
        raise DisdepthError(f"--self-check-tolerance must be > 0, got {tolerance}")
    if args.int8 and not args.calib:
        raise DisdepthError("--int8 needs --calib (a frames .npz or a folder of sample camera images)")
    if args.format == "tensorrt":
        from ..runtime.tensorrt_engine import import_tensorrt

        import_tensorrt()  # fail before exporting anything
    ckpt = resolve_checkpoint(args.checkpoint)
    model = load_checkpoint_student(ckpt)
    out = Path(args.out)
    onnx_path = out if args.format == "onnx" else out.with_suffix(".onnx")
    cameras = CameraRig.from_yaml(resolve_rig(args.rig)).names
    meta = metadata_for_student(model.config, input_size=args.size, cameras=cameras, batch=args.batch,
                                precision=precision)
    if any(v % 32 for v in meta.input_size):
        raise DisdepthError(f"--size must be multiples of 32, got {meta.input_size[0]}x{meta.input_size[1]}")
    if args.verify_only:
        if not onnx_path.is_file():
            raise DisdepthError(f"--verify-only: {onnx_path} does not exist")
    else:
        export_student_onnx(model, onnx_path, meta)
        print(f"wrote {onnx_path} (input {args.batch}x3x{meta.input_size[0]}x{meta.input_size[1]}, "
              f"batch axis dynamic, opset 17, cameras {','.join(cameras)})")
    images = sample_images(args.batch, meta.input_size, seed=0)
    atol32, rtol32 = TOLERANCES["fp32"]
    reports = [verify_onnx(onnx_path, model, images, atol=atol32 if args.atol is None else args.atol,
                           rtol=rtol32 if args.rtol is None else args.rtol)]
    print(reports[0].line())
    extra = {"checkpoint": str(ckpt), "format": args.format, "weights_sha256": weights_sha256(ckpt)}
    checks = [_self_check("onnxruntime", onnx_path, "cpu", ckpt, tolerance)]
    print(checks[0].line())
    if args.format == "tensorrt" and reports[0].passed:
        reports.append(_export_tensorrt(args, model, meta, onnx_path, out, images, precision))
        print(reports[-1].line())
        checks.append(_self_check("tensorrt", out, "cuda", ckpt, tolerance))
        print(checks[-1].line())
    extra["self_check"] = [c.to_json() for c in checks]
    report_file = write_report(out, meta, reports, **extra)
    print(f"wrote {report_file}")
    check_parity(reports)
    for c in checks:
        require_self_check(c)
    return 0


def _self_check(backend: str, path, device: str, checkpoint, tolerance: float):
    """The node's startup self-check on the exported file (built-in images, deployed engine vs ``checkpoint``)."""
    from ..runtime.engine_config import EngineConfig
    from ..runtime.factory import create_engine
    from ..runtime.self_check import run_self_check

    cfg = EngineConfig(backend=backend, checkpoint=str(path), device=device)
    return run_self_check(create_engine(cfg), cfg, tolerance=tolerance, reference=checkpoint)


def _export_tensorrt(args, model, meta, onnx_path, out, images, precision):
    """Build, save and verify a TensorRT plan (UNVERIFIED: no TensorRT where this was written)."""
    import torch

    from ..runtime.onnx_export import compare, reference_input, reference_outputs
    from ..runtime.tensorrt_engine import TensorRTEngine, build_engine, import_tensorrt, save_plan

    import_tensorrt()
    calib = load_calibration_images(args.calib, meta.input_size) if args.int8 else None
    max_batch = args.max_batch or args.batch
    plan = build_engine(onnx_path, fp16=precision in ("fp16", "int8"), int8=args.int8, calibration_images=calib,
                        batch=args.batch, max_batch=max_batch)
    save_plan(plan, out, meta, max_batch=max_batch, onnx_path=onnx_path)
    print(f"wrote {out} ({precision}, batch 1..{max_batch})")
    engine = TensorRTEngine(out, device="cuda")
    x = reference_input(meta, images)
    ref, conf_ref = reference_outputs(model, meta, x)
    with torch.no_grad():
        got, conf = engine._network(x.cuda())
    atol, rtol = TOLERANCES[precision]
    return compare(got.cpu().numpy(), ref, runtime=f"TensorRT {precision}",
                   atol=atol if args.atol is None else args.atol, rtol=rtol if args.rtol is None else args.rtol,
                   conf_out=conf.cpu().numpy() if conf is not None else None, conf_ref=conf_ref,
                   conf_atol=CONFIDENCE_ATOL[precision])
