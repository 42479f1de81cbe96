"""Every key of a run's summary (`CascadeModel.summary`, `model.twin.with_twin`): its unit and
its meaning, in one place. The CLI prints summaries and sweep tables with these units
(`format_value`), `cascade-lab explain KEY` prints the meaning, and `mesa.batch_run` gets one
column per key (`summary_keys`).

Units: ``USD`` (thousands separators, whole dollars), ``share`` (a fraction shown as %),
``ratio`` (a multiple, shown with an x), ``count`` and ``minutes`` (whole numbers), ``rate``
(a small fraction such as a funding rate, shown as % with four decimals).
"""

from __future__ import annotations

import math
from typing import NamedTuple

UNITS = ("USD", "share", "ratio", "count", "minutes", "rate")
ASSET = "<ASSET>"
"""Stands for an asset's symbol in a per-asset key, e.g. drawdown_<ASSET> → drawdown_BTC."""


class Metric(NamedTuple):
    """A summary key's unit (one of `UNITS`) and meaning (one sentence)."""

    unit: str
    meaning: str


MARKET: dict[str, Metric] = {
    "liq_notional_usd": Metric(
        "USD", "notional liquidated over the run (book, pool takeover, policy), all assets"
    ),
    "liq_long_share": Metric("share", "share of the liquidated notional that was long positions"),
    "liq_over_oi": Metric(
        "share",
        "liquidated notional / open interest just before the first shock (without a shock: "
        "the run's mean open interest)",
    ),
    "liq_over_oi_after_shock": Metric(
        "share", "the same, counting only liquidations from the shock on (the cascade's size)"
    ),
    "oi_before_usd": Metric(
        "USD", "long open interest just before the first shock (without a shock: the mean)"
    ),
    "mean_amplification": Metric("ratio", "mean of amplification_<ASSET> over the assets"),
    "peak_minute_liq_share": Metric(
        "share", "share of all liquidated notional that fell in the busiest minute"
    ),
    "top_decile_minute_share": Metric(
        "share", "share of all liquidated notional in the busiest tenth of the minutes"
    ),
    "oi_drop_frac": Metric(
        "share", "fall of open interest from just before the shock to its low after it"
    ),
    "insurance_min_usd": Metric("USD", "lowest total equity of the insurance pools"),
    "insurance_depleted_pools": Metric("count", "pools that fell below 1 % of their start"),
    "max_funding_rate_pre_shock": Metric(
        "rate", "highest funding rate before the shock (per funding interval)"
    ),
    "perp_premium_pre_shock": Metric(
        "rate",
        "perp last price / index − 1 over the hour before the shock, open-interest weighted "
        "(what funding is made of)",
    ),
    "adl_events": Metric("count", "auto-deleveraging closes of winning positions"),
    "adl_notional_usd": Metric("USD", "notional of the ADL closes"),
    "adl_needed_usd": Metric("USD", "deficits that ADL and haircuts were needed to cover"),
    "adl_taken_usd": Metric("USD", "value taken from winners (ADL fills and haircuts)"),
    "adl_overshoot_usd": Metric("USD", "value taken beyond what was needed: (taken − needed)+"),
    "adl_margin_to_winners_usd": Metric(
        "USD", "margin handed to winners by ADL closes of units still above bankruptcy"
    ),
    "adl_top_winner_usd": Metric("USD", "value taken from the one account ADL took most from"),
    "adl_top_winner_share": Metric("share", "that account's share of all value taken"),
    "hedge_breaks": Metric(
        "count",
        "ADL closes that left a hedged account, or its hedged position in the closed "
        "market's asset (perp + spot), un-hedged",
    ),
    "broken_hedge_sold_usd": Metric(
        "USD",
        "what the owners of broken hedges sold in answer (a basis trader's naked spot, a "
        "fund's alts): the second round",
    ),
    "bad_debt_usd": Metric("USD", "deficits nobody covered (residual bad debt)"),
    "liquidatable_oi_within_5pct": Metric(
        "share",
        "share of open interest whose liquidation price is within 5 % of the mark just before "
        "the shock (the leverage-concentration index)",
    ),
    "long_oi_share_pre_shock": Metric(
        "share", "share of the retail crowd's open notional held long just before the shock"
    ),
    "retail_liquidated_share": Metric(
        "share", "margin of retail positions lost to liquidation / retail money deposited"
    ),
    "minutes": Metric("minutes", "minutes simulated"),
}
"""Market-wide keys of `CascadeModel.summary`."""

PER_ASSET: dict[str, Metric] = {
    "liq_notional_usd": Metric("USD", "notional liquidated on this asset's perp"),
    "drawdown": Metric(
        "share",
        "the mark's fall from the minute before the first shock to its low within 240 minutes "
        "(a squeeze upward is not a fall; model/summary.py::drawdown)",
    ),
    "fundamental_drop": Metric("share", "the same fall measured on the fundamental: the news"),
    "amplification": Metric(
        "ratio",
        "drawdown / fundamental drop (includes the thin books' own noise; use the twin's "
        "cascade_amplification to attribute a fall)",
    ),
}
"""Per-asset keys of `CascadeModel.summary`: ``<name>_<ASSET>``."""

TWIN_MARKET: dict[str, Metric] = {
    "mean_cascade_amplification": Metric(
        "ratio", "mean of cascade_amplification_<ASSET> over the assets (with --twin)"
    ),
    "mean_endogenous_share": Metric(
        "share", "mean of endogenous_share_<ASSET> over the assets (with --twin)"
    ),
    "twin_liq_over_oi_after_shock": Metric(
        "share", "the twin's liq_over_oi_after_shock (with --twin)"
    ),
}
"""Market-wide keys `model.twin.with_twin` adds."""

TWIN_PER_ASSET: dict[str, Metric] = {
    "twin_drawdown": Metric(
        "share", "the twin's drawdown (forced closes off the book from the shock on; --twin)"
    ),
    "cascade_amplification": Metric("ratio", "drawdown / twin drawdown (--twin)"),
    "endogenous_share": Metric(
        "share",
        "1 − twin drawdown / drawdown: the share of the fall made by forced flow (NaN if the "
        "mark did not fall; --twin)",
    ),
}
"""Per-asset keys `model.twin.with_twin` adds: ``<name>_<ASSET>``."""


def summary_keys(symbols: tuple[str, ...], twin: bool = False) -> list[str]:
    """Every key of `CascadeModel.summary` for these assets (with `twin`, of
    `model.twin.with_twin` too)."""
    per_asset = list(PER_ASSET) + (list(TWIN_PER_ASSET) if twin else [])
    market = list(MARKET) + (list(TWIN_MARKET) if twin else [])
    return market + [f"{name}_{sym}" for name in per_asset for sym in symbols]


def lookup(key: str) -> tuple[str, Metric] | None:
    """(the documented name, its Metric) of a summary key: market-wide, or per asset as
    ``drawdown_BTC`` / ``drawdown_<ASSET>`` / ``drawdown``; None when it is not a metric."""
    for table in (MARKET, TWIN_MARKET):
        if key in table:
            return key, table[key]
    for table in (PER_ASSET, TWIN_PER_ASSET):
        for name, metric in table.items():
            if key == name or (key.startswith(f"{name}_") and _is_symbol(key[len(name) + 1 :])):
                return f"{name}_{ASSET}", metric
    return None


def _is_symbol(text: str) -> bool:
    return text == ASSET or (text.isalnum() and text.upper() == text and not text.isdigit())


def all_names() -> list[str]:
    """Every documented name (per-asset ones as ``name_<ASSET>``)."""
    per_asset = [f"{n}_{ASSET}" for n in (*PER_ASSET, *TWIN_PER_ASSET)]
    return [*MARKET, *TWIN_MARKET, *per_asset]


def unit_of(key: str) -> str | None:
    """The unit of a summary key, None for an undocumented one."""
    found = lookup(key)
    return found[1].unit if found else None


def format_value(key: str, value: float, unit: str | None = None) -> str:
    """`value` written in the key's unit: 12,345,678 USD, 8.3 %, 1.42 x, 7, 0.0100 %.

    NaN shows as "n/a"; an undocumented key as a plain number."""
    unit = unit or unit_of(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    x = float(value)
    if unit == "USD":
        return f"{x:,.0f} USD"
    if unit == "share":
        return f"{100 * x:,.1f} %" if abs(x) >= 0.001 or x == 0 else f"{100 * x:.3f} %"
    if unit == "ratio":
        return f"{x:,.2f} x"
    if unit in ("count", "minutes"):
        text = f"{round(x):,}"
        return f"{text} min" if unit == "minutes" else text
    if unit == "rate":
        return f"{100 * x:.4f} %"
    return f"{x:,.4g}"


def explain(key: str) -> str | None:
    """``name (unit): meaning`` for a summary key, None when it is not one."""
    found = lookup(key)
    if found is None:
        return None
    name, metric = found
    return f"{name} ({UNIT_WORDS[metric.unit]}): {metric.meaning}"


UNIT_WORDS = {
    "USD": "USD",
    "share": "a share, shown as %",
    "ratio": "a multiple, shown as x",
    "count": "a count",
    "minutes": "minutes",
    "rate": "a rate per interval, shown as %",
}
