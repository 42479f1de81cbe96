"""Stylized facts of returns: log returns, autocorrelation, kurtosis, Hill's tail index.

Pure functions over arrays and pandas tables (Cont 2001; Hill 1975; literature.md §3).

Sources: Cont (2001), "Empirical properties of asset returns: stylized facts and statistical
issues", Quantitative Finance 1, 223–236; Hill (1975), "A simple general approach to inference
about the tail of a distribution", Annals of Statistics 3, 1163–1174.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

AGGREGATION_MINUTES = (1, 5, 15, 60)
"""Return horizons of `kurtosis_by_aggregation`: 1 minute to 1 hour."""


def log_returns(prices: npt.ArrayLike, step: int = 1) -> np.ndarray:
    """Non-overlapping log returns at an aggregation of `step` minutes.

    r_i = ln p_{(i+1)·step} − ln p_{i·step}, i.e. the log prices sampled every `step` minutes
    and differenced; returns touching a missing or non-positive price are dropped.

    Args:
        prices: Price per minute, USD (1-D).
        step: Aggregation, minutes (>= 1).

    Raises:
        ValueError: `step` < 1 or `prices` not 1-D.
    """
    if int(step) != step or step < 1:
        raise ValueError(f"step must be an integer number of minutes >= 1, got {step!r}")
    p = np.asarray(prices, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"prices must be 1-D (one asset), got shape {p.shape}")
    sampled = p[:: int(step)]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(np.where(sampled > 0, sampled, np.nan)))
    return r[np.isfinite(r)]


def autocorrelation(x: npt.ArrayLike, lags: int | Iterable[int]) -> np.ndarray:
    """Sample autocorrelation at each lag (Box–Jenkins estimator).

    ρ̂(k) = Σ_{t=1}^{n−k} (x_t − x̄)(x_{t+k} − x̄) / Σ_{t=1}^{n} (x_t − x̄)²
    (Cont 2001; literature §3: ≈ 0 for returns beyond a few minutes, slowly decaying for |returns|).

    Args:
        x: Series (1-D), e.g. `log_returns(...)` or its absolute value.
        lags: Lags, or an int L meaning lags 1..L.

    Returns:
        ρ̂ per lag; NaN for a lag >= n or a constant series.
    """
    v = np.asarray(x, dtype=float)
    ks = np.arange(1, int(lags) + 1) if np.isscalar(lags) else np.asarray(list(lags), dtype=int)
    if np.any(ks < 0):
        raise ValueError(f"lags must be >= 0, got {ks.tolist()}")
    d = v - v.mean() if len(v) else v
    denom = float(d @ d)
    out = np.full(len(ks), np.nan)
    for i, k in enumerate(ks):
        if k < len(v) and denom > 0:
            out[i] = float(d[: len(v) - k] @ d[k:]) / denom
    return out


def excess_kurtosis(x: npt.ArrayLike) -> float:
    """Excess kurtosis, m4 / m2² − 3, with central sample moments m_j = mean((x − x̄)^j).

    0 for a Gaussian; crypto minute returns are far above it (literature §3 SF2). NaN for fewer
    than 4 values or a constant series.
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 4:
        return float("nan")
    d = v - v.mean()
    m2 = float(np.mean(d**2))
    return float(np.mean(d**4) / m2**2 - 3.0) if m2 > 0 else float("nan")


def hill_tail_index(x: npt.ArrayLike, tail_fraction: float = 0.05) -> float:
    """Hill estimator of the tail index α of |x| (Hill 1975).

    With |x| sorted descending X_(1) ≥ X_(2) ≥ …, and k = ⌊tail_fraction·n⌋ order statistics:
    α̂ = k / Σ_{i=1}^{k} ln(X_(i) / X_(k+1)). For a Pareto tail P(|X| > x) ∝ x^−α, α̂ → α;
    Cont (2001) reports α between 2 and 5 for returns (BTC: about 2–3, literature.md §3).

    Args:
        x: Sample (returns); the sign is ignored.
        tail_fraction: Share of the sample in the tail, in (0, 1).

    Returns:
        α̂, or NaN when the tail holds no observation or its threshold X_(k+1) is 0.

    Raises:
        ValueError: `tail_fraction` outside (0, 1).
    """
    if not 0.0 < tail_fraction < 1.0:
        raise ValueError(f"tail_fraction must be in (0, 1), got {tail_fraction!r}")
    a = np.abs(np.asarray(x, dtype=float))
    a = np.sort(a[np.isfinite(a)])[::-1]
    k = int(np.floor(tail_fraction * len(a)))
    if k < 1 or k >= len(a) or a[k] <= 0:
        return float("nan")
    log_excess = np.log(a[:k] / a[k]).sum()
    return float(k / log_excess) if log_excess > 0 else float("nan")


def kurtosis_by_aggregation(
    prices: npt.ArrayLike, steps: Sequence[int] = AGGREGATION_MINUTES
) -> dict[int, float]:
    """Excess kurtosis of non-overlapping log returns at each aggregation (minutes).

    Aggregational Gaussianity (Cont 2001; literature §3 SF5): the kurtosis falls toward 0 as the
    horizon grows.
    """
    return {int(s): excess_kurtosis(log_returns(prices, s)) for s in steps}


def require_columns(table, needed: Iterable[str], what: str = "table") -> None:
    """Raise a ValueError naming the missing columns of `table` and every column needed."""
    needed = list(needed)
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} lacks column(s) {', '.join(missing)}; it needs: {', '.join(needed)}"
        )


def stylized_facts(series: pd.DataFrame, price: str = "mark_usd") -> pd.DataFrame:
    """One row per asset: return autocorrelations, Hill tail index, kurtosis by aggregation.

    Columns: acf_r_1 (lag-1 ACF of 1-minute returns, ≈ 0), acf_abs_1 / acf_abs_10 /
    acf_abs_60 (ACF of |r|, positive and slowly decaying: volatility clustering), hill_5pct
    (Hill α̂ on the top 5 % of |r|), kurt_<m>m (excess kurtosis at m-minute returns).
    """
    require_columns(series, ("minute", "asset", price), "series")
    rows = []
    for asset, one in series.sort_values("minute").groupby("asset", sort=False):
        p = one[price].to_numpy(float)
        r = log_returns(p)
        acf_abs = autocorrelation(np.abs(r), (1, 10, 60))
        row = {"asset": asset, "acf_r_1": autocorrelation(r, (1,))[0]}
        row |= {f"acf_abs_{k}": v for k, v in zip((1, 10, 60), acf_abs, strict=True)}
        row["hill_5pct"] = hill_tail_index(r, 0.05)
        row |= {f"kurt_{m}m": v for m, v in kurtosis_by_aggregation(p).items()}
        rows.append(row)
    return pd.DataFrame(rows)
