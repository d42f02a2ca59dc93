"""Split lists shipped as data (their sources are named in README.md beside them)."""

from __future__ import annotations

from pathlib import Path

from ...errors import DisdepthError

SPLITS_DIR = Path(__file__).resolve().parent


def split_path(filename: str) -> Path:
    """Path of a shipped split file; DisdepthError if it is not installed."""
    p = SPLITS_DIR / filename
    if not p.is_file():
        raise DisdepthError(f"shipped split list {p} is missing (broken installation?)")
    return p


def read_index_list(path: Path) -> list[int]:
    """One integer per line, ``#`` comments allowed; errors name the file and line."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(int(line))
        except ValueError:
            raise DisdepthError(f"{path}: line {n}: expected an integer index, got {line!r}") from None
    return out
