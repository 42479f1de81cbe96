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

from model.engine.collateral import Collateral, CollateralConfig
from model.engine.events import EventLog, Opening
from model.engine.forced import ForcedCloses
from model.engine.ledger import REL_TOL, InvariantError, Ledger
from model.engine.liquidation import Liquidator
from model.engine.marks import MarketPrices
from model.engine.order_checks import to_lots
from model.engine.order_entry import OrderDesk
from model.engine.orderbook import OrderBook
from model.engine.phases import MarketPhases
from model.engine.risk_config import LiquidationConfig
from model.engine.risk_view import RiskView
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.types import Clock, FloatArray

__all__ = ["REL_TOL", "Exchange", "InvariantError"]
ORDER_METHODS = (
    "submit", "submit_many", "post_quotes", "cancel", "cancel_all", "trigger_stops",
    "available_usd",
)  # fmt: skip
RISK_METHODS = ("risk_arrays", "upnl_usd", "equity_usd")
PHASE_METHODS = (
    "set_index", "update_index", "perp_mids", "update_marks", "remark", "sample_premium",
    "settle_funding", "spot_price_usd", "delta_usd", "leg_delta_usd", "leg_deltas_usd",
    "deltas_usd",
)  # fmt: skip


class Exchange:
    """A perpetual-futures venue with spot books, marks, funding and liquidation: the façade
    that builds the parts around one ledger and offers their methods (`ORDER_METHODS` of the
    order desk, `PHASE_METHODS` of the market phases, `RISK_METHODS` of the risk view, the
    forced closes) as its own.

    Args:
        perps: Perp market specifications.
        index_usd: Initial index price per perp.
        spots: Spot market specifications (optional).
        step_minutes: Minutes per model step.
        market_order_band: Price protection of market orders, fraction from the best price.
        spot_of_perp: Spot asset underlying each perp (-1: none); default perp k ↔ spot k.
        liquidation: Liquidation, insurance and loss-absorption configuration.
        collateral: Spot assets that count as cross margin, and their valuation
            (collateral.py); none by default.
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
        collateral: CollateralConfig | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.perps = tuple(perps)
        self.spots = tuple(spots)
        self.perp_lot_sizes = np.array([s.lot_size for s in self.perps])  # coins per lot
        self.spot_lot_sizes = np.array([s.lot_size for s in self.spots])
        if len(index_usd) != len(self.perps):
            raise ValueError(
                f"index_usd needs one price per perp ({len(self.perps)}), got {index_usd!r}"
            )
        self.prices = MarketPrices(self.perps, np.asarray(index_usd, dtype=float), step_minutes)
        self.perp_books = [OrderBook(s.tick_size, s.lot_size) for s in self.perps]
        self.spot_books = [OrderBook(s.tick_size, s.lot_size) for s in self.spots]
        self.clock = Clock()
        self.ledger = Ledger(self.perp_lot_sizes, self.spot_lot_sizes)
        self.accounts = self.ledger  # every account array, read-only
        self.journal = self.ledger.journal
        self.fee_account = self.ledger.fee_account
        self.events = EventLog()
        self.market_order_band = market_order_band
        self.spot_of_perp = (
            tuple(spot_of_perp)
            if spot_of_perp is not None
            else tuple(k if k < len(self.spots) else -1 for k in range(len(self.perps)))
        )
        perp_of_spot = {a: k for k, a in enumerate(self.spot_of_perp) if a >= 0}
        self.desk = OrderDesk(
            self.ledger, self.clock, self.perps, self.spots, self.perp_books, self.spot_books,
            self.prices, self.events, rng if rng is not None else np.random.default_rng(0),
            market_order_band, perp_of_spot,
        )  # fmt: skip
        self.desk.reserves.grow(self.ledger.n)
        self.phases = MarketPhases(
            self.ledger, self.clock, self.perps, self.spots, self.perp_books, self.prices,
            self.events, self.spot_of_perp,
        )  # fmt: skip
        self.collateral = Collateral(
            collateral or CollateralConfig(), self.spots, self.spot_books,
            self.desk.spot_last_usd, self.ledger,
        )  # fmt: skip
        self.desk.balances.collateral = self.collateral
        self.risk = RiskView(self.ledger, self.prices, self.perps, self.collateral)
        cfg = liquidation or LiquidationConfig()
        self.forced = ForcedCloses(self.desk, cfg.off_book_from_minute)
        self.rng, self.stops = self.desk.rng, self.desk.stops
        self.spot_last_usd = self.desk.spot_last_usd
        # the parts' public methods, offered as the exchange's own (bound once: no extra call)
        for part, names in (
            (self.desk, ORDER_METHODS),
            (self.forced, ("forced_ioc", "forced_levels")),
            (self.phases, PHASE_METHODS),
            (self.risk, RISK_METHODS),
        ):
            for name in names:
                setattr(self, name, getattr(part, name))
        self.liquidator = Liquidator(self, cfg)
        # the counterfactual twin's counterparty for forced closes (None: they go to the books)
        if cfg.forced_closes == "off_book":
            self.forced.sink = self.open_account(is_system=True)

    @property
    def t(self) -> int:
        """The engine's minute (set by the Mesa model each step)."""
        return self.clock.t

    @t.setter
    def t(self, minute: int) -> None:
        self.clock.t = minute

    @property
    def sink(self) -> int | None:
        """The twin's counterparty account for forced closes (None: they go to the books)."""
        return self.forced.sink

    # ---------------------------------------------------------------------------- accounts
    def open_account(self, deposit_usd: float = 0.0, *, is_system: bool = False) -> int:
        """Open one account, optionally with a first deposit; return its id."""
        return int(self.open_accounts(1, deposit_usd, is_system=is_system)[0])

    def open_accounts(
        self, count: int, deposit_usd: float | FloatArray = 0.0, *, is_system: bool = False
    ) -> np.ndarray:
        """Open `count` accounts at once (vectorised), each with its deposit; return ids."""
        ids = self.ledger.open_accounts(count, deposit_usd, is_system=is_system)
        self.desk.reserves.grow(self.ledger.n)
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
        return self.desk.reserves.margin_usd

    @property
    def spot_reserved_lots(self) -> np.ndarray:
        """Spot lots reserved by each account's resting sell orders."""
        return self.desk.reserves.spot_lots

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

    def set_collateral_reference(self, symbol: str, price_usd: float) -> None:
        """Move a collateral asset's outside reference price (used with valuation="reference")."""
        self.collateral.set_reference(symbol, price_usd)

    def withdraw(self, account: int, usd: float) -> bool:
        """Withdraw USD if the withdrawable amount allows it (`Balances.withdrawable_usd`:
        no unrealised profit leaves); return whether it was paid."""
        self.ledger.require_account(account)
        if not np.isfinite(usd) or usd <= 0 or usd > self.desk.balances.withdrawable_usd(account):
            return False
        self.ledger.withdraw(account, usd)
        return True

    def _is_account(self, account: object) -> bool:
        return self.ledger.is_account(account)

    # ------------------------------------------------------------------- engine phases
    def liquidate(self) -> int:
        """Run the liquidation loop (liquidation.py); return the number of units closed."""
        return self.liquidator.run()

    def unwind_system_positions(self) -> None:
        """Pools and vault sell a fraction of what they took over back into the books."""
        frac = self.liquidator.cfg.pool_unwind_fraction
        pools = self.liquidator.pools
        for acct in pools.holders():
            for k in np.flatnonzero(self.accounts.qty_lots[acct]):
                lots = int(self.accounts.qty_lots[acct, k])
                n = max(1, int(abs(lots) * frac)) if frac > 0 else 0
                side = -1 if lots > 0 else 1
                mark = float(self.prices.mark_usd[k])
                if n:
                    self.forced_ioc(
                        acct,
                        int(k),
                        side,
                        n,
                        mark * (1 + side * self.market_order_band),
                        is_liquidation=False,
                    )
        self.liquidator.settle_system_deficits()
        pools.record_step()

    # ------------------------------------------------------------------------- invariants
    def total_equity_usd(self) -> float:
        """Σ wallets + Σ isolated margins + Σ unrealised PnL at the marks, over every row.

        Realised PnL of a closing trade is paid out of the counterparty's unrealised PnL, not
        its cash, so wallets alone are not conserved; total equity is. With zero net open
        interest Σ q·(mark − entry) = −Σ q·entry, so the value does not depend on the marks.
        """
        return float(self.equity_usd().sum())

    def check_invariants(self) -> None:
        """Raise `InvariantError` unless the ledger balances (`Ledger.check_invariants`) and
        no account holds negative coins of a collateral asset (`Collateral.check`)."""
        self.ledger.check_invariants(self.prices.mark_usd)
        self.collateral.check()
