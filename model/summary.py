"""Cascade metrics of a run from its recorded series and event tables (pure functions).

The same functions serve the live model (`CascadeModel.summary`) and saved runs, so the two
agree by construction.
"""

from __future__ import annotations

import numpy as np

from model.engine.adl import adl_overshoot_usd
from model.engine.events import Adl, BadDebt, Haircut
from model.engine.types import FloatArray

PRE_SHOCK_MINUTES = 60
"""Window before the first shock over which the early-warning premium is averaged."""
FALL_WINDOW_MINUTES = 240
"""A fall is measured to the lowest price within this many minutes of the shock's start: the
cascade of 10 Oct 2025 bottomed within 30 minutes (§7.1), while over a whole day the
fundamental's own random walk after the shock would add its minimum (≈ 2σ of the rest of the
day) to both a run and its twin and dilute their ratio."""


def drawdown(prices: FloatArray, start: int, window: int | None = FALL_WINDOW_MINUTES) -> float:
    """Fall from the pre-shock level to the post-shock low, a fraction (0 if it never fell).

    level = prices[start − 1] (prices[0] when start is 0), low = min(prices[start:start +
    window]) (to the end when window is None); drawdown = max(0, 1 − low / level), NaNs
    ignored (DESIGN.md §2.3). A squeeze upward after the shock is not a fall, as it was for a
    peak-to-trough measure. Example: [100, 101, 95, 90, 97] from minute 2 → 1 − 90/101 ≈ 10.9 %.
    """
    p = np.asarray(prices, dtype=float)
    level = p[max(0, start - 1)]
    after = p[start:] if window is None else p[start : start + window]
    after = after[np.isfinite(after)]
    if not np.isfinite(level) or level <= 0 or len(after) == 0:
        return 0.0
    return float(max(0.0, 1.0 - after.min() / level))


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
    amps = [out[f"amplification_{sym}"] for sym in symbols]
    out["mean_amplification"] = float(np.nanmean(amps)) if np.isfinite(amps).any() else 0.0
    per_minute = (long_ + short).sum(axis=1)
    out["peak_minute_liq_share"], out["top_decile_minute_share"] = time_concentration(per_minute)
    oi = series["oi_long_usd"].sum(axis=1)
    # open interest before the first shock; without shocks, the run's mean
    before = oi[shock_start - 1] if shock_start > 0 else float(np.nanmean(oi))
    out["oi_before_usd"] = float(before)
    out["liq_over_oi"] = total / before if before > 0 else float("nan")
    # the cascade itself: what is liquidated from the shock on (the warm-up has its own churn)
    after = float(per_minute[shock_start:].sum())
    out["liq_over_oi_after_shock"] = after / before if before > 0 else float("nan")
    out["oi_drop_frac"] = float(1.0 - np.nanmin(oi[shock_start:]) / before) if before > 0 else 0.0
    pools_total = pool_usd.sum(axis=1)
    out["insurance_min_usd"] = float(np.nanmin(pools_total))
    depleted = np.nanmin(pool_usd, axis=0) <= 0.01 * np.maximum(initial_pools, 1e-9)
    out["insurance_depleted_pools"] = int(depleted.sum())
    funding = series["funding_rate"][: max(1, shock_start)]
    out["max_funding_rate_pre_shock"] = float(np.nanmax(funding))
    out["perp_premium_pre_shock"] = premium_before(series, shock_start)
    broken = series.get("broken_hedge_sold_usd")  # absent from runs saved before it existed
    out["broken_hedge_sold_usd"] = float(np.nansum(broken)) if broken is not None else np.nan
    return out


def premium_before(series: dict[str, FloatArray], shock_start: int) -> float:
    """Open-interest-weighted mean perp premium, (last − index) / index, before the shock.

    Averaged over the `PRE_SHOCK_MINUTES` before `shock_start` (the first minute when there is
    no shock). Crowded longs lift the perp over spot before they pay for it: the settled
    funding rate follows only at the next 8-hour settlement (exchange-mechanics.md §2.5).
    """
    window = slice(max(0, shock_start - PRE_SHOCK_MINUTES), max(1, shock_start))
    premium = series["last_usd"][window] / series["index_usd"][window] - 1.0
    oi = series["oi_long_usd"][window]
    ok = np.isfinite(premium) & np.isfinite(oi)
    weight = float(oi[ok].sum())
    return float((premium[ok] * oi[ok]).sum() / weight) if weight > 0 else float("nan")


def adl_summary(adl_rows: list, haircut_rows: list, bad_debt_rows: list) -> dict[str, float]:
    """ADL count and notional, value taken (ADL fills + haircuts), the deficit they were
    needed for, overshoot (taken − needed)_+, margin handed to winners by closes of units
    still above bankruptcy, top winner, hedge breaks, bad debt (events.Adl, events.Haircut).
    The top winner is the account that gave up most (ADL value taken + haircuts).

    Rows are the engine's typed events (`Adl`, `Haircut`, `BadDebt`) or plain tuples in their
    field order (a saved run's tables). Sums are numpy sums over float arrays, so the result
    does not depend on whether the rows hold Python or numpy floats.
    """
    adl = [Adl._make(r) for r in adl_rows]
    cuts = [Haircut._make(r) for r in haircut_rows]
    by_adl = _floats([r.value_taken_usd for r in adl])
    by_haircut = _floats([r.haircut_usd for r in cuts])
    taken = float(by_adl.sum() + by_haircut.sum())
    needed = float(_floats([r.needed_usd for r in [*adl, *cuts]]).sum())
    winners = _floats([r.account for r in adl] + [r.account for r in cuts])
    accounts, who = np.unique(winners, return_inverse=True)
    per_winner = np.bincount(who, np.concatenate([by_adl, by_haircut]), len(accounts))
    top = float(per_winner.max()) if len(accounts) else 0.0
    return {
        "adl_events": len(adl),
        "adl_notional_usd": float(_floats([r.notional_usd for r in adl]).sum()),
        "adl_needed_usd": needed,
        "adl_taken_usd": taken,
        "adl_overshoot_usd": adl_overshoot_usd(taken, needed),
        "adl_margin_to_winners_usd": float(_floats([r.margin_to_winner_usd for r in adl]).sum()),
        "adl_top_winner_usd": top,
        "adl_top_winner_share": top / taken if taken > 0 else 0.0,
        "hedge_breaks": int(np.count_nonzero(_floats([r.is_hedge_break for r in adl]))),
        "bad_debt_usd": float(_floats([BadDebt._make(r).amount_usd for r in bad_debt_rows]).sum()),
    }


def _floats(values: list) -> np.ndarray:
    return np.array(values, dtype=float)


def retail_loss_share(
    notional_usd: FloatArray, leverage: FloatArray, deposited_usd: float
) -> float:
    """Margin of liquidated retail slices / retail money deposited.

    Σ notional_i / leverage_i over the retail liquidation events (a slice's margin is its
    notional over the account's leverage setting), divided by `deposited_usd`; 0 if nothing
    was deposited.
    """
    lost = float(np.sum(np.asarray(notional_usd, float) / np.asarray(leverage, float)))
    return lost / deposited_usd if deposited_usd > 0 else 0.0
