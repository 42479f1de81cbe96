"""Market-maker policy (agents/market_maker.py): ladders from hand-built views, then the engine.

Setup: two assets, BTC at 100,000 USD (tick 0.1, lot 0.001, depth 2M USD, 2 bp spacing) and
ALT at 1 USD (tick 0.0001, lot 1, depth 100k USD, 10 bp spacing); two makers of four levels,
so each quotes 1M USD (BTC) and 50k USD (ALT) per side. A maker's reference inventory is the
net delta it first sees (spot + perp), so inventory tests let it first see the flat account
(`flat_maker`); a venue maker (the default) quotes around the index only, a satellite maker
(`tether_share`) between the index and the outside price.
"""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
import pytest

from agents.ladder import DEPTH_EXPONENT, MAX_BASIS, MAX_SKEW_LEVELS, basis_fraction, level_weights
from agents.market_maker import RAMP_MINUTES, MarketMaker
from model.config import AssetConfig
from model.engine.exchange import Exchange
from model.engine.orders import Order, Quotes
from model.engine.specs import SpotSpec, btc_perp
from model.engine.types import BUY, SELL, OrderKind, Venue
from model.trader_config import MakerConfig
from model.views import AccountsView, MarketView

BTC_USD, ALT_USD = 100_000.0, 1.0
ASSETS = (
    AssetConfig("BTC", BTC_USD, "major", depth_usd=2_000_000.0, spread_bps=2.0),
    AssetConfig("ALT", ALT_USD, "alt", depth_usd=100_000.0, spread_bps=10.0),
)
MAKER_CFG = MakerConfig(
    n_makers=2,
    levels=4,
    leverage=5.0,
    inventory_skew=0.5,
    vol_widen=1_000.0,
    pull_vol=0.004,
    basis_skew_bps=0.0,  # the perp's basis shift has its own tests
    requote_minutes=1,
)
START_SPOT = (50.0, 500_000.0)
"""Coins the maker holds at the start (BTC, ALT)."""
EQUITY_USD = 10_000_000.0
W1 = 0.25**DEPTH_EXPONENT
"""Share of one side's depth at level 1 of 4: (1/4)^0.6721 = 0.39387."""


def make_view(t: int = 0, **overrides: object) -> MarketView:
    """A calm two-asset market: every price at the index, books 1 bp wide, no vol, no shock."""
    index = np.array([BTC_USD, ALT_USD])
    fields = {
        "t": t,
        "symbols": ("BTC", "ALT"),
        "fundamental_usd": index.copy(),
        "index_usd": index.copy(),
        "mark_usd": index.copy(),
        "spot_bid_usd": index * (1 - 1e-4),
        "spot_ask_usd": index * (1 + 1e-4),
        "perp_bid_usd": index * (1 - 1e-4),
        "perp_ask_usd": index * (1 + 1e-4),
        "funding_rate": np.full(2, 1e-4),
        "premium": np.zeros(2),
        "return_15m": np.zeros(2),
        "vol_1h": np.zeros(2),
        "risk_off": 0.0,
        "exo_sell_usd": np.zeros(2),
        "perp_tick": np.array([0.1, 0.0001]),
        "perp_lot": np.array([0.001, 1.0]),
        "spot_tick": np.array([0.01, 0.0001]),
        "spot_lot": np.array([0.0001, 1.0]),
        "max_leverage": np.array([125.0, 50.0]),
    }
    fields.update(overrides)
    return MarketView(**fields)  # type: ignore[arg-type]


def make_accounts(
    qty: tuple[float, float] = (0.0, 0.0),
    spot_qty: tuple[float, float] = START_SPOT,
    equity_usd: float = EQUITY_USD,
) -> AccountsView:
    """One account (row 0) with the given perp position, spot coins and equity."""
    return AccountsView(
        collateral_usd=np.array([equity_usd]),
        qty=np.array([qty], dtype=float),
        entry_price_usd=np.array([[BTC_USD, ALT_USD]]),
        spot_qty=np.array([spot_qty], dtype=float),
        equity_usd=np.array([equity_usd]),
        is_isolated=np.zeros((1, 2), dtype=bool),
    )


def make_maker(
    cfg: MakerConfig = MAKER_CFG, seed: int = 0, tether_share: float | None = None
) -> MarketMaker:
    """A maker on account 0 of a tiny Mesa model (a venue maker unless `tether_share`)."""
    return MarketMaker(
        mesa.Model(rng=0),
        np.array([0]),
        np.random.default_rng(seed),
        cfg,
        ASSETS,
        tether_share=tether_share,
    )


def flat_maker(cfg: MakerConfig = MAKER_CFG) -> MarketMaker:
    """A maker that has quoted once at t = 0 from the flat account (START_SPOT, no perp), so
    any later position counts as inventory; call it from t = 1 on."""
    maker = make_maker(cfg)
    maker.decide(make_view(), make_accounts())
    return maker


def quotes_of(intents: list, market: int, venue: Venue) -> Quotes:
    """The one Quotes of a book among the intents."""
    found = [q for q in intents if isinstance(q, Quotes) and (q.market, q.venue) == (market, venue)]
    assert len(found) == 1, f"expected one ladder for {venue} {market}, got {found}"
    return found[0]


def side_usd(levels: tuple[tuple[float, float], ...]) -> float:
    """Notional of one ladder side, USD."""
    return sum(p * q for p, q in levels)


# ---------------------------------------------------------------------------------------------
# pure helpers
# ---------------------------------------------------------------------------------------------
def test_level_weights_concave_and_sum_to_one() -> None:
    w = level_weights(4)
    # (k/4)^0.6721 − ((k−1)/4)^0.6721: 0.39387, 0.62759 − 0.39387, 0.82419 − 0.62759, 1 − 0.82419
    np.testing.assert_allclose(w, [0.39387, 0.23372, 0.19660, 0.17581], atol=1e-5)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0), "cumulative depth must be concave in distance"


# ---------------------------------------------------------------------------------------------
# ladders from hand-built views
# ---------------------------------------------------------------------------------------------
def test_one_perp_and_one_spot_ladder_per_asset_with_configured_levels() -> None:
    intents = make_maker().decide(make_view(), make_accounts())
    assert len(intents) == 4  # 2 assets × (perp, spot), no hedge when flat
    for a in (0, 1):
        for venue in (Venue.PERP, Venue.SPOT):
            q = quotes_of(intents, a, venue)
            assert (q.account, q.leverage) == (0, 5.0)
            assert len(q.bids) == len(q.asks) == MAKER_CFG.levels


def test_flat_ladder_golden_prices_and_sizes() -> None:
    q = quotes_of(make_maker().decide(make_view(), make_accounts()), 0, Venue.PERP)
    # level k at 100,000 · (1 ∓ 0.0002·k): bids 99,980 … 99,920, asks 100,020 … 100,080
    np.testing.assert_allclose([p for p, _ in q.bids], [99_980, 99_960, 99_940, 99_920])
    np.testing.assert_allclose([p for p, _ in q.asks], [100_020, 100_040, 100_060, 100_080])
    # level 1: 2M / 2 makers · 0.39387 = 393,873.5 USD / 99,980 = 3.9395 BTC → 3.939 (lots 0.001)
    assert q.bids[0][1] == pytest.approx(3.939)
    # level 1 ask: 393,873.5 / 100,020 = 3.93795 → 3.937
    assert q.asks[0][1] == pytest.approx(3.937)
    # each side ≈ 1M USD, short of it by < 1 lot (100 USD) per level
    assert 1_000_000 - 4 * 101 < side_usd(q.bids) <= 1_000_000
    assert 1_000_000 - 4 * 101 < side_usd(q.asks) <= 1_000_000


def test_flat_ladder_symmetric_around_index() -> None:
    intents = make_maker().decide(make_view(), make_accounts())
    for a, index in ((0, BTC_USD), (1, ALT_USD)):
        for venue in (Venue.PERP, Venue.SPOT):
            q = quotes_of(intents, a, venue)
            for (bid, bid_qty), (ask, ask_qty) in zip(q.bids, q.asks, strict=True):
                assert index - bid == pytest.approx(ask - index, rel=1e-9)
                lot_usd = (0.001 if a == 0 else 1.0) * ask
                assert abs(bid * bid_qty - ask * ask_qty) <= lot_usd + 1e-6


def test_alt_ladder_uses_its_own_spacing_and_depth() -> None:
    q = quotes_of(make_maker().decide(make_view(), make_accounts()), 1, Venue.SPOT)
    # 10 bp on 1 USD: bids 0.9990, 0.9980, …; level 1: 50,000 · 0.39387 / 0.999 = 19,713.4 → 19,713
    assert q.bids[0] == pytest.approx((0.999, 19_713.0))
    assert q.asks[3][0] == pytest.approx(1.004)


def test_spacing_widens_with_vol() -> None:
    view = make_view(vol_1h=np.array([0.001, 0.0]))
    q = quotes_of(make_maker().decide(view, make_accounts()), 0, Venue.PERP)
    # 2 bp · (1 + 1,000 · 0.001) = 4 bp: bid 1 at 99,960, ask 4 at 100,160
    assert q.bids[0][0] == pytest.approx(99_960.0)
    assert q.asks[3][0] == pytest.approx(100_160.0)
    calm = quotes_of(make_maker().decide(make_view(), make_accounts()), 1, Venue.PERP)
    alt = quotes_of(make_maker().decide(view, make_accounts()), 1, Venue.PERP)
    assert alt.bids == calm.bids, "a calm asset keeps its spacing"


def test_risk_off_widens_and_thins() -> None:
    view = make_view(risk_off=0.5)
    q = quotes_of(make_maker().decide(view, make_accounts()), 0, Venue.PERP)
    # spacing 2 bp · (1 + 4 · 0.5) = 6 bp: bid 1 at 99,940; depth 1M · (1 − 0.5) = 500k
    assert q.bids[0][0] == pytest.approx(99_940.0)
    assert side_usd(q.bids) == pytest.approx(500_000, rel=1e-3)
    assert side_usd(q.asks) == pytest.approx(500_000, rel=1e-3)


def test_full_risk_off_empties_the_ladders() -> None:
    intents = make_maker().decide(make_view(risk_off=1.0), make_accounts())
    assert all(q.bids == () and q.asks == () for q in intents)


def test_pull_above_pull_vol_then_linear_ramp_back() -> None:
    maker, accts = make_maker(), make_accounts()
    hot = make_view(t=10, vol_1h=np.array([0.005, 0.0]))  # 0.005 > pull_vol 0.004
    intents = maker.decide(hot, accts)
    pulled = quotes_of(intents, 0, Venue.PERP)
    assert pulled.bids == pulled.asks == quotes_of(intents, 0, Venue.SPOT).asks == ()
    assert len(quotes_of(intents, 1, Venue.PERP).bids) == 4, "ALT is calm and keeps quoting"
    depths = []
    for t in (11, 25, 40, 41):
        depths.append(side_usd(quotes_of(maker.decide(make_view(t=t), accts), 0, Venue.PERP).bids))
    # ramp (t − 10) / 30: 1/30, 15/30, 30/30, capped at 1 → 33.3k, 500k, 1M, 1M USD, each
    # short by < 1 lot (≈ 100 USD) per level
    np.testing.assert_allclose(depths, [1e6 / RAMP_MINUTES, 5e5, 1e6, 1e6], atol=4 * 101)


def test_pull_is_not_renewed_by_the_lagging_hour_window() -> None:
    maker, accts = make_maker(), make_accounts()
    sticky = np.array([0.005, 0.0])  # stays above pull_vol 0.004 for the whole hour
    assert quotes_of(maker.decide(make_view(t=0, vol_1h=sticky), accts), 0, Venue.PERP).bids == ()
    later = quotes_of(maker.decide(make_view(t=15, vol_1h=sticky), accts), 0, Venue.PERP)
    # ramp 15/30 with spacing 2 bp · (1 + 1,000 · 0.005) = 12 bp: half of 1M USD
    assert side_usd(later.bids) == pytest.approx(500_000, abs=4 * 101)
    assert later.bids[0][0] == pytest.approx(99_880.0)
    doubled = np.array([0.0101, 0.0])  # > 2 × 0.005 since the last pull → pulled again
    assert quotes_of(maker.decide(make_view(t=16, vol_1h=doubled), accts), 0, Venue.PERP).bids == ()
    maker.decide(make_view(t=17), accts)  # calm again: re-armed
    assert quotes_of(maker.decide(make_view(t=18, vol_1h=sticky), accts), 0, Venue.PERP).bids == ()


def test_vol_widening_capped() -> None:
    maker = make_maker(dataclasses.replace(MAKER_CFG, pull_vol=1.0))
    view = make_view(vol_1h=np.array([0.05, 0.0]))
    # min(1 + 1,000 · 0.05, 10) · 2 bp = 20 bp: bid 1 at 99,800
    assert quotes_of(maker.decide(view, make_accounts()), 0, Venue.PERP).bids[0][0] == 99_800.0


def test_requote_interval_is_staggered_and_pulls_are_immediate() -> None:
    maker = make_maker(dataclasses.replace(MAKER_CFG, requote_minutes=5))
    # due ⇔ (t + maker index + asset) mod 5 = 0: maker 0 requotes asset 0 at t = 0, asset 1 at 4
    assert {q.market for q in maker.decide(make_view(t=0), make_accounts())} == {0}
    assert maker.decide(make_view(t=3), make_accounts()) == []
    assert {q.market for q in maker.decide(make_view(t=4), make_accounts())} == {1}
    # asset 1 is not due at t = 6 ((6 + 1) mod 5 = 2) but its vol crosses pull_vol: pulled now
    hot = make_view(t=6, vol_1h=np.array([0.0, 0.01]))
    intents = maker.decide(hot, make_accounts())
    assert [(q.market, q.bids, q.asks) for q in intents] == [(1, (), ())] * 2
    # a second maker is one minute ahead: asset 0 at t = 4
    second = MarketMaker(
        mesa.Model(rng=0),
        np.array([0]),
        np.random.default_rng(0),
        dataclasses.replace(MAKER_CFG, requote_minutes=5),
        ASSETS,
        maker_index=1,
    )
    assert {q.market for q in second.decide(make_view(t=4), make_accounts())} == {0}


def test_long_inventory_lowers_both_sides() -> None:
    # long 2 BTC perp (200k USD, below the 500k hedge trigger):
    # skew = −0.5 · 200,000 / 2,000,000 · 2 bp = −0.1 bp → every price 1 USD lower
    q = quotes_of(flat_maker().decide(make_view(t=1), make_accounts(qty=(2.0, 0.0))), 0, Venue.PERP)
    np.testing.assert_allclose([p for p, _ in q.bids], [99_979, 99_959, 99_939, 99_919])
    np.testing.assert_allclose([p for p, _ in q.asks], [100_019, 100_039, 100_059, 100_079])
    # a full depth of inventory (20 BTC = 2M USD) shifts by half a spacing: 0.5 · 2 bp = 10 USD
    # (and triggers a hedge)
    big = flat_maker().decide(make_view(t=1), make_accounts(qty=(20.0, 0.0)))
    assert quotes_of(big, 0, Venue.PERP).asks[0][0] == pytest.approx(100_010.0)


def test_basis_fraction_prices_the_perp_inventory_carried() -> None:
    # short 3 depths of perp at 3 bp per depth: perp quoted 9 bp rich; long → cheap; capped
    depth = np.array([1e6, 1e6, 1e6])
    got = basis_fraction(np.array([-3e6, 2e6, -1e12]), depth, 3.0)
    np.testing.assert_allclose(got, [9e-4, -6e-4, MAX_BASIS])


def test_short_perp_maker_quotes_the_perp_rich_and_leaves_spot_alone() -> None:
    # short 20 BTC perp = 2M USD = 1 depth (2M) → basis = 3 bp · 1 = +3 bp on the perp ladder
    # (the basis is priced on the perp position itself, hedged or not);
    # the perp's best bid moves from the unshifted ladder's by a factor 1.0003 (± one tick)
    cfg = dataclasses.replace(MAKER_CFG, basis_skew_bps=3.0)
    accts = make_accounts(qty=(-20.0, 0.0))
    plain = quotes_of(make_maker().decide(make_view(), accts), 0, Venue.PERP)
    rich = quotes_of(make_maker(cfg).decide(make_view(), accts), 0, Venue.PERP)
    assert rich.bids[0][0] == pytest.approx(plain.bids[0][0] * 1.0003, abs=1.0)
    assert rich.asks[0][0] == pytest.approx(plain.asks[0][0] * 1.0003, abs=1.0)
    spot_plain = quotes_of(make_maker().decide(make_view(), accts), 0, Venue.SPOT)
    spot_rich = quotes_of(make_maker(cfg).decide(make_view(), accts), 0, Venue.SPOT)
    assert spot_rich.bids == spot_plain.bids


def test_venue_maker_quotes_around_the_index_and_never_reads_the_fundamental() -> None:
    calm = make_maker().decide(make_view(), make_accounts())
    for fundamental in (0.9 * BTC_USD, 1.2 * BTC_USD, np.nan):
        view = make_view(fundamental_usd=np.array([fundamental, ALT_USD]))
        maker = make_maker()
        first = maker.decide(view, make_accounts())
        again = maker.decide(dataclasses.replace(view, t=1), make_accounts())
        for venue in (Venue.SPOT, Venue.PERP):
            assert quotes_of(first, 0, venue) == quotes_of(calm, 0, venue)
            assert quotes_of(again, 0, venue) == quotes_of(calm, 0, venue)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_satellite_ladders_close_part_of_the_gap_to_the_fundamental(share: float) -> None:
    calm = make_maker(tether_share=share).decide(make_view(), make_accounts())
    # first quote, fundamental 10 % under the index: nothing carried yet (F_last unknown), so
    # centre = index · 0.9^share: share 0 stays at the index, 0.5 → × 0.94868, 1 → × 0.9;
    # both ladders, ± one tick
    lagging = make_view(fundamental_usd=np.array([0.9 * BTC_USD, ALT_USD]))
    gap = make_maker(tether_share=share).decide(lagging, make_accounts())
    for venue in (Venue.SPOT, Venue.PERP):
        want = 0.9**share * quotes_of(calm, 0, venue).bids[0][0]
        assert quotes_of(gap, 0, venue).bids[0][0] == pytest.approx(want, abs=0.11)


def test_satellite_passes_the_fundamentals_move_through_at_once() -> None:
    calm = make_maker().decide(make_view(), make_accounts())
    # quoted at the fundamental at t = 0; it falls 2 % by t = 1 while the index stands still:
    # carried = index · 0.98 = the fundamental, so the whole move passes through
    maker = make_maker(tether_share=0.5)
    maker.decide(make_view(), make_accounts())
    news = maker.decide(
        make_view(t=1, fundamental_usd=np.array([0.98 * BTC_USD, ALT_USD])), make_accounts()
    )
    for venue in (Venue.SPOT, Venue.PERP):
        want = 0.98 * quotes_of(calm, 0, venue).bids[0][0]
        assert quotes_of(news, 0, venue).bids[0][0] == pytest.approx(want, abs=0.11)


def test_fair_value_is_an_exponential_average_of_the_index() -> None:
    """Setup: fair_value_minutes 4; the index jumps from 100,000 to 100,400 at t = 1 and stays."""
    maker = make_maker(dataclasses.replace(MAKER_CFG, fair_value_minutes=4.0))
    maker.decide(make_view(), make_accounts())  # fair = the first index, 100,000
    moved = {"index_usd": np.array([100_400.0, ALT_USD])}
    q = quotes_of(maker.decide(make_view(t=1, **moved), make_accounts()), 0, Venue.PERP)
    # fair = 100,000 + (100,400 − 100,000) / 4 = 100,100: bid 1 at 100,100 · (1 − 0.0002)
    # = 100,079.98 → down to the 0.1 tick 100,079.9; ask 1 at 100,120.02 → up to 100,120.1
    assert (q.bids[0][0], q.asks[0][0]) == pytest.approx((100_079.9, 100_120.1))
    # t = 2: fair = 100,100 + 300 / 4 = 100,175 → bid 1 at 100,154.965 → 100,154.9
    q = quotes_of(maker.decide(make_view(t=2, **moved), make_accounts()), 0, Venue.PERP)
    assert q.bids[0][0] == pytest.approx(100_154.9)


def test_fair_value_of_one_minute_is_the_index_itself() -> None:
    maker = make_maker()  # fair_value_minutes = 1 (the default)
    maker.decide(make_view(), make_accounts())
    moved = make_view(t=1, index_usd=np.array([100_400.0, ALT_USD]))
    q = quotes_of(maker.decide(moved, make_accounts()), 0, Venue.PERP)
    # 100,400 · (1 − 0.0002) = 100,379.92 → 100,379.9
    assert q.bids[0][0] == pytest.approx(100_379.9)


def test_a_hedged_short_held_from_the_start_is_flat_inventory() -> None:
    """Setup: the opening book left the maker short 20 BTC perp against 20 BTC of extra spot
    (70 instead of 50): net delta 0, so no hedge and no skew; buying 2 BTC of the short back
    leaves +2 BTC of inventory."""
    maker = make_maker()
    opening = make_accounts(qty=(-20.0, 0.0), spot_qty=(70.0, START_SPOT[1]))
    intents = maker.decide(make_view(), opening)
    flat = quotes_of(make_maker().decide(make_view(), make_accounts()), 0, Venue.PERP)
    np.testing.assert_array_equal(maker.inventory_qty(opening), [0.0, 0.0])
    assert not [o for o in intents if isinstance(o, Order)], "a hedged book needs no hedge"
    assert [p for p, _ in quotes_of(intents, 0, Venue.PERP).bids] == [p for p, _ in flat.bids]
    # −18 + 70 − (70 − 20) = +2 BTC: the same −1 USD skew as 2 BTC of perp from flat
    reduced = make_accounts(qty=(-18.0, 0.0), spot_qty=(70.0, START_SPOT[1]))
    np.testing.assert_allclose(maker.inventory_qty(reduced), [2.0, 0.0])
    q = quotes_of(maker.decide(make_view(t=1), reduced), 0, Venue.PERP)
    assert q.bids[0][0] == pytest.approx(99_979.0)


def test_spot_inventory_above_start_counts_as_long() -> None:
    maker = make_maker()
    maker.decide(make_view(), make_accounts())  # remembers 50 BTC at the start
    accts = make_accounts(spot_qty=(START_SPOT[0] + 2.0, START_SPOT[1]))
    q = quotes_of(maker.decide(make_view(t=1), accts), 0, Venue.SPOT)
    assert q.bids[0][0] == pytest.approx(99_979.0)  # same −1 USD skew as 2 BTC of perp


def test_skew_is_capped() -> None:
    accts = make_accounts(qty=(0.0, -40_000_000.0))  # short 40M ALT vs 100k depth
    q = quotes_of(flat_maker().decide(make_view(t=1), accts), 1, Venue.PERP)
    # capped at +3 spacings of 10 bp: bid 1 at 1 + 0.003 − 0.001 = 1.0020
    assert q.bids[0][0] == pytest.approx(1.0 + (MAX_SKEW_LEVELS - 1) * 0.001)


def test_spot_hedge_when_perp_inventory_large() -> None:
    intents = flat_maker().decide(make_view(t=1), make_accounts(qty=(8.0, 0.0)))
    hedges = [o for o in intents if isinstance(o, Order)]
    # 8 BTC = 800k USD > 0.5 · 1M trigger → sell 0.2 · 8 = 1.6 BTC (160k < 0.25 · 1M cap)
    assert hedges == [Order(0, 0, SELL, 1.6, OrderKind.MARKET, venue=Venue.SPOT)]
    assert intents[0] is hedges[0], "the hedge comes before the ladders it could cross"
    spot = quotes_of(intents, 0, Venue.SPOT)
    assert sum(q for _, q in spot.asks) <= START_SPOT[0] - 1.6


def test_short_perp_hedged_by_capped_spot_buy_and_small_inventory_not_hedged() -> None:
    intents = flat_maker().decide(make_view(t=1), make_accounts(qty=(0.0, -200_000.0)))
    # −200k ALT = 200k USD > 0.5 · 50k → 0.2 · 200k = 40k ALT, capped at 0.25 · 50k USD / 1
    # = 12,500 ALT
    assert [o for o in intents if isinstance(o, Order)] == [
        Order(0, 1, BUY, 12_500.0, OrderKind.MARKET, venue=Venue.SPOT)
    ]
    small = flat_maker().decide(make_view(t=1), make_accounts(qty=(4.0, 0.0)))  # 400k < 500k
    assert not [o for o in small if isinstance(o, Order)]


def test_spot_asks_limited_to_coins_held() -> None:
    maker = make_maker()
    maker.decide(make_view(), make_accounts())  # remembers 50 BTC at the start
    q = quotes_of(maker.decide(make_view(t=1), make_accounts(spot_qty=(5.0, 0.0))), 0, Venue.SPOT)
    # −45 BTC of inventory → hedge buy, asks capped at the 5 BTC held
    assert sum(qty for _, qty in q.asks) <= 5.0 + 1e-12
    assert quotes_of(maker.decide(make_view(t=2), make_accounts()), 1, Venue.SPOT).asks


def test_sizes_scale_with_capital() -> None:
    maker = make_maker()
    first = quotes_of(maker.decide(make_view(), make_accounts()), 0, Venue.PERP)
    # capital = 10M + 50 BTC · 100k + 500k ALT · 1 = 15.5M; losing 7.75M halves the ladder
    poorer = make_accounts(equity_usd=EQUITY_USD - 7_750_000.0)
    half = quotes_of(maker.decide(make_view(t=1), poorer), 0, Venue.PERP)
    assert side_usd(half.bids) == pytest.approx(0.5 * side_usd(first.bids), rel=2e-3)
    richer = make_accounts(equity_usd=2 * EQUITY_USD)
    same = quotes_of(maker.decide(make_view(t=2), richer), 0, Venue.PERP)
    assert same.bids == first.bids, "gains never grow the ladder beyond its configured depth"


def test_index_nan_falls_back_to_fundamental() -> None:
    view = make_view(index_usd=np.array([np.nan, ALT_USD]))
    q = quotes_of(make_maker().decide(view, make_accounts()), 0, Venue.PERP)
    assert q.bids[0][0] == pytest.approx(99_980.0)


def test_prices_on_grid_and_sizes_whole_lots() -> None:
    view = make_view(t=1, vol_1h=np.array([0.00037, 0.00123]), risk_off=0.3)
    for q in flat_maker().decide(view, make_accounts(qty=(1.234, -5_000.0))):
        tick = (view.perp_tick if q.venue == Venue.PERP else view.spot_tick)[q.market]
        lot = (view.perp_lot if q.venue == Venue.PERP else view.spot_lot)[q.market]
        for side, levels in ((BUY, q.bids), (SELL, q.asks)):
            for price, qty in levels:
                ticks = np.floor(price / tick) if side == BUY else np.ceil(price / tick)
                assert price == pytest.approx(ticks * tick, rel=1e-12)
                assert int(qty / lot) >= 1 and qty == pytest.approx(int(qty / lot) * lot)


# ---------------------------------------------------------------------------------------------
# through the real engine
# ---------------------------------------------------------------------------------------------
def test_quotes_through_exchange_give_configured_depth() -> None:
    """Setup: one BTCUSDT perp (index marks) + BTC spot; a maker with 100M USD and 50 BTC."""
    ex = Exchange(
        (btc_perp(mark_rule="index"),),
        [BTC_USD],
        (SpotSpec("BTC", 0.1, 0.001),),
        rng=np.random.default_rng(0),
    )
    acct = ex.open_account(100_000_000.0)
    ex.deposit_spot(acct, 0, 50.0)
    asset = AssetConfig("BTC", BTC_USD, "major", depth_usd=2_000_000.0, spread_bps=2.0)
    cfg = MakerConfig(n_makers=2, levels=8)
    maker = MarketMaker(
        mesa.Model(rng=0), np.array([acct]), np.random.default_rng(0), cfg, (asset,)
    )
    view = make_view(
        symbols=("BTC",),
        **{k: v[:1] for k, v in _one_asset_arrays().items()},
        spot_tick=np.array([0.1]),
        spot_lot=np.array([0.001]),
    )
    accts = AccountsView(
        ex.accounts.collateral_usd,
        ex.accounts.qty_lots * 0.001,
        ex.accounts.entry_price_usd,
        ex.accounts.spot_lots * 0.001,
        ex.equity_usd(),
        ex.accounts.is_isolated,
    )
    intents = maker.decide(view, accts)
    assert sum(ex.post_quotes(q) for q in intents) == 2 * 2 * 8
    for book in (ex.perp_books[0], ex.spot_books[0]):
        for side in (BUY, SELL):
            # 2M / 2 makers = 1M USD per side, all of it within 8 · 2 bp = 0.16 %
            assert book.depth_usd(0.01, side) == pytest.approx(1_000_000.0, rel=0.01)
    ex.check_invariants()


def _one_asset_arrays() -> dict[str, np.ndarray]:
    view = make_view()
    names = (
        "fundamental_usd",
        "index_usd",
        "mark_usd",
        "spot_bid_usd",
        "spot_ask_usd",
        "perp_bid_usd",
        "perp_ask_usd",
        "funding_rate",
        "premium",
        "return_15m",
        "vol_1h",
        "exo_sell_usd",
        "perp_tick",
        "perp_lot",
        "max_leverage",
    )
    return {name: getattr(view, name) for name in names}
