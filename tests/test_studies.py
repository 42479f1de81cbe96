"""The long studies of the endogenous cascade, marked `study`: `make validate` runs them,
`make test` does not (each needs 150–300 model runs with their twins).

- The critical line: P(cascade amplification > 1.5) over the 50–100x share at three shock
  sizes, ten seeds a cell, each run with its counterfactual twin (the shortened shock of
  tests/test_model.py).
- The oct-2025 day over 20 seeds with its twin: the issue's bands, as medians.
"""

from __future__ import annotations

import functools
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from joblib import Parallel, delayed

from experiments.analysis import critical_share
from model.twin import run_pair
from tests.test_model import LEVERAGE_LEVELS, SHARE, SHORT, mean, sweep

pytestmark = pytest.mark.study

SHOCKS = (0.05, 0.10, 0.15)
SEEDS = tuple(range(10))
OCT_SEEDS = tuple(range(20))


def _pair(overrides: tuple, seed: int) -> dict:
    return run_pair("shock", seed, dict(overrides))[2]


@functools.cache
def leverage_grid() -> pd.DataFrame:
    """One row per (shock, share, seed): the summary with its twin's columns."""
    cells = [
        (shock, share, seed) for shock in SHOCKS for share in LEVERAGE_LEVELS for seed in SEEDS
    ]
    runs = Parallel(n_jobs=2)(
        delayed(_pair)(
            tuple(sorted((SHORT | {SHARE: share, "shocks.0.size": shock}).items())), seed
        )
        for shock, share, seed in cells
    )
    rows = [
        {"shocks.0.size": shock, SHARE: share, "replicate": seed, "status": "ok", **run}
        for (shock, share, seed), run in zip(cells, runs, strict=True)
    ]
    return pd.DataFrame(rows)


def test_a_critical_line_crosses_inside_the_grid_and_falls_with_the_shock():
    """For at least two of three shock sizes P(cascade amplification > 1.5) crosses 0.5 inside
    the swept shares, and a larger shock crosses at a share no larger than a smaller one."""
    table = critical_share(leverage_grid())
    inside = table[np.isfinite(table.critical_share)]
    assert len(inside) >= 2, table.to_string()
    crossings = inside.sort_values("shock").critical_share.to_numpy()
    assert all(b <= a for a, b in pairwise(crossings)), table.to_string()


@functools.cache
def oct_runs() -> list[dict]:
    return Parallel(n_jobs=2)(delayed(_oct)(seed) for seed in OCT_SEEDS)


def _oct(seed: int) -> dict:
    model, _, summary = run_pair("oct-2025", seed)
    liq = model.recorder.series["liq_long_usd"] + model.recorder.series["liq_short_usd"]
    per_minute = liq.sum(axis=1)
    total = per_minute.sum()
    summary["pre_shock_share"] = per_minute[: model.shock_start].sum() / total
    windows = np.convolve(per_minute, np.ones(40), "valid")
    summary["worst40_share"] = windows.max() / total
    return summary


def median(key: str) -> float:
    return float(np.nanmedian([r[key] for r in oct_runs()]))


def missed(key: str, lo: float, hi: float, measured: str):
    """A band the model misses today: a strict expected failure with the medians measured on
    these seeds and by `cascade-lab validate` (its own 20 seeds), so that a fix shows up as an
    unexpected pass."""
    reason = f"measured medians {measured}, band {lo:g}–{hi:g}; see docs/validation.md"
    return pytest.param(key, lo, hi, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize(
    ("key", "lo", "hi"),
    [
        missed("drawdown_BTC", 0.10, 0.15, "16.0 % (validate 18.4 %)"),
        ("endogenous_share_BTC", 0.50, 1.0),  # 58.4 % here, 58.0 % over validate's seeds
        missed("drawdown_TAILA", 0.50, 0.80, "14.3 % (validate 17.5 %)"),
        missed("endogenous_share_TAILA", 0.70, 1.0, "15.5 % (validate 6.1 %)"),
        missed("liq_over_oi_after_shock", 0.05, 0.15, "31.5 % (validate 38.4 %)"),
        ("pre_shock_share", 0.0, 0.15),  # 13.7 % here
        missed("liq_long_share", 0.85, 0.90, "90.4 % (validate 89.1 %, inside)"),
        missed("worst40_share", 0.60, 1.0, "25.2 % (validate 22.4 %)"),
        ("oi_drop_frac", 0.30, 0.60),  # 34.9 % here, 41.6 % over validate's seeds
    ],
)
def test_oct_2025_medians_over_20_seeds(key, lo, hi):
    """The issue's oct-2025 bands (DESIGN.md §1, exchange-mechanics §7.1, §8.1), as medians."""
    assert lo <= median(key) <= hi, median(key)


def stop_runs(share: float) -> list[dict]:
    overrides = SHORT | {SHARE: 0.2, "retail.stop_loss_share": share}
    return sweep("shock", tuple(sorted(overrides.items())), tuple(range(6)))


@pytest.mark.xfail(
    strict=True,
    reason="measured (6 seeds, 50–100x share 0.2, shortened shock): margin lost to "
    "liquidation was 0.78 % of retail deposits with no stops and 0.87 % with stops on every "
    "account. A stopped-out trader comes back within hours (retail.entry_prob) and is exposed "
    "again, so across the crowd stops do not lower the loss to liquidation here; the "
    "stop-loss sweep (cascade-lab sweep stop-loss) measures it at full size.",
)
def test_stop_losses_lower_the_share_of_retail_money_lost_to_liquidation():
    with_stops, without = stop_runs(1.0), stop_runs(0.0)
    assert mean(with_stops, "retail_liquidated_share") < mean(without, "retail_liquidated_share")
