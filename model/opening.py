"""The opening open-interest book: the positions a run starts with (DESIGN.md §2.3).

A run starts in the middle of a market's life, not from an empty book. Retail accounts hold
their positions, the market-neutral funds their legs, and the hedged books hold the net of
them: basis traders and makers short the perp against spot coins they own (literature §2.6,
exchange-mechanics §8.1: basis books and delta-neutral protocol shorts). Opening a book of
50–250 depths through the order books would take hours of one-way flow that a price-setting
venue cannot absorb without moving, so the book is opened matched, at the start price, as
yesterday's positions (`Exchange.open_book`). Pure arithmetic on lots; the model applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.engine.tiers import TierTable
from model.engine.types import FloatArray, IntArray

BASIS_HEADROOM = 2.0
"""A hedged book (basis trader, maker) gets USD collateral of this many times the initial plus
maintenance margin of its opening shorts, on top of its own capital: its spot coins do not count
as perp collateral, and a maker still needs margin to quote (assumed)."""


@dataclass
class MarketBook:
    """One market's opening positions: account ids, signed lots, leverage, isolated flags."""

    accounts: list[int] = field(default_factory=list)
    lots: list[int] = field(default_factory=list)
    leverage: list[float] = field(default_factory=list)
    isolated: list[bool] = field(default_factory=list)

    def add(self, accounts, lots, leverage, isolated) -> None:
        """Append positions (arrays or scalars broadcast to `accounts`); zero lots are kept
        out."""
        ids = np.atleast_1d(np.asarray(accounts, dtype=np.int64))
        n = ids.shape
        lots = np.broadcast_to(np.asarray(lots, dtype=np.int64), n)
        keep = lots != 0
        self.accounts += ids[keep].tolist()
        self.lots += lots[keep].tolist()
        self.leverage += np.broadcast_to(np.asarray(leverage, float), n)[keep].tolist()
        self.isolated += np.broadcast_to(np.asarray(isolated, bool), n)[keep].tolist()

    @property
    def net_lots(self) -> int:
        """Σ signed lots so far (zero once the hedged books are added)."""
        return int(sum(self.lots))


def lots_for(notional_usd: FloatArray, price_usd: float, lot: float) -> IntArray:
    """Whole lots of a USD notional at a price: floor(notional / price / lot + 1e-9)."""
    return np.floor(np.asarray(notional_usd, float) / price_usd / lot + 1e-9).astype(np.int64)


def capped_leverage(leverage: FloatArray, notional_usd: FloatArray, tiers: TierTable) -> FloatArray:
    """Leverage clipped to the tier maximum at each position's notional (Binance brackets)."""
    return np.minimum(leverage, tiers.max_leverage_at(np.asarray(notional_usd, float)))


def margin_leverage(margin_usd: FloatArray, leverage: FloatArray, tiers: TierTable) -> FloatArray:
    """The leverage a margin can use: L ≤ the tier maximum at the notional margin · L.

    Notes:
        Iterates L ← min(L, max_leverage_at(margin · L)): each step can only lower L and so
        the notional, and brackets are finite, so it settles within their number of steps.
        Example (small-cap 50x table): margin 1,000 at 50x is 50k notional, bracket 25–100k
        caps it at 10x → 10k notional, bracket 5–25k allows 20x → 10x stays (10k ≤ 25k).
    """
    lev = np.asarray(leverage, dtype=float).copy()
    for _ in range(tiers.n_brackets):
        lev = capped_leverage(lev, margin_usd * lev, tiers)
    return lev


def split_lots(total: int, parts: int) -> IntArray:
    """Split `total` lots over `parts` holders as evenly as integers allow (sums to total).

    Example: split_lots(-7, 3) → [-3, -2, -2].
    """
    if parts <= 0:
        return np.zeros(0, dtype=np.int64)
    sign, size = (1 if total >= 0 else -1), abs(total)
    base, extra = divmod(size, parts)
    return sign * (base + (np.arange(parts) < extra)).astype(np.int64)


def hedged_split(net_lots: int, basis_share: float, n_basis: int, n_makers: int) -> tuple:
    """Split the hedged side (−net_lots) between basis traders and makers.

    Basis traders only hold shorts: when the others are net long (net_lots > 0) they take
    round(basis_share · net_lots) of the short side; makers take the rest, and all of it when
    the others are net short. Returns (basis lots per trader, maker lots per maker), each
    summing with the other to −net_lots.
    """
    if n_makers == 0 and (n_basis == 0 or net_lots < 0):
        raise ValueError(
            "the opening book's net position needs holders: makers (makers.n_makers) take "
            "either side, basis traders (basis.n_traders) only a short; got "
            f"{n_makers} makers, {n_basis} basis traders and a net of {net_lots} lots"
        )
    to_basis = round(basis_share * net_lots) if net_lots > 0 and n_basis else 0
    if n_makers == 0:
        to_basis = net_lots
    basis = split_lots(-to_basis, n_basis)
    makers = split_lots(-(net_lots - to_basis), n_makers)
    return basis, makers
