"""The counterfactual twin (DESIGN.md §2.3): the same run with forced closes routed off the book.

A run and its twin share the configuration and the seed (common random numbers); in the twin,
from the shock on, every liquidation and pool unwind executes at the mark against a sink
outside the books (`liquidation.forced_closes = "off_book"`, `off_book_from_minute` = the
shock's start), so the forced selling never moves a price. Before the shock the two are the
same run. What the
run falls beyond its twin is what the market's own forced flow made:

    cascade amplification  = drawdown / twin drawdown
    endogenous share       = 1 − twin drawdown / drawdown

per asset, with drawdowns from the pre-shock level to the post-shock low (`summary.drawdown`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from model.config import ModelConfig

TWIN_KEYS = ("twin_drawdown", "cascade_amplification", "endogenous_share")
"""Per-asset keys `with_twin` adds (suffixed `_<SYMBOL>`)."""


def twin_config(cfg: ModelConfig) -> ModelConfig:
    """The twin's configuration: `cfg` with forced closes off the book from the first shock on.

    Before the shock the twin is the run itself, minute for minute (the same seed, the same
    flows); from the shock on only the routing of forced closes differs, so the difference in
    their falls is what the forced flow made.

    Raises:
        ValueError: The configuration has no shock (there is nothing to attribute), or its
            forced closes are already off the book.
    """
    if not cfg.shocks:
        raise ValueError(
            "a twin needs a shock: the scenario has none (shocks is empty), so there is no "
            "fall to attribute; use a scenario with a shock (shock, oct-2025)"
        )
    if cfg.liquidation.forced_closes != "book":
        raise ValueError(
            "a twin routes forced closes off the book; this run already has "
            f"liquidation.forced_closes={cfg.liquidation.forced_closes!r}"
        )
    start = min(s.start_minute for s in cfg.shocks)
    liquidation = dataclasses.replace(
        cfg.liquidation, forced_closes="off_book", off_book_from_minute=start
    )
    return dataclasses.replace(cfg, liquidation=liquidation)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else math.nan


def with_twin(
    summary: dict[str, float], twin: dict[str, float], symbols: tuple[str, ...]
) -> dict[str, float]:
    """The run's summary with its twin's attribution added.

    Adds per asset `twin_drawdown_<S>`, `cascade_amplification_<S>` = drawdown / twin
    drawdown and `endogenous_share_<S>` = 1 − twin drawdown / drawdown (NaN when the divisor is
    0), and `mean_cascade_amplification`, `mean_endogenous_share` (means over assets, NaN
    ignored) and `twin_liq_over_oi_after_shock`. Every key of `summary` is kept.

    Example: drawdown 0.14, twin drawdown 0.05 → amplification 2.8, endogenous share ≈ 0.64.
    """
    out = dict(summary)
    amps, shares = [], []
    for sym in symbols:
        dd, twin_dd = summary[f"drawdown_{sym}"], twin[f"drawdown_{sym}"]
        out[f"twin_drawdown_{sym}"] = twin_dd
        out[f"cascade_amplification_{sym}"] = amp = ratio(dd, twin_dd)
        out[f"endogenous_share_{sym}"] = share = 1.0 - ratio(twin_dd, dd) if dd > 0 else math.nan
        amps.append(amp)
        shares.append(share)
    out["mean_cascade_amplification"] = _nanmean(amps)
    out["mean_endogenous_share"] = _nanmean(shares)
    out["twin_liq_over_oi_after_shock"] = twin["liq_over_oi_after_shock"]
    return out


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=float)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else math.nan


def run_pair(scenario, rng, overrides: dict | None = None):
    """Run a configuration and its twin on the same seed; return (model, twin model, summary).

    `scenario` is a name or a `ModelConfig`; `overrides` are dotted keys. The summary is the
    run's with `with_twin` applied.
    """
    from model.market import CascadeModel  # the Mesa model sits above this module

    model = CascadeModel(scenario=scenario, rng=rng, **(overrides or {}))
    twin = CascadeModel(scenario=twin_config(model.cfg), rng=model.seed)  # the same seed
    summary = with_twin(model.run(), twin.run(), model.symbols)
    return model, twin, summary
