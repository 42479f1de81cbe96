"""Value investors on a price-setting venue: latent liquidity around the fundamental, with
finite money for buying below it.

The fundamental reaches this venue's prices only through agents like these (Thurner, Farmer &
Geanakoplos 2012: value investors with finite wealth). Their demand is revealed as limit
orders around value, a latent order book (Tóth et al. 2011) whose depth grows with the
discount, so the square-root impact law holds for large sales; it is there when makers
withdraw, but only as deep as their money: a fall below value spends it, level by level, and
each level refills slowly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from agents.background import Background
from agents.base import Intent
from model.engine.orders import Order, Quotes
from model.engine.types import FloatArray, OrderKind, Venue
from model.views import AccountsView, MarketView

if TYPE_CHECKING:
    from model.config import AssetConfig
    from model.trader_config import BackgroundConfig

LEVEL_RATIO = 2.0**0.5
"""Each level of the value ladder is √2 times as far from value as the one before (assumed)."""
OUTER = 0.64
"""The farthest level's distance from value (64 %: long-tail perps fell 50–80 %, §7.1)."""
REFERENCE_DISTANCE = 0.10
"""`AssetConfig.latent_depths` is the bid depth within this distance below value."""
PERP_SHARE = 0.5
"""Share of the latent bids placed on the perp, the rest on spot (assumed: in 2025 crypto
prices were set by derivatives, seeds; value buyers take whichever is cheaper)."""


def ladder_distances(inner: float) -> FloatArray:
    """Return each level's distance from value: inner · √2^j up to OUTER (fractions).

    Example: inner 0.5 % → 0.5, 0.71, 1, 1.41, …, 45.3, 64 % (15 levels).
    """
    n = int(np.floor(np.log(OUTER / inner) / np.log(LEVEL_RATIO) + 1e-9)) + 1
    return inner * LEVEL_RATIO ** np.arange(n)


def bid_depths(distances: FloatArray, latent_depths: float, exponent: float) -> FloatArray:
    """Return each bid level's size in depths: the latent book's cumulative depth
    C(x) = latent_depths · (u + u^exponent) / 2, u = x / REFERENCE_DISTANCE, differenced over
    the levels.

    Notes:
        Near value the density is flat (impact linear in size, Kyle 1985); far from it, with
        exponent 2, it grows with the distance, a V-shaped latent book that gives the
        square-root impact law for large sales (Tóth et al. 2011; Donier & Bonart 2015 for
        Bitcoin): deeper discounts draw more buyers, so a fall slows as it deepens.
        C(REFERENCE_DISTANCE) = latent_depths. Example, latent_depths 10, exponent 2:
        C(1 %) = 0.55, C(10 %) = 10, C(20 %) = 30, C(40 %) = 100 depths.
    """
    u = distances / REFERENCE_DISTANCE
    cumulative = latent_depths * 0.5 * (u + u**exponent)
    return np.diff(np.concatenate(([0.0], cumulative)))


def ask_shares(distances: FloatArray) -> FloatArray:
    """Return each ask level's share of the coins offered above value: equal, summing to 1.

    Holders sell readily above value (concave: as much between 1 % and 1.41 % as between 32 %
    and 45 %), so news that lowers value reaches the price at once; only buying below value
    is capital-constrained (assumed).
    """
    return np.full(len(distances), 1.0 / len(distances))


class ValueInvestors(Background):
    """Bid below value on spot and perp from a latent book that fills and refills level by
    level; offer above value what they hold.

    Args:
        latent_depths: Per asset, the bids within REFERENCE_DISTANCE below value, in depths
            (`AssetConfig.latent_depths`): how deep the money waiting below value is.
        refill_minutes: Minutes for an emptied level to refill from new money.
        inner: Distance of the nearest level from value (fraction).
        exponent: Shape of the latent book (`bid_depths`).
        (the rest as `Background`)

    Notes:
        Each minute, per asset, with V the fundamental and levels at V · (1 ∓ d_j)
        (`ladder_distances`):

        - bids: per book (spot, and the perp at 1x with PERP_SHARE of it), each level holds
          a stock of USD, full at its cap `bid_depths` · depth_usd; what was bought on a book
          since the last minute (Δcoins · V) empties its levels nearest value first (a falling
          price meets them in that order), what was sold refills them nearest first, and
          every level refills by cap / refill_minutes a minute (new money);
        - asks: the spot coins, and the long perp position (they never short it), spread
          equally over the levels above value (`ask_shares`);
        - levels that would cross the book are sent as limit orders at their own prices: they
          take what the book offers up to their price and rest the rest (news reaches the
          price: when V falls below the bids, the investors sell into them down to
          V · (1 + inner) and then offer there); the others rest as a ladder (`Quotes`, which
          skips crossing levels). The next minute's ladder replaces all of them.
    """

    def __init__(
        self,
        model: mesa.Model,
        accounts: np.ndarray,
        rng: np.random.Generator,
        cfg: BackgroundConfig,
        assets: tuple[AssetConfig, ...],
        latent_depths: FloatArray,
        refill_minutes: float,
        inner: float,
        exponent: float,
    ) -> None:
        super().__init__(model, accounts, rng, cfg, assets)
        self.distances = ladder_distances(inner)
        self.shares = ask_shares(self.distances)
        per_asset = np.asarray(latent_depths, float) * self.depth_usd
        levels = np.outer(per_asset, bid_depths(self.distances, 1.0, exponent))
        # (book, asset, level): book 0 spot, 1 perp
        self.caps_usd = np.stack([(1.0 - PERP_SHARE) * levels, PERP_SHARE * levels])
        self.stock_usd = self.caps_usd.copy()
        self.refill_minutes = refill_minutes
        self.last_held: FloatArray | None = None

    def decide(self, view: MarketView, accounts: AccountsView) -> list[Intent]:
        """Return the value ladders and their crossing part, per asset and book."""
        value = view.fundamental_usd
        coins = np.maximum(np.array(accounts.spot_qty[self.account], dtype=float), 0.0)
        longs = np.maximum(np.array(accounts.qty[self.account], dtype=float), 0.0)
        held = np.stack([coins, longs])
        self._update_stock(held, value)
        intents: list[Intent] = []
        for a in range(view.n_assets):
            for book, venue in enumerate((Venue.SPOT, Venue.PERP)):
                bids_usd = self.stock_usd[book, a]
                intents += self._ladder(view, a, venue, value[a], bids_usd, held[book, a])
        return intents

    def _update_stock(self, held: FloatArray, value: FloatArray) -> None:
        # bought (+) empties levels nearest value first, sold (−) refills them, then new money
        traded_usd = np.nan_to_num(
            (held - (held if self.last_held is None else self.last_held)) * value
        )
        self.last_held = held
        stock = self.stock_usd - _nearest_first(self.stock_usd, np.maximum(traded_usd, 0.0))
        room = self.caps_usd - stock
        stock = stock + _nearest_first(room, np.maximum(-traded_usd, 0.0))
        self.stock_usd = np.minimum(self.caps_usd, stock + self.caps_usd / self.refill_minutes)

    def _ladder(
        self,
        view: MarketView,
        a: int,
        venue: Venue,
        value: float,
        bids_usd: FloatArray,
        held: float,
    ) -> list[Intent]:
        is_spot = venue == Venue.SPOT
        lot = float((view.spot_lot if is_spot else view.perp_lot)[a])
        tick = float((view.spot_tick if is_spot else view.perp_tick)[a])
        best_bid = (view.spot_bid_usd if is_spot else view.perp_bid_usd)[a]
        best_ask = (view.spot_ask_usd if is_spot else view.perp_ask_usd)[a]
        bid_px = value * (1.0 - self.distances)
        ask_px = value * (1.0 + self.distances)
        bid_qty = np.floor(bids_usd / bid_px / lot + 1e-9) * lot
        ask_qty = np.floor(held * self.shares / lot + 1e-9) * lot
        sells = ask_px <= best_bid  # NaN best: nothing crosses
        buys = bid_px >= best_ask
        sides = ((-1, sells, ask_px, ask_qty), (1, buys, bid_px, bid_qty))
        out: list[Intent] = [
            Order(self.account, a, side, q, OrderKind.LIMIT, p, leverage=1.0, venue=venue)
            for side, crossing, prices, qtys in sides
            for p, q in _levels(_on_grid(prices[crossing], tick, side), qtys[crossing])
        ]
        bids = _resting(bid_px, bid_qty, buys)
        asks = _resting(ask_px, ask_qty, sells)
        out.append(Quotes(self.account, a, bids, asks, 1.0, venue))
        return out


def _nearest_first(amounts: FloatArray, total: FloatArray) -> FloatArray:
    """Split `total` (per leading index) over the last axis of `amounts`, first entries first:
    take_j = clip(total − Σ_{i<j} amounts_i, 0, amounts_j)."""
    before = np.cumsum(amounts, axis=-1) - amounts
    return np.clip(total[..., None] - before, 0.0, amounts)


def _levels(prices: list[float], qtys: FloatArray) -> list[tuple[float, float]]:
    # (price, qty) of the non-empty levels
    return [(p, q) for p, q in zip(prices, qtys.tolist(), strict=True) if q > 0]


def _resting(prices: FloatArray, qtys: FloatArray, crossing: np.ndarray) -> tuple:
    # the levels left to rest: non-empty and not crossing the book
    keep = (qtys > 0) & ~crossing
    return tuple(zip(prices[keep].tolist(), qtys[keep].tolist(), strict=True))


def _on_grid(prices: FloatArray, tick: float, side: int) -> list[float]:
    # limit prices rounded onto the tick grid on the safe side: sells up, buys down
    rounded = np.ceil(prices / tick - 1e-9) if side < 0 else np.floor(prices / tick + 1e-9)
    return (rounded * tick).tolist()
