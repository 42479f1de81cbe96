"""The exchange engine's façade: order entry, market phases and the liquidator around one ledger.

The `Ledger` (ledger.py) holds the accounts and is the only writer of money and positions; the
exchange validates orders, matches them in its books and hands each match to the ledger.
Orders are validated before they touch a book; a bad order is rejected with a reason code and
counted, never raised.

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

from model.engine.events import EventLog, Fill, Opening
from model.engine.ledger import REL_TOL, InvariantError, Ledger, resize
from model.engine.liquidation import Liquidator
from model.engine.margin import maintenance_margin, notional_usd, unrealized_pnl_usd
from model.engine.marks import MarketPrices
from model.engine.order_entry import OrderEntry, to_lots
from model.engine.orderbook import OrderBook
from model.engine.phases import MarketPhases
from model.engine.risk_config import LiquidationConfig
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.stops import StopBook
from model.engine.types import FloatArray, Venue

__all__ = ["REL_TOL", "Exchange", "InvariantError"]


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
        self.ledger = Ledger(self.perp_lot_sizes, self.spot_lot_sizes)
        self.accounts = self.ledger  # every account array, read-only
        self.journal = self.ledger.journal
        self.fee_account = self.ledger.fee_account
        self.stops = StopBook()
        self.events = EventLog()
        self.market_order_band = market_order_band
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.t = 0
        self.spot_last_usd = np.full(len(self.spots), np.nan)
        self._order_margin_usd = np.zeros(self.ledger.n)
        self._spot_reserved_lots = np.zeros((self.ledger.n, len(self.spots)), dtype=np.int64)
        # (venue, market, order id) -> [account, side, reserve per lot, lots resting]
        self._orders: dict[tuple, list] = {}
        self.spot_of_perp = (
            tuple(spot_of_perp)
            if spot_of_perp is not None
            else tuple(k if k < len(self.spots) else -1 for k in range(len(self.perps)))
        )
        self._perp_of_spot = {a: k for k, a in enumerate(self.spot_of_perp) if a >= 0}
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
        ids = self.ledger.open_accounts(count, deposit_usd, is_system=is_system)
        n = self.ledger.n
        self._order_margin_usd = resize(self._order_margin_usd, n, 0.0)
        self._spot_reserved_lots = resize(self._spot_reserved_lots, n, 0)
        return ids

    @property
    def is_system(self) -> np.ndarray:
        """True for the engine's own rows: fee account, insurance pools, vault."""
        return self.ledger.is_system

    @property
    def long_lots(self) -> np.ndarray:
        """Σ long positions per perp in lots (= open interest; every long has a short)."""
        return self.ledger.long_lots

    @property
    def users_in_position(self) -> int:
        """User (non-system) accounts holding at least one position."""
        return self.ledger.users_in_position

    @property
    def deposits_usd(self) -> float:
        """USD deposited into every account so far."""
        return self.ledger.deposits_usd

    @property
    def withdrawals_usd(self) -> float:
        """USD withdrawn so far."""
        return self.ledger.withdrawals_usd

    @property
    def spot_deposits_lots(self) -> np.ndarray:
        """Coins deposited per spot asset, in lots."""
        return self.ledger.spot_deposits_lots

    @property
    def writes(self) -> int:
        """Writes to the accounts so far (a lazy reader can tell it is stale)."""
        return self.journal.writes

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
        self.ledger.deposit(account, usd)

    def deposit_many(self, accounts: np.ndarray, usd: FloatArray) -> None:
        """Credit a USD deposit to each of several distinct accounts at once (vectorised)."""
        self.ledger.deposit_many(accounts, usd)

    def deposit_spot(self, account: int, asset: int, qty: float) -> None:
        """Credit coins of a spot asset to an account (qty a multiple of the lot size)."""
        self.ledger.require_account(account)
        lots = to_lots(qty, self.spots[asset].lot_size)
        if lots is None:
            raise ValueError(f"spot deposit qty must be a positive lot multiple, got {qty!r}")
        self.ledger.deposit_spot(account, asset, lots)

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
        self.ledger.open_positions(market, ids, lots, price_usd, lev, iso)
        self.events.add(
            Opening(
                t=self.t,
                market=market,
                accounts=int((lots != 0).sum()),
                long_lots=int(lots[lots > 0].sum()),
                price_usd=price_usd,
            )
        )

    def withdraw(self, account: int, usd: float) -> bool:
        """Withdraw USD if the available balance allows it; return whether it was paid."""
        self.ledger.require_account(account)
        if not np.isfinite(usd) or usd <= 0 or usd > self.available_usd(account):
            return False
        self.ledger.withdraw(account, usd)
        return True

    def _is_account(self, account: object) -> bool:
        return self.ledger.is_account(account)

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
        upnl = unrealized_pnl_usd(qty, acc.entry_price_usd[rows], mark)
        notional = notional_usd(qty, mark)
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
        upnl = unrealized_pnl_usd(qty, acc.entry_price_usd[account], mark)
        im = notional_usd(qty, mark) / acc.leverage[account]
        return float(acc.collateral_usd[account] + upnl[cross].sum()), float(im[cross].sum())

    def _row_state_small(self, account: int, lots: list[int]) -> tuple[float, float]:
        """`_row_state` with the same float operations, on Python floats (a few markets): the
        fast path of margin.unrealized_pnl_usd and notional / leverage, held equal to
        `risk_arrays` by tests/test_fast_paths.py."""
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
        return unrealized_pnl_usd(qty, acc.entry_price_usd[rows], self.prices.mark_usd)

    def equity_usd(self, rows: slice | np.ndarray = slice(None)) -> FloatArray:
        """Total equity per account: wallet + isolated margins + all unrealised PnL."""
        return self.ledger.equity_usd(self.prices.mark_usd, rows)

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
        )

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
        self.ledger.perp_fill(acct, k, side * lots, mark, fee)
        self.ledger.perp_fill(self.sink, k, -side * lots, mark, 0.0)
        self.events.add(
            Fill(
                self.t,
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
        """Raise `InvariantError` unless the ledger balances (`Ledger.check_invariants`)."""
        self.ledger.check_invariants(self.prices.mark_usd)
