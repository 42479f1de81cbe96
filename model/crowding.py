"""Leverage-concentration index: how much open interest sits within x % of its liquidation."""

from __future__ import annotations

import numpy as np


def liquidatable_oi_share(ex, within: float = 0.05) -> float:
    """Share of user open interest whose liquidation price lies within `within` of the mark.

    Per position, the liquidation price holds everything else at the mark (Binance one-way
    formula, exchange-mechanics.md §2.2, with the position's bracket at the current notional):
    LP = (W − other MM + other UPnL + cum − s·Q·EP) / (Q·MMR − s·Q), where W is the cross
    wallet (cross) or the isolated margin (isolated). Weighted by notional at the mark.
    """
    r = ex.risk_arrays()
    acc = ex.accounts
    user = ~ex.is_system
    lots = acc.qty_lots[user]
    if not lots.any():
        return 0.0
    mark = ex.prices.mark_usd
    q = np.abs(lots) * ex.perp_lot_sizes
    side = np.sign(lots)
    iso = acc.is_isolated[user]
    cross = r["is_cross"][user]
    upnl, mm = r["upnl_usd"][user], r["mm_usd"][user]
    other_upnl = np.where(cross, (upnl * cross).sum(axis=1, keepdims=True) - upnl, 0.0)
    other_mm = np.where(cross, (mm * cross).sum(axis=1, keepdims=True) - mm, 0.0)
    wallet = np.where(iso, acc.isolated_margin_usd[user], acc.collateral_usd[user][:, None])
    notional = q * mark
    mmr = np.empty_like(notional)
    cum = np.empty_like(notional)
    for k, spec in enumerate(ex.perps):
        mmr[:, k] = spec.tiers.mmr_at(notional[:, k])
        cum[:, k] = spec.tiers.cum_at(notional[:, k])
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = (wallet - other_mm + other_upnl + cum - side * q * acc.entry_price_usd[user]) / (
            q * mmr - side * q
        )
    near = (lots != 0) & (lp > 0) & (np.abs(lp - mark) <= within * mark)
    total = notional[lots != 0].sum()
    return float(notional[near].sum() / total) if total > 0 else 0.0
