"""The one configuration idiom: every setting a dataclass field with its unit, source and range.

`param(default, unit, source, lo, hi)` declares a number with its closed range [lo, hi] (an
end can be made open); `choice(default, options, source)` a name from a fixed list. A
`Validated` dataclass checks every such field on construction and names the dotted key in
its error (`liquidation.price_band must be in (0.0, 1.0), got 1.5`). The same metadata serves
the CLI's `list` and the teaching page's sliders (`model.config.field_metadata`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import field, fields
from typing import Any

from model.engine import validate as v

INF = math.inf


def param(
    default: Any, unit: str, source: str, lo: float = -INF, hi: float = INF, *,
    open_lo: bool = False, open_hi: bool = False,
) -> Any:  # fmt: skip
    """A numeric field with its unit, source and range (closed unless an end is open)."""
    meta = {"unit": unit, "source": source, "range": (lo, hi), "open": (open_lo, open_hi)}
    return field(default=default, metadata=meta)


def choice(default: str, options: Iterable[str], source: str) -> Any:
    """A field naming one of `options`."""
    return field(default=default, metadata={"choices": tuple(options), "source": source})


def check_fields(obj: Any, prefix: str) -> None:
    """Raise a ValueError naming `prefix + field` for a number outside its range (every
    number of a tuple is checked; None and non-numbers are left to the class) or a name
    outside its choices."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if "choices" in f.metadata:
            v.one_of(prefix + f.name, value, f.metadata["choices"])
            continue
        lo, hi = f.metadata.get("range", (-INF, INF))
        open_lo, open_hi = f.metadata.get("open", (False, False))
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for i, x in items:
            if isinstance(x, bool) or not isinstance(x, int | float):
                continue
            name = prefix + f.name + ("" if i is None else f"[{i}]")
            if not math.isfinite(x):
                raise ValueError(f"{name} must be finite, got {x!r}")
            v.in_range(name, x, lo, hi, open_lo=open_lo, open_hi=open_hi)


class Validated:
    """Base of the configuration dataclasses: fields checked on construction."""

    _prefix = ""

    def __post_init__(self) -> None:
        check_fields(self, self._prefix)
