"""A saved run's metrics (`run_metrics`) and ADL metrics, from its recorded tables.

The only model code used is `model.summary`'s pure metric functions, so a saved run's metrics
are computed by the same code as the live model's.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from experiments.analysis.returns import require_columns
from model.engine.events import ROW_TYPES
from model.summary import adl_summary, cascade_summary, retail_loss_share

# ------------------------------------------------------------------------ saved runs
SERIES_KEYS = (
    "minute",
    "asset",
    "fundamental_usd",
    "index_usd",
    "mark_usd",
    "last_usd",
    "funding_rate",
    "oi_long_usd",
    "liq_long_usd",
    "liq_short_usd",
)
RUN_INFO_KEYS = ("minutes", "shock_minute", "initial_pools_usd", "retail_deposited_usd")
RUN_TABLES = ("series", "pools", "liquidations", "adl", "haircuts", "bad_debt")


def series_arrays(series: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """The long per-minute table back to (symbols, {name: array (minutes, assets)}).

    Assets keep their order of first appearance (the model's order in `Recorder.frame`).
    """
    require_columns(series, SERIES_KEYS, "series")
    symbols = tuple(pd.unique(series.asset))
    wide = series.pivot(index="minute", columns="asset")
    names = [c for c in series.columns if c not in ("minute", "asset")]
    # C order, as the recorder holds them: numpy's pairwise sums then add in the same order
    return symbols, {n: np.ascontiguousarray(wide[n][list(symbols)].to_numpy(float)) for n in names}


def run_metrics(tables: Mapping[str, pd.DataFrame], info: Mapping) -> dict[str, float]:
    """`CascadeModel.summary()` recomputed from a saved run's tables and run info.

    Uses `model.summary.cascade_summary` and `adl_summary` on the recorded series, pools and
    events, and recomputes the retail loss share; the two crowding indicators are states of
    the minute before the shock and are read from `info`, where the model recorded them.

    Args:
        tables: `RUN_TABLES` → DataFrame, as `model.snapshots.run_tables` makes them.
        info: `model.snapshots.run_info` (needs `RUN_INFO_KEYS`).
    """
    missing = [t for t in RUN_TABLES if t not in tables] + [
        k for k in RUN_INFO_KEYS if k not in info
    ]
    if missing:
        raise ValueError(
            f"saved run lacks {', '.join(missing)}; it needs tables "
            f"{', '.join(RUN_TABLES)} and run info {', '.join(RUN_INFO_KEYS)}"
        )
    symbols, arrays = series_arrays(tables["series"])
    n = int(info["minutes"])
    pools = tables["pools"]
    pool_usd = pools[[c for c in pools.columns if c.startswith("pool_")]].to_numpy(float)
    shock = min(int(info["shock_minute"]), max(n - 1, 0))
    initial = np.asarray(info["initial_pools_usd"], dtype=float)
    out = cascade_summary(arrays, symbols, shock, pool_usd, initial)
    out.update(adl_metrics(tables["adl"], tables["haircuts"], tables["bad_debt"]))
    for key in ("liquidatable_oi_within_5pct", "long_oi_share_pre_shock"):
        out[key] = float(info.get(key, np.nan))
    liqs = tables["liquidations"]
    out["retail_liquidated_share"] = retail_liquidated_share(liqs, info["retail_deposited_usd"])
    out["minutes"] = n
    return out


def adl_metrics(
    adl: pd.DataFrame, haircuts: pd.DataFrame, bad_debt: pd.DataFrame
) -> dict[str, float]:
    """ADL metrics of one run from its event tables (the columns of `model.engine.events`' rows).

    taken = Σ value taken from winners by ADL fills + Σ haircuts; needed = the deficit they
    covered (ADL rows, haircut rows); overshoot = max(0, taken − needed) (Chitra 2025,
    exchange-mechanics.md §7.3); the top winner is the account that gave up most, and its
    share of the total taken; hedge breaks; residual bad debt (`model.summary.adl_summary`).
    Haircut tables saved before haircuts carried `needed_usd` count it 0 (their ADL rows
    carried it).
    """
    if "needed_usd" not in haircuts:
        haircuts = haircuts.assign(needed_usd=0.0)
    require_columns(
        adl,
        ("account", "qty", "price_usd", "value_taken_usd", "needed_usd", "is_hedge_break"),
        "adl events",
    )
    require_columns(haircuts, ("account", "haircut_usd"), "haircut events")
    require_columns(bad_debt, ("amount_usd",), "bad-debt events")
    rows = {
        k: _rows(t, k) for k, t in (("adl", adl), ("haircut", haircuts), ("bad_debt", bad_debt))
    }
    return adl_summary(rows["adl"], rows["haircut"], rows["bad_debt"])


def _rows(table: pd.DataFrame, kind: str) -> list:
    """A saved event table as the engine's typed rows (absent columns NaN)."""
    row_type = ROW_TYPES[kind]
    ordered = table.reindex(columns=list(row_type._fields))
    return [row_type._make(r) for r in ordered.itertuples(index=False, name=None)]


def retail_liquidated_share(liquidations: pd.DataFrame, deposited_usd: float) -> float:
    """Margin of retail positions lost to liquidation / retail money deposited.

    Σ notional / leverage setting over the retail liquidation events, over `deposited_usd`
    (`model.summary.retail_loss_share`, the live model's function).
    """
    require_columns(liquidations, ("notional_usd", "leverage", "is_retail"), "liquidations")
    retail = liquidations[liquidations.is_retail.astype(bool)]
    return retail_loss_share(retail.notional_usd, retail.leverage, deposited_usd)


def liquidatable_share(snapshot: pd.DataFrame, within: float = 0.05) -> float:
    """Share of open notional whose liquidation price is within `within` of the mark.

    Σ N·[|LP − mark| ≤ within·mark] / Σ N over a position snapshot (the model's
    `liquidatable_oi_within_5pct` at within = 0.05, taken the minute before the shock).
    """
    require_columns(snapshot, ("notional_usd", "liquidation_price_usd", "mark_usd"), "snapshot")
    gap = (snapshot.liquidation_price_usd - snapshot.mark_usd).abs()
    near = gap <= within * snapshot.mark_usd
    total = float(snapshot.notional_usd.sum())
    return float(snapshot.notional_usd[near].sum() / total) if total > 0 else 0.0
