"""The ``disdepth`` command line: one subcommand per module in :mod:`disdepth_core.commands`.

Each command module defines ``register(subparsers)`` (adds its parser and sets
``func``). Bad arguments exit 2 with one line; a :class:`DisdepthError` exits 1 with one
line naming the problem; no tracebacks for user errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import DisdepthError

# Order is the order of `disdepth --help`.
COMMAND_MODULES = [
    "disdepth_core.commands.demo",
    "disdepth_core.commands.rig",
    "disdepth_core.commands.world",
    "disdepth_core.commands.export",
    "disdepth_core.commands.bench",
    "disdepth_core.commands.train",
    "disdepth_core.commands.eval",
    "disdepth_core.commands.eval_bag",
    "disdepth_core.commands.ablate",
    "disdepth_core.commands.distill",
    "disdepth_core.commands.nuscenes_bag",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="disdepth",
        description="Surround-camera metric depth: synthetic world, models, distillation, "
        "evaluation, export, benchmarks and the demo.",
    )
    parser.add_argument("--version", action="version", version=f"disdepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DisdepthError as exc:
        print(f"disdepth {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"disdepth {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
