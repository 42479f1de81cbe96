"""Field checks that raise one clear ValueError naming the field, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Iterable


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite(field: str, value: object) -> float:
    """Return `value` as a float, or raise if it is not a finite number."""
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    return float(value)


def positive(field: str, value: object) -> float:
    """Return `value` if it is a finite number > 0."""
    if finite(field, value) <= 0:
        raise ValueError(f"{field} must be > 0, got {value!r}")
    return float(value)


def non_negative(field: str, value: object) -> float:
    """Return `value` if it is a finite number >= 0."""
    if finite(field, value) < 0:
        raise ValueError(f"{field} must be >= 0, got {value!r}")
    return float(value)


def in_range(
    field: str, value: object, lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False
) -> float:
    """Return `value` if it lies in the interval [lo, hi] (ends open as asked)."""
    v = finite(field, value)
    below = v <= lo if open_lo else v < lo
    above = v >= hi if open_hi else v > hi
    if below or above:
        left, right = "(" if open_lo else "[", ")" if open_hi else "]"
        raise ValueError(f"{field} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def one_of(field: str, value: object, choices: Iterable[str]) -> str:
    """Return `value` if it is one of `choices`, else name the valid choices."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{field} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value  # type: ignore[return-value]
