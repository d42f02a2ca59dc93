"""Where the package's shipped files live, in a source checkout and after installation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import DisdepthError

PACKAGE = "disdepth_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """Directory holding ``config/`` (and ``launch/``): the source tree or ``<prefix>/share/disdepth_ros``.

    Looked up in order: the source checkout this module runs from, the install prefix
    this module was installed under (colcon: ``install/disdepth_ros``; pip: the venv),
    ``sys.prefix`` and every ``AMENT_PREFIX_PATH`` entry.
    """
    if (_SOURCE_ROOT / "config" / "rigs").is_dir():
        return _SOURCE_ROOT
    here = Path(__file__).resolve()
    prefixes = [here.parents[4]] if len(here.parents) > 4 else []  # <prefix>/lib/pythonX.Y/site-packages/pkg
    prefixes.append(Path(sys.prefix))
    prefixes += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        cand = prefix / "share" / PACKAGE
        if (cand / "config" / "rigs").is_dir():
            return cand
    raise DisdepthError(
        f"cannot find the {PACKAGE} config directory (looked in the source tree and "
        f"{', '.join(str(p / 'share' / PACKAGE) for p in prefixes)})"
    )


def config_path(*parts: str) -> Path:
    return share_dir() / "config" / Path(*parts)


def resolve_rig(rig: str | None) -> Path:
    """A rig argument -> file: a path, or a shipped rig name (``nuscenes``, ``ddad``)."""
    rig = rig or "nuscenes"
    p = Path(rig)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DisdepthError(f"rig file not found: {p}")
        return p
    cand = config_path("rigs", f"{rig}.yaml")
    if not cand.is_file():
        shipped = sorted(f.stem for f in config_path("rigs").glob("*.yaml"))
        raise DisdepthError(f"unknown rig {rig!r}: not a file and not a shipped rig ({', '.join(shipped)})")
    return cand
