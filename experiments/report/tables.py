"""The report's sweep tables as Markdown: the critical share, the phase diagram's cells, early
warning, policies, stop-losses, mark rules and price discovery (`cascade-lab report` writes
them to ``results/tables``). Numbers from `experiments.analysis`; text only here."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments import analysis

SHARE, SHOCK = analysis.SHARE, analysis.SHOCK


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (values already formatted as text)."""
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _p_label() -> str:
    return f"P(cascade amplification > {analysis.AMPLIFICATION_THRESHOLD:g})"


def critical_share_table(runs: pd.DataFrame, n_boot: int = 2000) -> str:
    """Critical 50–100x share per shock size (where P(cascade amplification > 1.5) passes
    0.5, `analysis.critical_share`) with its 90 % bootstrap band over seeds."""
    crit = analysis.critical_share(runs, SHARE, SHOCK, n_boot=n_boot)
    rows = []
    for c in crit.itertuples():
        fmt = [analysis.format_share(v, c.grid_min, c.grid_max) for v in (c.low, c.high)]
        rows.append(
            {
                "shock": f"{c.shock:.0%}",
                "critical 50–100x share": analysis.format_share(
                    c.critical_share, c.grid_min, c.grid_max
                ),
                "90 % band": f"{fmt[0]} – {fmt[1]}",
                f"{_p_label()} by share": c.p_by_share,
                "seeds": c.n_seeds,
            }
        )
    return markdown(pd.DataFrame(rows)) + (
        "\nCascade amplification = mark drawdown / the twin's (the same seed with forced "
        "closes off the book), mean over assets; the critical share is where the fraction of "
        "seeds above the threshold passes 0.5 (linear interpolation; <lo / >hi: outside the "
        "grid).\n"
    )


def phase_markdown(runs: pd.DataFrame) -> str:
    """Grid of 50–100x share × shock: mean liquidated / OI, and P(cascade amplification > 1.5)."""
    cells = analysis.phase_table(runs, SHARE, SHOCK)
    cells["text"] = [
        f"{format_value(r.cascade_size, '.3f')} ({format_value(r.p_amplified, '.2f')})"
        for r in cells.itertuples(index=False)
    ]
    grid = cells.pivot(index="share", columns="shock", values="text")
    grid.columns = [f"shock {s:.0%}" for s in grid.columns]
    grid.insert(0, "50–100x share", [f"{s:g}" for s in grid.index])
    return markdown(grid) + (
        "\nCells: mean over seeds of liquidated after the shock / open interest before it "
        f"({_p_label()}: the fraction of seeds whose mark fell more than "
        f"{analysis.AMPLIFICATION_THRESHOLD:g} times as far as their twin's, forced closes off "
        "the book; mean over assets).\n"
    )


OUTCOME_NAMES = {
    analysis.CASCADE_SIZE: "cascade size",
    analysis.CASCADE_AMPLIFICATION: "cascade amplification",
    SHARE: "50–100x share",
}
"""How the early-warning table names each outcome."""


def early_warning_table(runs: pd.DataFrame) -> str:
    """Spearman ρ (p) of each pre-shock indicator with cascade size, with cascade amplification
    and with the crowding itself, over all runs and within each shock size."""
    outcomes = tuple(OUTCOME_NAMES)
    columns = {"all runs": analysis.early_warning(runs, outcomes=outcomes)}
    by_shock = analysis.early_warning(runs, outcomes=outcomes, by=SHOCK)
    for shock, part in by_shock.groupby("group"):
        columns[f"shock {shock:.0%}"] = part
    out = pd.DataFrame(
        [
            {"indicator": ind, "vs": OUTCOME_NAMES[o], "_outcome": o}
            for ind in analysis.EARLY_WARNING_INDICATORS
            for o in outcomes
        ]
    )
    for name, res in columns.items():
        text = {(r.indicator, r.outcome): _rho(r.rho, r.p_value) for r in res.itertuples()}
        out[name] = [text.get(key, "n/a") for key in zip(out.indicator, out._outcome, strict=True)]
    return markdown(out.drop(columns="_outcome")) + (
        "\nSpearman ρ (two-sided p) across the sweep's runs; cascade size = liquidated after "
        "the shock / open interest before it; cascade amplification = mark drawdown / the "
        "twin's (forced closes off the book), mean over assets.\n"
    )


def _rho(rho: float, p: float) -> str:
    return "n/a (constant)" if not np.isfinite(rho) else f"{rho:+.2f} ({p:.2g})"


def _spread(table: pd.DataFrame, metric: str, scale: float = 1.0, fmt: str = ",.1f") -> list[str]:
    mean, lo, hi = (table[f"{metric}_{s}"] / scale for s in ("mean", "min", "max"))
    return [
        "n/a" if not np.isfinite(m) else f"{m:{fmt}} [{a:{fmt}}–{b:{fmt}}]"
        for m, a, b in zip(mean, lo, hi, strict=True)
    ]


def policy_table(runs: pd.DataFrame) -> str:
    """Per policy and pool scale: ADL closes, needed/overshoot, margin handed to winners, top
    winner, hedge breaks and the selling they caused, bad debt."""
    metrics = ("adl_needed_usd", "adl_overshoot_usd", "adl_top_winner_usd", "hedge_breaks")
    metrics += ("bad_debt_usd", "adl_events", "adl_margin_to_winners_usd")
    metrics += ("broken_hedge_sold_usd",) if "broken_hedge_sold_usd" in runs else ()
    cells = analysis.seed_spread(runs, ("liquidation.policy", "pool_scale"), metrics)
    out = pd.DataFrame({"policy": cells["liquidation.policy"], "pool scale": cells.pool_scale})
    out["ADL closes"] = _spread(cells, "adl_events", fmt=".0f")
    out["needed, k USD"] = _spread(cells, "adl_needed_usd", 1e3)
    out["overshoot, k USD"] = _spread(cells, "adl_overshoot_usd", 1e3)
    out["margin to winners, k USD"] = _spread(cells, "adl_margin_to_winners_usd", 1e3)
    out["top winner, k USD"] = _spread(cells, "adl_top_winner_usd", 1e3)
    out["hedge breaks"] = _spread(cells, "hedge_breaks", fmt=".0f")
    if "broken_hedge_sold_usd" in runs:
        out["sold after a broken hedge, k USD"] = _spread(cells, "broken_hedge_sold_usd", 1e3)
    out["bad debt, k USD"] = _spread(cells, "bad_debt_usd", 1e3)
    return markdown(out) + (
        "\nMean over seeds [min–max]. needed: the deficits ADL fills and haircuts covered; "
        "overshoot: value taken beyond them (Chitra 2025); margin to winners: what closes at "
        "the bankruptcy price of units still above bankruptcy handed the winners.\n"
    )


def stop_loss_table(runs: pd.DataFrame) -> str:
    """Per stop-loss share: retail money lost to liquidation and liquidated / OI."""
    metrics = ("retail_liquidated_share", analysis.CASCADE_SIZE, "liq_notional_usd")
    cells = analysis.seed_spread(runs, ("retail.stop_loss_share",), metrics)
    out = pd.DataFrame({"stop-loss share": cells["retail.stop_loss_share"]})
    out["retail money lost"] = _spread(cells, "retail_liquidated_share", fmt=".3f")
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    out["liquidated in the run, k USD"] = _spread(cells, "liq_notional_usd", 1e3, ",.0f")
    return markdown(out) + "\nMean over seeds [min–max].\n"


def mark_price_table(runs: pd.DataFrame) -> str:
    """Per mark rule: liquidated / OI, mark drawdown / news drop, retail money lost."""
    ok = analysis.ok_runs(runs, ("mark_rule",))
    ok = ok.assign(amplification=analysis.run_amplification(ok))
    metrics = (analysis.CASCADE_SIZE, "amplification", "retail_liquidated_share")
    cells = analysis.seed_spread(ok, ("mark_rule",), metrics)
    out = pd.DataFrame({"mark rule": cells.mark_rule})
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    out["drawdown / news drop"] = _spread(cells, "amplification", fmt=".2f")
    out["retail money lost"] = _spread(cells, "retail_liquidated_share", fmt=".3f")
    return markdown(out) + (
        "\nMean over seeds [min–max]; drawdown / news drop is the mean over assets of the mark's "
        "fall over the fundamental's.\n"
    )


def price_discovery_table(runs: pd.DataFrame) -> str:
    """Per price discovery and 50–100x share: cascade amplification, BTC's drawdown / news."""
    keys = ("prices.discovery", analysis.SHARE)
    ok = analysis.ok_runs(runs, (*keys, analysis.CASCADE_AMPLIFICATION))
    metrics = (analysis.CASCADE_AMPLIFICATION, "amplification_BTC", analysis.CASCADE_SIZE)
    cells = analysis.seed_spread(ok, keys, metrics)
    out = pd.DataFrame({"prices": cells["prices.discovery"], "50–100x share": cells[keys[1]]})
    out["cascade amplification"] = _spread(cells, analysis.CASCADE_AMPLIFICATION, fmt=".2f")
    out["BTC drawdown / news drop"] = _spread(cells, "amplification_BTC", fmt=".2f")
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    return markdown(out) + (
        "\nMean over seeds [min–max]. venue: prices set on this market (the default); "
        "satellite: makers tethered to the outside price (`prices.discovery`).\n"
    )


def venue_table(runs: pd.DataFrame) -> str:
    """Per venue's rules: cascade amplification, BTC's drawdown and its amplification,
    liquidated notional, ADL closes, bad debt."""
    ok = analysis.ok_runs(runs, ("venue", analysis.CASCADE_AMPLIFICATION))
    metrics = (analysis.CASCADE_AMPLIFICATION, "cascade_amplification_BTC", "drawdown_BTC")
    metrics += ("liq_notional_usd", "adl_events", "bad_debt_usd")
    cells = analysis.seed_spread(ok, ("venue",), metrics)
    out = pd.DataFrame({"venue": cells.venue})
    out["cascade amplification"] = _spread(cells, analysis.CASCADE_AMPLIFICATION, fmt=".2f")
    out["BTC cascade amplification"] = _spread(cells, "cascade_amplification_BTC", fmt=".2f")
    out["BTC drawdown"] = _spread(cells, "drawdown_BTC", fmt=".3f")
    out["liquidated, M USD"] = _spread(cells, "liq_notional_usd", 1e6)
    out["ADL closes"] = _spread(cells, "adl_events", fmt=".0f")
    out["bad debt, k USD"] = _spread(cells, "bad_debt_usd", 1e3)
    return markdown(out) + (
        "\nMean over seeds [min–max]; the same crowd and seeds on each venue's rules "
        "(`model/venues.py`).\n"
    )


def format_value(value: float, spec: str) -> str:
    """`value` formatted by `spec`, or "n/a" when it is not finite."""
    return f"{value:{spec}}" if np.isfinite(value) else "n/a"
