"""Market makers: one account quoting concave perp and spot ladders around this venue's index per
asset (in the `satellite` price discovery, between the index and the outside price).

The maker widens with volatility and risk-off, thins with risk-off and lost capital, skews
against its inventory, pulls its quotes when volatility spikes (returning over
`RAMP_MINUTES`) and hedges net perp + spot inventory with spot market orders.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.base import Intent, Trader
from agents.ladder import (
    basis_fraction,
    level_weights,
    side_ladder,
    skew_fraction,
    spacing_fraction,
)
from model.engine.orders import Order, Quotes
from model.engine.types import FloatArray, OrderKind, Venue
from model.views import AccountsView, MarketView

if TYPE_CHECKING:
    from model.config import AssetConfig
    from model.trader_config import MakerConfig

MAX_INVENTORY_DEPTHS = 3.0
"""Past this multiple of its own per-side depth in net inventory, a maker shrinks the
side that would add to it (a risk limit, assumed)."""
OVER_LIMIT_SIZE = 0.25
"""Share of normal size quoted on the inventory-adding side past the limit (assumed)."""
RAMP_MINUTES = 30
"""Minutes for pulled quotes to return to full depth, linearly (assumed)."""
REPULL_FACTOR = 2.0
"""While the 1-h volatility is still above pull_vol after a pull, quotes are pulled again
only if it reaches this multiple of its level at the last pull (assumed)."""
HEDGE_TRIGGER = 0.5
"""Hedge once |net inventory| exceeds this share of the maker's own per-side depth (assumed)."""
HEDGE_FRACTION = 0.2
"""Share of the net inventory offset per minute by a spot market order (half-life ≈ 3 min;
assumed)."""
HEDGE_MAX_DEPTH = 0.25
"""A hedge order is at most this share of the maker's own per-side depth, USD (assumed): makers
mostly hedge against each other's ladders, so big hedges would only pass inventory around."""


def reference_usd(view: MarketView) -> FloatArray:
    """Return the index per asset, or the fundamental where the index is NaN."""
    return np.where(np.isfinite(view.index_usd), view.index_usd, view.fundamental_usd)


class MarketMaker(Trader):
    """One maker account quoting every asset's perp and spot book.

    Args:
        model: The Mesa model (registration only).
        accounts: The maker's exchange account, `accounts[0]`.
        rng: The agent's random stream (unused: the policy is deterministic).
        cfg: Maker configuration (levels, leverage, skew, widening, pull threshold).
        assets: The asset universe, in market order (depth_usd, spread_bps per asset).
        maker_index: This maker's place among the makers (staggers its requote minutes).
        tether_share: None on a price-setting venue (the default): the ladders are centred
            on the index and the fundamental is never read. A share in [0, 1] makes a
            satellite venue tethered to the outside price (`_centre_shift`).

    Notes:
        Each of the `cfg.n_makers` makers quotes depth_usd / n_makers per side, so together
        they rebuild each asset's configured depth. Per-side depth =
        depth_usd / n_makers · (1 − risk_off) · min(1, capital / initial capital) · ramp, where
        ramp = min(1, (t − last pull) / RAMP_MINUTES): zero at a pull, which happens when vol_1h
        crosses pull_vol from below or reaches REPULL_FACTOR × its level at the last pull;
        capital = equity + spot coins at the reference price and the initial values
        (capital, spot coins + perp position) are those first seen. Inventory = perp + spot
        − (initial spot + initial perp): a maker holding a hedged short from the opening book
        starts flat.
        Hedge: beyond HEDGE_TRIGGER · own depth, a spot market order of −HEDGE_FRACTION ·
        inventory, capped at HEDGE_MAX_DEPTH · own depth, is sent before the ladders. If the
        exchange posts the ladders first, the hedge expires the maker's own fresh spot quotes
        it crosses (self-trade prevention, EXPIRE_MAKER) and fills against other makers.
        Centres: on a price-setting venue both ladders are centred on this venue's index
        (plus the inventory skew), so a price moves only when flow moves the book; on a
        satellite venue (`_centre_shift`) they are centred between the index and the outside
        price. The perp ladder is shifted by (1 + basis_fraction).
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: MakerConfig,
        assets: tuple[AssetConfig, ...],
        maker_index: int = 0,
        tether_share: float | None = None,
    ) -> None:
        super().__init__(model, accounts, rng)
        self.cfg = cfg
        self.maker_index = maker_index
        self.tether_share = tether_share
        self.assets = tuple(assets)
        self.asset_depth_usd = np.array([a.depth_usd for a in self.assets])
        # this maker's share of each asset's per-side depth
        self.depth_usd = self.asset_depth_usd / max(1, cfg.n_makers)
        self.spread_bps = np.array([a.spread_bps for a in self.assets])
        self.weights = level_weights(cfg.levels)
        self.last_pull_minute = np.full(len(self.assets), -np.inf)
        self.pull_vol_level = np.zeros(len(self.assets))
        self.is_pull_armed = np.ones(len(self.assets), dtype=bool)
        self.last_fundamental = np.full(len(self.assets), np.nan)
        self.fair_usd: FloatArray | None = None
        self.start_spot_qty: FloatArray | None = None
        self.start_capital_usd = 0.0

    @property
    def account(self) -> int:
        """The maker's exchange account id."""
        return int(self.account_ids[0])

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Requote every `requote_minutes` (pulls at once) and hedge large inventory."""
        ref = self._fair_value(reference_usd(view))
        self._remember_start(accounts, ref)
        newly_pulled = self._update_pulls(view)
        todo = np.flatnonzero(self.is_due(view.t, view.n_assets) | newly_pulled)
        if todo.size == 0:
            return []
        inventory = self.inventory_qty(accounts)
        hedges = self._hedge_qty(view, inventory, ref, accounts)
        bids, asks, sizes = self._ladders(view, accounts, ref, inventory)
        # hedges first: they should reach the books before the new ladders, or the exchange's
        # self-trade prevention cancels the maker's fresh quotes the hedge would cross
        intents: list[Intent] = [
            self._hedge_order(int(a), float(hedges[a])) for a in todo if hedges[a] != 0
        ]
        perp_usd = np.nan_to_num(accounts.qty[self.account] * ref)
        basis = basis_fraction(perp_usd, self.asset_depth_usd, self.cfg.basis_skew_bps)
        centre = (
            np.ones(view.n_assets)
            if self.tether_share is None
            else self._centre_shift(view, ref, todo)
        )
        for a in todo:
            side_sizes = (sizes[0][a], sizes[1][a])
            intents += self._quotes(
                view,
                int(a),
                bids[a],
                asks[a],
                side_sizes,
                hedges[a],
                accounts,
                basis[a],
                centre[a],
            )
        return intents

    def _fair_value(self, index_usd: FloatArray) -> FloatArray:
        """The maker's fair value: an exponential average of the index, fair ← fair + (index −
        fair) / fair_value_minutes (the index itself at 1).

        Notes:
            A book refilled around a slowly updated fair value makes the impact of one trade
            transient, decaying with half-life ≈ fair_value_minutes · ln 2 (Obizhaeva & Wang
            2013 resilience; literature §4.3: seconds to a minute for BTC, minutes for thin
            coins), while a persistent flow still moves it.
        """
        if self.fair_usd is None or self.cfg.fair_value_minutes <= 1:
            self.fair_usd = np.array(index_usd, dtype=float)
        else:
            fair = self.fair_usd + (index_usd - self.fair_usd) / self.cfg.fair_value_minutes
            self.fair_usd = np.where(np.isfinite(fair), fair, index_usd)
        return self.fair_usd

    def is_due(self, t: int, n_assets: int) -> np.ndarray:
        """Which assets this maker requotes at minute t: every `requote_minutes`, staggered.

        Notes:
            due ⇔ (t + maker index + asset index) mod requote_minutes = 0. Makers and assets
            refresh on different minutes, so the book is never rebuilt all at once: a common
            requote minute moved every mark in a staircase (1-min return ACF at lag 2 ≈ 0.6
            in calm runs).
        """
        phase = self.maker_index + np.arange(n_assets)
        return (t + phase) % self.cfg.requote_minutes == 0

    def _centre_shift(self, view: MarketView, ref: FloatArray, todo: np.ndarray) -> FloatArray:
        """Return a satellite venue's ladder centre over the index per asset; remember F.

        Notes:
            carried = index · F / F_last (the index moved by the fundamental's change F / F_last
            since this maker last quoted the asset; the books have not seen it yet), centre =
            carried · (F / carried)^tether_share. News passes through at once and this
            exchange's own dislocation from the outside price closes by the share
            tether_share (in log terms) per requote. (Centring on index · (F / index)^share
            alone passed only part of each move on and made 1-minute returns autocorrelated,
            ρ(1) ≈ 0.65.)
        """
        fundamental = view.fundamental_usd
        last = self.last_fundamental
        moved = np.where(np.isfinite(last), fundamental / last, 1.0)
        carried = ref * moved
        shift = np.where(
            np.isfinite(fundamental), moved * (fundamental / carried) ** self.tether_share, 1.0
        )
        self.last_fundamental[todo] = fundamental[todo]
        return shift

    def inventory_qty(self, accounts: AccountsView) -> FloatArray:
        """Return net coins per asset: perp qty + spot qty − (spot + perp) at the start."""
        acct = self.account
        return accounts.qty[acct] + accounts.spot_qty[acct] - self.start_spot_qty

    def depth_multiplier(self, view: MarketView, accounts: AccountsView) -> FloatArray:
        """Return (1 − risk_off) · capital scale · ramp per asset (0 while pulled)."""
        ref = reference_usd(view)
        self._remember_start(accounts, ref)
        capital = self._capital_usd(accounts, ref)
        scale = min(1.0, max(0.0, capital / self.start_capital_usd))
        ramp = np.clip((view.t - self.last_pull_minute) / RAMP_MINUTES, 0.0, 1.0)
        return (1.0 - view.risk_off) * scale * ramp

    def _remember_start(self, accounts: AccountsView, ref: FloatArray) -> None:
        # the reference inventory is the net delta first seen: spot coins plus the perp
        # position of the opening book (a hedged short counts as flat)
        if self.start_spot_qty is None:
            acct = self.account
            self.start_spot_qty = np.array(accounts.spot_qty[acct] + accounts.qty[acct], float)
            self.start_capital_usd = max(self._capital_usd(accounts, ref), 1e-12)

    def _capital_usd(self, accounts: AccountsView, ref: FloatArray) -> float:
        spot_usd = np.nan_to_num(accounts.spot_qty[self.account] * ref).sum()
        return float(accounts.equity_usd[self.account] + spot_usd)

    def _update_pulls(self, view: MarketView) -> np.ndarray:
        # pull when the 1-h vol crosses pull_vol (or doubles since the last pull); re-arm once
        # it is back below: the 1-h window lags, so one jump must not keep quotes out an hour
        vol = np.nan_to_num(view.vol_1h)
        is_hot = vol > self.cfg.pull_vol
        pull = is_hot & (self.is_pull_armed | (vol > REPULL_FACTOR * self.pull_vol_level))
        self.last_pull_minute = np.where(pull, view.t, self.last_pull_minute)
        self.pull_vol_level = np.where(pull, vol, self.pull_vol_level)
        self.is_pull_armed = ~is_hot
        return pull

    def _ladders(
        self, view: MarketView, accounts: AccountsView, ref: FloatArray, inventory: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # (assets, levels) raw bid and ask prices and USD sizes, before tick/lot rounding
        spacing = spacing_fraction(self.spread_bps, view.vol_1h, view.risk_off, self.cfg.vol_widen)
        inventory_usd = np.nan_to_num(inventory * ref)
        skew = skew_fraction(inventory_usd, self.asset_depth_usd, spacing, self.cfg.inventory_skew)
        k = np.arange(1, self.cfg.levels + 1)
        bids = ref[:, None] * (1.0 + skew[:, None] - spacing[:, None] * k)
        asks = ref[:, None] * (1.0 + skew[:, None] + spacing[:, None] * k)
        mult = self.depth_multiplier(view, accounts)
        sizes = (self.depth_usd * mult)[:, None] * self.weights[None, :]
        # inventory limit: past MAX_INVENTORY_DEPTHS of its own depth, the side that would
        # add to it is quoted at OVER_LIMIT_SIZE of its size (the skew already moves it away)
        limit = MAX_INVENTORY_DEPTHS * self.depth_usd
        bid_sizes = np.where((inventory_usd > limit)[:, None], OVER_LIMIT_SIZE * sizes, sizes)
        ask_sizes = np.where((inventory_usd < -limit)[:, None], OVER_LIMIT_SIZE * sizes, sizes)
        return bids, asks, (bid_sizes, ask_sizes)

    def _quotes(
        self,
        view: MarketView,
        a: int,
        bids: FloatArray,
        asks: FloatArray,
        sizes_usd: FloatArray,
        hedge_qty: float,
        accounts: AccountsView,
        basis: float = 0.0,
        centre_shift: float = 1.0,
    ) -> list[Intent]:
        free_coins = accounts.spot_qty[self.account, a] + min(hedge_qty, 0.0)
        out: list[Intent] = []
        # Python floats from here on: numpy per call costs more than 6 levels of arithmetic
        bid_list, ask_list = bids.tolist(), asks.tolist()
        bid_usd, ask_usd = sizes_usd[0].tolist(), sizes_usd[1].tolist()
        centre_shift, basis = float(centre_shift), float(basis)
        for venue, tick, lot, shift in (
            (Venue.PERP, view.perp_tick[a], view.perp_lot[a], centre_shift * (1.0 + basis)),
            (Venue.SPOT, view.spot_tick[a], view.spot_lot[a], centre_shift),
        ):
            tick, lot = float(tick), float(lot)
            bid_prices = [b * shift for b in bid_list]
            bid_side = side_ladder(bid_prices, bid_usd, tick, lot, -1, math.inf)
            cap = free_coins if venue == Venue.SPOT else math.inf
            ask_prices = [x * shift for x in ask_list]
            ask_side = side_ladder(ask_prices, ask_usd, tick, lot, 1, cap)
            out.append(Quotes(self.account, a, bid_side, ask_side, self.cfg.leverage, venue))
        return out

    def _hedge_qty(
        self, view: MarketView, inventory: FloatArray, ref: FloatArray, accounts: AccountsView
    ) -> FloatArray:
        # signed spot coins to trade: −HEDGE_FRACTION · inventory once |inventory| is beyond
        # the trigger, at most HEDGE_MAX_DEPTH of own depth, sells capped at the coins held,
        # rounded down to whole lots
        is_large = np.nan_to_num(np.abs(inventory) * ref) > HEDGE_TRIGGER * self.depth_usd
        cap = np.nan_to_num(HEDGE_MAX_DEPTH * self.depth_usd / ref)
        qty = np.clip(np.where(is_large, -HEDGE_FRACTION * inventory, 0.0), -cap, cap)
        qty = np.maximum(qty, -np.maximum(accounts.spot_qty[self.account], 0.0))
        lots = np.floor(np.abs(qty) / view.spot_lot + 1e-9)
        return np.sign(qty) * lots * view.spot_lot

    def _hedge_order(self, a: int, qty: float) -> Order:
        side = 1 if qty > 0 else -1
        return Order(self.account, a, side, abs(qty), OrderKind.MARKET, venue=Venue.SPOT)
