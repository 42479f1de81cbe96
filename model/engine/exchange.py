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

from collections.abc import Sequence

import numpy as np

from model.engine.accounts import AccountBook
from model.engine.events import EventLog
from model.engine.liquidation import Liquidator
from model.engine.margin import maintenance_margin
from model.engine.marks import MarketPrices
from model.engine.order_entry import INTEGERS, TOUCHED_CAP, OrderEntry, resize, to_lots
from model.engine.orderbook import OrderBook
from model.engine.phases import MarketPhases
from model.engine.positions import trade_effect
from model.engine.risk_config import LiquidationConfig
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.stops import StopBook
from model.engine.types import FloatArray, Venue

REL_TOL = 1e-9
"""Relative tolerance of the cash-conservation invariant (DESIGN.md §5)."""


class InvariantError(AssertionError):
    """Raised by `Exchange.check_invariants` when the books do not add up."""


class Exchange(OrderEntry, MarketPhases):
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
        self.perp_lot_sizes = np.array([s.lot_size for s in self.perps])  # coins per lot
        self._perp_lot_list = self.perp_lot_sizes.tolist()
        self.spot_lot_sizes = np.array([s.lot_size for s in self.spots])
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
        # rows written since the risk scanner last looked (all of them when the flag is set);
        # `writes` counts every write, so a lazy accounts view can tell it is stale
        self._touched: list[int] = []
        self._touched_all = True
        self._touch_epoch = 0  # +1 each time the list is cleared (readers keep offsets)
        self.writes = 0
        # running counts for the recorder (kept by `_apply_position`, checked by
        # `check_invariants`): long lots per perp, open positions per account, users in one
        self._long_lots = [0] * len(self.perps)
        self._n_open: list[int] = []
        self.users_in_position = 0
        self.spot_of_perp = (
            tuple(spot_of_perp)
            if spot_of_perp is not None
            else tuple(k if k < len(self.spots) else -1 for k in range(len(self.perps)))
        )
        self._perp_of_spot = {a: k for k, a in enumerate(self.spot_of_perp) if a >= 0}
        self.fee_account = self.open_account(is_system=True)
        self.liquidator = Liquidator(self, liquidation or LiquidationConfig())
        # the counterfactual twin's counterparty for forced closes (None: they go to the books)
        self.sink = (
            self.open_account(is_system=True)
            if self.liquidator.cfg.forced_closes == "off_book"
            else None
        )

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
        self._is_system = resize(self._is_system, n, False)
        self._is_system[ids] = is_system
        self._order_margin_usd = resize(self._order_margin_usd, n, 0.0)
        self._spot_reserved_lots = resize(self._spot_reserved_lots, n, 0)
        self._n_open.extend([0] * count)
        self.accounts.collateral_usd[ids] += deposits
        self.deposits_usd += float(deposits.sum())
        self._touch_all()
        return ids

    @property
    def is_system(self) -> np.ndarray:
        """True for the engine's own rows: fee account, insurance pools, vault."""
        return self._is_system[: self.accounts.n]

    @property
    def long_lots(self) -> np.ndarray:
        """Σ long positions per perp in lots (= open interest; every long has a short)."""
        return np.array(self._long_lots, dtype=np.int64)

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
        self._touch(account)

    def deposit_many(self, accounts: np.ndarray, usd: FloatArray) -> None:
        """Credit a USD deposit to each of several distinct accounts at once (vectorised)."""
        ids = np.asarray(accounts, dtype=np.int64)
        amounts = np.asarray(usd, dtype=float)
        if ids.shape != amounts.shape or len(np.unique(ids)) != len(ids):
            raise ValueError("deposit_many needs one amount per account and distinct accounts")
        if len(ids) and (ids.min() < 0 or ids.max() >= self.accounts.n):
            raise ValueError(f"unknown account among {ids.min()}..{ids.max()}")
        if np.any(~np.isfinite(amounts)) or np.any(amounts < 0):
            raise ValueError("deposit usd must be finite and >= 0")
        self.accounts.collateral_usd[ids] += amounts
        self.deposits_usd += float(amounts.sum())
        self._touch_all()

    def deposit_spot(self, account: int, asset: int, qty: float) -> None:
        """Credit coins of a spot asset to an account (qty a multiple of the lot size)."""
        self._require_account(account)
        lots = to_lots(qty, self.spots[asset].lot_size)
        if lots is None:
            raise ValueError(f"spot deposit qty must be a positive lot multiple, got {qty!r}")
        self.accounts.spot_lots[account, asset] += lots
        self.spot_deposits_lots[asset] += lots
        self._touch(account)

    def open_book(
        self,
        market: int,
        accounts: np.ndarray,
        signed_lots: np.ndarray,
        price_usd: float,
        leverage: FloatArray,
        isolated: np.ndarray,
    ) -> None:
        """Open matched positions in one market at one price: the open interest a run starts
        with (positions built before minute 0), no fee, no book.

        Every account must be flat in `market`, appear once, and afford the position: its
        initial margin |lots| · lot · price / leverage must fit its collateral (isolated
        margin is moved out of the wallet, as an opening fill does). Σ signed_lots must be 0,
        so net open interest stays zero. One "opening" event per market.

        Raises:
            ValueError: Lots that do not net to zero, an account not flat or listed twice, a
                leverage above the tier maximum at its notional, or margin it cannot afford.
        """
        ids = np.asarray(accounts, dtype=np.int64)
        lots = np.asarray(signed_lots, dtype=np.int64)
        lev = np.broadcast_to(np.asarray(leverage, dtype=float), ids.shape)
        iso = np.broadcast_to(np.asarray(isolated, dtype=bool), ids.shape)
        acc, spec = self.accounts, self.perps[market]
        if int(lots.sum()) != 0:
            raise ValueError(f"opening lots of market {market} must net to zero, got {lots.sum()}")
        if len(np.unique(ids)) != len(ids) or np.any(acc.qty_lots[ids, market] != 0):
            raise ValueError(f"opening accounts of market {market} must be flat and distinct")
        if not np.all(np.isfinite(lev) & (lev > 0)):
            raise ValueError(f"opening leverage of market {market} must be finite and > 0")
        notional = np.abs(lots) * spec.lot_size * price_usd
        margin = notional / lev
        if np.any(lev > spec.tiers.max_leverage_at(notional)) or np.any(
            margin > acc.collateral_usd[ids] + 1e-9
        ):
            raise ValueError(
                f"an opening position of market {market} exceeds its tier's leverage or its "
                "account's collateral"
            )
        acc.leverage[ids, market] = lev
        acc.is_isolated[ids, market] = iso
        acc.qty_lots[ids, market] = lots
        acc.entry_price_usd[ids, market] = np.where(lots != 0, price_usd, 0.0)
        locked = np.where(iso & (lots != 0), margin, 0.0)
        acc.isolated_margin_usd[ids, market] = locked
        acc.collateral_usd[ids] -= locked
        opened = ids[lots != 0]
        n_open = np.array(self._n_open, dtype=np.int64)
        newly = opened[(n_open[opened] == 0) & ~self._is_system[opened]]
        n_open[opened] += 1
        self._n_open = n_open.tolist()
        self.users_in_position += len(newly)
        self._long_lots[market] += int(lots[lots > 0].sum())
        self._touch_all()
        self.events.add(
            "opening", self.t, market, len(opened), int(lots[lots > 0].sum()), price_usd
        )

    def withdraw(self, account: int, usd: float) -> bool:
        """Withdraw USD if the available balance allows it; return whether it was paid."""
        self._require_account(account)
        if not np.isfinite(usd) or usd <= 0 or usd > self.available_usd(account):
            return False
        self.accounts.collateral_usd[account] -= usd
        self.withdrawals_usd += usd
        self._touch(account)
        return True

    def _require_account(self, account: int) -> None:
        if not self._is_account(account):
            raise ValueError(
                f"unknown account {account!r}; open accounts are 0..{self.accounts.n - 1}"
            )

    def _touch(self, account: int) -> None:
        """Note that an account's row was written (for the incremental risk scan)."""
        self._touched.append(account)
        self.writes += 1
        if len(self._touched) > TOUCHED_CAP:  # nobody is scanning: stop keeping the list
            self._touch_all()

    def _touch_all(self) -> None:
        """Note a write to every row (funding, new accounts)."""
        self._touched_all = True
        self._clear_touched()
        self.writes += 1

    def _clear_touched(self) -> None:
        """Empty the list of written rows (a reader of it has caught up, or is told to)."""
        self._touched.clear()
        self._touch_epoch += 1

    def _is_account(self, account: object) -> bool:
        return isinstance(account, INTEGERS) and 0 <= account < self.accounts.n

    # ------------------------------------------------------------------------- risk views
    def risk_arrays(self, rows: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        """Vectorised margin state of every account (or of `rows`) at the current marks.

        Returns a dict of arrays: `upnl_usd` (n, m), `notional_usd` (n, m), `mm_usd` (n, m),
        `cross_equity_usd` (n,), `cross_mm_usd` (n,), `cross_im_usd` (n,), `iso_equity_usd`
        (n, m), `is_cross` (n, m), n = number of rows. Equity = wallet + unrealised PnL at the
        mark; maintenance = tiered notional·MMR − cum (margin.maintenance_margin).
        """
        acc = self.accounts
        mark = self.prices.mark_usd
        lots = acc.qty_lots[rows]
        qty = lots * self.perp_lot_sizes
        upnl = qty * (mark - acc.entry_price_usd[rows])
        notional = np.abs(qty) * mark
        mm = np.empty_like(notional)
        for k, spec in enumerate(self.perps):
            mm[:, k] = maintenance_margin(notional[:, k], spec.tiers)
        is_cross = (lots != 0) & ~acc.is_isolated[rows]
        return {
            "upnl_usd": upnl,
            "notional_usd": notional,
            "mm_usd": mm,
            "is_cross": is_cross,
            "cross_equity_usd": acc.collateral_usd[rows] + (upnl * is_cross).sum(axis=1),
            "cross_mm_usd": (mm * is_cross).sum(axis=1),
            "cross_im_usd": (notional / acc.leverage[rows] * is_cross).sum(axis=1),
            "iso_equity_usd": acc.isolated_margin_usd[rows] + upnl,
        }

    def _row_state(self, account: int) -> tuple[float, float]:
        """Return (cross equity, cross initial margin) of one account at the marks."""
        acc = self.accounts
        lots = acc.qty_lots[account]
        if len(lots) < 8:  # in Python floats: numpy adds fewer than 8 terms in this order
            return self._row_state_small(account, lots.tolist())
        if not lots.any():
            return float(acc.collateral_usd[account]), 0.0
        mark = self.prices.mark_usd
        qty = lots * self.perp_lot_sizes
        cross = (lots != 0) & ~acc.is_isolated[account]
        upnl = qty * (mark - acc.entry_price_usd[account])
        im = np.abs(qty) * mark / acc.leverage[account]
        return float(acc.collateral_usd[account] + upnl[cross].sum()), float(im[cross].sum())

    def _row_state_small(self, account: int, lots: list[int]) -> tuple[float, float]:
        """`_row_state` with the same float operations, on Python floats (a few markets)."""
        acc = self.accounts
        wallet = acc.collateral_usd[account]
        if not any(lots):
            return float(wallet), 0.0
        iso = acc.is_isolated[account].tolist()
        entry = acc.entry_price_usd[account].tolist()
        lev = acc.leverage[account].tolist()
        mark = self.prices.mark_usd.tolist()
        upnl_sum = im_sum = 0.0
        for k, n in enumerate(lots):
            if n and not iso[k]:
                q = n * self._perp_lot_list[k]
                upnl_sum += q * (mark[k] - entry[k])
                im_sum += abs(q) * mark[k] / lev[k] if lev[k] else np.inf
        return float(wallet + upnl_sum), im_sum

    def available_usd(self, account: int) -> float:
        """Available balance: cross equity − cross initial margin − margin reserved by orders."""
        equity, im = self._row_state(account)
        return equity - im - float(self._order_margin_usd[account])

    def upnl_usd(self, rows: slice | np.ndarray | int = slice(None)) -> FloatArray:
        """Unrealised PnL per (account, market) at the marks: q · (mark − entry)."""
        acc = self.accounts
        qty = acc.qty_lots[rows] * self.perp_lot_sizes
        return qty * (self.prices.mark_usd - acc.entry_price_usd[rows])

    def equity_usd(self, rows: slice | np.ndarray = slice(None)) -> FloatArray:
        """Total equity per account: wallet + isolated margins + all unrealised PnL."""
        acc = self.accounts
        return (
            acc.collateral_usd[rows]
            + acc.isolated_margin_usd[rows].sum(axis=1)
            + self.upnl_usd(rows).sum(axis=1)
        )

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
        if new != old:
            self._long_lots[k] += (new if new > 0 else 0) - (old if old > 0 else 0)
            if (old == 0) != (new == 0):
                step = 1 if old == 0 else -1
                self._n_open[acct] += step
                if self._n_open[acct] == (step > 0) and not self._is_system[acct]:
                    self.users_in_position += step
        acc.entry_price_usd[acct, k] = entry
        acc.realized_pnl_usd[acct, k] += realized
        acc.fees_paid_usd[acct, k] += fee_usd
        acc.collateral_usd[acct] += cash
        acc.collateral_usd[self.fee_account] += fee_usd
        self._touched.append(acct)  # `_touch`, inline on the hot path (capped per batch)
        self.writes += 1
        return realized

    def _spot_transfer(
        self, a: int, acct: int, signed_lots: int, price_usd: float, fee_usd: float
    ) -> None:
        spec = self.spots[a]
        self.accounts.spot_lots[acct, a] += signed_lots
        self.accounts.collateral_usd[acct] -= signed_lots * spec.lot_size * price_usd + fee_usd
        self.accounts.collateral_usd[self.fee_account] += fee_usd
        self._touched.append(acct)  # `_touch`, inline on the hot path (capped per batch)
        self.writes += 1

    def _move_cash(self, src: int, dst: int, usd: float) -> None:
        """Move USD between two accounts' wallets (pools and vault are accounts too)."""
        self.accounts.collateral_usd[src] -= usd
        self.accounts.collateral_usd[dst] += usd
        self._touch(src)
        self._touch(dst)

    def _collect(self, payers: np.ndarray, amounts_usd: FloatArray, dst: int) -> None:
        """Move `amounts_usd[i]` from each payer's wallet to `dst` (vectorised haircut)."""
        np.subtract.at(self.accounts.collateral_usd, payers, amounts_usd)
        self.accounts.collateral_usd[dst] += float(np.sum(amounts_usd))
        self._touched.extend(np.asarray(payers, dtype=np.int64).ravel().tolist())
        self._touch(dst)

    def _transfer_position(
        self, src: int, dst: int, k: int, src_lots: int, price_usd: float
    ) -> None:
        """Move a position between two accounts at a set price, no fee (takeover, ADL)."""
        self._apply_position(src, k, src_lots, price_usd, 0.0)
        self._apply_position(dst, k, -src_lots, price_usd, 0.0)

    def forced_ioc(
        self, acct: int, k: int, side: int, lots: int, limit_usd: float, *, is_liquidation: bool
    ) -> tuple[int, float]:
        """An engine-initiated close (liquidation, pool unwind); returns (lots, USD notional).

        Into the book (`_system_ioc`), or, with forced closes off the book (the counterfactual
        twin) from `off_book_from_minute` on, all `lots` against the sink at the mark if the
        mark is within `limit_usd`, and none otherwise: the same transfer as a fill, without
        moving any book or last price.
        """
        if self.sink is None or self.t < self.liquidator.cfg.off_book_from_minute:
            return self._system_ioc(acct, k, side, lots, limit_usd, is_liquidation=is_liquidation)
        mark = float(self.prices.mark_usd[k])
        if side * (mark - limit_usd) > 0:
            return 0, 0.0
        spec = self.perps[k]
        notional = lots * spec.lot_size * mark
        fee = 0.0 if is_liquidation else notional * spec.taker_fee
        self._apply_position(acct, k, side * lots, mark, fee)
        self._apply_position(self.sink, k, -side * lots, mark, 0.0)
        self.events.add(
            "fill", self.t, "off_book", k, acct, self.sink, side, mark,
            lots * spec.lot_size, fee, 0.0, is_liquidation,
        )  # fmt: skip
        return lots, notional

    def forced_levels(self, k: int, side: int) -> list[tuple[float, int]]:
        """The liquidity a forced close of a position of `side` meets: (price USD, lots) levels,
        best first: the book's opposite side, or the sink's one unlimited level at the mark."""
        if self.sink is not None and self.t >= self.liquidator.cfg.off_book_from_minute:
            return [(float(self.prices.mark_usd[k]), 1 << 62)]
        tick = self.perps[k].tick_size
        return [(ticks * tick, lots) for ticks, lots in self.perp_books[k].levels(side)]

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

    # ------------------------------------------------------------------------- invariants
    def total_equity_usd(self) -> float:
        """Σ wallets + Σ isolated margins + Σ unrealised PnL at the marks, over every row.

        Realised PnL of a closing trade is paid out of the counterparty's unrealised PnL, not
        its cash, so wallets alone are not conserved; total equity is. With zero net open
        interest Σ q·(mark − entry) = −Σ q·entry, so the value does not depend on the marks.
        """
        return float(self.equity_usd().sum())

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
        is_open = acc.qty_lots != 0
        if (
            np.any(self.long_lots != np.where(acc.qty_lots > 0, acc.qty_lots, 0).sum(axis=0))
            or np.any(np.array(self._n_open) != is_open.sum(axis=1))
            or self.users_in_position != int(is_open[~self.is_system].any(axis=1).sum())
        ):
            raise InvariantError("running position counts disagree with the positions")
