"""Named scenarios, defined in one place: calm, shock and oct-2025."""

from __future__ import annotations

import dataclasses
import difflib

from model.config import ModelConfig, ShockConfig, WorldConfig

CLUSTERED_WORLD = WorldConfig(vol_reaction=0.04, vol_persistence=0.998, tail_dof=5.0)
"""Factor returns with BTC-like 1-minute statistics: GARCH(1,1)-t, volatility half-life
ln 0.5 / ln 0.998 ≈ 6 hours. Chosen so the factor alone shows excess kurtosis > 3, a Hill
index of about 3 and |r| autocorrelation significant past lag 50 (literature §3 SF2, SF3;
GARCH-t is the usual fit to BTC returns, e.g. Katsiampa 2017); assumed, not estimated."""


def calm() -> ModelConfig:
    """One simulated day with no macro shock; the market factor's volatility clusters."""
    return ModelConfig(world=CLUSTERED_WORLD)


def shock() -> ModelConfig:
    """The default macro shock: the market factor falls 10 % over 30 minutes at minute 720."""
    return ModelConfig(shocks=(ShockConfig(),))


def oct_2025() -> ModelConfig:
    """A replica of 10–11 Oct 2025 (literature §2.4, exchange-mechanics §7.1).

    Crowded longs (80 % of entries), a 50–100x tail of 3 % of accounts (their positions are
    about 25× a 1–5x account's: 16 % of long open interest before the shock, retail 78 %,
    medians of `cascade-lab validate`), retail spread toward the long tail,
    long-tail books at 35 % of their usual depth, market makers withdrawing 95 % of depth, a
    9.5 % factor fall in 40 minutes with exogenous selling, and the calm scenario's clustered
    volatility, which the fall lifts (aftershocks). Calibrated on 4–8 seeds against the
    validation bands (`cascade-lab validate`); what it still misses is in the README.
    """
    base = ModelConfig(world=CLUSTERED_WORLD)
    retail = dataclasses.replace(
        base.retail,
        long_bias=0.8,
        high_leverage_share=0.03,
        low_leverage=(1.0, 5.0),
        asset_weights=(0.35, 0.25, 0.1, 0.1, 0.1, 0.1),
    )
    assets = tuple(
        dataclasses.replace(a, depth_usd=a.depth_usd * 0.35) if a.kind == "tail" else a
        for a in base.assets
    )
    event = ShockConfig(
        start_minute=720,
        duration_minutes=40,
        size=0.095,
        mm_risk_off=0.95,
        recovery_minutes=360,
        sell_flow_usd=0.05,
    )
    return dataclasses.replace(base, retail=retail, assets=assets, shocks=(event,))


SCENARIOS = {"calm": calm, "shock": shock, "oct-2025": oct_2025}


def scenario(name: str) -> ModelConfig:
    """The configuration of a named scenario; an unknown name lists the closest ones."""
    if name not in SCENARIOS:
        near = difflib.get_close_matches(name, SCENARIOS, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValueError(f"unknown scenario {name!r}{hint}; valid: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]()
