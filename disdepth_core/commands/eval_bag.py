"""``disdepth eval-bag``: evaluate depth on a recorded ROS 2 bag (offline engine, or the live node).

With a model that gives a per-pixel confidence (bin head) the report also scores it: per camera
sparsification curves, AUSE vs the random order's, a verdict in words, ``sparsification_abs_rel.png``.

``--live`` runs through a plugin: the recorder registered in the entry-point group
:data:`LIVE_PLUGIN_GROUP` (``disdepth_ros`` registers its ``live_eval.record_live`` in setup.py),
so ``disdepth_core`` never imports ``disdepth_ros`` or ROS.
"""

from __future__ import annotations

import argparse

from ..runtime.engine_config import BACKENDS
from ..sim.oracle_opt_in import ORACLE_BACKEND, require_oracle
from .common import parse_size, positive_int

LIVE_PLUGIN_GROUP = "disdepth.eval_bag_live"


def live_plugins() -> list:
    """Entry points of :data:`LIVE_PLUGIN_GROUP` in every installed distribution's metadata (also
    when a stale ``*.egg-info`` in the working directory shadows the installed one's)."""
    from importlib.metadata import distributions

    found = {}
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == LIVE_PLUGIN_GROUP:
                found.setdefault(ep.value, ep)
    return sorted(found.values(), key=lambda e: (e.name, e.value))


def live_recorder():
    """The ``--live`` recorder of the installed plugin (entry point group :data:`LIVE_PLUGIN_GROUP`).

    It is called as ``record(bag_path, rig_path=, cameras=, engine=, image_topic=, camera_info_topic=,
    sync=, rate=, timeout_s=, log_dir=, progress=)`` and returns a recording with ``depth``
    {(camera, stamp ns): (H, W) float32 m}, ``node_log``, ``player_log`` and ``wall_s``.
    """
    from ..errors import DisdepthError

    eps = live_plugins()
    if not eps:
        raise DisdepthError(f"--live needs a live-evaluation plugin (entry point group '{LIVE_PLUGIN_GROUP}', "
                            "installed with the disdepth_ros package: pip install -e . or colcon build); run without "
                            "--live for the offline evaluation")
    try:
        return eps[0].load()
    except ImportError as exc:
        raise DisdepthError(f"--live: the plugin {eps[0].value} cannot be imported ({exc})") from None


def engine_backend(text: str) -> str:
    """``--backend``: a production backend, or the opt-in oracle (accepted here, never listed in ``--help``)."""
    if text in BACKENDS or text == ORACLE_BACKEND:
        return text
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(BACKENDS)})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-bag", help="evaluate depth on a ROS 2 bag (MCAP/sqlite3): metrics, report, figures")
    p.add_argument("bag", help="bag directory (metadata.yaml + .mcap/.db3) or a single .mcap file")
    p.add_argument("--checkpoint", default="", help="student checkpoint directory or exported model "
                                                    "(default: the shipped student)")
    p.add_argument("--backend", type=engine_backend, default="torch", metavar="{" + ",".join(BACKENDS) + "}",
                   help="engine backend (default torch)")
    p.add_argument("--gt-frames", default="", help=argparse.SUPPRESS)  # the opt-in oracle's frames file (tests)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    p.add_argument("--input-size", type=parse_size, default=None, help="network input HxW (default: the model's)")
    p.add_argument("--rig", default="nuscenes", help="rig file or shipped rig name: camera names/order, extrinsic "
                                                    "fallback (default nuscenes)")
    p.add_argument("--cameras", nargs="+", default=None, help="evaluate these rig cameras only")
    p.add_argument("--gt", choices=("auto", "depth", "lidar"), default="auto",
                   help="ground truth: dense depth topics, LiDAR projected with /tf_static, or auto "
                        "(depth when every camera has it, else LiDAR)")
    p.add_argument("--image-topic", default="/{camera}/image_raw", help="image topic pattern")
    p.add_argument("--camera-info-topic", default="/{camera}/camera_info", help="CameraInfo topic pattern")
    p.add_argument("--depth-topic", default="/{camera}/depth_gt", help="dense ground-truth topic pattern (32FC1/16UC1)")
    p.add_argument("--lidar-topic", default="/LIDAR_TOP/points", help="LiDAR PointCloud2 topic")
    p.add_argument("--min-depth", type=float, default=0.1, help="evaluated GT range, metres (default 0.1)")
    p.add_argument("--max-depth", type=float, default=80.0, help="evaluated GT range, metres (default 80)")
    p.add_argument("--params", default=None, help="node params YAML whose sync.* is used (default: the shipped "
                                                 "config/surround_depth.yaml)")
    p.add_argument("--slop", type=float, default=None, help="sync slop, s (default: the node's, --params)")
    p.add_argument("--queue-size", type=positive_int, default=None, help="sync queue per camera (default: the node's)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="evaluate the first N synchronised steps")
    p.add_argument("--out", default=None, help="output directory (default out/eval_bag/<bag name>)")
    p.add_argument("--save-predictions", action="store_true",
                   help="write predictions/<stamp>.npz: float32 metres per camera, keyed by bag stamp and camera")
    p.add_argument("--live", action="store_true",
                   help="replay the bag through surround_depth_node (real processes) and evaluate what it publishes")
    p.add_argument("--live-rate", type=float, default=1.0, help="--live: playback rate (default 1.0)")
    p.add_argument("--live-timeout", type=float, default=120.0, help="--live: give up after this many seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import shlex
    import sys
    from pathlib import Path

    from ..errors import DisdepthError
    from ..evaluation.bag_eval import EnginePredictor, RecordedPredictor, evaluate_bag, write_bag_report
    from ..evaluation.bag_source import BagSource, BagTopics
    from ..evaluation.metrics import METRIC_KEYS
    from ..geometry import CameraRig
    from ..paths import resolve_rig
    from ..pipeline.sync_settings import SyncSettings
    from ..runtime.engine_config import EngineConfig

    if args.backend == ORACLE_BACKEND:
        require_oracle("--backend")
        if not args.gt_frames:
            raise DisdepthError(f"--backend {ORACLE_BACKEND} (the test-only oracle) needs --gt-frames FILE")
    if not 0 < args.min_depth < args.max_depth:
        raise DisdepthError(f"--min-depth {args.min_depth} / --max-depth {args.max_depth}: need 0 < min < max")
    rig = CameraRig.from_yaml(resolve_rig(args.rig))
    sync = SyncSettings.node_defaults(args.params)
    if args.slop is not None:
        sync = dataclasses.replace(sync, slop=args.slop)
    if args.queue_size is not None:
        sync = dataclasses.replace(sync, queue_size=args.queue_size)
    topics = BagTopics(image=args.image_topic, camera_info=args.camera_info_topic, depth_gt=args.depth_topic,
                       lidar=args.lidar_topic, gt=args.gt)
    source = BagSource(args.bag, rig, topics=topics, sync=sync, cameras=args.cameras,
                       depth_range=(args.min_depth, args.max_depth), max_steps=args.max_frames or 0)
    engine_cfg = EngineConfig(backend=args.backend, checkpoint=args.checkpoint, device=args.device,
                              precision=args.precision, input_size=tuple(args.input_size) if args.input_size else (0, 0),
                              min_depth=args.min_depth, max_depth=args.max_depth, cameras=list(source.cameras),
                              gt_frames=args.gt_frames)
    engine_cfg.validate()
    out = Path(args.out) if args.out else Path("out") / "eval_bag" / (Path(args.bag).stem or "bag")
    model = _model_identity(engine_cfg)
    live = None
    if args.live:
        record_live = live_recorder()
        rec = record_live(source.inventory.path, rig_path=str(resolve_rig(args.rig)), cameras=source.cameras,
                          engine=engine_cfg, image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                          sync=sync, rate=args.live_rate, timeout_s=args.live_timeout, log_dir=out / "live_logs",
                          progress=not args.quiet)
        predict = RecordedPredictor(rec.depth)
        live = rec
    else:
        from ..runtime.factory import create_engine

        predict = EnginePredictor(create_engine(engine_cfg))
    summary = evaluate_bag(source, predict, min_depth=args.min_depth, max_depth=args.max_depth,
                           save_predictions=out / "predictions" if args.save_predictions else None,
                           progress=not args.quiet)
    source.close()
    summary["bag"] = source.inventory.to_json()
    summary["model"] = model
    summary["extrinsics"] = source.extrinsics_source
    summary["missing_cameras"] = source.missing_cameras
    summary["sync"] = dataclasses.asdict(sync)
    summary["mode"] = "live" if args.live else "offline"
    if live is not None:
        summary["live"] = {"expected": len(predict.used) + len(predict.missing_keys), "returned": len(predict.used),
                           "never_returned": len(predict.missing_keys),
                           "never_returned_keys": [f"{c}@{s}" for c, s in sorted(predict.missing_keys)][:200],
                           "published_total": len(live.depth), "node_log": str(live.node_log),
                           "player_log": str(live.player_log), "wall_s": live.wall_s}
    command = " ".join(shlex.quote(a) for a in ["disdepth", *sys.argv[1:]]) if sys.argv[1:2] == ["eval-bag"] \
        else "disdepth eval-bag " + shlex.quote(str(args.bag))
    write_bag_report(summary, out, title=f"eval-bag: {Path(args.bag).name} ({summary['mode']}, {model['backend']})",
                     command=command)
    a = summary["accounting"]
    for w in a["warnings"]:  # repeated stamps, duplicates: matched by arrival order, say so
        print(f"disdepth eval-bag: warning: {w}", file=sys.stderr)
    if not a["steps_evaluated"]:
        raise DisdepthError(f"{args.bag}: no time step evaluated (found {a['steps_found']}, skipped: "
                            + (", ".join(f"{r} {n}" for r, n in sorted(a["skipped"].items())) or "none")
                            + f"); {out}/report.md has the accounting")
    m = summary["metric"]["all"]
    print(" ".join(f"{k}={m[k]:.4f}" for k in METRIC_KEYS) + f" cross_view={summary['cross_view']:.4f}")
    print(f"frames: found {a['steps_found']}, evaluated {a['steps_evaluated']}, skipped {a['skipped_total']}"
          + (" (" + ", ".join(f"{r} {n}" for r, n in sorted(a["skipped"].items())) + ")" if a["skipped"] else ""))
    conf = summary.get("confidence")
    if conf and conf["per_camera"]:
        worse = [c for c, r in conf["per_camera"].items() if not r["better_than_random"] and r["ause_random"] > 0]
        print(f"confidence: AUSE {conf['all']['ause']:.4f} vs random {conf['all']['ause_random']:.4f} (AbsRel); "
              + (f"NOT better than random for {', '.join(worse)}" if worse else "better than random for every camera"))
    else:
        print("confidence: none (the model gives no per-pixel confidence)")
    print(f"wrote {out}/metrics.json, per_frame.csv, report.md and PNGs")
    return 0


def _model_identity(cfg) -> dict:
    """Backend, checkpoint path and the config hash of the model (what the report names)."""
    from pathlib import Path

    ident = {"backend": cfg.backend, "device": cfg.device, "precision": cfg.precision}
    if cfg.backend == ORACLE_BACKEND:
        ident["checkpoint"] = f"TEST ONLY oracle, ground-truth frames {cfg.gt_frames}"
        return ident
    from ..runtime.model_metadata import config_hash, resolve_checkpoint

    path = resolve_checkpoint(cfg.checkpoint)
    ident["checkpoint"] = str(Path(path).resolve())
    if Path(path).is_dir():
        from ..config import load_config
        from ..models.checkpoint import CONFIG_FILE
        from ..models.config import ModelConfig

        ident["config_hash"] = config_hash(load_config(ModelConfig, Path(path) / CONFIG_FILE))
    return ident
