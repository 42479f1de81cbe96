"""The studies' tables: per-seed metrics, pooled leverage and stylized-fact tables, the target
table (seed medians against their bands), gathered in `Results` by `evaluate`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.analysis.returns import (
    autocorrelation,
    excess_kurtosis,
    hill_tail_index,
    log_returns,
)
from experiments.validation.metrics import ABS_RETURN_LAGS, RETURN_LAGS, daily_ratio, return_stats
from experiments.validation.targets import INF, TARGETS


@dataclass
class Results:
    """Everything one `validate` call measured.

    Attributes:
        table: One row per target: value (seed median), p25, p75, n, band, status.
        per_seed: Study → one row per seed of metrics.
        oct_runs: Raw oct-2025 worker outputs (paths for the figure).
        leverage: One row per (max leverage, asset): pooled and per-seed statistics.
        stylized: One row per asset: pooled stylized facts of the stylized study's calm runs.
        acf: Mean ACFs of those runs (returns lags 1–10, |returns| lags 1–60) per asset.
        size: Size name; seeds: the seed tuple; seconds: wall time.
        failures: Runs that raised: seed, study, overrides, error (left out of every table).
        calm_runs: Raw calm worker outputs per max-leverage level (for further analysis).
    """

    table: pd.DataFrame
    per_seed: dict[str, pd.DataFrame]
    oct_runs: list[dict]
    leverage: pd.DataFrame
    stylized: pd.DataFrame
    acf: dict[str, dict[str, np.ndarray]]
    size: str
    seeds: tuple[int, ...]
    n_returns: dict[str, int]
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)
    calm_runs: dict[float, list[dict]] = field(default_factory=dict)


def evaluate(
    oct_out: list[dict],
    calm_out: dict[float, list[dict]],
    size: str,
    seeds: tuple[int, ...],
    base: list[dict],
) -> Results:
    """Per-seed tables of each study, pooled leverage and stylized tables, the target table.

    `calm_out`: the leverage sweep's runs per level; `base`: the stylized study's calm runs.
    Failed runs are left out before this; a study without runs gives empty tables.
    """
    oct_seed = pd.DataFrame([{"seed": o["seed"], **o["metrics"]} for o in oct_out])
    if calm_out and all(calm_out.values()):
        lev_seed, lev_table = _leverage_tables(calm_out)
    else:
        lev_seed, lev_table = pd.DataFrame({"seed": []}), pd.DataFrame({"asset": []})
    if base:
        major, _ = _major_and_tail(base[0])
        sty_seed = pd.DataFrame([_stylized_seed(run, major) for run in base])
        stylized, acf, n_returns = _stylized_tables(base)
    else:
        sty_seed, stylized, acf, n_returns = pd.DataFrame({"seed": []}), pd.DataFrame(), {}, {}
    per_seed = {"oct-2025": oct_seed, "leverage": lev_seed, "stylized": sty_seed}
    return Results(
        target_table(per_seed), per_seed, oct_out, lev_table, stylized, acf, size, seeds, n_returns
    )


def _major_and_tail(run: dict) -> tuple[int, int]:
    kinds = list(run["kinds"])
    return kinds.index("major"), kinds.index("tail")


def _stylized_seed(run: dict, k: int) -> dict[str, float]:
    # the same statistics of the fundamental: what the model was given, next to what it made
    given = {f"{key}_fundamental": x for key, x in return_stats(run["fundamental"][:, k]).items()}
    row = {"seed": run["seed"], **return_stats(run["mark"][:, k]), **given}
    long_ = daily_ratio(run["liq_long"].sum(axis=1), run["oi"].sum(axis=1))
    short = daily_ratio(run["liq_short"].sum(axis=1), run["oi"].sum(axis=1))
    ratio = long_ / short if short > 0 else (INF if long_ > 0 else float("nan"))
    row.update(liq_oi_long_daily=long_, liq_oi_short_daily=short, liq_long_short_ratio=ratio)
    return row


def _stylized_tables(runs: list[dict]) -> tuple[pd.DataFrame, dict, dict[str, int]]:
    """Pooled statistics per asset (returns of all seeds together) and mean ACFs."""
    symbols = runs[0]["symbols"]
    rows, acf, n_returns = [], {}, {}
    for k, sym in enumerate(symbols):
        paths = [r["mark"][:, k] for r in runs]
        r1 = [log_returns(p, 1) for p in paths]
        pooled = np.concatenate(r1)
        n_returns[sym] = len(pooled)
        row = {"asset": sym, "n_1m": len(pooled), "hill_1m": hill_tail_index(pooled)}
        for step in (1, 5, 15, 60):
            row[f"kurt_{step}m"] = excess_kurtosis(
                np.concatenate([log_returns(p, step) for p in paths])
            )
        fund = np.concatenate([log_returns(r["fundamental"][:, k], 1) for r in runs])
        row["kurt_1m_fundamental"] = excess_kurtosis(fund)
        row["sd_1m_mark_over_fundamental"] = float(np.std(pooled) / np.std(fund))
        acf[sym] = {
            "returns": np.nanmean([autocorrelation(x, RETURN_LAGS) for x in r1], axis=0),
            "abs_returns": np.nanmean(
                [autocorrelation(np.abs(x), ABS_RETURN_LAGS) for x in r1], axis=0
            ),
        }
        row["acf1_1m"] = float(acf[sym]["returns"][0])
        row["acf2_1m"] = float(acf[sym]["returns"][1])
        oi = np.concatenate([r["oi"][:, k] for r in runs])
        for side in ("long", "short"):
            liq = np.concatenate([r[f"liq_{side}"][:, k] for r in runs])
            row[f"liq_oi_{side}_daily"] = daily_ratio(liq, oi)
        row["abs_acf1_1m"] = float(acf[sym]["abs_returns"][0])
        row["abs_acf60_1m"] = float(acf[sym]["abs_returns"][-1])
        rows.append(row)
    return pd.DataFrame(rows), acf, n_returns


def _leverage_tables(calm_out: dict[float, list[dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed paired targets (lowest vs highest level) and a (level × asset) summary."""
    levels = sorted(calm_out)
    lo, hi = levels[0], levels[-1]
    first = calm_out[lo][0]
    major, tail = _major_and_tail(first)
    assets = {first["symbols"][major]: major, first["symbols"][tail]: tail}
    stats: dict[tuple[float, int], list[tuple[float, float]]] = {}
    rows = []
    for lev in levels:
        for sym, k in assets.items():
            per = [_tail_stats(run["mark"][:, k]) for run in calm_out[lev]]
            stats[lev, k] = per
            pooled = np.concatenate([log_returns(run["mark"][:, k]) for run in calm_out[lev]])
            rows.append(
                {
                    "max_leverage": lev,
                    "asset": sym,
                    "kurt_pooled": excess_kurtosis(pooled),
                    "kurt_median": _percentile([p[0] for p in per], 50),
                    "kurt_p25": _percentile([p[0] for p in per], 25),
                    "kurt_p75": _percentile([p[0] for p in per], 75),
                    "hill_pooled": hill_tail_index(pooled),
                    "kurt_fundamental_pooled": excess_kurtosis(
                        np.concatenate([log_returns(r["fundamental"][:, k]) for r in calm_out[lev]])
                    ),
                    "hill_median": _percentile([p[1] for p in per], 50),
                    "hill_p25": _percentile([p[1] for p in per], 25),
                    "hill_p75": _percentile([p[1] for p in per], 75),
                    **_five_minute(calm_out[lev], k),
                    **_leverage_diagnostics(calm_out[lev], k),
                }
            )
    seeds = []
    index = {lev: {run["seed"]: i for i, run in enumerate(calm_out[lev])} for lev in (lo, hi)}
    for seed in [s for s in index[lo] if s in index[hi]]:  # paired: both levels ran
        row: dict[str, float] = {"seed": seed}
        for sym, k in assets.items():
            k_lo, h_lo = stats[lo, k][index[lo][seed]]
            k_hi, h_hi = stats[hi, k][index[hi][seed]]
            row[f"lev_kurt_min_{sym}"] = k_lo
            row[f"lev_kurt_rise_{sym}"] = k_hi - k_lo
            row[f"lev_hill_max_{sym}"] = h_hi
            row[f"lev_hill_fall_{sym}"] = h_lo - h_hi
        seeds.append(row)
    return pd.DataFrame(seeds), pd.DataFrame(rows)


def _five_minute(runs: list[dict], k: int) -> dict[str, float]:
    # 5-min returns: less of the 1-min microstructure
    pooled = np.concatenate([log_returns(run["mark"][:, k], 5) for run in runs])
    return {"kurt_5m_pooled": excess_kurtosis(pooled), "hill_5m_pooled": hill_tail_index(pooled)}


def _percentile(x: list[float], q: float) -> float:
    a = np.asarray(x, dtype=float)
    return float(np.nanpercentile(a, q)) if np.isfinite(a).any() else float("nan")


def _tail_stats(prices: np.ndarray) -> tuple[float, float]:
    r = log_returns(prices)
    return excess_kurtosis(r), hill_tail_index(r)


def _leverage_diagnostics(runs: list[dict], k: int) -> dict[str, float]:
    """Why leverage does or does not fatten the tails: liquidation flow against the book."""
    liq = np.concatenate([r["liq_long"][:, k] + r["liq_short"][:, k] for r in runs])
    depth = np.concatenate([r["depth"][:, k] for r in runs])
    oi = np.concatenate([r["oi"][:, k] for r in runs])
    active = liq > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = liq[active] / depth[active]
    flow = flow[np.isfinite(flow)]
    return {
        "liq_oi_daily": daily_ratio(liq, oi),
        "liq_minutes_share": float(active.mean()),
        "liq_over_depth_p50": float(np.median(flow)) if len(flow) else 0.0,
        "liq_over_depth_max": float(np.max(flow)) if len(flow) else 0.0,
        "oi_over_depth": float(np.nanmean(oi) / np.nanmean(depth)) if np.nanmean(depth) else np.nan,
        "variance_ratio_60": float(
            np.nanmedian([return_stats(r["mark"][:, k])["variance_ratio_60"] for r in runs])
        ),
    }


def target_table(per_seed: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per target: seed median, p25–p75, number of seeds with a value, pass/miss."""
    rows = []
    for t in TARGETS:
        df = per_seed[t.study]
        x = df[t.key].to_numpy(dtype=float) if t.key in df else np.array([])
        x = x[~np.isnan(x)]
        med = float(np.median(x)) if len(x) else float("nan")
        with np.errstate(invalid="ignore"):  # inf − inf between infinite ratios
            p25, p75 = np.percentile(x, [25, 75]) if len(x) else (np.nan, np.nan)
        ok = bool(len(x)) and t.lo <= med <= t.hi
        rows.append(
            {
                "study": t.study,
                "target": t.name,
                "key": t.key,
                "value": med,
                "p25": float(p25),
                "p75": float(p75),
                "n": len(x),
                "n_seeds": len(df),
                "lo": t.lo,
                "hi": t.hi,
                "status": "pass" if ok else "miss",
                "side": "" if ok or not len(x) else ("below" if med < t.lo else "above"),
            }
        )
    return pd.DataFrame(rows)
