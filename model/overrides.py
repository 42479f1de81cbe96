"""Dotted keys into the configuration tree: list them, read their metadata, override them.

`with_overrides(cfg, {"retail.high_leverage_share": 0.4})` returns a validated copy; unknown
keys get the closest valid names; the whole configuration is checked once, after every key.
"""

from __future__ import annotations

import dataclasses
import difflib
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
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown parameter {key!r}{hint}")
    updates = [(key.split("."), value) for key, value in overrides.items()]
    return _replace_many(cfg, updates)  # cross-field checks on the final configuration


def _replace_many(obj: Any, updates: list[tuple[list[str], Any]]) -> Any:
    """`obj` (a dataclass, or a tuple of them) with each (path, value) replaced: one
    `dataclasses.replace` per object, with all of its changed fields."""
    groups: dict[str, list[tuple[list[str], Any]]] = {}
    for path, value in updates:
        groups.setdefault(path[0], []).append((path[1:], value))
    if isinstance(obj, tuple):
        items = list(obj)
        for head, rest in groups.items():
            items[int(head)] = _replace_many(items[int(head)], rest)
        return tuple(items)
    changes = {}
    for head, rest in groups.items():
        current = getattr(obj, head)
        leaf = [value for path, value in rest if not path]
        changes[head] = _coerce(head, current, leaf[-1]) if leaf else _replace_many(current, rest)
    return dataclasses.replace(obj, **changes)


def _coerce(name: str, current: Any, value: Any) -> Any:
    """`value` in the type of the field's current value (bool, whole number, float)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return bool(value)
    if isinstance(current, int):
        if float(value) != int(float(value)):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(float(value))
    if isinstance(current, float):
        return float(value)
    return value
