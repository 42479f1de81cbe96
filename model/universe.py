"""Turn the configured assets into perp and spot market specifications."""

from __future__ import annotations

import math

from model.config import AssetConfig
from model.engine.specs import FundingSpec, MarketSpec, SpotSpec
from model.engine.tiers import BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X

TIERS = {"major": BTCUSDT_2025, "alt": BTCUSDT_2021, "tail": SMALL_CAP_50X}
"""Majors: BTCUSDT 2025 brackets; large alts: the 2021 BTC table; long tail: 50x small-cap
template (exchange-mechanics.md §2.1 Tables B, A, C)."""
FUNDING_CAP = {"major": 0.003, "alt": 0.0075, "tail": 0.02}
"""Per-interval caps: BTCUSDT ±0.3 %, alts ±0.75 % (0.75·MMR rule), many alts ±2 % (§2.5)."""


def tick_size(price_usd: float) -> float:
    """About 0.1 bp of the price, a power of ten (BTC at 100k → 1 USD)."""
    return 10.0 ** math.floor(math.log10(price_usd * 1e-5))


def lot_size(price_usd: float) -> float:
    """About 1–10 USD of notional per lot, a power of ten."""
    return 10.0 ** math.floor(math.log10(10.0 / price_usd))


def perp_spec(asset: AssetConfig, mark_rule: str, tier_scale: float = 1.0) -> MarketSpec:
    """The perp market of an asset; its bracket floors × `tier_scale` (`TierTable.scaled`)."""
    tiers = TIERS[asset.kind]
    return MarketSpec(
        symbol=f"{asset.symbol}USDT",
        tick_size=tick_size(asset.price_usd),
        lot_size=lot_size(asset.price_usd),
        tiers=tiers if tier_scale == 1.0 else tiers.scaled(tier_scale),
        liquidation_fee=asset.liquidation_fee,
        funding=FundingSpec(cap=FUNDING_CAP[asset.kind]),
        mark_rule=mark_rule,
    )


def spot_spec(asset: AssetConfig) -> SpotSpec:
    """The spot market of an asset."""
    return SpotSpec(asset.symbol, tick_size(asset.price_usd), lot_size(asset.price_usd))
