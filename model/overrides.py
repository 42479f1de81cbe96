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
    """Return `cfg` with dotted keys replaced (e.g. "shocks.0.size", "retail.trade_prob")."""
    valid = list(flat_fields(cfg))
    for key in overrides:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ValueError(f"unknown parameter {key!r}{hint}")
    changes: dict[str, Any] = {}  # new top-level fields, so the whole is checked once
    for key, value in overrides.items():
        head, *rest = key.split(".")
        current = changes.get(head, getattr(cfg, head))
        changes[head] = (
            _replace_path(current, rest, value) if rest else _coerce(head, current, value)
        )
    return dataclasses.replace(cfg, **changes)  # cross-field checks on the final configuration


def _replace_path(obj: Any, path: list[str], value: Any) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        items[int(head)] = _replace_path(items[int(head)], rest, value)
        return tuple(items)
    if not rest:
        return dataclasses.replace(obj, **{head: _coerce(head, getattr(obj, head), value)})
    return dataclasses.replace(obj, **{head: _replace_path(getattr(obj, head), rest, value)})


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
