"""Venue rule sets: the settings that make a run follow one exchange's documented rules.

binance (the default): partial "Smart Liquidation", insurance pools that take positions over
at the bankruptcy price, the ADL queue at the bankruptcy price ranked by PnL% x leverage,
8-hour funding on the mark, per-symbol clearance fees (exchange-mechanics.md §2).

hyperliquid (§5): liquidation by the book first, in 20 % slices of positions over 100k; the
liquidator vault takes a whole account over once its equity is below 2/3 of maintenance;
ADL at the mark, ranked by Hyperliquid's index, once the vault is spent; no clearance fee
and no residual margin to a fund; funding F/8 hourly on the oracle, capped at 4 %/h.
Hyperliquid carried about 55 % of 10 Oct 2025's liquidations in the worst four hours (§8.1).

Per market, `assets.N.venue` sets the market's own rules (funding, clearance fee); the
liquidation path is the run's (`liquidation.*`): one account's cross margin spans its
markets, so one path decides how it is closed.
"""

from __future__ import annotations

VENUES = ("binance", "hyperliquid")

HYPERLIQUID_VAULT_USD = 8_000_000.0
"""The liquidator vault's capital: the default scenario's three insurance pools together
(3M + 2M + 3M); Hyperliquid caps it at "a small percentage" of HLP's ≈ 420M (§5.3), assumed."""

HYPERLIQUID_LIQUIDATION = {
    "liquidation.policy": "backstop_vault",
    "liquidation.partial_rule": "chunks",
    "liquidation.backstop_equity_ratio": 2 / 3,
    "liquidation.adl_price": "mark",
    "liquidation.adl_score": "hyperliquid",
    "liquidation.residual_to_pool": 0.0,
    "liquidation.pool_initial_usd": 0.0,
    "liquidation.vault_initial_usd": HYPERLIQUID_VAULT_USD,
}
"""Hyperliquid's liquidation path as dotted overrides (§5.2–5.4); no insurance fund."""


def venue_overrides(venue: str, n_assets: int) -> dict[str, object]:
    """Dotted overrides that put a run on `venue`'s rules (every market and the liquidation
    path); a user's own overrides applied after them win."""
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; valid: {', '.join(VENUES)}")
    if venue == "binance":
        return {}
    markets = {f"assets.{i}.venue": venue for i in range(n_assets)}
    return {**HYPERLIQUID_LIQUIDATION, **markets}
