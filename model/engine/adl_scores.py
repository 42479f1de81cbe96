"""ADL ranking scores: who is deleveraged first (BitMEX, Binance, Hyperliquid).

Pure numpy, highest score first; the queues and allocations that use them are in adl.py.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from model.engine.args import broadcast, real_array

FloatArray = npt.NDArray[np.float64]


def bitmex_score(
    side: npt.ArrayLike,
    entry_price: npt.ArrayLike,
    mark_price: npt.ArrayLike,
    bankruptcy_price: npt.ArrayLike,
) -> FloatArray:
    """Return the BitMEX ADL ranking score (highest is deleveraged first).

    score = PnL% * EffLev if PnL% > 0 else PnL% / EffLev, PnL% = side * (mark - entry) / entry,
    EffLev = mark / |mark - bankruptcy| (exchange-mechanics §3.4, TV-X5). BitMEX writes
    |MarkValue| / (MarkValue - BankruptValue) on signed position values; a short's values are
    negative and its bankruptcy price lies above mark, so for linear contracts both sides
    reduce to the absolute price distance. Broadcasts over its arguments.

    Args:
        side: +1 long, -1 short.
        entry_price: average entry price in USD, > 0.
        mark_price: mark price in USD, > 0.
        bankruptcy_price: the position's own bankruptcy price in USD, >= 0 and != mark.

    Returns:
        Score per position (float64, broadcast shape).
    """
    sides, entry, mark, bankrupt = broadcast(
        side=real_array("side", side),
        entry_price=real_array("entry_price", entry_price, positive=True),
        mark_price=real_array("mark_price", mark_price, positive=True),
        bankruptcy_price=real_array("bankruptcy_price", bankruptcy_price, nonneg=True),
    )
    if (np.abs(sides) != 1).any():
        raise ValueError(f"side must be +1 or -1, got {sides[np.abs(sides) != 1][0]}")
    distance = np.abs(mark - bankrupt).astype(np.float64)
    if (distance == 0).any():
        raise ValueError(f"bankruptcy_price equals mark_price, got {bankrupt[distance == 0][0]}")
    pnl_pct = sides * (mark - entry) / entry
    effective_leverage = mark / distance
    return np.where(pnl_pct > 0, pnl_pct * effective_leverage, pnl_pct / effective_leverage)


def hyperliquid_score(
    side: npt.ArrayLike,
    entry_price: npt.ArrayLike,
    mark_price: npt.ArrayLike,
    notional_usd: npt.ArrayLike,
    account_value_usd: npt.ArrayLike,
) -> FloatArray:
    """Return Hyperliquid's ADL sorting index (highest is deleveraged first).

    index = (mark / entry)^side · notional / account value (exchange-mechanics §5.4: the docs
    give (mark/entry)·(notional/account value); for a short the ratio is inverted, entry /
    mark, so that profit ranks first on both sides [INF, §5.4 note]). TV-H3: a short entered
    at 4,000, mark 3,600, notional 36,000, account value 12,000 → (4,000/3,600)·3 = 3.33 with
    the short inverted (the docs' literal formula gives 0.9·3 = 2.7).

    Args:
        side: +1 long, -1 short.
        entry_price, mark_price: USD, > 0.
        notional_usd: |position| · mark, USD, >= 0.
        account_value_usd: the equity backing the position (cross account value, or the
            isolated position's), USD, > 0.
    """
    sides, entry, mark, notional, value = broadcast(
        side=real_array("side", side),
        entry_price=real_array("entry_price", entry_price, positive=True),
        mark_price=real_array("mark_price", mark_price, positive=True),
        notional_usd=real_array("notional_usd", notional_usd, nonneg=True),
        account_value_usd=real_array("account_value_usd", account_value_usd, positive=True),
    )
    if (np.abs(sides) != 1).any():
        raise ValueError(f"side must be +1 or -1, got {sides[np.abs(sides) != 1][0]}")
    return (mark / entry) ** sides * notional / value


def binance_leverage_pnl_score(
    unrealized_profit: npt.ArrayLike,
    wallet_balance: npt.ArrayLike,
    maintenance_margin: npt.ArrayLike,
) -> FloatArray:
    """Return Binance's documented "LeveragePnl" ADL score (highest is deleveraged first).

    PnlPercent = max(0, UPnL) / max(1, WB); MarginRatio = 0 if WB + UPnL <= 0 else
    MM / (WB + UPnL); score = PnlPercent * MarginRatio (exchange-mechanics §2.6, TV-B11; the 1
    is 1 USDT). The live production formula is unconfirmed (§10 item 1). Broadcasts.

    Args:
        unrealized_profit: unrealized PnL in USD (USDT).
        wallet_balance: wallet balance in USD (USDT).
        maintenance_margin: maintenance margin in USD, >= 0.

    Returns:
        Score per account (float64, broadcast shape).
    """
    upnl, wallet, mm = broadcast(
        unrealized_profit=real_array("unrealized_profit", unrealized_profit).astype(np.float64),
        wallet_balance=real_array("wallet_balance", wallet_balance).astype(np.float64),
        maintenance_margin=real_array("maintenance_margin", maintenance_margin, nonneg=True),
    )
    pnl_percent = np.maximum(upnl, 0.0) / np.maximum(1.0, wallet)
    balance = wallet + upnl
    margin_ratio = np.divide(mm, balance, out=np.zeros(balance.shape), where=balance > 0)
    return pnl_percent * margin_ratio
