"""Turn the configured assets into perp and spot market specifications."""

from __future__ import annotations

import math

from model.config import AssetConfig
from model.engine.specs import FundingSpec, MarketSpec, SpotSpec, hyperliquid_funding
from model.engine.tiers import BTCUSDT_2021, BTCUSDT_2025, SMALL_CAP_50X

TIERS = {"major": BTCUSDT_2025, "alt": BTCUSDT_2021, "tail": SMALL_CAP_50X}
"""Majors: BTCUSDT 2025 brackets; large alts: the 2021 BTC table; long tail: 50x small-cap
template (exchange-mechanics.md §2.1 Tables B, A, C)."""
CAP_PER_MMR = 0.75
"""Binance's default funding cap: ±0.75 × the first tier's maintenance margin rate (§2.5)."""
FUNDING_CAP = {
    "major": 0.003,
    "alt": CAP_PER_MMR * BTCUSDT_2021.mmr[0],
    "tail": 0.02,
}
"""Per-interval caps (§2.5): BTCUSDT's published ±0.3 %; large alts by the default rule,
0.75 × their first tier's MMR (0.4 %) = ±0.3 %; long-tail perps ±2 %, the published cap of
many alts (Binance announcements 2023-10-01, 2025-02-24)."""


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
        liquidation_fee=0.0 if asset.venue == "hyperliquid" else asset.liquidation_fee,
        funding=(
            hyperliquid_funding()
            if asset.venue == "hyperliquid"
            else FundingSpec(cap=FUNDING_CAP[asset.kind])
        ),
        mark_rule=mark_rule,
    )


def spot_spec(asset: AssetConfig) -> SpotSpec:
    """The spot market of an asset."""
    return SpotSpec(asset.symbol, tick_size(asset.price_usd), lot_size(asset.price_usd))
