"""The hedge-break study (issue 17): does ADL reach the hedged books, does their second round
deepen the fall, and what does a portfolio-aware ADL cost the other winners?

    python -m experiments.hedge_study [--seeds 10] [--jobs 2] [--out results/tables]

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
differences, over the day and in the hour after the first broken-hedge sale) and
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
        "oct-2025, adl_queue": {},
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
        "levered tails, adl_queue": levered,
        "levered tails, second round off": {**levered, **HOLD},
        "levered tails, adl_portfolio": {**levered, "liquidation.policy": "adl_portfolio"},
        "stressed, adl_queue": STRESS,
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
    """Mean, min, max of paired differences and how many of the n seeds are above zero."""
    return {"mean": d.mean(), "min": d.min(), "max": d.max(), "positive": int((d > 0).sum()),
            "n": len(d)}  # fmt: skip


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
     "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (tails' leverage ×1.5)", ".3f"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (tails' leverage ×3)", ".3f"),
    ("tails' leverage ×3, adl_queue", "tails' leverage ×3, second round off",
     "tail_open_to_low", "Second round on − off, long-tail fall open to low (tails' leverage ×3)",
     ".3f"),
    ("levered tails, adl_queue", "levered tails, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (levered tails)", ".3f"),
    ("levered tails, adl_queue", "levered tails, second round off", "tail_open_to_low",
     "Second round on − off, long-tail fall open to low (levered tails)", ".3f"),
    ("levered tails, adl_portfolio", "levered tails, adl_queue", "hedge_breaks",
     "adl_portfolio − adl_queue, hedge breaks (levered tails)", ".1f"),
    ("levered tails, adl_portfolio", "levered tails, adl_queue", "adl_others_usd",
     "adl_portfolio − adl_queue, ADL notional closed from other winners, USD (levered tails)",
     ",.0f"),
    ("stressed, adl_queue", "stressed, second round off", "tail_drawdown",
     "Second round on − off, long-tail drawdown (stressed)", ".3f"),
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
            f"{d['max']:+{fmt}}], above zero in {d['positive']} of {d['n']} seeds."
        )
    for on, off, path, what in AFTER_SALE:
        if {on, off} - set(runs.variant) or path not in runs:
            continue
        d = fall_after_first_sale(runs, on, off, path)
        lines.append(
            f"Second round on − off, {what}: fall in the {AFTER_SALE_MINUTES} minutes after "
            f"the first broken-hedge sale, paired seeds: {d['mean']:+.4f} [{d['min']:+.4f} to "
            f"{d['max']:+.4f}], above zero in {d['positive']} of {d['n']} seeds."
        )
    n = runs.seed.nunique()
    lines.append(f"_Generated by `python -m experiments.hedge_study --seeds {n}`._")
    return "\n\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.hedge_study", description=__doc__)
    p.add_argument("--seeds", type=int, default=10, help="seeds per variant (default 10)")
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
