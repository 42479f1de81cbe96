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
from model.liquidation import Liquidator
from model.margin import maintenance_margin
from model.marks import MarketPrices
from model.orderbook import OrderBook
from model.orders import Order, OrderOutcome, Quotes
from model.positions import trade_effect
from model.risk_config import LiquidationConfig
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
        spot_of_perp: Spot asset underlying each perp (-1: none); default perp k ↔ spot k.
        liquidation: Liquidation, insurance and loss-absorption configuration.
        rng: Generator for queue priority among orders of one step (`submit_many`) and the
            order in which liquidations of one round are processed.
    """

    def __init__(
        self,
        perps: Sequence[MarketSpec],
        index_usd: Sequence[float],
        spots: Sequence[SpotSpec] = (),
        *,
        step_minutes: int = 1,
        market_order_band: float = 0.05,
        spot_of_perp: Sequence[int] | None = None,
        liquidation: LiquidationConfig | None = None,
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
        self.spot_last_usd = np.full(len(self.spots), np.nan)
        self._is_system = np.zeros(0, dtype=bool)
        self._order_margin_usd = np.zeros(0)
        self._spot_reserved_lots = np.zeros((0, len(self.spots)), dtype=np.int64)
        # (venue, market, order id) -> [account, side, reserve per lot, lots resting]
        self._orders: dict[tuple, list] = {}
        self._funding_residual_usd = 0.0
        self._funding_gross_usd = 0.0
        self.spot_of_perp = (
            tuple(spot_of_perp)
            if spot_of_perp is not None
            else tuple(k if k < len(self.spots) else -1 for k in range(len(self.perps)))
        )
        self.fee_account = self.open_account(is_system=True)
        self.liquidator = Liquidator(self, liquidation or LiquidationConfig())

    # ---------------------------------------------------------------------------- accounts
    def open_account(self, deposit_usd: float = 0.0, *, is_system: bool = False) -> int:
        """Open one account, optionally with a first deposit; return its id."""
        return int(self.open_accounts(1, deposit_usd, is_system=is_system)[0])

    def open_accounts(
        self, count: int, deposit_usd: float | FloatArray = 0.0, *, is_system: bool = False
    ) -> np.ndarray:
        """Open `count` accounts at once (vectorised), each with its deposit; return ids."""
        deposits = np.broadcast_to(np.asarray(deposit_usd, dtype=float), (count,))
        if np.any(~np.isfinite(deposits)) or np.any(deposits < 0):
            raise ValueError(f"deposit_usd must be finite and >= 0, got {deposit_usd!r}")
        ids = self.accounts.add(count)
        n = self.accounts.n
        self._is_system = _resize(self._is_system, n, False)
        self._is_system[ids] = is_system
        self._order_margin_usd = _resize(self._order_margin_usd, n, 0.0)
        self._spot_reserved_lots = _resize(self._spot_reserved_lots, n, 0)
        self.accounts.collateral_usd[ids] += deposits
        self.deposits_usd += float(deposits.sum())
        return ids

    @property
    def is_system(self) -> np.ndarray:
        """True for the engine's own rows: fee account, insurance pools, vault."""
        return self._is_system[: self.accounts.n]

    @property
    def order_margin_usd(self) -> FloatArray:
        """Margin (USD) reserved by each account's resting orders."""
        return self._order_margin_usd[: self.accounts.n]

    @property
    def spot_reserved_lots(self) -> np.ndarray:
        """Spot lots reserved by each account's resting sell orders."""
        return self._spot_reserved_lots[: self.accounts.n]

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
        is_resting = order.kind == OrderKind.LIMIT and not order.ioc
        # stops follow the perp mark; a resting reduce-only order could open a position later
        if (order.kind == OrderKind.STOP_MARKET and order.venue == Venue.SPOT) or (
            order.reduce_only and is_resting
        ):
            return RejectReason.INVALID_KIND
        if order.post_only and is_resting:
            book = (self.perp_books if order.venue == Venue.PERP else self.spot_books)[order.market]
            best = book.best_ask() if order.side > 0 else book.best_bid()
            limit = _to_ticks(order.price_usd, specs[order.market].tick_size)
            if best is not None and order.side * (limit - best) >= 0:
                return RejectReason.POST_ONLY_WOULD_CROSS
        return None

    def _reject(self, order: Order, reason: RejectReason) -> OrderOutcome:
        self.events.add(
            "reject", self.t, order.account, str(order.venue), order.market, reason.name
        )
        self.events.reject_counts[reason.name] += 1
        return OrderOutcome(accepted=False, reason=reason)

    def _limit_ticks(self, order: Order, book: OrderBook, tick: float) -> int | None:
        """Limit price in ticks; a market order may trade no further than the protection band
        from its reference price: the mark (perp) or the index of the asset (spot), falling
        back to the best price (Binance's percent-price filter / price protection)."""
        if order.kind == OrderKind.LIMIT:
            return _to_ticks(order.price_usd, tick)
        best = book.best_ask() if order.side > 0 else book.best_bid()
        if best is None:
            return None
        if order.venue == Venue.PERP:
            ref_usd = float(self.prices.mark_usd[order.market])
        else:
            ref_usd = float(self.spot_price_usd()[order.market])
        ref = ref_usd / tick if np.isfinite(ref_usd) and ref_usd > 0 else float(best)
        edge = ref * (1.0 + order.side * self.market_order_band)
        return max(1, int(np.floor(edge)) if order.side > 0 else int(np.ceil(edge)))

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
        acct, k = order.account, order.market
        old_lev = float(self.accounts.leverage[acct, k])
        if pos and lev != old_lev and not self.accounts.is_isolated[acct, k]:
            # the new setting applies to the open position too (Binance changes it in place)
            held = abs(pos) * spec.lot_size * float(self.prices.mark_usd[k])
            required += held * (1.0 / lev - 1.0 / old_lev)
        if (opening or lev != old_lev) and required > self.available_usd(acct):
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
            self._remember_order(
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
        if not self._is_account(acct) or self.is_system[acct]:
            return 0
        is_perp = venue == Venue.PERP
        spec = (self.perps if is_perp else self.spots)[m]
        book = (self.perp_books if is_perp else self.spot_books)[m]
        for oid in book.open_orders(acct):
            book.cancel(oid)
            self._forget_order(venue, m, oid, None)
        if is_perp:
            self.accounts.leverage[acct, m] = quotes.leverage
        budget = max(0.0, self.available_usd(acct))
        coins = (
            int(self.accounts.spot_lots[acct, m] - self.spot_reserved_lots[acct, m])
            if not is_perp
            else 0
        )
        posted = 0
        for side, levels in ((1, quotes.bids), (-1, quotes.asks)):
            room = budget
            best = book.best_ask() if side > 0 else book.best_bid()  # its own side is empty
            for price, qty in levels:
                ratio = price / spec.tick_size  # 1e-9 absorbs float error of n·tick
                ticks = int(np.floor(ratio + 1e-9)) if side > 0 else int(np.ceil(ratio - 1e-9))
                lots = int(qty / spec.lot_size + 1e-9)
                if ticks <= 0 or lots <= 0 or (best is not None and side * (ticks - best) >= 0):
                    continue
                notional = lots * spec.lot_size * ticks * spec.tick_size
                if is_perp:
                    cost = notional / quotes.leverage
                elif side > 0:
                    cost = notional * (1 + spec.taker_fee)
                else:
                    lots, cost = min(lots, coins), 0.0
                    coins -= lots
                if lots <= 0 or cost > room:
                    break
                room -= cost
                res = book.submit(acct, side, lots, ticks, post_only=True)
                self._remember_order(
                    venue, m, res.order_id, acct, side, res.rested_lots, cost / lots
                )
                posted += 1
        return posted

    # ------------------------------------------------------------- resting order reserves
    def _remember_order(
        self,
        venue: Venue,
        market: int,
        oid: int,
        account: int,
        side: int,
        lots: int,
        reserve_per_lot: float,
    ) -> None:
        """Record a resting order and reserve its margin (perp, spot buy) or coins (spot sell)."""
        key = (venue, market, oid)
        self._orders[key] = [account, side, reserve_per_lot, 0]
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
            self.spot_last_usd[market] = price_usd
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

    def _collect(self, payers: np.ndarray, amounts_usd: FloatArray, dst: int) -> None:
        """Move `amounts_usd[i]` from each payer's wallet to `dst` (vectorised haircut)."""
        np.subtract.at(self.accounts.collateral_usd, payers, amounts_usd)
        self.accounts.collateral_usd[dst] += float(np.sum(amounts_usd))

    def _transfer_position(
        self, src: int, dst: int, k: int, src_lots: int, price_usd: float
    ) -> None:
        """Move a position between two accounts at a set price, no fee (takeover, ADL)."""
        self._apply_position(src, k, src_lots, price_usd, 0.0)
        self._apply_position(dst, k, -src_lots, price_usd, 0.0)

    def _system_ioc(
        self, acct: int, k: int, side: int, lots: int, limit_usd: float, *, is_liquidation: bool
    ) -> tuple[int, float]:
        """Engine-initiated IOC (liquidation, pool unwind): no margin check, no taker fee for
        liquidations (the clearance fee is charged separately). Returns (lots, USD notional)."""
        spec, book = self.perps[k], self.perp_books[k]
        ticks = limit_usd / spec.tick_size
        limit = max(1, int(np.floor(ticks + 1e-9)) if side > 0 else int(np.ceil(ticks - 1e-9)))
        res = book.submit(acct, side, lots, limit, ioc=True)
        for oid in res.stp_cancelled:
            self._forget_order(Venue.PERP, k, oid, None)
        notional = 0.0
        for f in res.fills:
            price = f.price_ticks * spec.tick_size
            notional += price * f.qty_lots * spec.lot_size
            self._fill(
                Venue.PERP,
                k,
                acct,
                side,
                f.maker_owner,
                f.maker_order_id,
                f.qty_lots,
                price,
                taker_fee_rate=0.0 if is_liquidation else None,
                is_liquidation=is_liquidation,
            )
        return res.filled_lots, notional

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
            acc.collateral_usd[:] -= np.where(iso, 0.0, pay)
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

    # ----------------------------------------------------------------- liquidation phase
    def liquidate(self) -> int:
        """Run the liquidation loop (liquidation.py); return the number of units closed."""
        return self.liquidator.run()

    def unwind_system_positions(self) -> None:
        """Pools and vault sell a fraction of what they took over back into the books."""
        frac = self.liquidator.cfg.pool_unwind_fraction
        pools = self.liquidator.pools
        holders = [*pools.accounts, *([pools.vault] if pools.vault is not None else [])]
        for acct in holders:
            for k in np.flatnonzero(self.accounts.qty_lots[acct]):
                lots = int(self.accounts.qty_lots[acct, k])
                n = max(1, int(abs(lots) * frac)) if frac > 0 else 0
                side = -1 if lots > 0 else 1
                mark = float(self.prices.mark_usd[k])
                if n:
                    self._system_ioc(
                        acct,
                        int(k),
                        side,
                        n,
                        mark * (1 + side * self.market_order_band),
                        is_liquidation=False,
                    )
        pools.record_step()

    def spot_price_usd(self) -> FloatArray:
        """USD value of one coin of each spot asset: the index of its perp (NaN if none)."""
        out = np.full(len(self.spots), np.nan)
        for k, a in enumerate(self.spot_of_perp):
            if a >= 0:
                out[a] = self.prices.index_usd[k]
        return out

    def delta_usd(self, account: int) -> tuple[float, float]:
        """Return (net USD delta, gross USD exposure) of an account over spot and perps."""
        lot_sizes = np.array([s.lot_size for s in self.perps])
        perp = self.accounts.qty_lots[account] * lot_sizes * self.prices.mark_usd
        spot = np.zeros(0)
        if self.spots:
            spot_lots = np.array([s.lot_size for s in self.spots])
            spot = np.nan_to_num(
                self.accounts.spot_lots[account] * spot_lots * self.spot_price_usd()
            )
        return float(perp.sum() + spot.sum()), float(np.abs(perp).sum() + np.abs(spot).sum())

    # ------------------------------------------------------------------------------ stops
    def _place_stop(self, order: Order) -> OrderOutcome:
        sid = self.stops.add(order)
        return OrderOutcome(accepted=True, order_id=sid, rested_qty=order.qty)

    def trigger_stops(self) -> list[OrderOutcome]:
        """Fire stop-market orders whose trigger the mark has crossed, as market orders."""
        fired = self.stops.pop_triggered(self.prices.mark_usd)
        return [self.submit(o) for o in fired]

    # ------------------------------------------------------------------------- invariants
    def total_equity_usd(self) -> float:
        """Σ wallets + Σ isolated margins + Σ unrealised PnL at the marks, over every row.

        Realised PnL of a closing trade is paid out of the counterparty's unrealised PnL, not
        its cash, so wallets alone are not conserved; total equity is. With zero net open
        interest Σ q·(mark − entry) = −Σ q·entry, so the value does not depend on the marks.
        """
        acc = self.accounts
        lot_sizes = np.array([s.lot_size for s in self.perps])
        upnl = (acc.qty_lots * lot_sizes * (self.prices.mark_usd - acc.entry_price_usd)).sum()
        return float(acc.collateral_usd.sum() + acc.isolated_margin_usd.sum() + upnl)

    def check_invariants(self) -> None:
        """Raise `InvariantError` unless money, open interest and spot coins all balance.

        - money: total equity (wallets + isolated margins + unrealised PnL; the fee account,
          pools and vault are rows too) == deposits − withdrawals, to REL_TOL relative;
        - zero net open interest per perp market (integer lots, exact);
        - spot coins: Σ holdings == coins deposited, per asset (exact);
        - the last funding settlement summed to zero (to REL_TOL of its gross).
        """
        acc = self.accounts
        total = self.total_equity_usd()
        expected = self.deposits_usd - self.withdrawals_usd
        if abs(total - expected) > REL_TOL * max(1.0, self.deposits_usd):
            raise InvariantError(
                f"money not conserved: books hold {total!r}, expected {expected!r}"
            )
        net = acc.qty_lots.sum(axis=0)
        if np.any(net != 0):
            raise InvariantError(f"net open interest not zero per market: {net.tolist()}")
        if np.any(acc.spot_lots.sum(axis=0) != self.spot_deposits_lots):
            raise InvariantError("spot coins not conserved")
        if abs(self._funding_residual_usd) > REL_TOL * max(1.0, self._funding_gross_usd):
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
