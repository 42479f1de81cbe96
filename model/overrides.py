"""Dotted keys into the configuration tree: list them, read their metadata, override them.

`with_overrides(cfg, {"retail.high_leverage_share": 0.4})` returns a validated copy; unknown
keys get the closest valid names; the whole configuration is checked once, after every key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import fields, is_dataclass
from typing import Any

from model.config import ModelConfig


def flat_fields(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf field as {"dotted.key": value} (tuples of dataclasses indexed by position)."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            out.update(flat_fields(value, key + "."))
        elif isinstance(value, tuple) and value and is_dataclass(value[0]):
            for i, item in enumerate(value):
                out.update(flat_fields(item, f"{key}.{i}."))
        else:
            out[key] = value
    return out


def field_metadata(cfg: Any) -> dict[str, dict]:
    """{"dotted.key": metadata} for every leaf field that declares a unit and range."""
    out: dict[str, dict] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in fields(obj):
            value = getattr(obj, f.name)
            if is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            elif "range" in f.metadata:
                out[f"{prefix}{f.name}"] = dict(f.metadata)

    walk(cfg, "")
    return out


def with_overrides(cfg: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    """Return `cfg` with dotted keys replaced (e.g. "shocks.0.size", "retail.trade_prob").

    Every section is rebuilt once with all of its keys, so a rule that ties two fields of a
    section together (liquidation.backstop_equity_ratio needs the backstop_vault policy)
    sees them together, in whatever order they were given."""
    valid = list(flat_fields(cfg))
    for key in overrides:
        if key.startswith("shocks.") and not cfg.shocks and key not in valid:
            raise ValueError(
                f"unknown parameter {key!r}: this configuration has no shocks (shocks.N.* "
                "apply to a scenario with a shock, e.g. shock or oct-2025)"
            )
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown parameter {key!r}{hint}")
    updates = [(key.split("."), value) for key, value in overrides.items()]
    return _replace_many(cfg, updates)  # cross-field checks on the final configuration


def _replace_many(obj: Any, updates: list[tuple[list[str], Any]], prefix: str = "") -> Any:
    """`obj` (a dataclass, or a tuple of them) with each (path, value) replaced: one
    `dataclasses.replace` per object, with all of its changed fields. `prefix` is the dotted
    key of `obj`, for error messages."""
    groups: dict[str, list[tuple[list[str], Any]]] = {}
    for path, value in updates:
        groups.setdefault(path[0], []).append((path[1:], value))
    if isinstance(obj, tuple):
        items = list(obj)
        for head, rest in groups.items():
            items[int(head)] = _replace_many(items[int(head)], rest, f"{prefix}{head}.")
        return tuple(items)
    declared = {f.name: f for f in fields(obj)}
    changes = {}
    for head, rest in groups.items():
        current = getattr(obj, head)
        leaf = [value for path, value in rest if not path]
        if leaf:
            changes[head] = _coerce(prefix + head, current, leaf[-1], declared[head])
        else:
            changes[head] = _replace_many(current, rest, f"{prefix}{head}.")
    return dataclasses.replace(obj, **changes)


TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null")


def parse_bool(name: str, value: Any) -> bool:
    """A switch as users write it: true/false, yes/no, on/off, 1/0 (any case), or a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    accepted = ", ".join(f"{t}/{f}" for t, f in zip(TRUE_WORDS, FALSE_WORDS, strict=True))
    raise ValueError(f"{name} is a switch: true or false; got {value!r}, accepted: {accepted}")


def _coerce(name: str, current: Any, value: Any, declared: Any = None) -> Any:
    """`value` in the type of the field's current value (bool, whole number, float, tuple).

    `name` is the dotted key; every refusal is a ValueError naming it, the value and what is
    allowed. `declared` (the dataclass field) tells whether a tuple field also takes one
    number (``float | tuple``) or None."""
    kind = str(getattr(declared, "type", ""))
    if value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS):
        if current is None or "None" in kind:
            return None
        raise ValueError(f"{name} cannot be None, got {value!r}")
    if isinstance(current, bool) or (current is None and kind == "bool"):
        return parse_bool(name, value)
    if isinstance(current, tuple):
        return _coerce_tuple(name, current, value, kind)
    if isinstance(current, int) or (current is None and kind.startswith("int")):
        x = _number(name, value, "a whole number" + _allowed(declared))
        if x != int(x):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(x)
    if isinstance(current, float) or (current is None and "float" in kind):
        return _number(name, value, "a number" + _allowed(declared))
    return value


def _allowed(declared: Any) -> str:
    """ " in [lo, hi]" from a field's declared range ("" when it has none)."""
    lo, hi = getattr(declared, "metadata", {}).get("range", (-math.inf, math.inf))
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f" in [{_plain(lo)}, {_plain(hi)}]"


def _plain(x: float) -> str:
    """A range end as people write it: 5,000,000 rather than 5e+06."""
    return f"{int(x):,}" if math.isfinite(x) and x == int(x) and abs(x) < 1e15 else f"{x:g}"


def _number(name: str, value: Any, what: str) -> float:
    """`value` as a finite float, or a ValueError naming the key."""
    if isinstance(value, bool | tuple | list):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be {what} (finite), got {value!r}")
    return x


def _coerce_tuple(name: str, current: tuple, value: Any, kind: str) -> Any:
    """A tuple field: a comma-separated list of numbers (of the current length when the
    type fixes it); one number where the type allows it (``float | tuple``)."""
    if not isinstance(value, tuple | list):
        if kind.startswith("float |") or kind.startswith("int |"):
            return _number(name, value, "a number or a comma-separated list of numbers")
        example = ",".join(f"{x:g}" for x in current)
        raise ValueError(
            f"{name} takes {len(current)} comma-separated numbers, e.g. {name}={example}; "
            f"got {value!r}"
        )
    typed = ",".join(_typed(x) for x in value)
    fixed = "..." not in kind and kind.startswith("tuple[")
    if fixed and len(value) != len(current):
        raise ValueError(f"{name} takes {len(current)} numbers, got {len(value)}: {typed!r}")
    whole = current and all(isinstance(x, int) and not isinstance(x, bool) for x in current)
    try:
        items = [_number(name, x, "a list of numbers") for x in value]
    except ValueError:
        raise ValueError(f"{name} must be a list of numbers, got {typed!r}") from None
    if whole:
        if any(x != int(x) for x in items):
            raise ValueError(f"{name} takes whole numbers, got {typed!r}")
        return tuple(int(x) for x in items)
    return tuple(items)


def _typed(x: Any) -> str:
    """One item of a list as the user typed it (50, not 50.0)."""
    return f"{x:g}" if isinstance(x, float) else str(x)
