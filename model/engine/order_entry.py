"""Order entry: validation, matching into the books, resting-order reserves, quotes, stops.

The `OrderDesk` is handed the ledger, the books and the prices (composition); every match it
finds is applied by the ledger (`fill`), every reserve is kept in `OrderReserves`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from model.engine.balance import Balances
from model.engine.events import EventLog, Fill, Reject
from model.engine.ladder import fit_ladder
from model.engine.ledger import Ledger
from model.engine.marks import MarketPrices
from model.engine.order_checks import reject_reason, solvent_close_ticks, to_lots, to_ticks
from model.engine.orderbook import OrderBook
from model.engine.orders import Order, OrderOutcome, Quotes
from model.engine.reserves import OrderReserves
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.stops import StopBook
from model.engine.types import Clock, OrderKind, RejectReason, Venue


class OrderDesk:
    """Submitting, resting, cancelling and triggering orders; applying each match.

    Args:
        ledger: The one writer of money and positions.
        clock: The engine's minute.
        perps, spots: Market specifications.
        perp_books, spot_books: The order books.
        prices: Index, mark and last prices.
        events: The event log.
        rng: Queue priority among the orders of one step.
        market_order_band: Price protection of market orders, fraction from the reference.
        perp_of_spot: Perp market of each spot asset that has one.
    """

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        perps: Sequence[MarketSpec],
        spots: Sequence[SpotSpec],
        perp_books: list[OrderBook],
        spot_books: list[OrderBook],
        prices: MarketPrices,
        events: EventLog,
        rng: np.random.Generator,
        market_order_band: float,
        perp_of_spot: dict[int, int],
    ) -> None:
        self.ledger, self.clock = ledger, clock
        self.perps, self.spots = perps, spots
        self.perp_books, self.spot_books = perp_books, spot_books
        self.prices, self.events, self.rng = prices, events, rng
        self.market_order_band = market_order_band
        self.perp_of_spot = perp_of_spot
        self.reserves = OrderReserves(len(spots))
        self.balances = Balances(ledger, prices, self.reserves)
        self.stops = StopBook()
        self.spot_last_usd = np.full(len(spots), np.nan)

    def available_usd(self, account: int) -> float:
        """Available balance: cross equity − cross initial margin − margin reserved by orders."""
        return self.balances.available_usd(account)

    # --------------------------------------------------------------------------- orders
    def submit_many(self, orders: Iterable[Order]) -> list[OrderOutcome]:
        """Submit a step's orders in an order randomised by the exchange's own stream."""
        batch = list(orders)
        outcomes: list[OrderOutcome | None] = [None] * len(batch)
        for i in self.rng.permutation(len(batch)).tolist():
            outcomes[i] = self.submit(batch[i])
        self.ledger.journal.trim()  # the fills' rows, kept unchecked on the hot path
        return outcomes  # type: ignore[return-value]

    def submit(self, order: Order) -> OrderOutcome:
        """Validate and execute one order; a bad order is rejected with a reason code."""
        reason = reject_reason(
            order, self.ledger, self.perps, self.spots, self.perp_books, self.spot_books
        )
        if reason is not None:
            return self._reject(order, reason)
        if order.kind == OrderKind.STOP_MARKET:
            return self._place_stop(order)
        if order.venue == Venue.SPOT:
            return self._submit_spot(order)
        return self._submit_perp(order)

    def _reject(self, order: Order, reason: RejectReason) -> OrderOutcome:
        self.events.add(
            Reject(
                t=self.clock.t,
                account=order.account,
                venue=str(order.venue),
                market=order.market,
                reason=reason.name,
            )
        )
        self.events.reject_counts[reason.name] += 1
        return OrderOutcome(accepted=False, reason=reason)

    def _limit_ticks(self, order: Order, book: OrderBook, tick: float) -> int | None:
        """Limit price in ticks; a market order may trade no further than the protection band
        from its reference price: the mark (perp) or the index of the asset (spot), falling
        back to the best price (Binance's percent-price filter / price protection)."""
        if order.kind == OrderKind.LIMIT:
            return to_ticks(order.price_usd, tick)
        best = book.best_ask() if order.side > 0 else book.best_bid()
        if best is None:
            return None
        if order.venue == Venue.PERP:
            ref_usd = float(self.prices.mark_usd[order.market])
        else:
            k = self.perp_of_spot.get(order.market)  # spot_price_usd() of this asset
            ref_usd = float(self.prices.index_usd[k]) if k is not None else math.nan
        ref = ref_usd / tick if math.isfinite(ref_usd) and ref_usd > 0 else float(best)
        edge = ref * (1.0 + order.side * self.market_order_band)
        return max(1, math.floor(edge) if order.side > 0 else math.ceil(edge))

    def _beyond_band(self, order: Order, price_usd: float) -> bool:
        """A perp limit buy above mark · (1 + band) or sell below mark · (1 − band) (Binance's
        percent-price filter). Checked for reduce-only orders, so a close 60 % below the mark
        cannot sell through every bid (issue 16); on every limit order it would change what
        the agents' IOC limits do in fast markets, which is not calibrated yet."""
        mark = float(self.prices.mark_usd[order.market])
        if not (math.isfinite(mark) and mark > 0):
            return False
        return order.side * (price_usd - mark * (1.0 + order.side * self.market_order_band)) > 0

    def _submit_perp(self, order: Order) -> OrderOutcome:
        acct, k, spec = order.account, order.market, self.perps[order.market]
        lots = to_lots(order.qty, spec.lot_size)
        pos = int(self.ledger.qty_lots[acct, k])
        if order.reduce_only:
            if pos == 0 or (pos > 0) == (order.side > 0):
                return self._reject(order, RejectReason.REDUCE_ONLY_WOULD_INCREASE)
            lots = min(lots, abs(pos))
        lev = float(order.leverage or self.ledger.leverage[acct, k])
        limit = self._limit_ticks(order, self.perp_books[k], spec.tick_size)
        if limit is None:
            return self._reject(order, RejectReason.NO_LIQUIDITY)
        if (
            order.reduce_only
            and order.kind == OrderKind.LIMIT
            and self._beyond_band(order, limit * spec.tick_size)
        ):
            return self._reject(order, RejectReason.PRICE_OUTSIDE_BAND)
        if pos and (pos > 0) != (order.side > 0):
            limit = self._solvent_close_limit(order, pos, min(lots, abs(pos)), limit)
            if limit is None:
                return self._reject(order, RejectReason.ACCOUNT_IN_LIQUIDATION)
        book = self.perp_books[k]
        ref_ticks = (
            limit
            if order.kind == OrderKind.LIMIT
            else (book.best_ask() if order.side > 0 else book.best_bid())
        )  # market: the best price
        reason = self._perp_margin_check(order, lots, pos, lev, ref_ticks * spec.tick_size)
        if reason is not None:
            return self._reject(order, reason)
        if pos == 0 and order.isolated is not None:
            self.ledger.set_isolated(acct, k, order.isolated)
        self.ledger.set_leverage(acct, k, lev)
        return self._execute(
            order,
            Venue.PERP,
            lots,
            limit,
            reserve_per_lot=spec.lot_size * limit * spec.tick_size / lev * (not order.reduce_only),
        )

    def _solvent_close_limit(
        self, order: Order, pos: int, close_lots: int, limit: int
    ) -> int | None:
        """The limit of a closing order bounded where the close would take its unit below
        zero equity (order_checks.solvent_close_ticks); None: the unit is bankrupt at the
        mark, or a resting order is priced past that point (Binance: an account in
        liquidation cannot trade; the engine closes it)."""
        k, spec = order.market, self.perps[order.market]
        return solvent_close_ticks(
            1 if pos > 0 else -1,
            close_lots * spec.lot_size,
            self.balances.unit_equity_usd(order.account, k),
            float(self.prices.mark_usd[k]),
            spec,
            limit,
            resting=order.kind == OrderKind.LIMIT and not order.ioc,
        )

    def _perp_margin_check(
        self, order: Order, lots: int, pos: int, lev: float, price_usd: float
    ) -> RejectReason | None:
        spec = self.perps[order.market]
        new_abs = abs(pos + order.side * lots)
        if lev > spec.tiers.max_leverage_at(new_abs * spec.lot_size * price_usd):
            return RejectReason.LEVERAGE_ABOVE_TIER_MAX
        acct, k = order.account, order.market
        old_lev = float(self.ledger.leverage[acct, k])
        if lev != old_lev and self.perp_books[k].open_orders(acct):
            # resting orders reserved margin at the old leverage, but their fills would lock
            # it at the new one (Binance re-checks open orders on a leverage change)
            return RejectReason.LEVERAGE_CHANGE_WITH_OPEN_ORDERS
        if order.reduce_only:
            return None
        reducing = pos != 0 and (pos > 0) != (order.side > 0)
        opening = lots - min(lots, abs(pos)) if reducing else lots
        notional = lots * spec.lot_size * price_usd
        required = opening * spec.lot_size * price_usd / lev + notional * spec.taker_fee
        if pos and lev != old_lev and not self.ledger.is_isolated[acct, k]:
            # the new setting applies to the open position too (Binance changes it in place)
            held = abs(pos) * spec.lot_size * float(self.prices.mark_usd[k])
            required += held * (1.0 / lev - 1.0 / old_lev)
        if (opening or lev != old_lev) and required > self.available_usd(acct):
            return RejectReason.INSUFFICIENT_MARGIN
        return None

    def _submit_spot(self, order: Order) -> OrderOutcome:
        acct, a, spec = order.account, order.market, self.spots[order.market]
        lots = to_lots(order.qty, spec.lot_size)
        limit = self._limit_ticks(order, self.spot_books[a], spec.tick_size)
        if limit is None:
            return self._reject(order, RejectReason.NO_LIQUIDITY)
        if order.side > 0:
            cost = lots * spec.lot_size * limit * spec.tick_size * (1 + spec.taker_fee)
            if cost > self.balances.usd_available_usd(acct):
                return self._reject(order, RejectReason.INSUFFICIENT_MARGIN)
            reserve = cost / lots
        else:
            free = self.ledger.spot_lots[acct, a] - self.reserves.spot_lots[acct, a]
            if lots > free:
                return self._reject(order, RejectReason.INSUFFICIENT_SPOT)
            reserve = 0.0
        return self._execute(order, Venue.SPOT, lots, limit, reserve_per_lot=reserve)

    def _execute(
        self, order: Order, venue: Venue, lots: int, limit: int, reserve_per_lot: float
    ) -> OrderOutcome:
        is_perp = venue == Venue.PERP
        spec = (self.perps if is_perp else self.spots)[order.market]
        book = (self.perp_books if is_perp else self.spot_books)[order.market]
        is_resting = order.kind == OrderKind.LIMIT and not order.ioc
        res = book.submit(
            order.account, order.side, lots, limit, ioc=not is_resting, post_only=order.post_only
        )
        if order.post_only and res.expired_lots == lots:
            return self._reject(order, RejectReason.POST_ONLY_WOULD_CROSS)
        for oid in res.stp_cancelled:
            self.reserves.forget(venue, order.market, oid, None)
        notional = 0.0
        for f in res.fills:
            price = f.price_ticks * spec.tick_size
            notional += price * f.qty_lots
            self.fill(
                venue,
                order.market,
                order.account,
                order.side,
                f.maker_owner,
                f.maker_order_id,
                f.qty_lots,
                price,
            )
        if res.rested_lots:
            self.reserves.remember(
                venue,
                order.market,
                res.order_id,
                order.account,
                order.side,
                res.rested_lots,
                reserve_per_lot,
            )
        if res.filled_lots == 0 and not is_resting:
            return self._reject(order, RejectReason.NO_LIQUIDITY)
        return OrderOutcome(
            accepted=True,
            order_id=res.order_id,
            filled_qty=res.filled_lots * spec.lot_size,
            avg_price_usd=notional / res.filled_lots if res.filled_lots else float("nan"),
            rested_qty=res.rested_lots * spec.lot_size,
            expired_qty=res.expired_lots * spec.lot_size,
        )

    def post_quotes(self, quotes: Quotes) -> int:
        """Replace a maker's orders in one book with a ladder; return the levels posted.

        One margin check for the ladder: the larger side's notional / leverage must fit the
        available balance (perp), the bids' cost must fit it and the asks are clipped to free
        coins (spot); levels beyond what fits are dropped from the far end. Crossing levels
        are skipped (post-only).
        """
        acct, m, venue = quotes.account, quotes.market, quotes.venue
        if not self.ledger.is_account(acct) or self.ledger.is_system[acct]:
            return 0
        is_perp = venue == Venue.PERP
        spec = (self.perps if is_perp else self.spots)[m]
        book = (self.perp_books if is_perp else self.spot_books)[m]
        held = self.reserves.release_ladder(acct, venue, m, book.cancel_orders_of(acct))
        if is_perp:
            self.ledger.set_leverage(acct, m, quotes.leverage)
            coins = 0
        else:
            coins = int(self.ledger.spot_lots[acct, m] - self.reserves.spot_lots[acct, m])
        budget = max(0.0, self.available_usd(acct))
        posted = 0
        for side, levels in ((1, quotes.bids), (-1, quotes.asks)):
            best = book.best_ask() if side > 0 else book.best_bid()  # its own side is empty
            rests, costs, coins = fit_ladder(
                spec, is_perp, quotes.leverage, side, levels, best, budget, coins
            )
            if not rests:
                continue
            # positive int lots and ticks, none crossing (skipped against `best`): no checks
            oids = book.rest_ladder(acct, side, rests)
            held = self.reserves.rest_ladder(acct, venue, m, side, oids, rests, costs, held)
            posted += len(oids)
        self.reserves.set_margin(acct, held)
        return posted

    def fill(
        self,
        venue: Venue,
        market: int,
        taker: int,
        taker_side: int,
        maker: int,
        maker_oid: int,
        lots: int,
        price_usd: float,
        *,
        taker_fee_rate: float | None = None,
        is_liquidation: bool = False,
    ) -> None:
        """Apply one match to both parties and the fee account (through the ledger); log it."""
        spec = (self.perps if venue == Venue.PERP else self.spots)[market]
        notional = lots * spec.lot_size * price_usd
        taker_fee = notional * (spec.taker_fee if taker_fee_rate is None else taker_fee_rate)
        maker_fee = notional * spec.maker_fee
        self.reserves.forget(venue, market, maker_oid, lots)
        if venue == Venue.PERP:
            self.ledger.perp_fill(taker, market, taker_side * lots, price_usd, taker_fee)
            self.ledger.perp_fill(maker, market, -taker_side * lots, price_usd, maker_fee)
            self.prices.last_usd[market] = price_usd
        else:
            ledger = self.ledger
            ledger.spot_fill(market, taker, taker_side * lots, price_usd, spec.lot_size, taker_fee)
            ledger.spot_fill(market, maker, -taker_side * lots, price_usd, spec.lot_size, maker_fee)
            self.spot_last_usd[market] = price_usd
        self.events.add(
            Fill(
                self.clock.t,
                str(venue),
                market,
                taker,
                maker,
                taker_side,
                price_usd,
                lots * spec.lot_size,
                taker_fee,
                maker_fee,
                is_liquidation,
            )
        )

    def cancel_all(self, account: int) -> int:
        """Cancel every resting order and stop of an account; return how many."""
        n = 0
        for venue, books in ((Venue.PERP, self.perp_books), (Venue.SPOT, self.spot_books)):
            for m, book in enumerate(books):
                for oid in book.open_orders(account):
                    book.cancel(oid)
                    self.reserves.forget(venue, m, oid, None)
                    n += 1
        return n + self.stops.cancel_account(account)

    def cancel(self, account: int, venue: Venue, market: int, order_id: int) -> bool:
        """Cancel one resting order of an account; return whether it was open."""
        if self.reserves.owner((venue, market, order_id)) != account:
            return False
        (self.perp_books if venue == Venue.PERP else self.spot_books)[market].cancel(order_id)
        self.reserves.forget(venue, market, order_id, None)
        return True

    def _place_stop(self, order: Order) -> OrderOutcome:
        sid = self.stops.add(order)
        return OrderOutcome(accepted=True, order_id=sid, rested_qty=order.qty)

    def trigger_stops(self) -> list[OrderOutcome]:
        """Fire stop-market orders whose trigger the mark has crossed, as market orders."""
        fired = self.stops.pop_triggered(self.prices.mark_usd)
        return [self.submit(o) for o in fired]
