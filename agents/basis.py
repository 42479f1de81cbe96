"""Basis traders: long spot + short perp while funding pays, and what they do when ADL breaks it.

Owns one policy, `BasisTrader`. It reads its own account row and the market view and returns
market orders; it never touches balances (the exchange is the only writer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.base import Intent, Trader
from model.engine.orders import Order
from model.engine.types import BUY, SELL, Venue
from model.trader_config import NAKED_SPOT_RULES
from model.views import AccountsView, MarketView

if TYPE_CHECKING:  # agents import only types/views/orders at run time (house-style §6 rule 15)
    from model.trader_config import BasisConfig

FUNDING_INTERVALS_PER_YEAR = 3 * 365
"""Three 8-hour funding intervals a day (Binance, Bybit, OKX perps)."""
COST_BUFFER = 0.01
"""Share of each leg budget kept back for taker fees (spot 0.1 %, perp ~0.05 %) and slippage
walking the book (assumed)."""
ASSUMED_INTEREST_RATE = 0.0001
"""I per 8 h the trader assumes when reading the premium: 0.01 % (Binance default)."""
ASSUMED_CLAMP = 0.0005
"""Band on I − P the trader assumes: ±0.05 % (Binance, exchange-mechanics §2.5)."""
LOT_EPS = 1e-9
"""Relative slack so that 0.3 / 0.1 = 2.9999999999999996 still rounds to 3 lots."""


def carry_apr(rate_per_interval: np.ndarray) -> np.ndarray:
    """Annualise a per-8h funding rate: apr = rate × 3 × 365 (simple, not compounded)."""
    return np.asarray(rate_per_interval, dtype=float) * FUNDING_INTERVALS_PER_YEAR


def predicted_rate(premium: np.ndarray) -> np.ndarray:
    """Predict the next funding rate from the premium: F̂ = P + clamp(I − P, ±clamp).

    The venue's published formula with Binance's defaults (exchange-mechanics §2.5); the cap is
    ignored (it only matters far beyond the entry thresholds). F̂ = I whenever |P − I| ≤ clamp.
    """
    p = np.asarray(premium, dtype=float)
    return p + np.clip(ASSUMED_INTEREST_RATE - p, -ASSUMED_CLAMP, ASSUMED_CLAMP)


def round_down_to_lot(qty: float, lot: float) -> float:
    """Round a coin quantity down to whole lots (0.0 if below one lot or not finite)."""
    if not np.isfinite(qty) or qty <= 0:
        return 0.0
    return float(np.floor(qty / lot + LOT_EPS)) * lot


class BasisTrader(Trader):
    """Cash-and-carry: hold spot, short the same coins on the perp, collect positive funding.

    Rules (per asset a, one account, perp leg cross-margined at `cfg.leverage`):

    - Signal: carry = `view.funding_rate[a]` × 3 × 365, the last *settled* rate, because that
      is what the position is paid. The premium (`view.premium`) is the leading signal: the
      next rate predicted from it (`predicted_rate`) vetoes entries whose carry is about to
      stop (predicted apr ≤ `exit_apr`). Exits use the settled rate only, so minute-to-minute
      premium noise does not churn the book.
    - Entry: carry > `entry_apr`, flat on a (no top-ups), spare capital: buy spot (market, spot
      venue) and sell the same coin quantity on the perp (market). Size q so that spot cost plus
      perp initial margin fit the asset's capital share:
      q · (spot_ask + perp_bid / L) ≤ (1 − COST_BUFFER) · min(capital / n_assets, free),
      capital = equity + spot value at the index, free = equity − Σ|perp notional| / L.
      q is rounded down to the coarser of the two lots (assumes nested lot sizes).
    - Exit: carry < `exit_apr`: sell all spot and buy back the whole short (reduce-only).
    - A perp short larger than the spot (an entry whose spot leg failed) is bought back.
    - A failed entry (one leg filled, the other not: a tier leverage cap or a thin book the
      view does not show) halves that asset's later entry size (`entry_scale`, memory).
    - Broken hedge: spot held but short < spot (liquidated or ADL'd, the seeds' lesson): the
      excess spot is naked. `naked_spot="immediate"` sells it all at once; `"gradual"` sells
      1/`unwind_minutes` of the excess seen at the break each minute (at least one lot);
      `"hold"` keeps it (the second round switched off). Sells after a real break are this
      step's `broken_hedge_orders`.
      `hedge_breaks_seen` counts breaks of a hedge that was intact the step before (an entry
      whose perp leg failed is repaired the same way but not counted).

    Args:
        model: The Mesa model (registration only).
        accounts: Exchange account ids; only accounts[0] is used (funded in USD by the model).
        rng: The agent's random stream (this policy is deterministic and does not draw).
        cfg: Basis-trader parameters.
        n_assets: Number of assets (perp a ↔ spot a).

    Raises:
        ValueError: `cfg.naked_spot` is not one of NAKED_SPOT_RULES.
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: BasisConfig,
        n_assets: int,
    ) -> None:
        super().__init__(model, accounts, rng)
        if cfg.naked_spot not in NAKED_SPOT_RULES:
            raise ValueError(
                f"basis.naked_spot must be one of {NAKED_SPOT_RULES}, got {cfg.naked_spot!r}"
            )
        self.cfg = cfg
        self.n_assets = n_assets
        self.hedge_breaks_seen = 0
        # behavioural memory: was the hedge intact last step, the naked-spot sell slice, and
        # the share of the full entry size still tried after failed entries
        self._is_hedged = np.zeros(n_assets, dtype=bool)
        self._unwind_slice_coins = np.zeros(n_assets)
        self._is_trimming = np.zeros(n_assets, dtype=bool)
        self._is_broken = np.zeros(n_assets, dtype=bool)  # naked since a real hedge break
        self.entry_scale = np.ones(n_assets)

    @property
    def account(self) -> int:
        """The trader's single exchange account."""
        return int(self.account_ids[0])

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return this minute's spot and perp market orders (see the class rules)."""
        acct = self.account
        spot_coins = np.asarray(accounts.spot_qty[acct], dtype=float)
        short_coins = np.maximum(-np.asarray(accounts.qty[acct], dtype=float), 0.0)
        carry = carry_apr(view.funding_rate)
        lead = carry_apr(predicted_rate(view.premium))
        free_usd = self._free_usd(view, accounts)
        capital_usd = float(accounts.equity_usd[acct]) + float(
            np.nansum(spot_coins * view.index_usd)
        )
        orders: list[Intent] = []
        self.broken_hedge_orders = []
        for a in range(self.n_assets):
            excess = self._naked_excess(view, a, spot_coins[a], short_coins[a])
            if spot_coins[a] > 0 or short_coins[a] > 0:
                if carry[a] < self.cfg.exit_apr:
                    orders += self._unwind(view, a, spot_coins[a], short_coins[a])
                elif excess > 0:
                    sells = self._sell_naked(view, a, excess)
                    orders += sells
                    if self._is_broken[a]:
                        self.broken_hedge_orders += sells
                else:
                    orders += self._trim_short(view, a, short_coins[a] - spot_coins[a])
                continue
            self._is_trimming[a] = False
            if carry[a] > self.cfg.entry_apr and lead[a] > self.cfg.exit_apr:
                budget_usd = min(capital_usd / self.n_assets, free_usd)
                entry = self._enter(view, a, budget_usd)
                free_usd -= self._leg_cost_usd(view, a, entry[0].qty) if entry else 0.0
                orders += entry
        return orders

    def _free_usd(self, view: MarketView, accounts: AccountsView) -> float:
        # cross equity minus the initial margin of the open perp legs (at our leverage)
        acct = self.account
        notional = np.abs(np.asarray(accounts.qty[acct], dtype=float)) * view.mark_usd
        return float(accounts.equity_usd[acct]) - float(np.nansum(notional)) / self.cfg.leverage

    def _leverage(self, view: MarketView, a: int) -> float:
        return float(min(self.cfg.leverage, view.max_leverage[a]))

    def _leg_cost_usd(self, view: MarketView, a: int, qty: float) -> float:
        unit = view.spot_ask_usd[a] + view.perp_bid_usd[a] / self._leverage(view, a)
        return float(qty * unit)

    def _naked_excess(self, view: MarketView, a: int, spot: float, short: float) -> float:
        excess = round_down_to_lot(spot - short, view.spot_lot[a])
        is_hedged = spot > 0 and excess == 0
        if excess > 0 and self._unwind_slice_coins[a] == 0:
            if self._is_hedged[a]:
                self.hedge_breaks_seen += 1  # it was intact last step: liquidated or ADL'd since
                self._is_broken[a] = True
            else:
                self.entry_scale[a] *= 0.5  # the perp leg of an entry failed: size down
            self._unwind_slice_coins[a] = excess / self.cfg.unwind_minutes
        if excess == 0:
            self._unwind_slice_coins[a] = 0.0
            self._is_broken[a] = False
        self._is_hedged[a] = is_hedged
        return excess

    def _sell_naked(self, view: MarketView, a: int, excess: float) -> list[Intent]:
        if self.cfg.naked_spot == "hold" and self._is_broken[a]:
            return []  # the second round switched off: the naked spot is kept
        lot = float(view.spot_lot[a])
        qty = excess
        if self.cfg.naked_spot == "gradual":
            qty = min(excess, max(round_down_to_lot(self._unwind_slice_coins[a], lot), lot))
        return [Order(self.account, a, SELL, qty, venue=Venue.SPOT)]

    def _trim_short(self, view: MarketView, a: int, extra_short: float) -> list[Intent]:
        qty = round_down_to_lot(extra_short, view.perp_lot[a])
        if qty > 0 and not self._is_trimming[a]:
            self.entry_scale[a] *= 0.5  # the spot leg of an entry failed (thin book): size down
        self._is_trimming[a] = qty > 0
        return [Order(self.account, a, BUY, qty, reduce_only=True)] if qty > 0 else []

    def _unwind(self, view: MarketView, a: int, spot: float, short: float) -> list[Intent]:
        orders: list[Intent] = []
        spot_qty = round_down_to_lot(spot, view.spot_lot[a])
        if spot_qty > 0:
            orders.append(Order(self.account, a, SELL, spot_qty, venue=Venue.SPOT))
        perp_qty = round_down_to_lot(short, view.perp_lot[a])
        if perp_qty > 0:
            orders.append(Order(self.account, a, BUY, perp_qty, reduce_only=True))
        self._unwind_slice_coins[a] = 0.0
        self._is_hedged[a] = False  # a deliberate exit is not a hedge break
        return orders

    def _enter(self, view: MarketView, a: int, budget_usd: float) -> list[Intent]:
        unit_usd = self._leg_cost_usd(view, a, 1.0)
        if not np.isfinite(unit_usd) or unit_usd <= 0 or budget_usd <= 0:
            return []  # an empty book side or no spare capital
        lot = float(max(view.spot_lot[a], view.perp_lot[a]))
        budget_usd *= self.entry_scale[a]
        qty = round_down_to_lot(budget_usd * (1.0 - COST_BUFFER) / unit_usd, lot)
        if qty <= 0:
            return []
        lev = self._leverage(view, a)
        return [
            Order(self.account, a, BUY, qty, venue=Venue.SPOT),
            Order(self.account, a, SELL, qty, leverage=lev, isolated=False),
        ]
