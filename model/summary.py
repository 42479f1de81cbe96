"""Cascade metrics of a run from its recorded series and event tables (pure functions).

The same functions serve the live model (`CascadeModel.summary`) and saved runs, so the two
agree by construction.
"""

from __future__ import annotations

import numpy as np

from model.types import FloatArray


def drawdown(prices: FloatArray, start: int) -> float:
    """Peak-to-trough fall of a price series from minute `start` on, as a fraction."""
    p = np.asarray(prices[start:], dtype=float)
    p = p[np.isfinite(p)]
    if len(p) < 2:
        return 0.0
    peak = np.maximum.accumulate(p)
    return float(np.max(1.0 - p / peak))


def time_concentration(per_minute: FloatArray) -> tuple[float, float]:
    """(largest minute's share, share of the top decile of minutes) of a total."""
    x = np.sort(np.asarray(per_minute, dtype=float))[::-1]
    total = x.sum()
    if total <= 0:
        return 0.0, 0.0
    top = max(1, int(np.ceil(0.1 * len(x))))
    return float(x[0] / total), float(x[:top].sum() / total)


def cascade_summary(
    series: dict[str, FloatArray],
    symbols: tuple[str, ...],
    shock_start: int,
    pool_usd: FloatArray,
    initial_pools: FloatArray,
) -> dict[str, float]:
    """Liquidation totals, sides, drawdowns, amplification, concentration, OI and insurance."""
    long_, short = series["liq_long_usd"], series["liq_short_usd"]
    total = float(long_.sum() + short.sum())
    out: dict[str, float] = {
        "liq_notional_usd": total,
        "liq_long_share": float(long_.sum() / total) if total > 0 else 0.0,
    }
    for k, sym in enumerate(symbols):
        out[f"liq_notional_usd_{sym}"] = float(long_[:, k].sum() + short[:, k].sum())
        dd = drawdown(series["mark_usd"][:, k], shock_start)
        fall = drawdown(series["fundamental_usd"][:, k], shock_start)
        out[f"drawdown_{sym}"] = dd
        out[f"fundamental_drop_{sym}"] = fall
        out[f"amplification_{sym}"] = dd / fall if fall > 0 else float("nan")
    per_minute = (long_ + short).sum(axis=1)
    out["peak_minute_liq_share"], out["top_decile_minute_share"] = time_concentration(per_minute)
    oi = series["oi_long_usd"].sum(axis=1)
    # open interest before the first shock; without shocks, the run's mean
    before = oi[shock_start - 1] if shock_start > 0 else float(np.nanmean(oi))
    out["oi_before_usd"] = float(before)
    out["liq_over_oi"] = total / before if before > 0 else float("nan")
    out["oi_drop_frac"] = float(1.0 - np.nanmin(oi[shock_start:]) / before) if before > 0 else 0.0
    pools_total = pool_usd.sum(axis=1)
    out["insurance_min_usd"] = float(np.nanmin(pools_total))
    depleted = np.nanmin(pool_usd, axis=0) <= 0.01 * np.maximum(initial_pools, 1e-9)
    out["insurance_depleted_pools"] = int(depleted.sum())
    funding = series["funding_rate"][: max(1, shock_start)]
    out["max_funding_rate_pre_shock"] = float(np.nanmax(funding))
    return out


def adl_summary(
    adl_rows: list[tuple], haircut_rows: list[tuple], bad_debt_rows: list[tuple]
) -> dict[str, float]:
    """ADL count and notional, overshoot (taken + haircuts − needed), hedge breaks, bad debt."""
    qty = np.array([r[6] for r in adl_rows], dtype=float)
    price = np.array([r[7] for r in adl_rows], dtype=float)
    taken = sum(r[10] for r in adl_rows) + sum(r[5] for r in haircut_rows)
    needed = sum(r[11] for r in adl_rows)
    return {
        "adl_events": len(adl_rows),
        "adl_notional_usd": float((qty * price).sum()),
        "adl_needed_usd": float(needed),
        "adl_taken_usd": float(taken),
        "adl_overshoot_usd": float(max(0.0, taken - needed)),
        "hedge_breaks": int(sum(bool(r[12]) for r in adl_rows)),
        "bad_debt_usd": float(sum(r[4] for r in bad_debt_rows)),
    }
