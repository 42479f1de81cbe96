"""What the diagnoses read from a validation's `Results`: seed medians and means of per-seed
metrics and the leverage table's cells."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from experiments.validation.tables import Results

Diagnosis = Callable[[Results, str], str | None]
"""(results, side of the band: "below" or "above") → sentences, or None."""


def med(res: Results, study: str, key: str) -> float:
    """Seed median of a per-seed metric of `study` (NaN when it was not recorded)."""
    df = res.per_seed[study]
    return float(np.nanmedian(df[key])) if key in df and len(df) else float("nan")


def lev(res: Results, asset: str, level: float, col: str) -> float:
    """A column of the leverage table at (asset, max leverage) (NaN when absent)."""
    df = res.leverage
    row = df[(df["asset"] == asset) & (df["max_leverage"] == level)]
    return float(row[col].iloc[0]) if len(row) else float("nan")


def levels(res: Results) -> tuple[float, float]:
    """The lowest and highest max-leverage levels of the leverage study."""
    found = sorted(set(res.leverage["max_leverage"]))
    return found[0], found[-1]


def mean(res: Results, study: str, key: str) -> float:
    """Seed mean of a per-seed metric of `study` (NaN when it was not recorded)."""
    df = res.per_seed[study]
    return float(np.nanmean(df[key])) if key in df and df[key].notna().any() else float("nan")
