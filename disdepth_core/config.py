"""The one configuration system: typed dataclasses loaded from YAML and validated.

Every configurable part of the project (rigs, models, training, export, nodes) is a
``@dataclass`` whose fields carry their type and, through :func:`cfg_field`, their
allowed range or choices. :func:`load_config` reads a YAML file into such a class and
rejects unknown keys, wrong types and out-of-range values with a :class:`ConfigError`
that names the file, the dotted key path and what was expected::

    config/rigs/bad.yaml: key 'cameras[2].fx': expected a number > 0, got -3.0

A dataclass may define ``validate(self)`` for cross-field rules (``d_min < d_max``);
it raises ``ConfigError(msg, key='field')`` with a key relative to itself and the
loader adds the file and the path prefix.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from .errors import ConfigError

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "cfg_field",
    "from_dict",
    "load_config",
    "load_yaml",
    "save_config",
    "to_dict",
]


def cfg_field(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    min: float | None = None,  # noqa: A002 - reads naturally in field declarations
    max: float | None = None,  # noqa: A002
    gt: float | None = None,
    lt: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    help: str = "",  # noqa: A002
) -> Any:
    """A dataclass field with validation metadata.

    ``min``/``max`` are inclusive bounds, ``gt``/``lt`` exclusive; ``choices`` lists
    the allowed values; ``help`` is shown in errors and documentation.
    """
    meta = {"min": min, "max": max, "gt": gt, "lt": lt, "choices": choices, "help": help}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = _type_name(args[0]) if args else "any"
        return f"a list of {inner}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Convert/validate ``value`` against type ``tp``; raise ConfigError naming ``key``."""

    def fail(expected: str | None = None) -> typing.NoReturn:
        raise ConfigError(
            f"expected {expected or _type_name(tp)}, got {value!r}", source=source, key=key
        )

    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            fail()
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        fail()
    if origin is Literal:
        if value not in get_args(tp):
            fail()
        return value
    if tp is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            fail()
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail()
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                fail(f"a list of {len(args)} items")
            return tuple(_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args, strict=True)))
        inner = args[0] if args else Any
        items = [_convert(v, inner, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            fail()
        kt, vt = get_args(tp) or (Any, Any)
        return {
            _convert(k, kt, f"{key}.{k}", source): _convert(v, vt, f"{key}.{k}", source)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            fail()
        return from_dict(tp, value, source=source, prefix=key)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    fail()


def _check_range(value: Any, meta: typing.Mapping[str, Any], key: str, source: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(
            f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}",
            source=source,
            key=key,
        )
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"expected a finite number, got {value!r}", source=source, key=key)
    for name, ok, sym in (
        ("min", lambda v, b: v >= b, ">="),
        ("max", lambda v, b: v <= b, "<="),
        ("gt", lambda v, b: v > b, ">"),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"expected a value {sym} {bound}, got {value!r}", source=source, key=key)


def from_dict(cls: type[T], data: typing.Mapping[str, Any] | None, *, source: str = "<dict>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, validating every key.

    Missing keys take the field defaults; unknown keys, wrong types and values outside
    the declared ranges raise :class:`ConfigError` with ``source`` and the key path.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping ({cls.__name__}), got {data!r}", source=source, key=prefix or None)
    hints = typing.get_type_hints(cls)
    flds = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in flds]
    if unknown:
        k = unknown[0]
        raise ConfigError(
            f"unknown key (expected one of: {', '.join(sorted(flds))})",
            source=source,
            key=f"{prefix}.{k}" if prefix else str(k),
        )
    kwargs = {}
    for name, f in flds.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError("missing required key", source=source, key=key)
            continue
        value = _convert(data[name], hints[name], key, source)
        _check_range(value, f.metadata, key, source)
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                _check_range(v, f.metadata, f"{key}[{i}]", source)
        kwargs[name] = value
    try:
        obj = cls(**kwargs)
    except ConfigError as exc:
        raise _rebase(exc, source, prefix) from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            raise _rebase(exc, source, prefix) from None
    return obj


def _rebase(exc: ConfigError, source: str, prefix: str) -> ConfigError:
    key = exc.key
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    return ConfigError(exc.reason, source=exc.source or source, key=key)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML (or JSON) file; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("file not found", source=str(p))
    try:
        with p.open("r", encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", source=str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file", source=str(p)) from None


EXTENDS_KEY = "extends"


def _merged(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: mappings merge key by key (recursively); anything else
    (a list, a scalar) in ``over`` replaces ``base``'s value whole."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merged(base[k], v) if k in base else v
        return out
    return over


def load_yaml_extending(path: str | Path, _chain: tuple[Path, ...] = ()) -> Any:
    """Read a YAML config that may name another as its base: a top-level ``extends: FILE``
    (relative to this file's folder) is read first and this file's keys are laid over it
    (mappings merge, lists and scalars replace). Bases may extend bases; a cycle is an error."""
    p = Path(path)
    data = load_yaml(p)
    if not isinstance(data, dict) or EXTENDS_KEY not in data:
        return data
    base_name = data.pop(EXTENDS_KEY)
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"expected the path of a base config file, got {base_name!r}", source=str(p),
                          key=EXTENDS_KEY)
    chain = _chain + (p.resolve(),)  # this file and the files that extend it
    base_path = (p.parent / base_name).resolve()
    if base_path in chain:
        raise ConfigError(f"{base_name} extends this file again (a cycle)", source=str(p), key=EXTENDS_KEY)
    if not base_path.is_file():
        raise ConfigError(f"base config {base_name} not found (looked for {base_path})", source=str(p),
                          key=EXTENDS_KEY)
    base = load_yaml_extending(base_path, chain)
    if not isinstance(base, dict):
        raise ConfigError(f"base config {base_name} is not a mapping", source=str(p), key=EXTENDS_KEY)
    return _merged(base, data)


def load_config(cls: type[T], path: str | Path, *, section: str | None = None) -> T:
    """Load dataclass ``cls`` from the YAML file ``path`` (optionally one top-level ``section``);
    the file may extend a base config (``extends:``, see :func:`load_yaml_extending`)."""
    data = load_yaml_extending(path)
    if section is not None:
        if not isinstance(data, dict) or section not in data:
            raise ConfigError("missing required section", source=str(path), key=section)
        data = data[section]
        return from_dict(cls, data, source=str(path), prefix=section)
    return from_dict(cls, data, source=str(path))


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON-serialisable form of a config dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_config(obj: Any, path: str | Path) -> None:
    """Write a config dataclass as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = to_dict(obj)
    if p.suffix in (".yaml", ".yml"):
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    else:
        p.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
