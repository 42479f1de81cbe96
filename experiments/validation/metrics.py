"""Pure metrics of the validation: time concentration, depth, open interest against depth,
liquidation routes, pools, daily ratios and the stylized-fact statistics of one price path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.analysis.returns import (
    autocorrelation,
    excess_kurtosis,
    hill_tail_index,
    log_returns,
)
from experiments.validation.targets import INF

DEPTH_BASELINE_MINUTES = 60
"""Minutes before the shock over which pre-shock book depth is averaged."""
WORST_WINDOW_MINUTES = 40
EVENT_WINDOW_MINUTES = 370
"""Amberdata (literature §2.4): $6.93B of the $9.89B liquidated from 20:50 to 03:00 UTC (370
minutes) came in the 40 minutes from 20:50: 70 % of that window, 36 % of the 24-hour $19.1B."""
RETURN_LAGS = 10
ABS_RETURN_LAGS = 60
Z95 = 1.96
"""Two-sided 95 % band of a sample autocorrelation under no correlation: ±1.96/√n."""
ROUTE_OF_KIND = {"book": "book", "partial": "book", "pool_takeover": "pool", "vault": "vault"}
"""Where a liquidation event's `kind` closed the position; any other kind is the
loss-absorption policy's (ADL variants, socialised loss: DESIGN §2.4), route "policy"."""
ROUTES = ("book", "pool", "vault", "policy")


def worst_window_share(per_minute: np.ndarray, window: int = WORST_WINDOW_MINUTES) -> float:
    """Largest share of the total that falls in any `window` consecutive minutes.

    max_t Σ_{u=t}^{t+window−1} x_u / Σ_u x_u; 0 when the total is 0.
    """
    x = np.nan_to_num(np.asarray(per_minute, dtype=float))
    total = x.sum()
    if total <= 0:
        return 0.0
    c = np.concatenate([[0.0], np.cumsum(x)])
    w = min(window, len(x))
    return float(np.max(c[w:] - c[:-w]) / total)


def depth_collapse(depth: np.ndarray, shock_start: int) -> float:
    """1 − (total depth at the worst minute from the shock on) / (mean over the hour before).

    Args:
        depth: Depth within ±1 % per (minute, market), USD.
        shock_start: Minute of the shock.
    """
    total = np.nansum(depth, axis=1)
    pre = total[max(0, shock_start - DEPTH_BASELINE_MINUTES) : shock_start]
    if len(pre) == 0 or np.mean(pre) <= 0:
        return float("nan")
    return float(1.0 - np.min(total[shock_start:]) / np.mean(pre))


def pre_shock_depth_usd(depth_usd: np.ndarray, shock_start: int) -> np.ndarray:
    """Mean depth within ±1 % per market over the `DEPTH_BASELINE_MINUTES` before the shock.

    Args:
        depth_usd: Depth within ±1 % per (minute, market), USD.
        shock_start: Minute of the shock.

    Returns:
        USD per market; NaN when the run has no minute before the shock.
    """
    depth = np.asarray(depth_usd, dtype=float)
    window = depth[max(0, shock_start - DEPTH_BASELINE_MINUTES) : shock_start]
    if len(window) == 0:
        return np.full(depth.shape[1], np.nan)
    return np.nanmean(window, axis=0)


def guarded_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise; where the denominator is ≤ 0: inf when the
    numerator is > 0 (open interest against an empty book), NaN otherwise."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(num > 0, INF, np.nan))


def oi_over_depth(oi_usd: np.ndarray, depth_usd: np.ndarray, shock_start: int) -> np.ndarray:
    """Open interest just before the shock in units of the pre-shock ±1 % depth, per market.

    OI_k(s0 − 1) / mean_{t ∈ [s0 − 60, s0)} depth_k(t) (`pre_shock_depth_usd`, guarded by
    `guarded_ratio`). Reality: BTC ≈ $67B OI / ≈ $290M 1 % depth ≈ 230× (exchange-mechanics
    §8.1); DESIGN §2.3 calibrates majors at 100–250×.
    """
    before = np.asarray(oi_usd, dtype=float)[max(0, shock_start - 1)]
    return guarded_ratio(before, pre_shock_depth_usd(depth_usd, shock_start))


def liquidation_routes(kinds: np.ndarray, notional_usd: np.ndarray) -> dict[str, float]:
    """Share of liquidated notional by where it was closed: book, pool, vault or policy.

    Σ notional of the events whose `kind` maps to the route (`ROUTE_OF_KIND`; any other kind
    is the policy's: ADL, socialised loss) / Σ notional; keys ``liq_<route>_share``, NaN when
    nothing was liquidated. Book closes move prices; the others close off the book.
    """
    routes = np.array([ROUTE_OF_KIND.get(str(k), "policy") for k in kinds], dtype=object)
    usd = np.asarray(notional_usd, dtype=float)
    total = float(np.nansum(usd))
    return {
        f"liq_{r}_share": float(np.nansum(usd[routes == r]) / total) if total > 0 else np.nan
        for r in ROUTES
    }


def forced_sell_usd(liquidations: pd.DataFrame, n_markets: int, since_minute: int) -> np.ndarray:
    """Forced selling in the book per market from `since_minute` on, USD: the notional of the
    long positions' liquidations closed in the book (route "book", side +1; a short's is a buy).

    Args:
        liquidations: The exchange's liquidation events (`EventLog.frame("liquidation")`).
        n_markets: Number of perp markets.
        since_minute: First minute counted (the shock).
    """
    rows = liquidations[(liquidations["t"] >= since_minute) & (liquidations["side"] > 0)]
    in_book = rows["kind"].map(lambda k: ROUTE_OF_KIND.get(str(k), "policy")) == "book"
    by_market = rows[in_book].groupby("market")["notional_usd"].sum()
    out = np.zeros(n_markets)
    out[by_market.index.to_numpy(dtype=int)] = by_market.to_numpy(dtype=float)
    return out


def adl_thin_concentration(
    adl_usd: np.ndarray, oi_before: np.ndarray, is_thin: np.ndarray
) -> float:
    """Thin markets' share of ADL notional over their share of open interest (NaN: no ADL).

    > 1: ADL hits thin markets more than their size; 1: in proportion.
    """
    adl = np.nansum(adl_usd, axis=0)
    if adl.sum() <= 0 or oi_before.sum() <= 0 or oi_before[is_thin].sum() <= 0:
        return float("nan")
    return float((adl[is_thin].sum() / adl.sum()) / (oi_before[is_thin].sum() / oi_before.sum()))


def pool_losses(pool_usd: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Largest fall of each pool over the run as a share of its start, clipped to [0, 1]."""
    start = np.maximum(np.asarray(initial, dtype=float), 1e-9)
    return np.clip(1.0 - np.nanmin(pool_usd, axis=0) / start, 0.0, 1.0)


def daily_ratio(liq_usd: np.ndarray, oi_usd: np.ndarray) -> float:
    """Liquidated notional per day / mean open interest, over the minutes given."""
    mean_oi = float(np.nanmean(oi_usd)) if len(oi_usd) else 0.0
    if mean_oi <= 0:
        return float("nan")
    return float(np.nansum(liq_usd) / mean_oi * 1440.0 / len(liq_usd))


def acf_z(x: np.ndarray, lag: int = 1) -> float:
    """Autocorrelation at `lag` in units of its 95 % band under no correlation (1.96/√n)."""
    if len(x) <= lag + 2:
        return float("nan")
    return float(autocorrelation(x, [lag])[0] / (Z95 / np.sqrt(len(x))))


def return_stats(prices: np.ndarray) -> dict[str, float]:
    """Stylized-fact statistics of one price path per minute (one seed, one asset)."""
    r1, r60 = log_returns(prices, 1), log_returns(prices, 60)
    band = Z95 / np.sqrt(max(len(r1), 1))
    acf = autocorrelation(r1, RETURN_LAGS)
    abs_acf = autocorrelation(np.abs(r1), ABS_RETURN_LAGS)
    k1, k60 = excess_kurtosis(r1), excess_kurtosis(r60)
    return {
        "acf1_1m": float(acf[0]),
        "acf1_1m_z": acf_z(r1),
        "acf_in_band_1m": float(np.mean(np.abs(acf) <= band)),
        "acf1_1h_z": acf_z(r60),
        "abs_acf1_1m": float(abs_acf[0]),
        "abs_acf_sig_lags_1m": float(np.sum(abs_acf > band)),
        "abs_acf1_1h_z": acf_z(np.abs(r60)),
        "hill_1m": hill_tail_index(r1),
        "kurt_1m": k1,
        "kurt_5m": excess_kurtosis(log_returns(prices, 5)),
        "kurt_15m": excess_kurtosis(log_returns(prices, 15)),
        "kurt_60m": k60,
        "kurt_ratio_60_1": k60 / k1 if k1 > 0 else float("nan"),
        "variance_ratio_60": float(np.var(r60) / (60 * np.var(r1))) if np.var(r1) > 0 else np.nan,
    }
