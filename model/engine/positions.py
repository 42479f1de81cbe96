"""Pure position arithmetic for one fill: new size, new entry price, realised PnL."""

from __future__ import annotations


def trade_effect(
    old_lots: int, entry_price_usd: float, signed_lots: int, price_usd: float, lot_size: float
) -> tuple[int, float, float, int, int]:
    """Apply one fill to a position in lots.

    Args:
        old_lots: Signed position before (+ long, − short).
        entry_price_usd: Average entry of the old position.
        signed_lots: Signed fill (+ buy, − sell).
        price_usd: Fill price.
        lot_size: Coins per lot.

    Returns:
        (new_lots, new_entry_price_usd, realized_pnl_usd, closed_lots, opened_lots).

    Notes:
        Reducing realises closed·lot·(price − entry)·sign(old) and keeps the entry price;
        adding averages the entry by size; a flip closes the old side and opens the
        remainder at the fill price (the usual one-way-mode rule of Binance and BitMEX).
    """
    new_lots = old_lots + signed_lots
    reducing = old_lots != 0 and (old_lots > 0) != (signed_lots > 0)
    closed = min(abs(signed_lots), abs(old_lots)) if reducing else 0
    opened = abs(signed_lots) - closed
    direction = 1 if old_lots > 0 else -1
    realized = closed * lot_size * (price_usd - entry_price_usd) * direction if closed else 0.0
    if new_lots == 0:
        new_entry = 0.0
    elif closed == 0:
        new_entry = (abs(old_lots) * entry_price_usd + opened * price_usd) / abs(new_lots)
    elif opened > 0:
        new_entry = price_usd
    else:
        new_entry = entry_price_usd
    return new_lots, new_entry, realized, closed, opened
