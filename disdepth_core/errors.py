"""Error types shared by the whole project.

Every error that reaches a user (CLI, node log) is a ``DisdepthError`` whose message
is one readable line naming the thing at fault (file, key, topic, shape...).
"""

from __future__ import annotations


class DisdepthError(Exception):
    """Base class: a user-facing error with a one-line message."""


class ConfigError(DisdepthError, ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``source`` is the file (or ``<dict>``), ``key`` the dotted key path.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.reason = message
        where = ""
        if source:
            where += f"{source}: "
        if key:
            where += f"key '{key}': "
        super().__init__(where + message)


class CapabilityError(DisdepthError, RuntimeError):
    """A backend or optional dependency is not available on this machine."""
