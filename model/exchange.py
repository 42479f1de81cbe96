"""The exchange engine: the single writer of money and positions.

Accounts live in an `AccountBook` (arrays); every transfer of cash or contracts goes through
the few private primitives here (`_apply_position`, `_move_cash`, `_spot_transfer`), so
conservation can be checked in one place. Orders are validated before they touch a book;
a bad order is rejected with a reason code and counted, never raised.

Choices (each written again in the README's assumptions):
- Linear USD-margined contracts, one contract = one coin; sizes are integer lots (exact net
  open interest), money is float64 USD.
- Cross margin by default; isolated per position on request. Isolated margin is the opening
  notional / leverage, moved out of the wallet; closing releases it pro rata.
- Pre-trade check: opening notional / leverage + taker fee must fit the available balance
  (equity − initial margin of cross positions − margin reserved by resting orders) and the
  leverage must not exceed the tier maximum at the resulting notional (Binance brackets).
- Market orders carry price protection: they walk the book no further than
  `market_order_band` from the best price (Binance "price protection"); the rest expires.
- Fees go to the fee account; system accounts (fee account, insurance pools, vault) are
  ordinary rows flagged `is_system`, so cash conservation is one sum over all rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from model.accounts import AccountBook
from model.events import EventLog
from model.funding import funding_payments_usd
from model.margin import maintenance_margin
from model.marks import MarketPrices
from model.orderbook import OrderBook
from model.orders import Order, OrderOutcome
from model.positions import trade_effect
from model.specs import MarketSpec, SpotSpec
from model.stops import StopBook
from model.types import FloatArray, OrderKind, RejectReason, Venue

REL_TOL = 1e-9
"""Relative tolerance of the cash-conservation invariant (DESIGN.md §5)."""


class InvariantError(AssertionError):
    """Raised by `Exchange.check_invariants` when the books do not add up."""


class Exchange:
    """A perpetual-futures venue with spot books, marks, funding and (later) liquidation.

    Args:
        perps: Perp market specifications.
        index_usd: Initial index price per perp.
        spots: Spot market specifications (optional).
        step_minutes: Minutes per model step.
        market_order_band: Price protection of market orders, fraction from the best price.
        rng: Generator for queue priority among orders of one step (`submit_many`).
    """

    def __init__(
        self,
        perps: Sequence[MarketSpec],
        index_usd: Sequence[float],
        spots: Sequence[SpotSpec] = (),
        *,
        step_minutes: int = 1,
        market_order_band: float = 0.1,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.perps = tuple(perps)
        self.spots = tuple(spots)
        if len(index_usd) != len(self.perps):
            raise ValueError(
                f"index_usd needs one price per perp ({len(self.perps)}), got {index_usd!r}"
            )
        self.prices = MarketPrices(self.perps, np.asarray(index_usd, dtype=float), step_minutes)
        self.perp_books = [OrderBook(s.tick_size, s.lot_size) for s in self.perps]
        self.spot_books = [OrderBook(s.tick_size, s.lot_size) for s in self.spots]
        self.accounts = AccountBook(len(self.perps), len(self.spots))
        self.stops = StopBook()
        self.events = EventLog()
        self.market_order_band = market_order_band
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.t = 0
        self.deposits_usd = 0.0
        self.withdrawals_usd = 0.0
        self.spot_deposits_lots = np.zeros(len(self.spots), dtype=np.int64)
        self.is_system = np.zeros(0, dtype=bool)
        self.order_margin_usd = np.zeros(0)
        self.spot_reserved_lots = np.zeros((0, len(self.spots)), dtype=np.int64)
        # (venue, market, order id) -> [account, side, reserve per lot, lots resting]
        self._orders: dict[tuple, list] = {}
        self._funding_residual_usd = 0.0
        self.fee_account = self.open_account(is_system=True)

    # ---------------------------------------------------------------------------- accounts
    def open_account(self, deposit_usd: float = 0.0, *, is_system: bool = False) -> int:
        """Open one account, optionally with a first deposit; return its id."""
        return int(self.open_accounts(1, deposit_usd, is_system=is_system)[0])

    def open_accounts(
        self, count: int, deposit_usd: float | FloatArray = 0.0, *, is_system: bool = False
    ) -> np.ndarray:
        """Open `count` accounts at once (vectorised), each with its deposit; return ids."""
        ids = self.accounts.add(count)
        n = self.accounts.n
        self.is_system = _resize(self.is_system, n, False)
        self.is_system[ids] = is_system
        self.order_margin_usd = _resize(self.order_margin_usd, n, 0.0)
        self.spot_reserved_lots = _resize(self.spot_reserved_lots, n, 0)
        deposits = np.broadcast_to(np.asarray(deposit_usd, dtype=float), (count,))
        if np.any(~np.isfinite(deposits)) or np.any(deposits < 0):
            raise ValueError(f"deposit_usd must be finite and >= 0, got {deposit_usd!r}")
        self.accounts.collateral_usd[ids] += deposits
        self.deposits_usd += float(deposits.sum())
        return ids

    def deposit(self, account: int, usd: float) -> None:
        """Credit a USD deposit to an account."""
        self._require_account(account)
        if not np.isfinite(usd) or usd <= 0:
            raise ValueError(f"deposit usd must be a finite number > 0, got {usd!r}")
        self.accounts.collateral_usd[account] += usd
        self.deposits_usd += usd

    def deposit_spot(self, account: int, asset: int, qty: float) -> None:
        """Credit coins of a spot asset to an account (qty a multiple of the lot size)."""
        self._require_account(account)
        lots = _to_lots(qty, self.spots[asset].lot_size)
        if lots is None:
            raise ValueError(f"spot deposit qty must be a positive lot multiple, got {qty!r}")
        self.accounts.spot_lots[account, asset] += lots
        self.spot_deposits_lots[asset] += lots

    def withdraw(self, account: int, usd: float) -> bool:
        """Withdraw USD if the available balance allows it; return whether it was paid."""
        self._require_account(account)
        if not np.isfinite(usd) or usd <= 0 or usd > self.available_usd(account):
            return False
        self.accounts.collateral_usd[account] -= usd
        self.withdrawals_usd += usd
        return True

    def _require_account(self, account: int) -> None:
        if not self._is_account(account):
            raise ValueError(
                f"unknown account {account!r}; open accounts are 0..{self.accounts.n - 1}"
            )

    def _is_account(self, account: object) -> bool:
        return isinstance(account, int | np.integer) and 0 <= account < self.accounts.n

    # ------------------------------------------------------------------------- risk views
    def risk_arrays(self) -> dict[str, np.ndarray]:
        """Vectorised margin state of every account at the current marks.

        Returns a dict of arrays: `upnl_usd` (n, m), `notional_usd` (n, m), `mm_usd` (n, m),
        `cross_equity_usd` (n,), `cross_mm_usd` (n,), `cross_im_usd` (n,), `iso_equity_usd`
        (n, m), `is_cross` (n, m). Equity = wallet + unrealised PnL at the mark;
        maintenance = tiered notional·MMR − cum (margin.maintenance_margin).
        """
        acc = self.accounts
        mark = self.prices.mark_usd
        lots_to_coins = np.array([s.lot_size for s in self.perps])
        qty = acc.qty_lots * lots_to_coins
        upnl = qty * (mark - acc.entry_price_usd)
        notional = np.abs(qty) * mark
        mm = np.empty_like(notional)
        for k, spec in enumerate(self.perps):
            mm[:, k] = maintenance_margin(notional[:, k], spec.tiers)
        is_cross = (acc.qty_lots != 0) & ~acc.is_isolated
        return {
            "upnl_usd": upnl,
            "notional_usd": notional,
            "mm_usd": mm,
            "is_cross": is_cross,
            "cross_equity_usd": acc.collateral_usd + (upnl * is_cross).sum(axis=1),
            "cross_mm_usd": (mm * is_cross).sum(axis=1),
            "cross_im_usd": (notional / acc.leverage * is_cross).sum(axis=1),
            "iso_equity_usd": acc.isolated_margin_usd + upnl,
        }

    def _row_state(self, account: int) -> tuple[float, float]:
        """Return (cross equity, cross initial margin) of one account at the marks."""
        acc = self.accounts
        lots = acc.qty_lots[account]
        if not lots.any():
            return float(acc.collateral_usd[account]), 0.0
        mark = self.prices.mark_usd
        qty = lots * np.array([s.lot_size for s in self.perps])
        cross = (lots != 0) & ~acc.is_isolated[account]
        upnl = qty * (mark - acc.entry_price_usd[account])
        im = np.abs(qty) * mark / acc.leverage[account]
        return float(acc.collateral_usd[account] + upnl[cross].sum()), float(im[cross].sum())

    def available_usd(self, account: int) -> float:
        """Available balance: cross equity − cross initial margin − margin reserved by orders."""
        equity, im = self._row_state(account)
        return equity - im - float(self.order_margin_usd[account])

    def equity_usd(self) -> FloatArray:
        """Total equity per account: wallet + isolated margins + all unrealised PnL."""
        r = self.risk_arrays()
        return (
            self.accounts.collateral_usd
            + self.accounts.isolated_margin_usd.sum(axis=1)
            + r["upnl_usd"].sum(axis=1)
        )

    # --------------------------------------------------------------------------- orders
    def submit_many(self, orders: Iterable[Order]) -> list[OrderOutcome]:
        """Submit a step's orders in an order randomised by the exchange's own stream."""
        batch = list(orders)
        outcomes: list[OrderOutcome | None] = [None] * len(batch)
        for i in self.rng.permutation(len(batch)):
            outcomes[i] = self.submit(batch[i])
        return outcomes  # type: ignore[return-value]

    def submit(self, order: Order) -> OrderOutcome:
        """Validate and execute one order; a bad order is rejected with a reason code."""
        reason = self._basic_check(order)
        if reason is not None:
            return self._reject(order, reason)
        if order.kind == OrderKind.STOP_MARKET:
            return self._place_stop(order)
        if order.venue == Venue.SPOT:
            return self._submit_spot(order)
        return self._submit_perp(order)

    def _basic_check(self, order: Order) -> RejectReason | None:
        if not self._is_account(order.account) or self.is_system[order.account]:
            return RejectReason.UNKNOWN_ACCOUNT
        if order.venue not in (Venue.PERP, Venue.SPOT):
            return RejectReason.UNKNOWN_MARKET
        specs = self.perps if order.venue == Venue.PERP else self.spots
        if not isinstance(order.market, int | np.integer) or not 0 <= order.market < len(specs):
            return RejectReason.UNKNOWN_MARKET
        if order.side not in (1, -1) or order.kind not in tuple(OrderKind):
            return RejectReason.INVALID_KIND
        if not _is_positive_number(order.qty):
            return RejectReason.INVALID_QTY
        if _to_lots(order.qty, specs[order.market].lot_size) is None:
            return RejectReason.OFF_LOT
        needs_price = order.kind != OrderKind.MARKET
        if needs_price and not _is_positive_number(order.price_usd):
            return RejectReason.INVALID_PRICE
        if needs_price and _to_ticks(order.price_usd, specs[order.market].tick_size) is None:
            return RejectReason.OFF_TICK
        if order.leverage is not None and not _is_positive_number(order.leverage):
            return RejectReason.INVALID_LEVERAGE
        return None

    def _reject(self, order: Order, reason: RejectReason) -> OrderOutcome:
        self.events.add(
            "reject", self.t, order.account, str(order.venue), order.market, reason.name
        )
        self.events.reject_counts[reason.name] += 1
        return OrderOutcome(accepted=False, reason=reason)

    def _limit_ticks(self, order: Order, book: OrderBook, tick: float) -> int | None:
        """Limit price in ticks; market orders get the protection band from the best price."""
        if order.kind == OrderKind.LIMIT:
            return _to_ticks(order.price_usd, tick)
        best = book.best_ask() if order.side > 0 else book.best_bid()
        if best is None:
            return None
        band = 1.0 + order.side * self.market_order_band
        return max(1, int(np.floor(best * band)) if order.side > 0 else int(np.ceil(best * band)))

    def _submit_perp(self, order: Order) -> OrderOutcome:
        acct, k, spec = order.account, order.market, self.perps[order.market]
        lots = _to_lots(order.qty, spec.lot_size)
        pos = int(self.accounts.qty_lots[acct, k])
        if order.reduce_only:
            if pos == 0 or (pos > 0) == (order.side > 0):
                return self._reject(order, RejectReason.REDUCE_ONLY_WOULD_INCREASE)
            lots = min(lots, abs(pos))
        lev = float(order.leverage or self.accounts.leverage[acct, k])
        limit = self._limit_ticks(order, self.perp_books[k], spec.tick_size)
        if limit is None:
            return self._reject(order, RejectReason.NO_LIQUIDITY)
        reason = self._perp_margin_check(order, lots, pos, lev, limit * spec.tick_size)
        if reason is not None:
            return self._reject(order, reason)
        if pos == 0 and order.isolated is not None:
            self.accounts.is_isolated[acct, k] = order.isolated
        self.accounts.leverage[acct, k] = lev
        return self._execute(
            order,
            Venue.PERP,
            lots,
            limit,
            reserve_per_lot=spec.lot_size * limit * spec.tick_size / lev * (not order.reduce_only),
        )

    def _perp_margin_check(
        self, order: Order, lots: int, pos: int, lev: float, price_usd: float
    ) -> RejectReason | None:
        spec = self.perps[order.market]
        new_abs = abs(pos + order.side * lots)
        if lev > spec.tiers.max_leverage_at(new_abs * spec.lot_size * price_usd):
            return RejectReason.LEVERAGE_ABOVE_TIER_MAX
        if order.reduce_only:
            return None
        reducing = pos != 0 and (pos > 0) != (order.side > 0)
        opening = lots - min(lots, abs(pos)) if reducing else lots
        notional = lots * spec.lot_size * price_usd
        required = opening * spec.lot_size * price_usd / lev + notional * spec.taker_fee
        if opening and required > self.available_usd(order.account):
            return RejectReason.INSUFFICIENT_MARGIN
        return None

    def _submit_spot(self, order: Order) -> OrderOutcome:
        acct, a, spec = order.account, order.market, self.spots[order.market]
        lots = _to_lots(order.qty, spec.lot_size)
        limit = self._limit_ticks(order, self.spot_books[a], spec.tick_size)
        if limit is None:
            return self._reject(order, RejectReason.NO_LIQUIDITY)
        if order.side > 0:
            cost = lots * spec.lot_size * limit * spec.tick_size * (1 + spec.taker_fee)
            if cost > self.available_usd(acct):
                return self._reject(order, RejectReason.INSUFFICIENT_MARGIN)
            reserve = cost / lots
        else:
            free = self.accounts.spot_lots[acct, a] - self.spot_reserved_lots[acct, a]
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
            self._forget_order(venue, order.market, oid, None)
        notional = 0.0
        for f in res.fills:
            price = f.price_ticks * spec.tick_size
            notional += price * f.qty_lots
            self._fill(
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
            self._remember_order(venue, order, res.order_id, res.rested_lots, reserve_per_lot)
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

    # ------------------------------------------------------------- resting order reserves
    def _remember_order(
        self, venue: Venue, order: Order, oid: int, lots: int, reserve_per_lot: float
    ) -> None:
        """Record a resting order and reserve its margin (perp, spot buy) or coins (spot sell)."""
        key = (venue, order.market, oid)
        self._orders[key] = [order.account, order.side, reserve_per_lot, 0]
        self._reserve(key, lots)

    def _reserve(self, key: tuple, lots: int) -> None:
        """Add `lots` (negative to release) to a resting order's reserve."""
        rec = self._orders[key]
        acct, side, per_lot = rec[0], rec[1], rec[2]
        rec[3] += lots
        self.order_margin_usd[acct] += lots * per_lot
        if key[0] == Venue.SPOT and side < 0:
            self.spot_reserved_lots[acct, key[1]] += lots
        if rec[3] <= 0:
            del self._orders[key]
            if abs(self.order_margin_usd[acct]) < 1e-9:  # clear float dust
                self.order_margin_usd[acct] = 0.0

    def _forget_order(self, venue: Venue, market: int, oid: int, lots: int | None) -> None:
        """Release the reserve of `lots` of a resting order (all that is left when None)."""
        rec = self._orders.get((venue, market, oid))
        if rec is not None:
            self._reserve((venue, market, oid), -(rec[3] if lots is None else min(lots, rec[3])))

    def cancel_all(self, account: int) -> int:
        """Cancel every resting order and stop of an account; return how many."""
        n = 0
        for venue, books in ((Venue.PERP, self.perp_books), (Venue.SPOT, self.spot_books)):
            for m, book in enumerate(books):
                for oid in book.open_orders(account):
                    book.cancel(oid)
                    self._forget_order(venue, m, oid, None)
                    n += 1
        return n + self.stops.cancel_account(account)

    def cancel(self, account: int, venue: Venue, market: int, order_id: int) -> bool:
        """Cancel one resting order of an account; return whether it was open."""
        key = (venue, market, order_id)
        if key not in self._orders or self._orders[key][0] != account:
            return False
        (self.perp_books if venue == Venue.PERP else self.spot_books)[market].cancel(order_id)
        self._forget_order(venue, market, order_id, None)
        return True

    # ------------------------------------------------------------------ money primitives
    def _fill(
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
        """Apply one match to both parties and the fee account; log it."""
        spec = (self.perps if venue == Venue.PERP else self.spots)[market]
        notional = lots * spec.lot_size * price_usd
        taker_fee = notional * (spec.taker_fee if taker_fee_rate is None else taker_fee_rate)
        maker_fee = notional * spec.maker_fee
        self._forget_order(venue, market, maker_oid, lots)
        if venue == Venue.PERP:
            self._apply_position(taker, market, taker_side * lots, price_usd, taker_fee)
            self._apply_position(maker, market, -taker_side * lots, price_usd, maker_fee)
            self.prices.last_usd[market] = price_usd
        else:
            self._spot_transfer(market, taker, taker_side * lots, price_usd, taker_fee)
            self._spot_transfer(market, maker, -taker_side * lots, price_usd, maker_fee)
        self.events.add(
            "fill",
            self.t,
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

    def _apply_position(
        self, acct: int, k: int, signed_lots: int, price_usd: float, fee_usd: float
    ) -> float:
        """Move one account's position by `signed_lots` at `price_usd`; return realised PnL."""
        acc, spec = self.accounts, self.perps[k]
        old = int(acc.qty_lots[acct, k])
        new, entry, realized, closed, opened = trade_effect(
            old, float(acc.entry_price_usd[acct, k]), signed_lots, price_usd, spec.lot_size
        )
        cash = realized - fee_usd
        if acc.is_isolated[acct, k]:
            release = acc.isolated_margin_usd[acct, k] * closed / abs(old) if closed else 0.0
            lock = opened * spec.lot_size * price_usd / acc.leverage[acct, k]
            acc.isolated_margin_usd[acct, k] += lock - release
            cash += release - lock
        acc.qty_lots[acct, k] = new
        acc.entry_price_usd[acct, k] = entry
        acc.realized_pnl_usd[acct, k] += realized
        acc.fees_paid_usd[acct, k] += fee_usd
        acc.collateral_usd[acct] += cash
        acc.collateral_usd[self.fee_account] += fee_usd
        return realized

    def _spot_transfer(
        self, a: int, acct: int, signed_lots: int, price_usd: float, fee_usd: float
    ) -> None:
        spec = self.spots[a]
        self.accounts.spot_lots[acct, a] += signed_lots
        self.accounts.collateral_usd[acct] -= signed_lots * spec.lot_size * price_usd + fee_usd
        self.accounts.collateral_usd[self.fee_account] += fee_usd

    def _move_cash(self, src: int, dst: int, usd: float) -> None:
        """Move USD between two accounts' wallets (pools and vault are accounts too)."""
        self.accounts.collateral_usd[src] -= usd
        self.accounts.collateral_usd[dst] += usd

    # ------------------------------------------------------------------ prices & funding
    def set_index(self, index_usd: Sequence[float]) -> None:
        """Set the index price of every perp (an input until spot feeds it)."""
        idx = np.asarray(index_usd, dtype=float)
        if idx.shape != self.prices.index_usd.shape or np.any(~(idx > 0)):
            raise ValueError(
                f"index_usd must be {len(self.perps)} positive prices, got {index_usd!r}"
            )
        self.prices.index_usd[:] = idx

    def perp_mids(self) -> FloatArray:
        """Mid price of each perp book (NaN where one side is empty)."""
        return np.array(
            [b.mid_price() if b.mid_price() is not None else np.nan for b in self.perp_books]
        )

    def update_marks(self) -> FloatArray:
        """Recompute marks from index, last trades and the averaged basis."""
        return self.prices.update_marks(self.t, self.perp_mids())

    def sample_premium(self) -> None:
        """Sample each perp's premium index from its impact bid/ask (once per step)."""
        bids, asks = [], []
        for spec, book in zip(self.perps, self.perp_books, strict=True):
            bid = book.impact_price(-1, spec.impact_usd)
            ask = book.impact_price(1, spec.impact_usd)
            bids.append(np.nan if bid is None else bid)
            asks.append(np.nan if ask is None else ask)
        self.prices.sample_premium(np.array(bids), np.array(asks))

    def settle_funding(self) -> list[int]:
        """Settle funding in every market whose interval ends now; return those markets.

        payment = qty · mark · F (positive F: longs pay shorts), from the wallet for cross
        positions and from the isolated margin for isolated ones (Binance).
        """
        due = self.prices.due_for_funding(self.t)
        acc = self.accounts
        for k in due:
            rate = self.prices.close_interval(k)
            mark = float(self.prices.mark_usd[k])
            qty = acc.qty_lots[:, k] * self.perps[k].lot_size
            pay = funding_payments_usd(qty, mark, rate)
            iso = acc.is_isolated[:, k]
            acc.isolated_margin_usd[:, k] -= np.where(iso, pay, 0.0)
            acc.collateral_usd -= np.where(iso, 0.0, pay)
            acc.funding_paid_usd[:, k] += pay
            self._funding_residual_usd = float(pay.sum())
            self._funding_gross_usd = float(np.abs(pay).sum())
            self.events.add(
                "funding",
                self.t,
                k,
                rate,
                mark,
                float(pay[qty > 0].sum()),
                float(pay[qty < 0].sum()),
            )
        return due

    # ------------------------------------------------------------------------------ stops
    def _place_stop(self, order: Order) -> OrderOutcome:
        sid = self.stops.add(order)
        return OrderOutcome(accepted=True, order_id=sid, rested_qty=order.qty)

    def trigger_stops(self) -> list[OrderOutcome]:
        """Fire stop-market orders whose trigger the mark has crossed, as market orders."""
        fired = self.stops.pop_triggered(self.prices.mark_usd)
        return [self.submit(o) for o in fired]

    # ------------------------------------------------------------------------- invariants
    def check_invariants(self) -> None:
        """Raise `InvariantError` unless cash, open interest and spot coins all balance.

        - cash: Σ wallets + Σ isolated margins == deposits − withdrawals (pools, vault and fee
          account are rows too), to REL_TOL relative;
        - zero net open interest per perp market (integer lots, exact);
        - spot coins: Σ holdings == coins deposited, per asset (exact);
        - the last funding settlement summed to zero (to REL_TOL of its gross).
        """
        acc = self.accounts
        cash = float(acc.collateral_usd.sum() + acc.isolated_margin_usd.sum())
        expected = self.deposits_usd - self.withdrawals_usd
        if abs(cash - expected) > REL_TOL * max(1.0, self.deposits_usd):
            raise InvariantError(f"cash not conserved: books hold {cash!r}, expected {expected!r}")
        net = acc.qty_lots.sum(axis=0)
        if np.any(net != 0):
            raise InvariantError(f"net open interest not zero per market: {net.tolist()}")
        if np.any(acc.spot_lots.sum(axis=0) != self.spot_deposits_lots):
            raise InvariantError("spot coins not conserved")
        gross = getattr(self, "_funding_gross_usd", 0.0)
        if abs(self._funding_residual_usd) > REL_TOL * max(1.0, gross):
            raise InvariantError(f"funding not zero-sum: residual {self._funding_residual_usd!r}")


def _resize(arr: np.ndarray, n: int, fill: object) -> np.ndarray:
    if arr.shape[0] >= n:
        return arr
    out = np.full((max(n, 2 * arr.shape[0]), *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


def _is_positive_number(x: object) -> bool:
    return (
        isinstance(x, int | float | np.number)
        and not isinstance(x, bool)
        and np.isfinite(x)
        and x > 0
    )


def _to_lots(qty: float, lot_size: float) -> int | None:
    """Return qty in whole lots, or None if it is not a positive multiple of the lot size."""
    lots = round(qty / lot_size)
    if lots <= 0 or abs(lots * lot_size - qty) > 1e-9 * max(abs(qty), lot_size):
        return None
    return int(lots)


def _to_ticks(price: float, tick_size: float) -> int | None:
    """Return a price in ticks, or None if it is off the tick grid."""
    ticks = round(price / tick_size)
    if ticks <= 0 or abs(ticks * tick_size - price) > 1e-9 * max(abs(price), tick_size):
        return None
    return int(ticks)
