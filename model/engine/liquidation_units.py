"""A liquidation unit (a cross account's cross positions, or one isolated position): its
equity, maintenance and notional at the mark, how its equity is split over its legs to price
each leg's bankruptcy, and the fraction of each leg a partial liquidation closes.

Pure reads of the exchange's arrays (`ex`); the liquidator (liquidation.py) acts on them.
"""

from __future__ import annotations

import numpy as np

from model.engine.margin import maintenance_margin, unrealized_pnl_usd
from model.engine.risk_config import LiquidationConfig


def unit_markets(ex, acct: int, iso_market: int | None) -> list[int]:
    """The markets of one liquidation unit: the isolated market, or the cross positions."""
    if iso_market is not None:
        return [iso_market]
    acc = ex.accounts
    return [int(k) for k in np.flatnonzero((acc.qty_lots[acct] != 0) & ~acc.is_isolated[acct])]


def unit_state(ex, acct: int, iso_market: int | None) -> tuple[float, float, dict]:
    """Return (equity, maintenance, {market: notional}) of one liquidation unit."""
    acc = ex.accounts
    notional, equity, mm = {}, 0.0, 0.0
    for k in unit_markets(ex, acct, iso_market):
        spec, mark = ex.perps[k], float(ex.prices.mark_usd[k])
        qty = int(acc.qty_lots[acct, k]) * spec.lot_size
        notional[k] = abs(qty) * mark
        equity += qty * (mark - float(acc.entry_price_usd[acct, k]))
        mm += float(maintenance_margin(notional[k], spec.tiers))
    base = (
        acc.isolated_margin_usd[acct, iso_market]
        if iso_market is not None
        else acc.collateral_usd[acct]
    )
    if iso_market is None and ex.collateral.enabled:  # coins count in cross equity
        base = base + ex.collateral.value_usd(acct)
    return equity + float(base), mm, notional


def equity_shares(ex, acct: int, equity: float, notional: dict) -> dict:
    """How the unit's equity is split over its legs to price each leg's bankruptcy.

    Positive equity: by notional. Negative equity (a deficit): by each losing leg's loss,
    so every bankruptcy price lies between the leg's entry and the mark and no winning
    leg's counterparties are closed at a loss.
    """
    if equity >= 0:
        weights = dict(notional)
    else:
        weights = {}
        for k in notional:
            qty = int(ex.accounts.qty_lots[acct, k]) * ex.perps[k].lot_size
            mark, entry = float(ex.prices.mark_usd[k]), ex.accounts.entry_price_usd[acct, k]
            loss = -unrealized_pnl_usd(qty, entry, mark)
            if loss > 0:
                weights[k] = loss
        weights = weights or dict(notional)
    total = sum(weights.values())
    return {k: weights.get(k, 0.0) / total for k in notional}


def partial_fractions(cfg: LiquidationConfig, ex, equity: float, mm: float, notional: dict) -> dict:
    """The fraction of each position a partial liquidation closes ({}: none applies)."""
    gross = sum(notional.values())
    if cfg.partial_rule == "chunks":
        chunk = cfg.chunk_fraction
        fractions = {k: chunk if n > cfg.chunk_threshold_usd else 1.0 for k, n in notional.items()}
        return fractions if any(f < 1.0 for f in fractions.values()) else {}
    if cfg.partial_rule != "binance":
        return {}
    fractions = {}
    for k in notional:
        fee = ex.perps[k].liquidation_fee
        if mm - gross * fee > 0:
            fractions[k] = min(1.0, (mm - equity) / (mm - gross * fee))
    if any(f >= 1.0 for f in fractions.values()) or len(fractions) < len(notional):
        return {}
    return fractions
