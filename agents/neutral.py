"""Market-neutral funds: long an alt basket, short the majors at a hedge ratio, cross margin.

Owns one policy, `MarketNeutralFund`: rebalancing inside a band, a drawdown cut, and the
seeds' failure mode — when ADL takes the short leg, the fund dumps alts to restore its ratio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.base import Intent, Trader
from model.engine.orders import Order
from model.engine.types import BUY, SELL, FloatArray
from model.views import AccountsView, MarketView

if TYPE_CHECKING:  # agents import only types/views/orders at run time (house-style §6 rule 15)
    from model.trader_config import FundConfig

BASE_LEVERAGE = 5.0
"""Per-position leverage setting of the fund's perps (assumed; 3–5x is typical of funds)."""
MARGIN_HEADROOM = 2.0
"""Leverage is at least headroom × gross_leverage, so initial margin ≤ half the equity."""
BROKEN_SHORT_FRACTION = 0.5
"""Short notional below this share of its target (long side intact) means a broken hedge."""
LOT_EPS = 1e-9
"""Relative slack so that 0.3 / 0.1 = 2.9999999999999996 still rounds to 3 lots."""


def round_down_to_lot(qty: float, lot: float) -> float:
    """Round a coin quantity down to whole lots (0.0 if below one lot or not finite)."""
    if not np.isfinite(qty) or qty <= 0:
        return 0.0
    return float(np.floor(qty / lot + LOT_EPS)) * lot


def leg_targets_usd(
    equity_usd: float,
    gross_leverage: float,
    hedge_ratio: float,
    is_long: np.ndarray,
    is_short: np.ndarray | None = None,
) -> FloatArray:
    """Return the signed target notional per asset (USD, + long, − short).

    gross G = gross_leverage × equity; long L = G / (1 + h), short S = h · L, so L + S = G and
    S / L = h; each side is split equally over its assets (alts long, majors short).
    E.g. equity 1M, 2x, h = 1, 2 majors + 2 alts: L = S = 1M, ±500k per asset.
    """
    is_long = np.asarray(is_long, dtype=bool)
    is_short = ~is_long if is_short is None else np.asarray(is_short, dtype=bool)
    long_usd = gross_leverage * equity_usd / (1.0 + hedge_ratio)
    n_long, n_short = int(is_long.sum()), int(is_short.sum())
    per_long = long_usd / n_long if n_long else 0.0
    per_short = hedge_ratio * long_usd / n_short if n_short else 0.0
    return np.where(is_long, per_long, np.where(is_short, -per_short, 0.0))


class MarketNeutralFund(Trader):
    """Long an equal-weight alt basket, short the majors, one cross-margined account.

    Rules, in order each minute (notional = coins × mark):

    1. Drawdown: track peak equity; when equity < (1 − `drawdown_limit`) × peak, halve the
       target gross (`gross_scale`) once and re-base the peak to today's equity, so the next
       cut needs a further full `drawdown_limit` fall (one cut per breach). Cuts are kept for
       the run (assumed: a fund that de-risked does not re-lever within a day).
    2. Broken hedge: short notional < 0.5 × its target while the longs are intact (≥ (1 −
       band) × target, e.g. ADL closed a short leg): sell every alt by the same fraction so
       that long = short / h at once — the inventory dumping of the seeds — and keep the
       smaller book as the new target (not re-shorting majors into a crash); count it in
       `hedge_breaks_seen`; these sells are the step's `broken_hedge_orders`. With
       `on_broken_hedge="hold"` the fund keeps its book instead (no second round).
    3. Rebalance: at t = 0 (opening the book), or when any leg's notional is off its target
       by more than `rebalance_band` × |target|, trade every asset back to target with
       market orders, cross margin, leverage max(5, 2 × gross_leverage) capped at the tier-1
       maximum; coins = target / mark, rounded down to the perp lot.

    Args:
        model: The Mesa model (registration only).
        accounts: Exchange account ids; only accounts[0] is used (funded in USD by the model).
        rng: The agent's random stream (this policy is deterministic and does not draw).
        cfg: Fund parameters.
        n_assets: Number of perps.
        majors: Perp indices shorted as the hedge.
        basket: Perp indices held long (default: every non-major).
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: FundConfig,
        n_assets: int,
        majors: tuple[int, ...] = (0, 1),
        basket: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(model, accounts, rng)
        self.cfg = cfg
        self.n_assets = n_assets
        self.is_short = np.array([a in majors for a in range(n_assets)])
        longs = basket if basket is not None else [a for a in range(n_assets) if a not in majors]
        self.is_long = np.array([a in longs for a in range(n_assets)])
        # behavioural memory: peak equity since the last cut and the share of target gross kept
        self.peak_equity_usd = 0.0
        self.gross_scale = 1.0
        self.drawdown_cuts = 0
        self.hedge_breaks_seen = 0

    @property
    def account(self) -> int:
        """The fund's single exchange account."""
        return int(self.account_ids[0])

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return this minute's perp market orders (see the class rules)."""
        equity_usd = float(accounts.equity_usd[self.account])
        if not np.isfinite(equity_usd) or equity_usd <= 0:
            return []  # ruined: nothing left to trade
        self._apply_drawdown_rule(equity_usd)
        qty = np.asarray(accounts.qty[self.account], dtype=float)
        current_usd = qty * view.mark_usd
        target_usd = self._targets(equity_usd)
        self.broken_hedge_orders = []
        if self._is_hedge_broken(current_usd, target_usd):
            if self.cfg.on_broken_hedge == "hold":
                return []  # the second round switched off: the unhedged book is kept
            self.broken_hedge_orders = self._dump_longs(view, qty, current_usd, equity_usd)
            return list(self.broken_hedge_orders)
        if view.t == 0 or self._has_drifted(current_usd, target_usd):
            return self._rebalance(view, qty, target_usd)
        return []

    def opening_targets(self, equity_usd: float) -> FloatArray:
        """Signed target notional per asset (USD) the fund holds from minute 0."""
        return self._targets(equity_usd)

    def leverage_for(self, max_leverage: float) -> float:
        """Leverage setting of the fund's perps: max(5, 2 × gross_leverage), capped."""
        wanted = max(BASE_LEVERAGE, MARGIN_HEADROOM * self.cfg.gross_leverage)
        return float(min(wanted, max_leverage))

    def _targets(self, equity_usd: float) -> FloatArray:
        gross = self.cfg.gross_leverage * self.gross_scale
        return leg_targets_usd(equity_usd, gross, self.cfg.hedge_ratio, self.is_long, self.is_short)

    def _apply_drawdown_rule(self, equity_usd: float) -> None:
        self.peak_equity_usd = max(self.peak_equity_usd, equity_usd)
        if equity_usd < (1.0 - self.cfg.drawdown_limit) * self.peak_equity_usd:
            self.gross_scale *= 0.5
            self.drawdown_cuts += 1
            self.peak_equity_usd = equity_usd  # re-base: one cut per breach

    def _is_hedge_broken(self, current_usd: FloatArray, target_usd: FloatArray) -> bool:
        short_usd = float(np.nansum(np.maximum(-current_usd[self.is_short], 0.0)))
        long_usd = float(np.nansum(np.maximum(current_usd[self.is_long], 0.0)))
        short_target = float(-target_usd[self.is_short].sum())
        long_target = float(target_usd[self.is_long].sum())
        return (
            short_target > 0
            and long_usd > 0
            and short_usd < BROKEN_SHORT_FRACTION * short_target
            and long_usd >= (1.0 - self.cfg.rebalance_band) * long_target
        )

    def _dump_longs(
        self, view: MarketView, qty: FloatArray, current_usd: FloatArray, equity_usd: float
    ) -> list[Intent]:
        self.hedge_breaks_seen += 1
        short_usd = float(np.nansum(np.maximum(-current_usd[self.is_short], 0.0)))
        long_usd = float(np.nansum(np.maximum(current_usd[self.is_long], 0.0)))
        keep = min(1.0, short_usd / self.cfg.hedge_ratio / long_usd)  # share of each alt kept
        kept_gross_usd = keep * long_usd + short_usd
        self.gross_scale = min(
            self.gross_scale, kept_gross_usd / (self.cfg.gross_leverage * equity_usd)
        )
        orders: list[Intent] = []
        for a in np.flatnonzero(self.is_long & (qty > 0)):
            sell = round_down_to_lot(qty[a] * (1.0 - keep), view.perp_lot[a])
            if sell > 0:
                orders.append(Order(self.account, int(a), SELL, sell))
        return orders

    def _has_drifted(self, current_usd: FloatArray, target_usd: FloatArray) -> bool:
        gap = np.abs(np.nan_to_num(current_usd) - target_usd)
        return bool(np.any(gap > self.cfg.rebalance_band * np.abs(target_usd)))

    def _leverage(self, view: MarketView, a: int) -> float:
        return self.leverage_for(view.max_leverage[a])

    def _rebalance(self, view: MarketView, qty: FloatArray, target_usd: FloatArray) -> list[Intent]:
        orders: list[Intent] = []
        for a in range(self.n_assets):
            delta = target_usd[a] / view.mark_usd[a] - qty[a]  # coins to trade (NaN: no mark)
            size = round_down_to_lot(abs(delta), view.perp_lot[a])
            if size > 0:
                side = BUY if delta > 0 else SELL
                lev = self._leverage(view, a)
                orders.append(Order(self.account, a, side, size, leverage=lev, isolated=False))
        return orders
