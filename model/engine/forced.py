"""The engine's own closes (liquidations, pool unwinds): into the books, or off them; and
its sales of a liquidated account's collateral coins into their spot book.

On every venue a forced close is an IOC into the order book. The counterfactual twin
(DESIGN.md §2.3) routes them, from `off_book_from_minute` on, to a sink account at the mark:
the same transfer as a fill, without moving any book or last price.
"""

from __future__ import annotations

import numpy as np

from model.engine.events import Fill
from model.engine.order_entry import OrderDesk
from model.engine.types import Venue


class ForcedCloses:
    """Forced closes through the order desk's books, or against the twin's sink.

    Args:
        desk: The order desk (books, fills, reserves).
        off_book_from_minute: From this minute on, closes go to `sink` when it is set.
    """

    def __init__(self, desk: OrderDesk, off_book_from_minute: int) -> None:
        self.desk, self.off_book_from_minute = desk, off_book_from_minute
        self.ledger, self.clock, self.prices = desk.ledger, desk.clock, desk.prices
        self.perps, self.events = desk.perps, desk.events
        self.sink: int | None = None  # the twin's counterparty, set by the exchange

    def forced_ioc(
        self, acct: int, k: int, side: int, lots: int, limit_usd: float, *, is_liquidation: bool
    ) -> tuple[int, float]:
        """An engine-initiated close (liquidation, pool unwind); returns (lots, USD notional).

        Into the book (`_into_book`), or, with forced closes off the book (the counterfactual
        twin) from `off_book_from_minute` on, all `lots` against the sink at the mark if the
        mark is within `limit_usd`, and none otherwise: the same transfer as a fill, without
        moving any book or last price.
        """
        if self.sink is None or self.clock.t < self.off_book_from_minute:
            return self._into_book(acct, k, side, lots, limit_usd, is_liquidation=is_liquidation)
        mark = float(self.prices.mark_usd[k])
        if side * (mark - limit_usd) > 0:
            return 0, 0.0
        spec = self.perps[k]
        notional = lots * spec.lot_size * mark
        fee = 0.0 if is_liquidation else notional * spec.taker_fee
        self.ledger.perp_fill(acct, k, side * lots, mark, fee)
        self.ledger.perp_fill(self.sink, k, -side * lots, mark, 0.0)
        self.events.add(
            Fill(
                self.clock.t,
                "off_book",
                k,
                acct,
                self.sink,
                side,
                mark,
                lots * spec.lot_size,
                fee,
                0.0,
                is_liquidation,
            )
        )
        return lots, notional

    def forced_levels(self, k: int, side: int) -> list[tuple[float, int]]:
        """The liquidity a forced close of a position of `side` meets: (price USD, lots) levels,
        best first: the book's opposite side, or the sink's one unlimited level at the mark."""
        if self.sink is not None and self.clock.t >= self.off_book_from_minute:
            return [(float(self.prices.mark_usd[k]), 1 << 62)]
        tick = self.perps[k].tick_size
        return [(ticks * tick, lots) for ticks, lots in self.desk.perp_books[k].levels(side)]

    def _into_book(
        self, acct: int, k: int, side: int, lots: int, limit_usd: float, *, is_liquidation: bool
    ) -> tuple[int, float]:
        """Engine-initiated IOC (liquidation, pool unwind): no margin check, no taker fee for
        liquidations (the clearance fee is charged separately). Returns (lots, USD notional)."""
        ticks = limit_usd / self.perps[k].tick_size
        limit = max(1, int(np.floor(ticks + 1e-9)) if side > 0 else int(np.ceil(ticks - 1e-9)))
        fee_rate = 0.0 if is_liquidation else None
        return self._ioc(Venue.PERP, k, acct, side, lots, limit, fee_rate, is_liquidation)

    def forced_spot_sell(self, acct: int, a: int, lots: int, limit_usd: float) -> tuple[int, float]:
        """Engine-initiated IOC sale of `lots` coins of spot asset `a` no lower than
        `limit_usd` (a liquidated account's collateral, collateral.py), into the spot book
        even in the twin; no taker fee, as for the perp forced closes. Returns (lots, USD)."""
        limit = max(1, int(np.ceil(limit_usd / self.desk.spots[a].tick_size - 1e-9)))
        return self._ioc(Venue.SPOT, a, acct, -1, lots, limit, 0.0, True)

    def _ioc(
        self, venue: Venue, m: int, acct: int, side: int, lots: int, limit_ticks: int,
        fee_rate: float | None, is_liquidation: bool,
    ) -> tuple[int, float]:  # fmt: skip
        """One engine IOC into market m's book of `venue`; each match applied by the desk.
        Returns (lots filled, USD notional)."""
        is_perp = venue == Venue.PERP
        spec = (self.perps if is_perp else self.desk.spots)[m]
        book = (self.desk.perp_books if is_perp else self.desk.spot_books)[m]
        res = book.submit(acct, side, lots, limit_ticks, ioc=True)
        for oid in res.stp_cancelled:
            self.desk.reserves.forget(venue, m, oid, None)
        notional = 0.0
        for f in res.fills:
            price = f.price_ticks * spec.tick_size
            notional += price * f.qty_lots * spec.lot_size
            self.desk.fill(
                venue, m, acct, side, f.maker_owner, f.maker_order_id, f.qty_lots, price,
                taker_fee_rate=fee_rate, is_liquidation=is_liquidation,
            )  # fmt: skip
        return res.filled_lots, notional
