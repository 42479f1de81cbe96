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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.config import ModelConfig

VENUES = ("binance", "hyperliquid")

HYPERLIQUID_LIQUIDATION = {
    "liquidation.policy": "backstop_vault",
    "liquidation.partial_rule": "chunks",
    "liquidation.backstop_equity_ratio": 2 / 3,
    "liquidation.adl_price": "mark",
    "liquidation.adl_score": "hyperliquid",
    "liquidation.residual_to_pool": 0.0,
    "liquidation.pool_initial_usd": 0.0,
}
"""Hyperliquid's liquidation path as dotted overrides (§5.2–5.4); no insurance fund. The
liquidator vault's capital is set by `venue_overrides`."""


def venue_overrides(venue: str, base: ModelConfig) -> dict[str, object]:
    """Dotted overrides that put a run of the configuration `base` on `venue`'s rules (every
    market and the liquidation path); a user's own overrides applied after them win.

    On Hyperliquid's rules the liquidator vault gets the capital `base` gives its insurance
    pools (their sum: 8 M USD for the generic 3 + 2 + 3 M, 29.3 M for oct-2025's), so both
    venues absorb losses with the same money; Hyperliquid caps the vault at "a small
    percentage" of HLP's ≈ 420M (§5.3), assumed.
    """
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; valid: {', '.join(VENUES)}")
    if venue == "binance":
        return {}
    n_assets = len(base.assets)
    liq = base.liquidation
    vault_usd = sum(liq.pool_balances(max(liq.pool_of_market(n_assets)) + 1))
    markets = {f"assets.{i}.venue": venue for i in range(n_assets)}
    return {**HYPERLIQUID_LIQUIDATION, "liquidation.vault_initial_usd": vault_usd, **markets}
