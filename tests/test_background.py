"""Background flow (agents/background.py): noise, a satellite venue's value traders (+ exogenous
flow), the macro sellers of a price-setting venue, and finite-capital arbitrage.

Setup: the two-asset views of tests/test_market_maker.py (BTC 100,000 USD, depth 2M; ALT
1 USD, depth 100k); the default BackgroundConfig (noise 0.02, value strength 0.5, arbitrage
threshold 0.2 %, arbitrage 0.2 depth per minute, perp cap 3 depths). Last, all agents on the
real engine.
"""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
import pytest

from agents.background import (
    NOISE_FLAT_MINUTES,
    Arbitrageurs,
    MacroSellers,
    NoiseTraders,
    ValueTraders,
    mid_usd,
)
from agents.market_maker import MarketMaker
from model.config import AssetConfig
from model.engine.exchange import Exchange
from model.engine.orders import Order, Quotes
from model.engine.specs import SpotSpec, btc_perp
from model.engine.types import BUY, SELL, RejectReason, Venue
from model.trader_config import BackgroundConfig, MakerConfig
from model.views import AccountsView, MarketView
from tests.test_market_maker import ASSETS, BTC_USD, START_SPOT, make_accounts, make_view

CFG = BackgroundConfig()


def make(cls: type, seed: int = 0, cfg: BackgroundConfig = CFG, assets=ASSETS):
    """One background agent on account 0 of a tiny Mesa model."""
    return cls(mesa.Model(rng=0), np.array([0]), np.random.default_rng(seed), cfg, assets)


def by_venue(orders: list[Order], venue: Venue) -> dict[int, Order]:
    """Orders of one venue keyed by market (at most one per market expected)."""
    out = {o.market: o for o in orders if o.venue == venue}
    assert len(out) == sum(o.venue == venue for o in orders), "two orders for one market"
    return out


def assert_whole_lots(orders: list[Order], view: MarketView) -> None:
    """Every order is a market order of a positive whole number of lots."""
    for o in orders:
        lot = (view.perp_lot if o.venue == Venue.PERP else view.spot_lot)[o.market]
        assert o.qty > 0 and o.qty / lot == pytest.approx(round(o.qty / lot), abs=1e-6)
        assert o.price_usd is None and o.side in (BUY, SELL)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def test_mid_falls_back_to_the_quoted_side() -> None:
    mids = mid_usd(np.array([99.0, np.nan, 98.0, np.nan]), np.array([101.0, 102.0, np.nan, np.nan]))
    np.testing.assert_array_equal(mids[:3], [100.0, 102.0, 98.0])
    assert np.isnan(mids[3])


# ---------------------------------------------------------------------------------------------
# noise traders
# ---------------------------------------------------------------------------------------------
def test_noise_orders_whole_lots_both_venues_leverage_two() -> None:
    view = make_view()
    orders = make(NoiseTraders).decide(view, make_accounts())
    assert_whole_lots(orders, view)
    assert {(o.venue, o.market) for o in orders} == {
        (v, a) for v in (Venue.PERP, Venue.SPOT) for a in (0, 1)
    }
    assert all(
        o.leverage == 2.0 and not o.reduce_only for o in by_venue(orders, Venue.PERP).values()
    )


def test_noise_reproducible_per_seed_and_signs_random() -> None:
    def run(seed: int) -> list[Order]:
        agent = make(NoiseTraders, seed)
        return [o for t in range(50) for o in agent.decide(make_view(t=t), make_accounts())]

    first = run(1)
    assert run(1) == first
    assert run(2) != first
    sides = np.array([o.side for o in first])
    assert 0.3 < (sides == BUY).mean() < 0.7  # 200 fair coin flips


def test_noise_sizes_average_noise_usd_times_depth() -> None:
    agent = make(NoiseTraders, 3)
    notional = [
        o.qty * BTC_USD
        for t in range(400)
        for o in agent.decide(make_view(t=t), make_accounts())
        if o.market == 0
    ]
    # exponential, mean 0.02 · 2M = 40k USD; 800 draws → standard error ≈ 40k / √800 ≈ 1.4k
    assert np.mean(notional) == pytest.approx(40_000, rel=0.12)


def test_noise_closes_large_inventory() -> None:
    # limit = 20 · 40k = 800k USD: long 10 BTC perp (1M) and 10 BTC spot above the start
    agent = make(NoiseTraders)
    agent.decide(make_view(), make_accounts())  # remembers the starting spot coins
    assert NOISE_FLAT_MINUTES * CFG.noise_usd * 2_000_000 == 800_000
    accts = make_accounts(qty=(10.0, 0.0), spot_qty=(60.0, 500_000.0))
    for t in range(1, 20):
        orders = agent.decide(make_view(t=t), accts)
        perp, spot = by_venue(orders, Venue.PERP), by_venue(orders, Venue.SPOT)
        assert perp[0].side == SELL and perp[0].reduce_only
        assert spot[0].side == SELL


def test_noise_spot_sells_never_exceed_coins_held() -> None:
    agent = make(NoiseTraders)
    accts = make_accounts(spot_qty=(0.0, 0.0))
    orders = [o for t in range(30) for o in agent.decide(make_view(t=t), accts)]
    assert all(o.side == BUY for o in orders if o.venue == Venue.SPOT)


# ---------------------------------------------------------------------------------------------
# value traders
# ---------------------------------------------------------------------------------------------
def test_value_buys_spot_below_fundamental() -> None:
    # spot mid 99,000 vs fundamental 100,000: gap 1 %;
    # min(0.5 · 0.01 · 100, 1) · 2M = 1M USD / 99,000 = 10.10101 BTC → 10.101 (lot 0.0001)
    view = make_view(spot_bid_usd=np.array([98_990.0, 1.0]), spot_ask_usd=np.array([99_010.0, 1.0]))
    orders = make(ValueTraders).decide(view, make_accounts())
    assert orders == [Order(0, 0, BUY, pytest.approx(10.101), venue=Venue.SPOT)]


def test_value_buying_shrinks_with_risk_off_selling_does_not() -> None:
    # the 1 % gap above at risk-off 0.8: buying × (1 − 0.5 · 0.8) = 0.6 → 600k USD / 99,000
    # = 6.0606 BTC → 6.0606 (lot 0.0001)
    below = {"spot_bid_usd": np.array([98_990.0, 1.0]), "spot_ask_usd": np.array([99_010.0, 1.0])}
    (buy,) = make(ValueTraders).decide(make_view(risk_off=0.8, **below), make_accounts())
    assert buy.qty == pytest.approx(6.0606)
    above = {"spot_bid_usd": np.array([100_000.0, 1.0149]), "spot_ask_usd": np.array([1e5, 1.0151])}
    (sell,) = make(ValueTraders).decide(make_view(risk_off=0.8, **above), make_accounts())
    assert sell.qty == 73_891.0  # as without risk-off


def test_noise_thins_with_risk_off() -> None:
    # mean 0.02 · 2M · (1 − 0.75) = 10k USD a draw; 800 draws → standard error ≈ 350 USD
    agent = make(NoiseTraders, 3)
    notional = [
        o.qty * BTC_USD
        for t in range(400)
        for o in agent.decide(make_view(t=t, risk_off=0.75), make_accounts())
        if o.market == 0
    ]
    assert np.mean(notional) == pytest.approx(10_000, rel=0.12)


def test_value_sells_spot_above_fundamental_and_ignores_dead_band() -> None:
    # ALT spot 1.015 vs 1.00: gap −1.5 % → min(0.5 · 0.015 · 100, 1) = 0.75 · 100k USD / 1.015
    # = 73,891.6 → 73,891 ALT; BTC at 1 bp from fundamental is inside its 2 bp dead band
    view = make_view(
        spot_bid_usd=np.array([100_000.0, 1.0149]), spot_ask_usd=np.array([100_020.0, 1.0151])
    )
    (order,) = make(ValueTraders).decide(view, make_accounts())
    assert (order.market, order.side, order.venue, order.qty) == (1, SELL, Venue.SPOT, 73_891.0)


def test_value_carries_exogenous_sell_flow_half_spot_half_perp() -> None:
    view = make_view(exo_sell_usd=np.array([1_000_000.0, 0.0]))
    orders = make(ValueTraders).decide(view, make_accounts())
    spot, perp = by_venue(orders, Venue.SPOT), by_venue(orders, Venue.PERP)
    # 500k USD / 100,000 = 5 BTC on each venue
    assert (spot[0].side, spot[0].qty) == (SELL, pytest.approx(5.0))
    assert (perp[0].side, perp[0].qty, perp[0].leverage) == (SELL, pytest.approx(5.0), 2.0)
    assert not perp[0].reduce_only and set(spot) == set(perp) == {0}


def test_value_exogenous_spot_sell_limited_to_coins() -> None:
    view = make_view(exo_sell_usd=np.array([1_000_000.0, 0.0]))
    orders = make(ValueTraders).decide(view, make_accounts(spot_qty=(2.0, 0.0)))
    assert by_venue(orders, Venue.SPOT)[0].qty == pytest.approx(2.0)
    assert by_venue(orders, Venue.PERP)[0].qty == pytest.approx(5.0)


def test_value_buys_back_perp_short_without_flow() -> None:
    orders = make(ValueTraders).decide(make_view(), make_accounts(qty=(-10.0, 0.0)))
    # ceil(0.02 · 10,000 lots) = 200 lots = 0.2 BTC, reduce-only
    (order,) = orders
    assert (order.side, order.qty, order.reduce_only) == (BUY, pytest.approx(0.2), True)
    flowing = make_view(exo_sell_usd=np.array([100_000.0, 0.0]))
    assert all(o.side == SELL for o in make(ValueTraders).decide(flowing, make_accounts()))


# ---------------------------------------------------------------------------------------------
# arbitrageurs
# ---------------------------------------------------------------------------------------------
def rich_perp_view(perp_mid_btc: float = 100_500.0) -> MarketView:
    """BTC perp mid at `perp_mid_btc`, spot mid at 100,000 (basis +0.5 % by default)."""
    return make_view(
        perp_bid_usd=np.array([perp_mid_btc - 10, 1.0]),
        perp_ask_usd=np.array([perp_mid_btc + 10, 1.0]),
        spot_bid_usd=np.array([99_990.0, 1.0]),
        spot_ask_usd=np.array([100_010.0, 1.0]),
    )


def test_arb_sells_rich_perp_buys_spot() -> None:
    orders = make(Arbitrageurs).decide(rich_perp_view(), make_accounts())
    perp, spot = by_venue(orders, Venue.PERP)[0], by_venue(orders, Venue.SPOT)[0]
    # 0.2 · 2M = 400k USD / 100,000 = 4 BTC per leg
    assert (perp.side, perp.qty, perp.leverage, perp.isolated) == (SELL, 4.0, 3.0, False)
    assert (spot.side, spot.qty) == (BUY, pytest.approx(4.0))
    assert not perp.reduce_only and len(orders) == 2


def test_arb_buys_cheap_perp_sells_spot() -> None:
    orders = make(Arbitrageurs).decide(rich_perp_view(99_500.0), make_accounts())
    assert by_venue(orders, Venue.PERP)[0].side == BUY
    assert by_venue(orders, Venue.SPOT)[0].side == SELL


def test_arb_idle_inside_threshold_and_unwinds_when_converged() -> None:
    agent = make(Arbitrageurs)
    assert agent.decide(rich_perp_view(100_150.0), make_accounts()) == []  # 0.15 % < 0.2 %
    # converged (basis 0.05 % < 0.1 %) holding −6 BTC perp and 6 BTC extra spot
    accts = make_accounts(qty=(-6.0, 0.0), spot_qty=(56.0, 500_000.0))
    orders = agent.decide(rich_perp_view(100_050.0), accts)
    perp, spot = by_venue(orders, Venue.PERP)[0], by_venue(orders, Venue.SPOT)[0]
    assert (perp.side, perp.qty, perp.reduce_only) == (BUY, 4.0, True)  # min(6, 4) BTC
    assert (spot.side, spot.qty) == (SELL, pytest.approx(4.0))


def test_arb_exposure_capped_at_max_depths() -> None:
    # cap arb_max_depths 3 · 2M / 100,000 = 60 BTC: short 58 already → only 2 BTC more
    cfg = dataclasses.replace(CFG, arb_max_depths=3.0)
    orders = make(Arbitrageurs, cfg=cfg).decide(rich_perp_view(), make_accounts(qty=(-58.0, 0)))
    assert by_venue(orders, Venue.PERP)[0].qty == pytest.approx(2.0)
    at_cap = make(Arbitrageurs, cfg=cfg).decide(rich_perp_view(), make_accounts(qty=(-60.0, 0)))
    assert 0 not in by_venue(at_cap, Venue.PERP), "no perp order at the cap"


def test_arb_cap_given_to_the_constructor_overrides_the_config() -> None:
    # a satellite venue's 30 depths: 30 · 2M / 100,000 = 600 BTC; short 598 → 2 BTC more
    agent = Arbitrageurs(
        mesa.Model(rng=0), np.array([0]), np.random.default_rng(0), CFG, ASSETS, max_depths=30.0
    )
    orders = agent.decide(rich_perp_view(), make_accounts(qty=(-598.0, 0.0)))
    assert by_venue(orders, Venue.PERP)[0].qty == pytest.approx(2.0)


def test_arb_spot_leg_hedges_the_position_the_perp_order_leaves() -> None:
    """Setup: rich perp (+0.5 %), 50 BTC first held; the account is already short 6 BTC perp
    without the spot hedge (an earlier spot order did not fill)."""
    accts = make_accounts(qty=(-6.0, 0.0))
    orders = make(Arbitrageurs).decide(rich_perp_view(), accts)
    perp, spot = by_venue(orders, Venue.PERP)[0], by_venue(orders, Venue.SPOT)[0]
    # perp: sell 4 → −10 BTC; spot target 50 − (−10) = 60 vs 50 held: 10 BTC short of the
    # hedge, bought at most 4 BTC a minute
    assert (perp.side, perp.qty) == (SELL, 4.0)
    assert (spot.side, spot.qty) == (BUY, pytest.approx(4.0))


def test_arb_spot_leg_catches_up_at_the_cap() -> None:
    # short 60 BTC (the cap of 3 depths): no perp order; spot 106 held vs target
    # 50 − (−60) = 110 → buy 4
    agent = make(Arbitrageurs, cfg=dataclasses.replace(CFG, arb_max_depths=3.0))
    agent.decide(make_view(), make_accounts())  # remembers 50 BTC first held
    orders = agent.decide(
        rich_perp_view(), make_accounts(qty=(-60.0, 0.0), spot_qty=(106.0, START_SPOT[1]))
    )
    assert list(by_venue(orders, Venue.PERP)) == []
    spot = by_venue(orders, Venue.SPOT)[0]
    assert (spot.side, spot.qty) == (BUY, pytest.approx(4.0))


def test_arb_hedged_book_sends_no_spot_order() -> None:
    # short 8 BTC perp, 58 BTC spot (50 + 8): hedged; inside the threshold nothing to do, and
    # when the perp sells 4 more the spot buys exactly those 4
    agent = make(Arbitrageurs)
    agent.decide(make_view(), make_accounts())  # remembers 50 BTC first held
    hedged = make_accounts(qty=(-8.0, 0.0), spot_qty=(58.0, START_SPOT[1]))
    assert agent.decide(rich_perp_view(100_150.0), hedged) == []  # 0.15 %: neither open nor unwind
    orders = agent.decide(rich_perp_view(), hedged)
    assert by_venue(orders, Venue.SPOT)[0].qty == pytest.approx(by_venue(orders, Venue.PERP)[0].qty)


def test_arb_perp_leg_is_whole_lots_and_the_spot_leg_matches_it() -> None:
    # ALT perp 2 % rich: 0.2 · 100k = 20,000 USD / 1.0 spot mid = 20,000 ALT per leg (lot 1)
    view = make_view(
        perp_bid_usd=np.array([BTC_USD, 1.0199]), perp_ask_usd=np.array([BTC_USD, 1.0201])
    )
    orders = make(Arbitrageurs).decide(view, make_accounts())
    perp, spot = by_venue(orders, Venue.PERP)[1], by_venue(orders, Venue.SPOT)[1]
    assert (perp.side, perp.qty, spot.side, spot.qty) == (SELL, 20_000.0, BUY, 20_000.0)
    assert_whole_lots(orders, view)


# ---------------------------------------------------------------------------------------------
# macro sellers (a price-setting venue's exogenous flow)
# ---------------------------------------------------------------------------------------------
def test_macro_sellers_sell_half_spot_half_perp() -> None:
    view = make_view(exo_sell_usd=np.array([1_000_000.0, 0.0]))
    orders = make(MacroSellers).decide(view, make_accounts())
    spot, perp = by_venue(orders, Venue.SPOT), by_venue(orders, Venue.PERP)
    # 500k USD / 100,000 (the index) = 5 BTC on each venue; nothing on ALT
    assert (spot[0].side, spot[0].qty) == (SELL, pytest.approx(5.0))
    assert (perp[0].side, perp[0].qty, perp[0].leverage) == (SELL, pytest.approx(5.0), 2.0)
    assert not perp[0].reduce_only and set(spot) == set(perp) == {0}
    assert_whole_lots(orders, view)


def test_macro_sellers_spot_half_limited_to_coins_perp_half_not() -> None:
    view = make_view(exo_sell_usd=np.array([1_000_000.0, 0.0]))
    orders = make(MacroSellers).decide(view, make_accounts(spot_qty=(2.0, 0.0)))
    assert by_venue(orders, Venue.SPOT)[0].qty == pytest.approx(2.0)
    assert by_venue(orders, Venue.PERP)[0].qty == pytest.approx(5.0)
    broke = make(MacroSellers).decide(view, make_accounts(spot_qty=(0.0, 0.0)))
    assert list(by_venue(broke, Venue.SPOT)) == []


def test_macro_sellers_buy_back_their_short_only_without_flow() -> None:
    # ceil(0.02 · 10,000 lots) = 200 lots = 0.2 BTC, reduce-only
    (order,) = make(MacroSellers).decide(make_view(), make_accounts(qty=(-10.0, 0.0)))
    assert (order.market, order.side, order.qty, order.reduce_only) == (0, BUY, 0.2, True)
    flowing = make_view(exo_sell_usd=np.array([100_000.0, 0.0]))
    orders = make(MacroSellers).decide(flowing, make_accounts(qty=(-10.0, 0.0)))
    assert orders and all(o.side == SELL for o in orders)


def test_macro_sellers_idle_without_flow_or_position() -> None:
    assert make(MacroSellers).decide(make_view(), make_accounts()) == []


# ---------------------------------------------------------------------------------------------
# all background agents and a maker on the real engine
# ---------------------------------------------------------------------------------------------
def exchange_view(ex: Exchange, t: int, fundamental: float, exo_usd: float) -> MarketView:
    """A one-asset view read off the exchange's books."""

    def best(book, side: int) -> float:
        px = book.best_bid() if side == BUY else book.best_ask()
        return np.nan if px is None else px * book.tick_size

    pb, sb = ex.perp_books[0], ex.spot_books[0]
    return dataclasses.replace(
        make_view(t=t, symbols=("BTC",), risk_off=0.0),
        **{
            k: np.array([v])
            for k, v in {
                "fundamental_usd": fundamental,
                "index_usd": BTC_USD,
                "mark_usd": BTC_USD,
                "spot_bid_usd": best(sb, BUY),
                "spot_ask_usd": best(sb, SELL),
                "perp_bid_usd": best(pb, BUY),
                "perp_ask_usd": best(pb, SELL),
                "funding_rate": 1e-4,
                "premium": 0.0,
                "return_15m": 0.0,
                "vol_1h": 0.0,
                "exo_sell_usd": exo_usd,
                "perp_tick": 0.1,
                "perp_lot": 0.001,
                "spot_tick": 0.1,
                "spot_lot": 0.001,
                "max_leverage": 125.0,
            }.items()
        },
    )


@pytest.mark.parametrize("carrier", [ValueTraders, MacroSellers])
def test_background_orders_accepted_by_engine_and_invariants_hold(carrier: type) -> None:
    """Setup: BTC perp + spot, one maker and each background agent with 50M USD + 100 BTC;
    fundamental 1 % below the index from minute 5, 3M USD of exogenous selling at minute 8,
    carried by the satellite's value traders or the venue's macro sellers."""
    ex = Exchange(
        (btc_perp(mark_rule="index"),),
        [BTC_USD],
        (SpotSpec("BTC", 0.1, 0.001),),
        rng=np.random.default_rng(0),
    )
    asset = (AssetConfig("BTC", BTC_USD, "major", depth_usd=2_000_000.0, spread_bps=2.0),)
    ids = ex.open_accounts(4, 50_000_000.0)
    for acct in ids:
        ex.deposit_spot(int(acct), 0, 100.0)
    model = mesa.Model(rng=0)
    agents = [
        MarketMaker(model, ids[:1], np.random.default_rng(0), MakerConfig(), asset),
        *(
            cls(model, ids[i : i + 1], np.random.default_rng(i), CFG, asset)
            for i, cls in enumerate((NoiseTraders, carrier, Arbitrageurs), start=1)
        ),
    ]
    n_orders = 0
    for t in range(12):
        ex.t = t
        view = exchange_view(ex, t, BTC_USD * (0.99 if t >= 5 else 1.0), 3e6 * (t == 8))
        accts = AccountsView(
            ex.accounts.collateral_usd,
            ex.accounts.qty_lots * 0.001,
            ex.accounts.entry_price_usd,
            ex.accounts.spot_lots * 0.001,
            ex.equity_usd(),
            ex.accounts.is_isolated,
        )
        intents = [i for agent in agents for i in agent.decide(view, accts)]
        orders = [i for i in intents if isinstance(i, Order)]
        n_orders += len(orders)
        ex.submit_many(orders)  # orders first: a maker's hedge must not cross its new quotes
        for q in (i for i in intents if isinstance(i, Quotes)):
            ex.post_quotes(q)
        ex.check_invariants()
    bad = {r.name for r in (RejectReason.OFF_LOT, RejectReason.OFF_TICK, RejectReason.INVALID_QTY)}
    assert n_orders > 30
    assert not bad & {k for k, v in ex.events.reject_counts.items() if v}
    assert ex.accounts.qty_lots[ids[2], 0] < 0, "the carrier took the perp half of the flow"
    assert ex.accounts.spot_lots[ids[2], 0] < 100_000, "the carrier sold spot"
