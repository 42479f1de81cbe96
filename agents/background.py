"""Background flow: noise traders, value traders of a satellite venue, the exogenous macro sell
flow, perp–spot arbitrage.

Each class is one exchange account trading every asset with market orders, vectorised over
assets. Arbitrageurs tie the perp to spot with finite capital; on a price-setting venue the
fundamental reaches prices through them and the value investors (agents/value.py) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.base import Intent, Trader
from model.engine.orders import Order
from model.engine.types import FloatArray, Venue
from model.views import AccountsView, MarketView

if TYPE_CHECKING:
    from model.config import AssetConfig
    from model.trader_config import BackgroundConfig

NOISE_LEVERAGE = 2.0
"""Leverage of noise traders' perp orders."""
NOISE_FLAT_MINUTES = 20.0
"""Noise inventory beyond this many mean order sizes is only ever reduced (assumed)."""
VALUE_GAP_SCALE = 100.0
"""1 / 1 %: depth_usd is quoted within 1 %, so a linear book needs ≈ depth_usd·gap/1 % of
flow to move the price by `gap`."""
VALUE_MAX_DEPTHS = 1.0
"""Value orders are capped at this many times the asset's depth per minute (assumed)."""
VALUE_LEVERAGE = 2.0
"""Leverage of the value traders' perp sells (the perp half of the exogenous flow)."""
VALUE_UNWIND_FRACTION = 0.02
"""Share of the perp position bought back each minute without exogenous flow (assumed)."""
DIP_BUYERS_RISK_OFF = 0.5
"""Share of a shock's risk-off by which value buying shrinks (assumed: bids vanished
across venues on 10 Oct 2025, literature §2.4)."""
ARB_LEVERAGE = 3.0


def reference_usd(view: MarketView) -> FloatArray:
    """Return the index per asset, or the fundamental where the index is NaN."""
    return np.where(np.isfinite(view.index_usd), view.index_usd, view.fundamental_usd)


def mid_usd(bid_usd: FloatArray, ask_usd: FloatArray) -> FloatArray:
    """Return (bid + ask) / 2, the one quoted side where the other is empty, else NaN."""
    mid = 0.5 * (bid_usd + ask_usd)
    return np.where(np.isfinite(mid), mid, np.where(np.isfinite(bid_usd), bid_usd, ask_usd))


def floor_lots(qty: FloatArray, lot: FloatArray) -> FloatArray:
    """Return |qty| rounded down to whole lots (lots, not coins); NaN counts as zero."""
    return np.floor(np.nan_to_num(np.abs(qty) / lot) + 1e-9)


class Background(Trader):
    """The base of the background traders and the value investors: one account, the config,
    per-asset depth, first-seen spot coins."""

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: BackgroundConfig,
        assets: tuple[AssetConfig, ...],
    ) -> None:
        super().__init__(model, accounts, rng)
        self.cfg = cfg
        self.assets = tuple(assets)
        self.depth_usd = np.array([a.depth_usd for a in self.assets])
        self.spread = np.array([a.spread_bps for a in self.assets]) * 1e-4
        self.start_spot_qty: FloatArray | None = None

    @property
    def account(self) -> int:
        """The agent's exchange account id."""
        return int(self.account_ids[0])

    def _start_spot(self, accounts: AccountsView) -> FloatArray:
        if self.start_spot_qty is None:
            self.start_spot_qty = np.array(accounts.spot_qty[self.account], dtype=float)
        return self.start_spot_qty

    def _orders(
        self, venue: Venue, sides: FloatArray, qty: FloatArray, lot: FloatArray, **kw: object
    ) -> list[Order]:
        # one market order per asset with at least one whole lot; per-asset keyword arrays
        lots = floor_lots(qty, lot)
        out = []
        for a in np.flatnonzero((lots > 0) & (sides != 0)):
            extra = {k: (v[a] if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
            extra = {k: (bool(v) if isinstance(v, np.bool_) else v) for k, v in extra.items()}
            side, size = int(sides[a]), float(lots[a] * lot[a])
            out.append(Order(self.account, int(a), side, size, venue=venue, **extra))
        return out

    def _spot_sell_cap(
        self, accounts: AccountsView, sides: FloatArray, qty: FloatArray
    ) -> FloatArray:
        # sells never exceed the coins held
        held = np.maximum(accounts.spot_qty[self.account], 0.0)
        return np.where(sides < 0, np.minimum(np.abs(qty), held), np.abs(qty))


class NoiseTraders(Background):
    """Random market orders on every spot and perp book each minute, kept near flat.

    Notes:
        Size in USD ~ Exponential(mean = noise_usd · depth_usd · (1 − risk_off)) per venue
        and asset (sized to the depth makers show), sign ±1
        with equal odds, converted at the reference price (index, else fundamental). Once
        |inventory| exceeds NOISE_FLAT_MINUTES mean sizes the order always reduces it
        (reduce-only on perps; spot inventory is measured from the coins first held).
        Random draws are made every minute whatever the state, so streams stay aligned.
    """

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return one perp and one spot market order per asset (zero-lot ones skipped)."""
        start = self._start_spot(accounts)
        ref = reference_usd(view)
        # sized to the depth the makers show: it thins with the shock's risk-off
        mean_usd = self.cfg.noise_usd * self.depth_usd * (1.0 - view.risk_off)
        size_usd = self.rng_stream.exponential(1.0, size=(2, view.n_assets)) * mean_usd
        signs = self.rng_stream.choice(np.array([-1, 1]), size=(2, view.n_assets))
        limit_usd = NOISE_FLAT_MINUTES * mean_usd
        perp_inv = np.nan_to_num(accounts.qty[self.account] * ref)
        spot_inv = np.nan_to_num((accounts.spot_qty[self.account] - start) * ref)
        perp_closing = np.abs(perp_inv) > limit_usd
        perp_sides = np.where(perp_closing, -np.sign(perp_inv), signs[0])
        spot_sides = np.where(np.abs(spot_inv) > limit_usd, -np.sign(spot_inv), signs[1])
        perp_qty = size_usd[0] / ref
        spot_qty = self._spot_sell_cap(accounts, spot_sides, size_usd[1] / ref)
        return [
            *self._orders(
                Venue.PERP,
                perp_sides,
                perp_qty,
                view.perp_lot,
                leverage=NOISE_LEVERAGE,
                reduce_only=perp_closing,
            ),
            *self._orders(Venue.SPOT, spot_sides, spot_qty, view.spot_lot),
        ]


class ValueTraders(Background):
    """A satellite venue's value traders: pull spot toward the fundamental with deep pockets
    (market orders, no budget) and carry the exogenous macro sell flow.

    Notes:
        gap = (fundamental − spot mid) / fundamental. Beyond a dead band of one level spacing
        (spread_bps) they buy (gap > 0) or sell spot for
        min(value_strength · |gap| · VALUE_GAP_SCALE, VALUE_MAX_DEPTHS) · depth_usd USD:
        the market order a linear book of depth_usd within 1 % needs to close
        value_strength of the gap in one minute. The exogenous flow `exo_sell_usd` is sold
        half on spot, half on the perp (opening a short at VALUE_LEVERAGE), as separate
        orders so it always reaches the books; without flow the perp position is bought
        back at VALUE_UNWIND_FRACTION per minute (half-life ≈ 35 min).
    """

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return the value spot order, the exogenous sells and the perp unwind per asset."""
        mid = mid_usd(view.spot_bid_usd, view.spot_ask_usd)
        gap = np.nan_to_num((view.fundamental_usd - mid) / view.fundamental_usd)
        gap = np.where(np.abs(gap) > self.spread, gap, 0.0)
        scale = np.minimum(
            self.cfg.value_strength * np.abs(gap) * VALUE_GAP_SCALE, VALUE_MAX_DEPTHS
        )
        sides = np.sign(gap)
        # dip buyers step back with the makers in a shock's risk-off
        scale = np.where(sides > 0, scale * (1.0 - DIP_BUYERS_RISK_OFF * view.risk_off), scale)
        value_qty = self._spot_sell_cap(accounts, sides, scale * self.depth_usd / mid)
        exo_usd = np.maximum(np.nan_to_num(view.exo_sell_usd), 0.0)
        sells = -np.ones(view.n_assets)
        # the exogenous spot half sells only the coins the value order leaves
        coins_left = np.maximum(accounts.spot_qty[self.account], 0.0) - (sides < 0) * value_qty
        exo_spot = np.clip(0.5 * exo_usd / mid, 0.0, coins_left)
        return [
            *self._orders(Venue.SPOT, sides, value_qty, view.spot_lot),
            *self._orders(Venue.SPOT, sells, exo_spot, view.spot_lot),
            *self._orders(
                Venue.PERP,
                sells,
                0.5 * exo_usd / reference_usd(view),
                view.perp_lot,
                leverage=VALUE_LEVERAGE,
            ),
            *self._unwind(view, accounts, exo_usd),
        ]

    def _unwind(self, view: MarketView, accounts: AccountsView, exo_usd: FloatArray) -> list:
        # buy back ceil(VALUE_UNWIND_FRACTION · |position|) lots where no flow arrives
        pos = accounts.qty[self.account]
        lots = np.ceil(VALUE_UNWIND_FRACTION * floor_lots(pos, view.perp_lot))
        lots = np.where(exo_usd > 0, 0.0, lots)
        return self._orders(
            Venue.PERP, -np.sign(pos), lots * view.perp_lot, view.perp_lot, reduce_only=True
        )


class Arbitrageurs(Background):
    """Trade the perp–spot gap: sell the rich leg, buy the cheap one, unwind on convergence.

    Notes:
        basis = perp mid / spot mid − 1. If |basis| > arb_threshold they sell the rich perp
        or buy the cheap one, arb_usd · depth_usd USD per minute at the spot mid, with the
        perp exposure capped at `max_depths` · depth_usd (finite capital, Brunnermeier &
        Pedersen 2009); once |basis| < arb_threshold / 2 they buy back / sell the perp
        position (reduce-only) at the same rate. Cross margin, ARB_LEVERAGE.
        The spot leg hedges the perp position this minute's order would leave: spot target =
        coins first held − (perp position + perp order), traded toward at most arb_usd ·
        depth_usd per minute (sells capped at the coins held). A perp order that did not fill
        is corrected the next minute, so the spot leg never drifts from the hedge.
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: BackgroundConfig,
        assets: tuple[AssetConfig, ...],
        max_depths: float | None = None,
    ) -> None:
        super().__init__(model, accounts, rng, cfg, assets)
        self.max_depths = cfg.arb_max_depths if max_depths is None else max_depths

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return the perp and spot legs per asset (entry or unwind)."""
        start = self._start_spot(accounts)
        spot_mid = mid_usd(view.spot_bid_usd, view.spot_ask_usd)
        basis = np.nan_to_num(mid_usd(view.perp_bid_usd, view.perp_ask_usd) / spot_mid - 1.0)
        step_qty = np.nan_to_num(self.cfg.arb_usd * self.depth_usd / spot_mid)
        pos = accounts.qty[self.account]
        is_open = np.abs(basis) > self.cfg.arb_threshold
        is_unwind = (np.abs(basis) < 0.5 * self.cfg.arb_threshold) & (pos != 0)
        perp_sides = np.where(is_open, -np.sign(basis), np.where(is_unwind, -np.sign(pos), 0))
        max_qty = np.nan_to_num(self.max_depths * self.depth_usd / spot_mid)
        open_qty = np.clip(max_qty - perp_sides * pos, 0.0, step_qty)
        perp_qty = np.where(is_open, open_qty, np.minimum(np.abs(pos), step_qty))
        perp_qty = floor_lots(perp_qty, view.perp_lot) * view.perp_lot
        spot_gap = start - (pos + perp_sides * perp_qty) - accounts.spot_qty[self.account]
        spot_sides = np.sign(spot_gap)
        spot_qty = np.minimum(np.abs(spot_gap), step_qty)
        spot_qty = self._spot_sell_cap(accounts, spot_sides, spot_qty)
        return [
            *self._orders(
                Venue.PERP,
                perp_sides,
                perp_qty,
                view.perp_lot,
                leverage=ARB_LEVERAGE,
                isolated=False,
                reduce_only=is_unwind,
            ),
            *self._orders(Venue.SPOT, spot_sides, spot_qty, view.spot_lot),
        ]


class MacroSellers(Background):
    """The exogenous macro sell flow of a shock on a price-setting venue, spot and perp.

    Notes:
        `exo_sell_usd` per minute (USD per asset, during shocks) is sold by market orders,
        half from the coins held on spot, half on the perp (opening a short at
        VALUE_LEVERAGE); without flow the perp short is bought back at VALUE_UNWIND_FRACTION
        per minute (half-life ≈ 35 min).
    """

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return the spot and perp sells of this minute's flow, or the perp unwind."""
        ref = reference_usd(view)
        exo_usd = np.maximum(np.nan_to_num(view.exo_sell_usd), 0.0)
        sells = -np.ones(view.n_assets)
        coins = np.minimum(0.5 * exo_usd / ref, np.maximum(accounts.spot_qty[self.account], 0))
        pos = accounts.qty[self.account]
        unwind = np.ceil(VALUE_UNWIND_FRACTION * floor_lots(pos, view.perp_lot))
        unwind = np.where(exo_usd > 0, 0.0, unwind)
        return [
            *self._orders(Venue.SPOT, sells, coins, view.spot_lot),
            *self._orders(
                Venue.PERP, sells, 0.5 * exo_usd / ref, view.perp_lot, leverage=VALUE_LEVERAGE
            ),
            *self._orders(
                Venue.PERP, -np.sign(pos), unwind * view.perp_lot, view.perp_lot, reduce_only=True
            ),
        ]
