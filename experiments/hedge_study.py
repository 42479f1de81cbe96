"""The hedge-break study (issue 17): does ADL reach the hedged books, does their second round
deepen the fall, and what does a portfolio-aware ADL cost the other winners?

    python -m experiments.hedge_study [--seeds 20] [--jobs 2] [--out results/tables]

Nineteen variants of `oct-2025`, each on the same seeds (`replicate_seeds(DEFAULT_ROOT_SEED, n)`),
so "second round off" is paired with its variant seed by seed:

- oct-2025 as calibrated, under `adl_queue`, with the second round off, under
  `adl_portfolio`, and with the queue ranked by Binance's documented LeveragePnL instead of
  BitMEX's PnL % × leverage;
- oct-2025 with the generic insurance pools (`ModelConfig`'s: 3, 2 and 3 M USD, unwound at
  10 % a minute) instead of its own (sized against the open interest they cover, unwound at
  1 % a minute, `model.scenarios.OCT_2025_POOLS_USD`), and with its own pools unwound fast;
- the long tail's crowd at 1.5, 2, 3 and 5× oct-2025's leverage mix, under `adl_queue` (a
  scan between the calibrated mix and the one below), at 1.5× and 3× with the second round off,
  and at 3× with the tails' deposits cut to a third (the same open interest, more levered);
- levered tails: the long tail's crowd at 10× oct-2025's leverage mix (an assumption under
  which the long tail cascades and ADL reaches the hedged books), under `adl_queue`, with the
  second round off (basis traders and funds hold what a broken hedge left naked), and under
  `adl_portfolio`;
- stressed: 40 % of the crowd at 50–100x and pools of 2,000 USD (the golden runs' harsh
  settings), under the same three.

Writes `hedge_study.md` (one row per variant, mean [min–max] over seeds, then the paired
differences, over the day and in the hour after the first broken-hedge sale, and on the three
`adl_queue` variants each shortfall sent to ADL allocated by both rankings on the same state,
`REPLAY`) and
`hedge_study_runs.parquet` (one row per run) to `--out`. ADL closes are split by who was
closed: the hedged books (basis traders, market-neutral funds, market makers) and the other
winners (the retail crowd and the background traders).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from experiments.hedge_run import run_one
from experiments.sweeps.catalogue import DEFAULT_ROOT_SEED
from experiments.sweeps.design import replicate_seeds

STRESS = {"retail.high_leverage_share": 0.4, "liquidation.pool_initial_usd": 2_000.0}
"""The golden runs' harsh settings (tests/golden_runs.HARSH without the short horizon)."""
TAIL_LEVERAGE_SCALE = 10.0
"""The long tail's crowd at 10× oct-2025's leverage mix (1–3x → 10–30x, capped by the tail
brackets): an assumption, not a calibration, under which the long tail cascades."""
TAIL_LEVERAGE_SCAN = (1.5, 2.0, 3.0, 5.0)
"""The long tail's leverage multipliers scanned between the calibrated 1× and the 10× above
(under `adl_queue`): where ADL starts to reach the hedged books and the tail pool runs dry."""
AFTER_SALE_MINUTES = 60
"""The window after the first broken-hedge sale in which the paired fall is measured."""
REPLAY = {"liquidation.adl_replay": True}
"""Also allocate each shortfall sent to ADL by the queue and by the portfolio-aware queue on
the same state (`Policy.replay`; it moves nothing): on the `REPLAYED` variants."""
HOLD = {"basis.naked_spot": "hold", "funds.on_broken_hedge": "hold"}
"""The second round switched off: the spot or alts a broken hedge left naked are held."""


def variants() -> dict[str, dict[str, Any]]:
    """Each variant's overrides of oct-2025, by name (built on call: the long-tail perps are
    read from the configuration, which no module reads at import)."""
    from model.config import ModelConfig, default_assets

    generic = ModelConfig().liquidation
    fast = {"liquidation.pool_unwind_fraction": generic.pool_unwind_fraction}
    tails = {k: a for k, a in enumerate(default_assets()) if a.kind == "tail"}

    def tails_at(scale: float) -> dict[str, float]:
        return {f"assets.{k}.leverage_scale": scale for k in tails}

    same_oi = {  # deposits cut as leverage rises: the same open interest, more levered
        **tails_at(3.0),
        **{f"assets.{k}.deposit_scale": a.deposit_scale / 3.0 for k, a in tails.items()},
    }

    levered = tails_at(TAIL_LEVERAGE_SCALE)
    scan = {f"tails' leverage ×{x:g}, adl_queue": tails_at(x) for x in TAIL_LEVERAGE_SCAN}
    return {
        "oct-2025, adl_queue": REPLAY,
        "oct-2025, second round off": HOLD,
        "oct-2025, adl_portfolio": {"liquidation.policy": "adl_portfolio"},
        "oct-2025, Binance's LeveragePnL ranking": {"liquidation.adl_score": "binance"},
        "oct-2025, generic pools": {
            "liquidation.pool_initial_usd": generic.pool_initial_usd,
            **fast,
        },
        "oct-2025, its pools unwound fast": fast,
        **scan,
        "tails' leverage ×1.5, second round off": {**tails_at(1.5), **HOLD},
        "tails' leverage ×3, second round off": {**tails_at(3.0), **HOLD},
        "tails' leverage ×3, same open interest": same_oi,
        "levered tails, adl_queue": {**levered, **REPLAY},
        "levered tails, second round off": {**levered, **HOLD},
        "levered tails, adl_portfolio": {**levered, "liquidation.policy": "adl_portfolio"},
        "stressed, adl_queue": {**STRESS, **REPLAY},
        "stressed, second round off": {**STRESS, **HOLD},
        "stressed, adl_portfolio": {**STRESS, "liquidation.policy": "adl_portfolio"},
    }


HALF = 0.5
"""A long-tail perp "fell by half or more" (10 Oct: the average Binance coin −63 %, §8.1)."""
EXHAUSTED = 0.99
"""A pool is exhausted when its largest fall reaches this share of its start (validation's
`tail_pool_loss` threshold)."""


def run_study(n_seeds: int, n_jobs: int) -> pd.DataFrame:
    """Every variant on the same seeds: one row per (variant, seed)."""
    from joblib import Parallel, delayed

    seeds = replicate_seeds(DEFAULT_ROOT_SEED, n_seeds)
    cases = variants()
    jobs = [(v, s) for v in cases for s in seeds]
    rows = Parallel(n_jobs=n_jobs)(delayed(run_one)(s, cases[v]) for v, s in jobs)
    return pd.DataFrame(
        [{"variant": v, "seed": s, **r} for (v, s), r in zip(jobs, rows, strict=True)]
    )


def _spread(x: pd.Series, scale: float, fmt: str) -> str:
    return f"{x.mean() / scale:{fmt}} [{x.min() / scale:{fmt}}–{x.max() / scale:{fmt}}]"


def _pair(closed: pd.Series, ahead: pd.Series) -> str:
    """Mean ADL closed and mean queue ahead of the first hedged book, M USD ("closed / ahead")."""
    return f"{closed.mean() / 1e6:.1f} / {ahead.mean() / 1e6:.1f}"


def _share(part: pd.Series, whole: pd.Series) -> str:
    """Σ part / Σ whole over seeds as a percentage ("–" when nothing was closed)."""
    return f"{part.sum() / whole.sum():.0%}" if whole.sum() > 0 else "–"


def _count(hit: pd.Series) -> str:
    return f"{int(hit.sum())} of {len(hit)}"


def study_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (in the order of `variants()`): mean [min–max] over seeds, and counts."""
    rows = []
    for variant, g in runs.groupby("variant", sort=False):
        rows.append(
            {
                "variant": variant,
                "seeds with a hedge break": _count(g.hedge_breaks > 0),
                "hedge breaks": _spread(g.hedge_breaks, 1.0, ".0f"),
                "of them before the news": _spread(g.hedge_breaks_before_news, 1.0, ".0f"),
                "sold after a broken hedge, M USD": _spread(g.broken_hedge_sold_usd, 1e6, ".1f"),
                "ADL closed from hedged books, M USD": _spread(g.adl_hedged_usd, 1e6, ".1f"),
                "ADL closed from other winners, M USD": _spread(g.adl_others_usd, 1e6, ".1f"),
                "taken from other winners, k USD": _spread(g.taken_others_usd, 1e3, ",.0f"),
                "of ADL in BTC and ETH": _share(
                    g.adl_major_usd, g.adl_hedged_usd + g.adl_others_usd
                ),
                "BTC: ADL closed / queue ahead of a hedge, M USD": _pair(
                    g.adl_btc_usd, g.ahead_btc_usd
                ),
                "a tail perp: ADL closed / queue ahead, M USD": _pair(
                    g.adl_tail_usd, g.ahead_tail_usd
                ),
                "tail pool exhausted": _count(g.tail_pool_fall >= EXHAUSTED),
                "BTC pool held": _count(g.btc_pool_fall < EXHAUSTED),
                "BTC drawdown": _spread(g.btc_drawdown, 1.0, ".3f"),
                "long-tail drawdown": _spread(g.tail_drawdown, 1.0, ".3f"),
                "long-tail drawdown to the day's low": _spread(g.tail_day_drawdown, 1.0, ".3f"),
                "a tail perp down ≥ 50 %": _count(g.tail_max_drawdown >= HALF),
            }
        )
    return pd.DataFrame(rows)


def paired_difference(runs: pd.DataFrame, on: str, off: str, metric: str) -> dict[str, float]:
    """Seed-by-seed `metric`(on) − `metric`(off): mean, min, max and how many seeds are > 0."""
    a = runs[runs.variant == on].set_index("seed")[metric]
    b = runs[runs.variant == off].set_index("seed")[metric]
    return _describe((a - b.reindex(a.index)).dropna())


def _describe(d: pd.Series) -> dict[str, float]:
    """Mean, min, max of paired differences, how many of the n seeds are above and below zero
    (the rest are ties: seeds where, say, no hedge broke and the pair did not differ), and the
    two-sided Wilcoxon signed-rank p over the non-zero ones (NaN with fewer than six: even
    the most one-sided five give p = 0.0625)."""
    nonzero = d[d != 0].to_numpy()
    p = stats.wilcoxon(nonzero).pvalue if len(nonzero) >= 6 else np.nan
    return {"mean": d.mean(), "min": d.min(), "max": d.max(), "positive": int((d > 0).sum()),
            "negative": int((d < 0).sum()), "n": len(d), "p": float(p)}  # fmt: skip


def replayed_difference(runs: pd.DataFrame, variant: str, metric: str) -> dict[str, float]:
    """Within each run of `variant`: replay_portfolio_`metric` − replay_queue_`metric`, the
    same shortfalls allocated by both rankings (`hedge_run._replayed`), described as
    `paired_difference` is."""
    g = runs[runs.variant == variant]
    return _describe(g[f"replay_portfolio_{metric}"] - g[f"replay_queue_{metric}"])


def _counts(d: dict[str, float]) -> str:
    p = f"; Wilcoxon p = {d['p']:.2g}" if np.isfinite(d["p"]) else ""
    return f"above zero in {d['positive']}, below in {d['negative']} of {d['n']} seeds{p}"


def fall_after_first_sale(
    runs: pd.DataFrame, on: str, off: str, path: str, minutes: int = AFTER_SALE_MINUTES
) -> dict[str, float]:
    """Seed by seed, fall(on) − fall(off) in the `minutes` after `on`'s first broken-hedge sale.

    With t0 that sale's minute (`run_one`; it may come before the news), each run's fall is
    1 − min(path[t0 : t0 + minutes]) / path[t0 − 1]: from the last minute the paired runs share
    (common random numbers: nothing differs before the first sale) to the window's low. Unlike
    the day's drawdown, this is not swamped by whether one seed of a pair collapses hours
    later. Seeds where `on` sold nothing are left out. Returns what `paired_difference` does.
    """
    a = runs[runs.variant == on].set_index("seed")
    b = runs[runs.variant == off].set_index("seed")
    diffs = []
    for seed, row in a.iterrows():
        if seed not in b.index or not row.first_sale_minute >= 1:
            continue
        t0 = int(row.first_sale_minute)
        falls = [
            1.0 - min(p[t0 : t0 + minutes]) / p[t0 - 1] for p in (row[path], b.loc[seed, path])
        ]
        diffs.append(falls[0] - falls[1])
    return _describe(pd.Series(diffs, dtype=float))


AFTER_SALE = (
    ("oct-2025, adl_queue", "oct-2025, second round off", "tail_path", "long tail (oct-2025)"),
    ("oct-2025, adl_queue", "oct-2025, second round off", "btc_path", "BTC (oct-2025)"),
    ("tails' leverage ×1.5, adl_queue", "tails' leverage ×1.5, second round off", "tail_path",
     "long tail (tails' leverage ×1.5)"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off", "tail_path",
     "long tail (tails' leverage ×3)"),
    ("levered tails, adl_queue", "levered tails, second round off", "tail_path",
     "long tail (levered tails)"),
    ("levered tails, adl_queue", "levered tails, second round off", "btc_path",
     "BTC (levered tails)"),
    ("stressed, adl_queue", "stressed, second round off", "tail_path", "long tail (stressed)"),
    ("stressed, adl_queue", "stressed, second round off", "btc_path", "BTC (stressed)"),
)  # fmt: skip
"""(variant, its control, path, label) of each line on the fall after the first sale."""


PAIRED = (
    ("oct-2025, adl_queue", "oct-2025, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (oct-2025)", ".3f"),
    ("oct-2025, adl_queue", "oct-2025, second round off",
     "tail_day_drawdown",
     "Second round on − off, long-tail drawdown to the day's low (oct-2025)",
     ".3f"),
    ("oct-2025, adl_queue", "oct-2025, second round off", "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (oct-2025)", ".3f"),
    ("oct-2025, adl_queue", "oct-2025, second round off", "btc_drawdown",
     "Second round on − off, BTC drawdown (oct-2025)", ".3f"),
    ("oct-2025, adl_portfolio", "oct-2025, adl_queue", "hedge_breaks",
     "adl_portfolio − adl_queue, hedge breaks (oct-2025)", ".1f"),
    ("oct-2025, adl_portfolio", "oct-2025, adl_queue", "adl_others_usd",
     "adl_portfolio − adl_queue, ADL notional closed from other winners, USD (oct-2025)",
     ",.0f"),
    ("oct-2025, adl_queue", "oct-2025, generic pools", "btc_drawdown",
     "oct-2025's pools − the generic pools, BTC drawdown", ".3f"),
    ("oct-2025, adl_queue", "oct-2025, its pools unwound fast", "btc_drawdown",
     "Unwound at 1 % − at 10 % a minute, BTC drawdown (oct-2025's pools)", ".3f"),
    ("tails' leverage ×1.5, adl_queue", "tails' leverage ×1.5, second round off",
     "tail_drawdown", "Second round on − off, long-tail drawdown (tails' leverage ×1.5)", ".3f"),
    ("tails' leverage ×1.5, adl_queue", "tails' leverage ×1.5, second round off",
     "tail_day_drawdown",
     "Second round on − off, long-tail drawdown to the day's low (tails' leverage ×1.5)",
     ".3f"),
    ("tails' leverage ×1.5, adl_queue", "tails' leverage ×1.5, second round off",
     "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (tails' leverage ×1.5)", ".3f"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (tails' leverage ×3)", ".3f"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off",
     "tail_day_drawdown",
     "Second round on − off, long-tail drawdown to the day's low (tails' leverage ×3)",
     ".3f"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off",
     "tail_open_to_low", "Second round on − off, long-tail fall open to low (tails' leverage ×3)",
     ".3f"),
    ("levered tails, adl_queue", "levered tails, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (levered tails)", ".3f"),
    ("levered tails, adl_queue", "levered tails, second round off",
     "tail_day_drawdown",
     "Second round on − off, long-tail drawdown to the day's low (levered tails)",
     ".3f"),
    ("levered tails, adl_queue", "levered tails, second round off", "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (levered tails)", ".3f"),
    ("levered tails, adl_portfolio", "levered tails, adl_queue", "hedge_breaks",
     "adl_portfolio − adl_queue, hedge breaks (levered tails)", ".1f"),
    ("levered tails, adl_portfolio", "levered tails, adl_queue", "adl_others_usd",
     "adl_portfolio − adl_queue, ADL notional closed from other winners, USD (levered tails)",
     ",.0f"),
    ("stressed, adl_queue", "stressed, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (stressed)", ".3f"),
    ("stressed, adl_queue", "stressed, second round off",
     "tail_day_drawdown",
     "Second round on − off, long-tail drawdown to the day's low (stressed)",
     ".3f"),
    ("stressed, adl_queue", "stressed, second round off", "btc_drawdown",
     "Second round on − off, BTC drawdown (stressed)", ".3f"),
    ("stressed, adl_queue", "stressed, second round off", "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (stressed)", ".3f"),
    ("stressed, adl_queue", "stressed, second round off", "btc_open_to_low",
     "Second round on − off, BTC fall open to low (stressed)", ".3f"),
    ("stressed, adl_portfolio", "stressed, adl_queue", "hedge_breaks",
     "adl_portfolio − adl_queue, hedge breaks (stressed)", ".1f"),
    ("stressed, adl_portfolio", "stressed, adl_queue", "adl_others_usd",
     "adl_portfolio − adl_queue, ADL notional closed from other winners, USD (stressed)",
     ",.0f"),
)  # fmt: skip
"""(variant, its control, metric, label, number format) of each paired line under the table."""


def markdown(runs: pd.DataFrame) -> str:
    """The study's table and its paired second-round line, as Markdown."""
    table = study_table(runs)
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(map(str, r)) + " |\n" for r in table.itertuples(index=False))
    lines = [head + body, "Mean over seeds [min–max]."]
    for on, off, metric, what, fmt in PAIRED:
        if metric not in runs:  # runs stored before the metric existed
            continue
        d = paired_difference(runs, on, off, metric)
        if not d["n"]:  # a study run without this pair of variants
            continue
        lines.append(
            f"{what}, paired seeds: {d['mean']:+{fmt}} [{d['min']:+{fmt}} to "
            f"{d['max']:+{fmt}}], {_counts(d)}."
        )
    for on, off, path, what in AFTER_SALE:
        if {on, off} - set(runs.variant) or path not in runs:
            continue
        d = fall_after_first_sale(runs, on, off, path)
        lines.append(
            f"Second round on − off, {what}: fall in the {AFTER_SALE_MINUTES} minutes after "
            f"the first broken-hedge sale, paired seeds: {d['mean']:+.4f} [{d['min']:+.4f} to "
            f"{d['max']:+.4f}], {_counts(d)}."
        )
    if "replay_queue_breaks" in runs:  # runs stored before the replay existed have none
        lines += [_replay_line(runs, v) for v in REPLAYED if v in set(runs.variant)]
    n = runs.seed.nunique()
    lines.append(f"_Generated by `python -m experiments.hedge_study --seeds {n}`._")
    return "\n\n".join(lines) + "\n"


REPLAYED = ("oct-2025, adl_queue", "levered tails, adl_queue", "stressed, adl_queue")
"""Variants whose shortfalls are compared under both rankings on the same state."""


def _replay_line(runs: pd.DataFrame, variant: str) -> str:
    """The same shortfalls under adl_portfolio and adl_queue, within each run of `variant`."""
    g = runs[runs.variant == variant]
    d = replayed_difference(runs, variant, "breaks")
    return (
        f"Same shortfalls, both rankings ({variant}; `liquidation.adl_replay`): the queue would "
        f"break {g.replay_queue_breaks.mean():.1f} hedges per run, adl_portfolio "
        f"{g.replay_portfolio_breaks.mean():.1f}; adl_portfolio − adl_queue {d['mean']:+.1f} "
        f"[{d['min']:+.0f} to {d['max']:+.0f}], {_counts(d)}. The other winners pay for it: "
        f"adl_portfolio moves {_spread(g.replay_shifted_usd, 1e6, '.1f')} M USD of ADL "
        f"notional per run off hedges onto naked positions, and "
        f"{_spread(g.replay_shifted_taken_usd, 1e3, ',.0f')} k USD of value taken."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.hedge_study", description=__doc__)
    p.add_argument("--seeds", type=int, default=20, help="seeds per variant (default 20)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", type=Path, default=Path("results/tables"), help="output folder")
    a = p.parse_args(argv)
    for name, value in (("--seeds", a.seeds), ("--jobs", a.jobs)):
        if value < 1:
            p.error(f"{name} must be a whole number ≥ 1, got {value}")
    if not a.out.is_dir():
        p.error(f"--out must be an existing folder, got {str(a.out)!r}")
    runs = run_study(a.seeds, a.jobs)
    text = markdown(runs)
    (a.out / "hedge_study.md").write_text(text)
    paths = {c: [np.asarray(p, np.float32) for p in runs[c]] for c in ("btc_path", "tail_path")}
    runs.assign(**paths).to_parquet(a.out / "hedge_study_runs.parquet")  # paths as float32
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
