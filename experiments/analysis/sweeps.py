"""Sweeps' answers: the cascade amplification (a run's drawdown / its counterfactual twin's,
DESIGN.md §2.3), the phase table, the critical 50–100x share, early warning, seed spread.

Sources: Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 13 (percentile
intervals); Spearman (1904), "The proof and measurement of association between two things",
Am. J. Psychology 15, 72–101.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from experiments.analysis.returns import require_columns

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
