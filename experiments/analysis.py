"""Analysis of recorded tables: stylized facts, saved-run metrics, sweeps' answers.

Pure functions over arrays and pandas tables (a saved run's files, a sweep's `runs.parquet`);
the only model code used is `model.summary`'s pure metric functions, so a saved run's metrics
are computed by the same code as the live model's. Sections:

- stylized facts of returns (Cont 2001; Hill 1975; literature.md §3);
- a saved run's metrics (`run_metrics`) and ADL metrics;
- sweeps: the cascade amplification (a run's drawdown / its counterfactual twin's, DESIGN.md
  §2.3), the phase table, the critical 50–100x share, early warning.

Sources: Cont (2001), "Empirical properties of asset returns: stylized facts and statistical
issues", Quantitative Finance 1, 223–236; Hill (1975), "A simple general approach to inference
about the tail of a distribution", Annals of Statistics 3, 1163–1174; Efron & Tibshirani
(1993), "An Introduction to the Bootstrap", ch. 13 (percentile intervals); Spearman (1904),
"The proof and measurement of association between two things", Am. J. Psychology 15, 72–101.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from model.engine.events import SCHEMAS
from model.summary import adl_summary, cascade_summary, retail_loss_share

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
    (Cont 2001 §3: ≈ 0 for returns beyond a few minutes, slowly decaying for |returns|).

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

    0 for a Gaussian; crypto minute returns are far above it (Cont 2001 §4). NaN for fewer
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

    Aggregational Gaussianity (Cont 2001 §3): the kurtosis falls toward 0 as the horizon grows.
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
    """ADL metrics of one run from its event tables (`model.engine.events.SCHEMAS` columns).

    needed = Σ (BP − mark)₊·side·q over ADL closes (the budget the deficits needed); taken =
    Σ value taken from winners + Σ haircuts; overshoot = max(0, taken − needed) (Chitra 2025,
    exchange-mechanics.md §7.3); the top winner is the account that gave up most, and its
    share of the total taken; hedge breaks; residual bad debt (`model.summary.adl_summary`).
    """
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


def _rows(table: pd.DataFrame, kind: str) -> list[tuple]:
    """Event rows as tuples in `model.engine.events.SCHEMAS` order (absent columns NaN)."""
    ordered = table.reindex(columns=list(SCHEMAS[kind]))
    return list(ordered.itertuples(index=False, name=None))


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


# ----------------------------------------------------------------------------- sweeps
SHARE = "retail.high_leverage_share"
"""Runs-table column of the crowding knob: the share of accounts at 50–100x."""
SHOCK = "shocks.0.size"
"""Runs-table column of the shock size: the common factor's fall."""
CASCADE_SIZE = "liq_over_oi_after_shock"
"""Cascade size of a run: notional liquidated from the shock on / open interest before it."""
CASCADE_AMPLIFICATION = "mean_cascade_amplification"
"""Cascade amplification of a run: the mean over assets of drawdown / twin drawdown, the run's
fall over the fall of the same seed with forced closes off the book (`model.twin.with_twin`,
DESIGN.md §2.3). Per asset: `asset_amplification(symbol)`."""
AMPLIFICATION_THRESHOLD = 1.5
"""Cascade amplification above which a run counts as an amplified cascade: the market's own
forced selling made the fall at least 1.5 times its twin's."""


def asset_amplification(symbol: str) -> str:
    """The runs-table column of one asset's cascade amplification (drawdown / twin drawdown)."""
    return f"cascade_amplification_{symbol}"


def ok_runs(runs: pd.DataFrame, needed: Iterable[str] = ()) -> pd.DataFrame:
    """The runs that finished (status "ok") with the columns `needed`; raise if none did."""
    require_columns(runs, ("status", *needed), "runs table")
    ok = runs[runs.status == "ok"]
    if ok.empty:
        errors = runs.error.dropna().unique()[:3] if "error" in runs else []
        raise ValueError(f"no finished run among {len(runs)}; errors: {'; '.join(errors)}")
    return ok


def run_amplification(runs: pd.DataFrame) -> pd.Series:
    """Per run, the mean over assets of amplification_<ASSET> = mark drawdown / fundamental drop.

    The news amplification (what the price fell beyond what the news justified), not the
    cascade amplification of `CASCADE_AMPLIFICATION`; one number per run for the market:
    assets whose fundamental did not fall (NaN) are skipped.
    """
    cols = [c for c in runs.columns if c.startswith("amplification_")]
    if not cols:
        raise ValueError("runs table has no amplification_<ASSET> column")
    return runs[cols].mean(axis=1, skipna=True)


def exceeds(values: pd.Series, threshold: float) -> pd.Series:
    """1.0 where a value is above `threshold`, 0.0 where it is not, NaN where it is NaN.

    A run whose cascade amplification is undefined (its twin did not fall) is left out of a
    probability over seeds rather than counted as not amplified.
    """
    return (values > threshold).astype(float).where(values.notna())


def _amplified_runs(
    runs: pd.DataFrame, needed: Sequence[str], amplification: str, threshold: float
) -> pd.DataFrame:
    """Finished runs with `amp` (the amplification column) and `amplified` (`exceeds`)."""
    ok = ok_runs(runs, (*needed, amplification))
    amp = ok[amplification].astype(float)
    return ok.assign(amp=amp, amplified=exceeds(amp, threshold))


def phase_table(
    runs: pd.DataFrame,
    share: str = SHARE,
    shock: str = SHOCK,
    threshold: float = AMPLIFICATION_THRESHOLD,
    size: str = CASCADE_SIZE,
    amplification: str = CASCADE_AMPLIFICATION,
) -> pd.DataFrame:
    """Per (share, shock) cell: mean cascade size and P(cascade amplification > threshold).

    P is the fraction of the cell's seeds whose `amplification` column (by default the mean
    over assets of drawdown / twin drawdown; one asset's with `asset_amplification`) exceeds
    `threshold`, over the seeds where it is defined (`exceeds`).

    Returns:
        Columns share, shock, cascade_size (the mean of `size`), p_amplified, amplification
        (its mean over seeds), n_seeds (finished runs in the cell).
    """
    ok = _amplified_runs(runs, (share, shock, size), amplification, threshold)
    cells = ok.groupby([share, shock]).agg(
        cascade_size=(size, "mean"),
        p_amplified=("amplified", "mean"),
        amplification=("amp", "mean"),
        n_seeds=("amp", "size"),
    )
    return cells.reset_index().rename(columns={share: "share", shock: "shock"})


def crossing(x: np.ndarray, p: np.ndarray, level: float = 0.5) -> float:
    """Where p first exceeds `level` along increasing x, by linear interpolation.

    With i the first index where p_i > level: x_{i−1} + (level − p_{i−1}) / (p_i − p_{i−1}) ·
    (x_i − x_{i−1}); −inf when already p_0 > level (the crossing lies below the grid), +inf
    when p never exceeds `level` (above the grid). Points where p is NaN are skipped; NaN when
    none is left.
    """
    x, p = np.asarray(x, dtype=float), np.asarray(p, dtype=float)
    known = np.isfinite(p)
    x, p = x[known], p[known]
    if not len(p):
        return float("nan")
    above = np.flatnonzero(p > level)
    if not len(above):
        return float("inf")
    i = int(above[0])
    if i == 0:
        return float("-inf")
    frac = (level - p[i - 1]) / (p[i] - p[i - 1])
    return float(x[i - 1] + frac * (x[i] - x[i - 1]))


def _column_means(hits: np.ndarray) -> np.ndarray:
    """Mean of each column over its non-NaN entries; NaN for a column with none."""
    counts = np.isfinite(hits).sum(axis=0)
    sums = np.nansum(hits, axis=0)
    return np.divide(sums, counts, out=np.full(hits.shape[1], np.nan), where=counts > 0)


def critical_share(
    runs: pd.DataFrame,
    share: str = SHARE,
    shock: str = SHOCK,
    threshold: float = AMPLIFICATION_THRESHOLD,
    level: float = 0.9,
    n_boot: int = 2000,
    seed: int = 0,
    amplification: str = CASCADE_AMPLIFICATION,
) -> pd.DataFrame:
    """Per shock size, the 50–100x share at which P(cascade amplification > threshold) = 0.5.

    Point estimate: `crossing` at 0.5 of the per-share fraction of seeds whose `amplification`
    exceeds `threshold` (`phase_table`'s P). Band: the (1 − level)/2 and (1 + level)/2
    quantiles of the crossing over `n_boot` bootstrap draws of the replicates (drawn with
    replacement, the same draw for every share: the sweep uses common random numbers, so a
    replicate is one seed across all cells; Efron & Tibshirani 1993, percentile interval).
    ±inf mean the crossing lies outside the grid; `format_share` writes them "<lo" / ">hi".

    Returns:
        Columns shock, critical_share, low, high, grid_min, grid_max, n_seeds, p_by_share
        (the fraction amplified at each share, as text).
    """
    ok = _amplified_runs(runs, (share, shock, "replicate"), amplification, threshold)
    rng = np.random.default_rng(seed)
    rows = []
    for s, one in ok.groupby(shock):
        grid = one.pivot_table(index="replicate", columns=share, values="amplified", dropna=False)
        x, hits = grid.columns.to_numpy(float), grid.to_numpy(float)
        p = _column_means(hits)
        draws = rng.integers(0, len(hits), size=(n_boot, len(hits)))
        boot = np.array([crossing(x, _column_means(hits[d])) for d in draws])
        boot = boot[~np.isnan(boot)]
        lo, hi = (
            np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
            if len(boot)
            else (np.nan, np.nan)
        )
        rows.append(
            {
                "shock": s,
                "critical_share": crossing(x, p),
                "low": float(lo),
                "high": float(hi),
                "grid_min": float(x.min()),
                "grid_max": float(x.max()),
                "n_seeds": len(hits),
                "p_by_share": ", ".join(f"{xi:g}: {pi:.2f}" for xi, pi in zip(x, p, strict=True)),
            }
        )
    return pd.DataFrame(rows)


def format_share(value: float, grid_min: float, grid_max: float) -> str:
    """A crossing as text: '<0' below the grid, '>0.6' above it, 'n/a' if undefined, else two
    decimals."""
    if value == float("-inf"):
        return f"<{grid_min:g}"
    if value == float("inf"):
        return f">{grid_max:g}"
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2f}"


EARLY_WARNING_INDICATORS = (
    "perp_premium_pre_shock",
    "max_funding_rate_pre_shock",
    "liquidatable_oi_within_5pct",
    "long_oi_share_pre_shock",
)
"""Pre-shock summary keys that could warn of a cascade before the price moves."""
EARLY_WARNING_OUTCOMES = (CASCADE_SIZE, CASCADE_AMPLIFICATION)
"""What the indicators should warn of: how much is liquidated, and how much the forced
selling deepened the fall beyond the twin's."""


def early_warning(
    runs: pd.DataFrame,
    indicators: Sequence[str] = EARLY_WARNING_INDICATORS,
    outcomes: str | Sequence[str] = EARLY_WARNING_OUTCOMES,
    by: str | None = None,
) -> pd.DataFrame:
    """Spearman rank correlation of each pre-shock indicator with each outcome, across runs.

    ρ_S = Pearson correlation of the ranks (scipy.stats.spearmanr, two-sided p-value under
    independence; Spearman 1904). Indicators missing from the table or constant, or fewer
    than 3 runs with both values, give NaN.

    Args:
        runs: A sweep's runs table.
        indicators: Indicator columns.
        outcomes: Outcome column(s): by default cascade size (`CASCADE_SIZE`) and cascade
            amplification (`CASCADE_AMPLIFICATION`); or the crowding input itself, e.g.
            `SHARE`, to ask what tracks it.
        by: Optional column to correlate within each of its values (e.g. the shock size).

    Returns:
        Columns group, indicator, outcome, rho, p_value, n: one row per group, outcome and
        indicator, in that order.
    """
    outcomes = (outcomes,) if isinstance(outcomes, str) else tuple(outcomes)
    ok = ok_runs(runs, (*outcomes, *((by,) if by else ())))
    groups = ok.groupby(by) if by else [("all", ok)]
    rows = []
    for g, one in groups:
        for outcome in outcomes:
            for ind in indicators:
                rho, pval, n = _spearman(one, ind, outcome)
                rows.append(
                    {
                        "group": g,
                        "indicator": ind,
                        "outcome": outcome,
                        "rho": rho,
                        "p_value": pval,
                        "n": n,
                    }
                )
    return pd.DataFrame(rows)


def _spearman(table: pd.DataFrame, x: str, y: str) -> tuple[float, float, int]:
    if x not in table:
        return float("nan"), float("nan"), 0
    pair = table[[x, y]].astype(float).replace([np.inf, -np.inf], np.nan).dropna()
    if len(pair) < 3 or pair[x].nunique() < 2 or pair[y].nunique() < 2:
        return float("nan"), float("nan"), len(pair)
    res = stats.spearmanr(pair[x], pair[y])
    return float(res.statistic), float(res.pvalue), len(pair)


def seed_spread(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per cell: mean, min and max over seeds of each metric (columns <metric>_mean/_min/_max).

    Metrics missing from the table (a sweep stored by older code) come out NaN.
    """
    ok = ok_runs(runs, by)
    ok = ok.assign(**{m: np.nan for m in metrics if m not in ok})
    cells = ok.groupby(list(by))[list(metrics)].agg(["mean", "min", "max"])
    cells.columns = [f"{m}_{stat}" for m, stat in cells.columns]
    return cells.reset_index().assign(n_seeds=ok.groupby(list(by)).size().to_numpy())
