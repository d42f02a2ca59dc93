"""Where the package's shipped files live, in a source checkout and after installation."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import DisdepthError

PACKAGE = "disdepth_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """Directory holding ``config/`` (and ``launch/``): the source tree or ``share/disdepth_ros``."""
    if (_SOURCE_ROOT / "config" / "rigs").is_dir():
        return _SOURCE_ROOT
    for prefix in (Path(sys.prefix), *(Path(p).parents[3] for p in sys.path if "site-packages" in p)):
        cand = prefix / "share" / PACKAGE
        if (cand / "config").is_dir():
            return cand
    raise DisdepthError(f"cannot find the {PACKAGE} config directory (source tree or share/{PACKAGE})")


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
