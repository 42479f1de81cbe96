"""Value investors on a price-setting venue (agents/value.py): the latent book's ladder and depths,
its stock of money level by level, the orders it sends, and the venue/satellite switch.

Setup: the two-asset views of tests/test_market_maker.py (BTC 100,000 USD, depth 2M, spot tick
0.01 and lot 0.0001, perp tick 0.1 and lot 0.001; ALT 1 USD, depth 100k). The investors use
inner 10 % and a linear latent book (exponent 1) unless a test says otherwise, so the ladder is
10, 14.14, 20, 28.28, 40, 56.57 % from value and a level's depth is 10 · Δu depths
(u = distance / 10 %): 10, 4.1421, 5.8579, 8.2843, 11.7157, 16.5685 depths.
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.background import Arbitrageurs, MacroSellers, NoiseTraders, ValueTraders
from agents.market_maker import MarketMaker
from agents.value import (
    LEVEL_RATIO,
    OUTER,
    PERP_SHARE,
    REFERENCE_DISTANCE,
    ValueInvestors,
    ask_shares,
    bid_depths,
    ladder_distances,
)
from model import CascadeModel
from model.engine.exchange import Exchange
from model.engine.orders import Order, Quotes
from model.engine.specs import SpotSpec, btc_perp
from model.engine.types import BUY, SELL, OrderKind, Venue
from model.trader_config import BackgroundConfig
from model.views import AccountsView
from tests.conftest import assert_invariants, seed_book
from tests.test_background import exchange_view
from tests.test_market_maker import ASSETS, BTC_USD, START_SPOT, make_accounts, make_view

CFG = BackgroundConfig()
SPOT, PERP = 0, 1
"""Book index of `ValueInvestors.caps_usd` / `stock_usd` (book, asset, level)."""
LEVEL0_USD = 0.5 * 10.0 * 2_000_000.0
"""BTC's nearest level per book: half (spot or perp) of 10 depths of 2M = 10M USD."""
LEVEL1_USD = 0.5 * 10.0 * (2**0.5 - 1.0) * 2_000_000.0
"""BTC's second level per book: half of 4.1421 depths of 2M = 4,142,135.6 USD."""


def make_investors(
    latent_depths: tuple[float, float] = (10.0, 10.0),
    refill_minutes: float = 100.0,
    inner: float = 0.1,
    exponent: float = 1.0,
    assets=ASSETS,
    account: int = 0,
) -> ValueInvestors:
    """Value investors on `account` (0 by default) of a tiny Mesa model."""
    return ValueInvestors(
        mesa.Model(rng=0),
        np.array([account]),
        np.random.default_rng(0),
        CFG,
        assets,
        latent_depths=np.array(latent_depths[: len(assets)]),
        refill_minutes=refill_minutes,
        inner=inner,
        exponent=exponent,
    )


def quotes_of(intents: list, market: int, venue: Venue) -> Quotes:
    """The one ladder of a book among the intents."""
    found = [q for q in intents if isinstance(q, Quotes) and (q.market, q.venue) == (market, venue)]
    assert len(found) == 1, found
    return found[0]


def orders_of(intents: list, market: int, venue: Venue) -> list[Order]:
    """The limit orders of a book among the intents."""
    return [o for o in intents if isinstance(o, Order) and (o.market, o.venue) == (market, venue)]


# ---------------------------------------------------------------------------------------------
# the ladder and the latent book
# ---------------------------------------------------------------------------------------------
def test_ladder_distances_from_half_a_percent_to_64_percent() -> None:
    d = ladder_distances(0.005)
    # 0.5 % · √2^j ≤ 64 %: √2^j ≤ 128 = √2^14 → j = 0..14, 15 levels
    assert len(d) == 15
    assert d[0] == pytest.approx(0.005) and d[-1] == pytest.approx(OUTER)
    np.testing.assert_allclose(d[:4], [0.005, 0.0070711, 0.01, 0.0141421], rtol=1e-5)
    np.testing.assert_allclose(d[-2:], [0.4525483, 0.64], rtol=1e-6)
    np.testing.assert_allclose(d[1:] / d[:-1], LEVEL_RATIO)


def test_ladder_stops_before_the_outer_distance() -> None:
    # 10 % · √2^j: …, 40 %, 56.57 %; the next, 80 %, is beyond 64 %
    d = ladder_distances(0.1)
    np.testing.assert_allclose(d, [0.1, 0.1414214, 0.2, 0.2828427, 0.4, 0.5656854], rtol=1e-6)


def test_bid_depths_docstring_example() -> None:
    # latent 10, exponent 2: C(1 %) = 10 · (0.1 + 0.01) / 2 = 0.55, C(10 %) = 10,
    # C(20 %) = 10 · (2 + 4) / 2 = 30, C(40 %) = 10 · (4 + 16) / 2 = 100 → differences
    got = bid_depths(np.array([0.01, 0.1, 0.2, 0.4]), 10.0, 2.0)
    np.testing.assert_allclose(got, [0.55, 9.45, 20.0, 70.0])


@pytest.mark.parametrize("exponent", [1.0, 1.5, 2.0])
def test_bid_depths_cumulate_to_the_latent_book(exponent: float) -> None:
    # inner 2.5 %: levels 2.5, 3.54, 5, 7.07, 10 (the reference, j = 4), 14.1, … %
    d = ladder_distances(0.025)
    cumulative = np.cumsum(bid_depths(d, 10.0, exponent))
    assert d[4] == pytest.approx(REFERENCE_DISTANCE)
    # C(10 %) = 10 · (1 + 1^p) / 2 = 10 depths, whatever the shape
    assert cumulative[4] == pytest.approx(10.0)
    u = d / REFERENCE_DISTANCE
    np.testing.assert_allclose(cumulative, 10.0 * (u + u**exponent) / 2)
    # exponent 1.5 at 20 %: 10 · (2 + 2^1.5) / 2 = 24.1421 depths
    if exponent == 1.5:
        assert cumulative[6] == pytest.approx(24.1421356)


def test_ask_shares_are_equal_and_sum_to_one() -> None:
    shares = ask_shares(ladder_distances(0.005))
    np.testing.assert_allclose(shares, 1 / 15)
    assert shares.sum() == pytest.approx(1.0)


def test_level_caps_split_the_latent_book_between_spot_and_perp() -> None:
    inv = make_investors(latent_depths=(10.0, 5.0))
    assert inv.caps_usd.shape == (2, 2, 6)
    # BTC: 10 depths of 2M within 10 %, half each on spot and perp → 10M USD at level 0
    np.testing.assert_allclose(inv.caps_usd[:, 0, 0], [LEVEL0_USD, LEVEL0_USD])
    np.testing.assert_allclose(inv.caps_usd[:, 0, 1], [LEVEL1_USD, LEVEL1_USD])
    # ALT: 5 depths of 100k → 0.5 · 5 · 100k = 250k USD at level 0
    np.testing.assert_allclose(inv.caps_usd[:, 1, 0], [250_000.0, 250_000.0])
    # the whole ladder: 10 · 5.6569 depths (u = 5.6569 at 56.57 %) × 2M, halved per book
    assert inv.caps_usd[SPOT, 0].sum() == pytest.approx(0.5 * 56.568542 * 2_000_000.0)
    assert PERP_SHARE == 0.5
    np.testing.assert_array_equal(inv.stock_usd, inv.caps_usd)  # full at the start


# ---------------------------------------------------------------------------------------------
# the stock of money: bought empties nearest first, sold refills nearest first, new money
# ---------------------------------------------------------------------------------------------
def test_buying_empties_the_nearest_levels_first_then_new_money_refills() -> None:
    inv = make_investors(refill_minutes=100.0)
    inv.decide(make_view(t=0), make_accounts())  # remembers 50 BTC, no perp
    caps = inv.caps_usd
    # 120 BTC bought on spot at value 100,000 = 12M USD: level 0 (10M) empties, level 1
    # loses the other 2M (4,142,136 → 2,142,136); then every level refills cap / 100
    bought = make_accounts(spot_qty=(START_SPOT[0] + 120.0, START_SPOT[1]))
    inv.decide(make_view(t=1), bought)
    spot = inv.stock_usd[SPOT, 0]
    assert spot[0] == pytest.approx(0.0 + LEVEL0_USD / 100)  # 100,000
    assert spot[1] == pytest.approx(LEVEL1_USD - 2e6 + LEVEL1_USD / 100)  # 2,183,557.4
    np.testing.assert_allclose(spot[2:], caps[SPOT, 0, 2:])  # untouched, at their caps
    np.testing.assert_allclose(inv.stock_usd[PERP], caps[PERP])  # no perp traded
    np.testing.assert_allclose(inv.stock_usd[:, 1], caps[:, 1])  # nor ALT


def test_selling_refills_the_nearest_levels_first() -> None:
    inv = make_investors(refill_minutes=100.0)
    inv.decide(make_view(t=0), make_accounts())
    inv.decide(make_view(t=1), make_accounts(spot_qty=(170.0, START_SPOT[1])))  # +12M bought
    # 30 BTC sold at value: 3M USD back into level 0 (100,000 → 3,100,000), level 1 waits;
    # then + cap / 100 each: 3,200,000 and 2,183,557.4 + 41,421.4 = 2,224,978.8
    inv.decide(make_view(t=2), make_accounts(spot_qty=(140.0, START_SPOT[1])))
    spot = inv.stock_usd[SPOT, 0]
    assert spot[0] == pytest.approx(3_100_000.0 + LEVEL0_USD / 100)
    assert spot[1] == pytest.approx(LEVEL1_USD - 2e6 + 2 * LEVEL1_USD / 100)


def test_refill_is_cap_over_refill_minutes_a_minute_and_stops_at_the_cap() -> None:
    inv = make_investors(refill_minutes=4.0)
    inv.decide(make_view(t=0), make_accounts())
    inv.decide(make_view(t=1), make_accounts(spot_qty=(150.0, START_SPOT[1])))  # 10M: level 0
    levels = []
    for t in range(2, 6):
        inv.decide(make_view(t=t), make_accounts(spot_qty=(150.0, START_SPOT[1])))
        levels.append(inv.stock_usd[SPOT, 0, 0])
    # emptied at t = 1 then + 10M / 4 = 2.5M: 2.5M at t = 1, then 5M, 7.5M, 10M, capped 10M
    np.testing.assert_allclose(levels, [5e6, 7.5e6, 1e7, 1e7])


def test_perp_longs_bought_empty_the_perp_book_only() -> None:
    inv = make_investors(refill_minutes=100.0)
    inv.decide(make_view(t=0), make_accounts())
    # long 50 BTC perp at value 100,000 = 5M of perp level 0's 10M; + 10M / 100
    inv.decide(make_view(t=1), make_accounts(qty=(50.0, 0.0)))
    assert inv.stock_usd[PERP, 0, 0] == pytest.approx(5e6 + 1e5)
    np.testing.assert_allclose(inv.stock_usd[SPOT], inv.caps_usd[SPOT])


# ---------------------------------------------------------------------------------------------
# the orders: crossing levels as limit orders at their own prices, the rest as a ladder
# ---------------------------------------------------------------------------------------------
def test_calm_book_gets_two_full_ladders_and_no_order() -> None:
    intents = make_investors().decide(make_view(), make_accounts())
    assert not [i for i in intents if isinstance(i, Order)]
    spot = quotes_of(intents, 0, Venue.SPOT)
    # bids at 100,000 · (1 − d): 90,000, 85,857.86, …; level 0 10M / 90,000 = 111.1111 BTC
    assert spot.bids[0] == pytest.approx((90_000.0, 111.1111))
    assert [p for p, _ in spot.bids] == pytest.approx(
        [90_000.0, 85_857.864, 80_000.0, 71_715.729, 60_000.0, 43_431.458]
    )
    # asks: 50 BTC / 6 levels = 8.3333 BTC each at 100,000 · (1 + d)
    assert spot.asks[0] == pytest.approx((110_000.0, 8.3333))
    assert all(q == pytest.approx(8.3333) for _, q in spot.asks) and len(spot.asks) == 6
    perp = quotes_of(intents, 0, Venue.PERP)
    assert perp.leverage == 1.0 and len(perp.bids) == 6
    assert perp.asks == (), "no perp long to offer: they never short the perp"


def test_crossing_bids_become_limit_orders_at_their_own_grid_prices() -> None:
    """Setup: BTC spot offered at 85,000, 15 % below value 100,000; perp book at value."""
    view = make_view(spot_bid_usd=np.array([84_990.0, 1.0]), spot_ask_usd=np.array([85_000.0, 1.0]))
    intents = make_investors().decide(view, make_accounts())
    # levels at 90,000 and 85,857.86 (≥ 85,000) cross; 80,000 does not
    # 10M / 90,000 = 111.1111 BTC; 4,142,135.6 / 85,857.864 = 48.2441 BTC (lot 0.0001),
    # the price down to the 0.01 tick: 85,857.86
    assert orders_of(intents, 0, Venue.SPOT) == [
        Order(0, 0, BUY, pytest.approx(111.1111), OrderKind.LIMIT, 90_000.0, leverage=1.0,
              venue=Venue.SPOT),
        Order(0, 0, BUY, pytest.approx(48.2441), OrderKind.LIMIT, pytest.approx(85_857.86),
              leverage=1.0, venue=Venue.SPOT),
    ]  # fmt: skip
    spot = quotes_of(intents, 0, Venue.SPOT)
    assert [p for p, _ in spot.bids] == pytest.approx([80_000.0, 71_715.729, 60_000.0, 43_431.458])
    assert len(spot.asks) == 6, "asks above value still rest"
    assert not orders_of(intents, 0, Venue.PERP), "the perp book is at value: nothing crosses"
    assert len(quotes_of(intents, 0, Venue.PERP).bids) == 6


def test_news_below_the_bids_sells_into_them_down_to_value_plus_inner() -> None:
    """Setup: value falls to 85,000 while the BTC spot book still bids 99,990."""
    view = make_view(fundamental_usd=np.array([85_000.0, 1.0]))
    intents = make_investors().decide(view, make_accounts())
    # asks at 85,000 · (1 + d): 93,500 and 97,020.82 (≤ 99,990) cross, 102,000 does not;
    # 50 BTC / 6 = 8.3333 BTC each; sell prices up to the 0.01 tick
    sells = orders_of(intents, 0, Venue.SPOT)
    assert [(o.side, o.kind) for o in sells] == [(SELL, OrderKind.LIMIT)] * 2
    assert [o.qty for o in sells] == pytest.approx([8.3333, 8.3333])
    assert [o.price_usd for o in sells] == pytest.approx([93_500.0, 97_020.82])
    spot = quotes_of(intents, 0, Venue.SPOT)
    assert [p for p, _ in spot.asks] == pytest.approx(
        [102_000.0, 109_041.64, 119_000.0, 133_083.27]
    )
    assert spot.bids[0][0] == pytest.approx(76_500.0)  # 85,000 · 0.9: bids follow value
    assert not orders_of(intents, 0, Venue.PERP), "no perp long to sell"


def test_perp_long_is_offered_above_value_and_sold_into_a_rich_book() -> None:
    # long 6 BTC perp: 1 BTC a level on the perp asks; the perp bid 112,000 crosses the
    # 110,000 level (10 %) only
    view = make_view(
        perp_bid_usd=np.array([112_000.0, 1.0]), perp_ask_usd=np.array([112_010.0, 1.0])
    )
    intents = make_investors().decide(view, make_accounts(qty=(6.0, 0.0)))
    assert orders_of(intents, 0, Venue.PERP) == [
        Order(0, 0, SELL, 1.0, OrderKind.LIMIT, 110_000.0, leverage=1.0, venue=Venue.PERP)
    ]
    assert [q for _, q in quotes_of(intents, 0, Venue.PERP).asks] == [1.0] * 5


def test_orders_on_the_real_engine_fill_within_their_price_and_rest_the_rest() -> None:
    """Setup: BTC perp + spot; a seller offers 1 BTC at 84,990 and 2 BTC at 95,000 on spot;
    the investors hold 50 BTC and 500M USD (their two ladders reserve 2 · 56.6M: the spot
    bids' cost and the perp bids' 1x margin, before their orders arrive). The crossing bid
    at 90,000 takes the 1 BTC at 84,990 and rests its remainder; the 95,000 offer is above
    every bid and stays."""
    ex = Exchange(
        (btc_perp(mark_rule="index"),),
        [BTC_USD],
        (SpotSpec("BTC", 0.1, 0.001),),
        rng=np.random.default_rng(0),
    )
    inv_acct, seller = ex.open_accounts(2, 500_000_000.0).tolist()
    ex.deposit_spot(inv_acct, 0, 50.0)
    ex.deposit_spot(seller, 0, 10.0)
    seed_book(ex, 0, seller, asks=[(84_990.0, 1.0), (95_000.0, 2.0)], venue=Venue.SPOT)
    inv = make_investors(refill_minutes=1_000.0, assets=ASSETS[:1], account=inv_acct)

    def accounts() -> AccountsView:
        return AccountsView(
            ex.accounts.collateral_usd,
            ex.accounts.qty_lots * 0.001,
            ex.accounts.entry_price_usd,
            ex.accounts.spot_lots * 0.001,
            ex.equity_usd(),
            ex.accounts.is_isolated,
        )

    for t in (0, 1):
        intents = inv.decide(exchange_view(ex, t, BTC_USD, 0.0), accounts())
        for q in (i for i in intents if isinstance(i, Quotes)):  # ladders first, as the model
            ex.post_quotes(q)
        ex.submit_many([i for i in intents if isinstance(i, Order)])
        assert_invariants(ex)
        if t == 0:
            # only the 84,990 offer is at or below a crossing bid (90,000; 85,857.9 on 0.1)
            assert ex.accounts.spot_lots[inv_acct, 0] * 0.001 == pytest.approx(51.0)
            assert ex.spot_books[0].best_bid() * 0.1 == pytest.approx(90_000.0)
            assert ex.spot_books[0].best_ask() * 0.1 == pytest.approx(95_000.0)
    # minute 1 saw the 1 BTC bought at value 100,000: level 0 lost 100,000 USD, refilled
    # 10M / 1,000 = 10,000 → 9,910,000
    assert inv.stock_usd[SPOT, 0, 0] == pytest.approx(LEVEL0_USD - 100_000.0 + 10_000.0)
    assert ex.accounts.qty_lots[inv_acct, 0] == 0, "no perp crossed"


# ---------------------------------------------------------------------------------------------
# the venue / satellite switch (model/market.py)
# ---------------------------------------------------------------------------------------------
def _model(discovery: str) -> CascadeModel:
    return CascadeModel(
        scenario="calm",
        rng=1,
        **{"retail.n_accounts": 300, "horizon_minutes": 30, "prices.discovery": discovery},
    )


def test_venue_discovery_uses_value_investors_and_macro_sellers() -> None:
    model = _model("venue")
    traders = model.traders
    kinds = [type(t) for t in traders]
    assert kinds.count(ValueInvestors) == kinds.count(MacroSellers) == 1
    assert ValueTraders not in kinds
    assert {NoiseTraders, Arbitrageurs} <= set(kinds)
    assert all(t.tether_share is None for t in traders if isinstance(t, MarketMaker))
    (arb,) = [t for t in traders if isinstance(t, Arbitrageurs)]
    assert arb.max_depths == model.cfg.background.arb_max_depths  # finite capital


def test_satellite_discovery_uses_value_traders_and_tethered_makers() -> None:
    model = _model("satellite")
    traders = model.traders
    kinds = [type(t) for t in traders]
    assert kinds.count(ValueTraders) == 1
    assert ValueInvestors not in kinds and MacroSellers not in kinds
    makers = [t for t in traders if isinstance(t, MarketMaker)]
    tether = model.cfg.prices.tether_share
    assert makers and all(m.tether_share == tether is not None for m in makers)
    (arb,) = [t for t in traders if isinstance(t, Arbitrageurs)]
    assert arb.max_depths == 30.0  # SATELLITE_ARB_DEPTHS, whatever background.arb_max_depths


def test_unknown_discovery_mode_is_refused_naming_the_modes() -> None:
    with pytest.raises(ValueError, match=r"prices\.discovery must be one of 'venue', 'satellite'"):
        _model("oracle")
