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


NEWS_DROP_OCT_2025 = 0.045
"""The common factor's fall that the macro news of 10 Oct 2025 justified: the S&P 500 fell
2.7 % that day and BTC's beta to US equities in 2025 was ≈ 1.5–2 (exchange-mechanics §8.1
[INF]), so 2.7 % × 1.5–2 ≈ 4–5.4 % for BTC; 4.5 % taken. The rest of BTC's −14 % is left to
the model's own forced flow."""


OCT_2025_POOLS_USD = (18_000_000.0, 11_000_000.0, 300_000.0)
"""Insurance pools (BTC, ETH, the shared one of the alts and the long tail) sized the way the
venues size them, against the open interest they cover. BTC's and ETH's ≈ 4 % of theirs (442
and 285 M USD here): Binance's fund for its BTC, ETH and BNB contracts held ≈ $1.23B on 10 Oct
against ≈ $16B of Binance BTC open interest and ≈ $9B of ETH [INF: ETH's all-venue OI $38B
against BTC's $67B] (exchange-mechanics §2.3, §8.1). The shared pool 0.2 % of its 158 M USD:
small-cap pools are small (Bybit's isolated ones hold 20–100 k USDT, its API example of May
2025); assumed. The generic default (3, 2 and 3 M USD) is 0.7 % of the majors' open interest
and 1.9 % of the rest's, the other way round."""
OCT_2025_UNWIND = 0.01
"""Pools offload what they took over at 1 % of it a minute (Binance: the fund "offloads them
onto the market slowly", exchange-mechanics §2.3; rate assumed; the generic default is 10 %)."""


OCT_2025_LEVERAGE_MIX = {
    "low_leverage": (1.0, 3.0),
    "moderate_leverage_share": 0.336,
    "mid_leverage_share": 0.03,
    "high_leverage_share": 0.005,
}
"""The crowd's leverage mix, shares of accounts: 62.9 % at 1–3x, 33.6 % at 3–7x, 3 % at 8–25x
and 0.5 % at 50–100x (a twentieth of its margin). Weighted by notional it puts 36 % of the
crowd's open interest at 0–3x, 48 % at 3–7x and 15 % above 7x, the split of Hyperliquid's
$7.63B of open interest by leverage in Dec 2025 (Ai Yi via Odaily, docs/bibliography.md
"Added outside the notes"; $2.77B at 0–3x, $3.7B at 3–7x), measured on the model's opening
book by tests/test_model.py. All markets alike: the source gives no split by market. After
the flush ("many [at 10x and more] have been wiped out"), so a floor on the day's leverage.
Replaces 97.5 % at 1–4x and 2 % at 8–25x (assumed), which left no open interest at 4–7x."""


def oct_2025() -> ModelConfig:
    """A replica of 10–11 Oct 2025 (literature §2.4, exchange-mechanics §7.1, §8.1).

    The news moves the common factor by what it justified (NEWS_DROP_OCT_2025, over 40
    minutes); the rest is made inside the market. Crowded longs (80 % of positions) with
    a leverage mix sourced by its open interest (OCT_2025_LEVERAGE_MIX), open interest
    of 100–250 depths, long-tail books at half their usual depth with thin latent books below
    value, makers withdrawing 95 % of depth, no exogenous selling, and the calm scenario's
    clustered volatility, which the fall lifts (aftershocks); insurance pools sized against
    the open interest they cover, offloading slowly (OCT_2025_POOLS_USD, OCT_2025_UNWIND).
    """
    base = ModelConfig(world=CLUSTERED_WORLD)
    retail = dataclasses.replace(
        base.retail, long_bias=0.8, entry_prob=0.003, **OCT_2025_LEVERAGE_MIX
    )
    assets = tuple(
        dataclasses.replace(a, depth_usd=a.depth_usd * 0.5) if a.kind == "tail" else a
        for a in base.assets
    )
    event = ShockConfig(
        start_minute=720,
        duration_minutes=40,
        size=NEWS_DROP_OCT_2025,
        mm_risk_off=0.95,
        recovery_minutes=360,
    )
    pools = dataclasses.replace(
        base.liquidation, pool_initial_usd=OCT_2025_POOLS_USD, pool_unwind_fraction=OCT_2025_UNWIND
    )
    return dataclasses.replace(
        base, retail=retail, assets=assets, shocks=(event,), liquidation=pools
    )


SCENARIOS = {"calm": calm, "shock": shock, "oct-2025": oct_2025}


def scenario(name: str) -> ModelConfig:
    """The configuration of a named scenario; an unknown name lists the closest ones."""
    if name not in SCENARIOS:
        near = difflib.get_close_matches(name, SCENARIOS, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValueError(f"unknown scenario {name!r}{hint}; valid: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]()
