"""Basis traders and market-neutral funds (agents/basis.py, agents/neutral.py).

Unit tests on hand-built views with golden numbers (arithmetic in comments), then the basis
trader's and the fund's intents executed through a real `Exchange` with a seeded maker.
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.basis import BasisTrader, carry_apr, predicted_rate
from agents.neutral import MarketNeutralFund, leg_targets_usd
from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.specs import SpotSpec, btc_perp, small_cap_perp
from model.engine.types import BUY, SELL, Venue
from model.trader_config import BasisConfig, FundConfig
from model.views import AccountsView, MarketView, accounts_view
from tests.conftest import assert_invariants, open_maker, seed_book

PRICES_USD = (100.0, 50.0, 10.0, 2.0)
"""Index = mark = every book side of the hand-built 4-asset view (zero spread)."""
SPOT_LOTS = (0.1, 0.1, 1.0, 1.0)
PERP_LOTS = (0.001, 0.01, 1.0, 1.0)
MAX_LEVERAGE = (125.0, 100.0, 50.0, 20.0)
CAPITAL_USD = 1_000_000.0
RATE_ABOVE_ENTRY = 0.0001
"""0.01 % per 8 h × 3 × 365 = 10.95 % a year > entry_apr 10 %."""
RATE_BETWEEN = 0.00005
"""5.475 % a year: below entry (10 %), above exit (0 %): hold."""
RATE_BELOW_EXIT = -0.00001
"""−1.095 % a year < exit_apr 0 %: unwind."""


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------
def make_view(
    t: int = 0,
    prices_usd: tuple[float, ...] = PRICES_USD,
    perp_lots: tuple[float, ...] = PERP_LOTS,
    spot_lots: tuple[float, ...] = SPOT_LOTS,
    max_leverage: tuple[float, ...] = MAX_LEVERAGE,
    **overrides: object,
) -> MarketView:
    """A view at `prices_usd` (index = mark = every book side), zero premium, I = 0.01 %."""
    n = len(prices_usd)
    px = np.array(prices_usd, dtype=float)
    fields: dict[str, object] = {
        "t": t,
        "symbols": tuple(f"A{a}" for a in range(n)),
        "fundamental_usd": px,
        "index_usd": px,
        "mark_usd": px,
        "spot_bid_usd": px,
        "spot_ask_usd": px,
        "perp_bid_usd": px,
        "perp_ask_usd": px,
        "funding_rate": np.full(n, RATE_ABOVE_ENTRY),
        "premium": np.zeros(n),
        "return_15m": np.zeros(n),
        "vol_1h": np.zeros(n),
        "risk_off": 0.0,
        "exo_sell_usd": np.zeros(n),
        "perp_tick": np.full(n, 0.01),
        "perp_lot": np.array(perp_lots, dtype=float),
        "spot_tick": np.full(n, 0.01),
        "spot_lot": np.array(spot_lots, dtype=float),
        "max_leverage": np.array(max_leverage, dtype=float),
    }
    fields.update(overrides)
    for v in fields.values():
        if isinstance(v, np.ndarray):
            v.flags.writeable = False  # agents read, never write
    return MarketView(**fields)  # type: ignore[arg-type]


def make_accounts(
    equity_usd: float = CAPITAL_USD,
    qty: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0),
    spot: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0),
) -> AccountsView:
    """One account (row 0) from plain arrays, read-only; collateral = equity (no uPnL)."""
    arrays = {
        "collateral_usd": np.array([equity_usd]),
        "qty": np.array([qty], dtype=float),
        "entry_price_usd": np.array([PRICES_USD]),
        "spot_qty": np.array([spot], dtype=float),
        "equity_usd": np.array([equity_usd]),
        "is_isolated": np.zeros((1, len(qty)), dtype=bool),
    }
    for arr in arrays.values():
        arr.flags.writeable = False
    return AccountsView(**arrays)


def make_basis(n_assets: int = 4, **cfg: object) -> BasisTrader:
    """A basis trader on account 0; cfg overrides BasisConfig (default leverage 3)."""
    config = BasisConfig(**{"leverage": 3.0, "entry_apr": 0.10, **cfg})  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    return BasisTrader(mesa.Model(rng=0), np.array([0]), rng, config, n_assets)


def make_fund(n_assets: int = 4, majors: tuple[int, ...] = (0, 1), **cfg: object):
    """A market-neutral fund on account 0; cfg overrides FundConfig (2x gross, h = 1)."""
    config = FundConfig(**cfg)  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    return MarketNeutralFund(mesa.Model(rng=0), np.array([0]), rng, config, n_assets, majors)


def by_market(orders: list, venue: Venue = Venue.PERP) -> dict[int, Order]:
    """Index one venue's orders by market (asserts at most one order per market)."""
    picked = [o for o in orders if o.venue == venue]
    assert len({o.market for o in picked}) == len(picked), picked
    return {o.market: o for o in picked}


# ---------------------------------------------------------------------------------------------
# basis trader: signal
# ---------------------------------------------------------------------------------------------
def test_carry_apr_and_premium_prediction_golden() -> None:
    # 0.0001 × 3 × 365 = 0.1095; P = 0 → F̂ = 0 + clamp(0.0001 − 0, ±0.0005) = I = 0.0001;
    # P = 0.002 → 0.002 + (−0.0005) = 0.0015; P = −0.001 → −0.001 + 0.0005 = −0.0005
    assert carry_apr(np.array([0.0001]))[0] == pytest.approx(0.1095)
    np.testing.assert_allclose(
        predicted_rate(np.array([0.0, 0.002, -0.001])), [0.0001, 0.0015, -0.0005]
    )


def test_basis_enters_above_entry_apr_with_equal_spot_and_perp_legs() -> None:
    """Setup: 1M USD, 4 assets, 3x; carry 10.95 % on BTC only (others 5.475 %)."""
    trader = make_basis()
    rates = np.array([RATE_ABOVE_ENTRY, RATE_BETWEEN, RATE_BETWEEN, RATE_BETWEEN])

    orders = trader.decide(make_view(funding_rate=rates), make_accounts())

    # share 1M / 4 = 250,000; unit 100 + 100 / 3 = 133.33 USD per coin;
    # 250,000 × 0.99 / 133.33 = 1,856.25 coins → coarser lot 0.1 → 1,856.2
    spot, perp = by_market(orders, Venue.SPOT), by_market(orders, Venue.PERP)
    assert set(spot) == set(perp) == {0}
    assert spot[0].side == BUY and perp[0].side == SELL
    assert spot[0].qty == pytest.approx(1_856.2) and perp[0].qty == spot[0].qty
    assert perp[0].leverage == 3.0 and perp[0].isolated is False
    assert not perp[0].reduce_only


def test_basis_does_not_enter_at_or_below_entry_apr() -> None:
    # 0.00009 × 1,095 = 9.855 % < 10 %
    orders = make_basis().decide(make_view(funding_rate=np.full(4, 0.00009)), make_accounts())
    assert orders == []


def test_basis_premium_vetoes_entry_when_next_funding_turns_negative() -> None:
    # P = −0.001 → F̂ = −0.0005 → −54.75 % a year ≤ exit_apr 0: the carry is about to stop
    view = make_view(premium=np.array([-0.001, 0.0, 0.0, 0.0]))
    orders = make_basis().decide(view, make_accounts())
    assert {o.market for o in orders} == {1, 2, 3}


def test_basis_sizes_every_entry_and_caps_by_free_capital() -> None:
    """Setup: equity 310k, hedged 10,000 ETH (spot 500k, short notional 500k) at 3x."""
    trader = make_basis()
    accounts = make_accounts(310_000.0, qty=(0, -10_000, 0, 0), spot=(0, 10_000, 0, 0))

    orders = trader.decide(make_view(), accounts)

    # capital 310k + 10,000 × 50 = 810k → share 202,500; free 310k − 500k / 3 = 143,333.33
    # BTC: budget 143,333.33 → × 0.99 / 133.33 = 1,064.25 → 1,064.2 (cost 141,893.33)
    # SOL: free left 1,440 → × 0.99 / 13.333 = 106.9 → 106 (lot 1); DOGE: 1,440 − 1,413.33
    # = 26.67 → × 0.99 / 2.6667 = 9.9 → 9; ETH: already held, no order
    spot = by_market(orders, Venue.SPOT)
    assert set(spot) == {0, 2, 3}
    assert spot[0].qty == pytest.approx(1_064.2)
    assert spot[2].qty == 106.0 and spot[3].qty == 9.0
    assert by_market(orders)[2].leverage == 3.0


def test_basis_holds_between_thresholds_and_exits_below_exit_apr() -> None:
    """Setup: hedged 1,000 BTC (spot 1,000, perp −1,000)."""
    trader = make_basis()
    hedged = make_accounts(qty=(-1_000, 0, 0, 0), spot=(1_000, 0, 0, 0))
    hold = np.array([RATE_BETWEEN, RATE_BETWEEN, RATE_BETWEEN, RATE_BETWEEN])
    assert trader.decide(make_view(funding_rate=hold), hedged) == []

    exit_rates = np.array([RATE_BELOW_EXIT, RATE_BETWEEN, RATE_BETWEEN, RATE_BETWEEN])
    orders = trader.decide(make_view(t=1, funding_rate=exit_rates), hedged)

    spot, perp = by_market(orders, Venue.SPOT), by_market(orders, Venue.PERP)
    assert spot[0].side == SELL and spot[0].qty == 1_000.0
    assert perp[0].side == BUY and perp[0].qty == 1_000.0 and perp[0].reduce_only
    assert trader.hedge_breaks_seen == 0


# ---------------------------------------------------------------------------------------------
# basis trader: broken hedge
# ---------------------------------------------------------------------------------------------
HOLD_RATES = np.full(4, RATE_BETWEEN)


def _break_short_leg(trader: BasisTrader, short_left: float) -> list:
    """Hedged 1,000 BTC at t = 0; at t = 1 only `short_left` coins of the short remain."""
    trader.decide(
        make_view(funding_rate=HOLD_RATES),
        make_accounts(qty=(-1_000, 0, 0, 0), spot=(1_000, 0, 0, 0)),
    )
    broken = make_accounts(qty=(-short_left, 0, 0, 0), spot=(1_000, 0, 0, 0))
    return trader.decide(make_view(t=1, funding_rate=HOLD_RATES), broken)


def test_basis_dumps_naked_spot_at_once_after_adl() -> None:
    # ADL left 400 of the 1,000 short: 600 coins of spot are naked → one sell of 600
    trader = make_basis(naked_spot="immediate")
    orders = _break_short_leg(trader, 400.0)
    assert orders == [Order(0, 0, SELL, 600.0, venue=Venue.SPOT)]
    assert trader.hedge_breaks_seen == 1


def test_basis_sells_naked_spot_gradually() -> None:
    # excess 600 / unwind_minutes 30 = 20 coins a minute, the same slice the next minute
    trader = make_basis(naked_spot="gradual", unwind_minutes=30)
    orders = _break_short_leg(trader, 400.0)
    assert orders == [Order(0, 0, SELL, 20.0, venue=Venue.SPOT)]

    later = make_accounts(qty=(-400, 0, 0, 0), spot=(980, 0, 0, 0))
    orders = trader.decide(make_view(t=2, funding_rate=HOLD_RATES), later)
    assert orders == [Order(0, 0, SELL, 20.0, venue=Venue.SPOT)]
    assert trader.hedge_breaks_seen == 1  # one break, however many minutes it takes


def test_basis_whole_short_liquidated_sells_all_spot() -> None:
    trader = make_basis()
    assert _break_short_leg(trader, 0.0) == [Order(0, 0, SELL, 1_000.0, venue=Venue.SPOT)]
    assert trader.hedge_breaks_seen == 1


def test_basis_tags_its_broken_hedge_sells_and_holds_them_when_switched_off() -> None:
    """The 600 naked coins after ADL: sold and listed as this step's broken-hedge orders
    (the model records what they fill); with naked_spot="hold" (the second round switched
    off) nothing is sold, though the break is still counted. A failed entry's repair is not
    a broken hedge."""
    trader = make_basis(naked_spot="immediate")
    orders = _break_short_leg(trader, 400.0)
    assert trader.broken_hedge_orders == orders == [Order(0, 0, SELL, 600.0, venue=Venue.SPOT)]

    held = make_basis(naked_spot="hold")
    assert _break_short_leg(held, 400.0) == [] and held.broken_hedge_orders == []
    assert held.hedge_breaks_seen == 1

    repaired = make_basis()
    repaired.decide(make_view(funding_rate=HOLD_RATES), make_accounts(spot=(1_000, 0, 0, 0)))
    assert repaired.broken_hedge_orders == []


def test_basis_rejects_unknown_naked_spot_rule() -> None:
    with pytest.raises(ValueError, match="naked_spot"):
        make_basis(naked_spot="hodl")


def test_basis_failed_perp_leg_is_repaired_not_counted_and_sized_down() -> None:
    # spot filled, perp rejected (e.g. a tier cap): never hedged, so the excess is sold
    # without a break count, and the next entry on BTC tries half the size
    trader = make_basis()
    orders = trader.decide(make_view(), make_accounts(spot=(1_856.2, 0, 0, 0)))
    spot = by_market(orders, Venue.SPOT)
    assert spot[0].side == SELL and spot[0].qty == pytest.approx(1_856.2)
    assert trader.hedge_breaks_seen == 0 and trader.entry_scale[0] == 0.5

    orders = trader.decide(make_view(t=1), make_accounts())

    # 250,000 × 0.5 × 0.99 / 133.33 = 928.125 → 928.1; SOL untouched: 18,562 (lot 1)
    spot = by_market(orders, Venue.SPOT)
    assert spot[0].qty == pytest.approx(928.1) and spot[2].qty == 18_562.0


def test_basis_buys_back_a_short_left_without_spot() -> None:
    # the spot leg failed: 500 BTC short without coins is bought back (reduce-only)
    trader = make_basis()
    orders = trader.decide(make_view(funding_rate=HOLD_RATES), make_accounts(qty=(-500, 0, 0, 0)))
    assert orders == [Order(0, 0, BUY, 500.0, reduce_only=True)]
    # the buy-back found no liquidity: retried next minute, the size cut only once
    orders = trader.decide(
        make_view(t=1, funding_rate=HOLD_RATES), make_accounts(qty=(-500, 0, 0, 0))
    )
    assert orders == [Order(0, 0, BUY, 500.0, reduce_only=True)]
    assert trader.entry_scale[0] == 0.5


# ---------------------------------------------------------------------------------------------
# market-neutral fund
# ---------------------------------------------------------------------------------------------
TARGET_QTY_H1 = (-5_000.0, -10_000.0, 50_000.0, 250_000.0)
"""1M equity, 2x, h = 1: ±500k per asset → 500k / (100, 50, 10, 2) coins."""


def test_leg_targets_split_gross_by_hedge_ratio() -> None:
    # G = 2 × 1M = 2M; L = 2M / 1.5 = 1,333,333.33; S = 0.5 L = 666,666.67; 2 assets a side
    targets = leg_targets_usd(1e6, 2.0, 0.5, np.array([False, False, True, True]))
    np.testing.assert_allclose(targets, [-333_333.33, -333_333.33, 666_666.67, 666_666.67])


def test_fund_opens_long_alts_short_majors_at_t0() -> None:
    fund = make_fund(hedge_ratio=0.5)
    max_lev = (125.0, 100.0, 50.0, 4.0)  # DOGE's cap binds

    orders = by_market(fund.decide(make_view(max_leverage=max_lev), make_accounts()))

    # BTC 333,333.33 / 100 = 3,333.333 (lot 0.001); ETH / 50 = 6,666.666 → 6,666.66 (0.01);
    # SOL 666,666.67 / 10 = 66,666.67 → 66,666; DOGE / 2 = 333,333.33 → 333,333
    assert [o.side for o in orders.values()] == [SELL, SELL, BUY, BUY]
    assert orders[0].qty == pytest.approx(3_333.333)
    assert orders[1].qty == pytest.approx(6_666.66)
    assert orders[2].qty == 66_666.0 and orders[3].qty == 333_333.0
    # leverage max(5, 2 × 2x) = 5, capped at DOGE's 4x; cross everywhere
    assert [o.leverage for o in orders.values()] == [5.0, 5.0, 5.0, 4.0]
    assert all(o.isolated is False for o in orders.values())
    short_usd = 3_333.333 * 100 + 6_666.66 * 50
    long_usd = 66_666 * 10 + 333_333 * 2
    assert short_usd / long_usd == pytest.approx(0.5, rel=1e-4)
    assert short_usd + long_usd == pytest.approx(2 * CAPITAL_USD, rel=1e-4)


def test_fund_opening_targets_are_its_leg_targets_at_the_current_gross() -> None:
    # G = 2 × 1M = 2M; L = 2M / 1.5 = 1,333,333.33; S = 666,666.67; 2 assets a side
    fund = make_fund(hedge_ratio=0.5)
    np.testing.assert_allclose(
        fund.opening_targets(1e6), [-333_333.33, -333_333.33, 666_666.67, 666_666.67]
    )
    fund.gross_scale = 0.5  # after one drawdown cut the book is half as big
    np.testing.assert_allclose(
        fund.opening_targets(1e6), [-166_666.67, -166_666.67, 333_333.33, 333_333.33]
    )


@pytest.mark.parametrize(
    ("gross", "max_leverage", "want"),
    [
        (2.0, 125.0, 5.0),  # max(5, 2 × 2) = 5
        (4.0, 125.0, 8.0),  # max(5, 2 × 4) = 8
        (4.0, 6.0, 6.0),  # 8, capped at the tier's 6x
        (1.0, 4.0, 4.0),  # max(5, 2) = 5, capped at 4x
    ],
)
def test_fund_leverage_for_a_tier_cap(gross: float, max_leverage: float, want: float) -> None:
    assert make_fund(gross_leverage=gross).leverage_for(max_leverage) == want


def test_fund_rebalances_only_outside_the_band() -> None:
    """Setup: the h = 1 book at target; SOL's mark moves, equity held at 1M."""
    fund = make_fund(rebalance_band=0.1)
    book = make_accounts(qty=TARGET_QTY_H1)
    assert fund.decide(make_view(t=1), book) == []

    # SOL at 10.9: 545,000 vs 500,000 → gap 45,000 ≤ 10 % × 500,000: hold
    inside = np.array([100.0, 50.0, 10.9, 2.0])
    assert fund.decide(make_view(t=2, mark_usd=inside), book) == []

    # SOL at 11.1: gap 55,000 > 50,000 → 500,000 / 11.1 = 45,045.05 → sell 4,954 (lot 1)
    outside = np.array([100.0, 50.0, 11.1, 2.0])
    orders = fund.decide(make_view(t=3, mark_usd=outside), book)
    assert orders == [Order(0, 2, SELL, 4_954.0, leverage=5.0, isolated=False)]


def test_fund_halves_gross_once_per_drawdown_breach() -> None:
    """Setup: peak 1M at t = 0; equity falls to 850k (−15 %), 790k (−21 %), 700k, 630k."""
    fund = make_fund(drawdown_limit=0.2)
    fund.decide(make_view(), make_accounts(CAPITAL_USD, qty=TARGET_QTY_H1))
    fund.decide(make_view(t=1), make_accounts(850_000.0, qty=TARGET_QTY_H1))
    assert fund.drawdown_cuts == 0 and fund.gross_scale == 1.0

    orders = by_market(fund.decide(make_view(t=2), make_accounts(790_000.0, qty=TARGET_QTY_H1)))

    # 790k < 0.8 × 1M: gross 2 × 0.5 × 790k = 790k → 197,500 per asset:
    # BTC −1,975 (buy back 3,025), ETH −3,950 (buy 6,050), SOL 19,750 (sell 30,250),
    # DOGE 98,750 (sell 151,250)
    assert fund.drawdown_cuts == 1 and fund.gross_scale == 0.5
    assert [(o.side, o.qty) for o in orders.values()] == [
        (BUY, pytest.approx(3_025.0)),
        (BUY, pytest.approx(6_050.0)),
        (SELL, 30_250.0),
        (SELL, 151_250.0),
    ]
    # 700k is −11 % from the re-based 790k peak: same breach, no second cut
    fund.decide(make_view(t=3), make_accounts(700_000.0, qty=TARGET_QTY_H1))
    assert fund.drawdown_cuts == 1
    # 630k < 0.8 × 790k = 632k: a new breach → a quarter of the gross
    fund.decide(make_view(t=4), make_accounts(630_000.0, qty=TARGET_QTY_H1))
    assert fund.drawdown_cuts == 2 and fund.gross_scale == 0.25


def test_fund_dumps_alts_when_adl_takes_its_short_leg() -> None:
    """Setup: h = 1 book at target; ADL closed all of BTC's and 80 % of ETH's short."""
    fund = make_fund()
    broken = make_accounts(qty=(0.0, -2_000.0, 50_000.0, 250_000.0))

    orders = fund.decide(make_view(t=5), broken)

    # short 2,000 × 50 = 100k < 0.5 × 1M; longs 1M intact → keep 100k / 1 / 1M = 10 %:
    # sell 90 % of SOL (45,000) and DOGE (225,000); no major is re-shorted
    assert orders == [Order(0, 2, SELL, 45_000.0), Order(0, 3, SELL, 225_000.0)]
    assert fund.hedge_breaks_seen == 1
    # the smaller book becomes the target: gross (100k + 100k) / (2 × 1M) = 10 %
    assert fund.gross_scale == pytest.approx(0.1)
    after = make_accounts(qty=(0.0, -2_000.0, 5_000.0, 25_000.0))
    later = fund.decide(make_view(t=6), after)
    assert not [o for o in later if o.market in (2, 3) and o.side == BUY]
    assert fund.hedge_breaks_seen == 1


def test_fund_lists_its_dump_as_broken_hedge_orders_or_holds_when_switched_off() -> None:
    """The broken book of the test above: the two alt sells are the step's broken-hedge
    orders; with on_broken_hedge="hold" the fund trades nothing while its hedge is broken."""
    broken = make_accounts(qty=(0.0, -2_000.0, 50_000.0, 250_000.0))
    fund = make_fund()
    orders = fund.decide(make_view(t=5), broken)
    assert fund.broken_hedge_orders == orders and len(orders) == 2

    held = make_fund(on_broken_hedge="hold")
    assert held.decide(make_view(t=5), broken) == [] and held.broken_hedge_orders == []


def test_fund_without_positions_after_t0_reopens_not_dumps() -> None:
    # nothing held: the long side is not intact, so this is a (re)opening, not a hedge break
    fund = make_fund()
    orders = fund.decide(make_view(t=7), make_accounts())
    assert len(orders) == 4 and fund.hedge_breaks_seen == 0


# ---------------------------------------------------------------------------------------------
# through the exchange
# ---------------------------------------------------------------------------------------------
def view_from_exchange(ex: Exchange, t: int, funding_rate: float) -> MarketView:
    """Snapshot an exchange's perps (and spot k under perp k) into a MarketView."""

    def best(books, specs, side: int) -> np.ndarray:
        ticks = [b.best_bid() if side > 0 else b.best_ask() for b in books]
        return np.array(
            [np.nan if x is None else x * s.tick_size for x, s in zip(ticks, specs, strict=True)]
        )

    n = len(ex.perps)
    spot_lots = tuple(s.lot_size for s in ex.spots) + (1.0,) * (n - len(ex.spots))
    return make_view(
        t,
        prices_usd=tuple(ex.prices.index_usd),
        perp_lots=tuple(s.lot_size for s in ex.perps),
        spot_lots=spot_lots,
        max_leverage=tuple(float(s.tiers.max_leverage[0]) for s in ex.perps),
        mark_usd=ex.prices.mark_usd.copy(),
        spot_bid_usd=best(ex.spot_books, ex.spots, BUY),
        spot_ask_usd=best(ex.spot_books, ex.spots, SELL),
        perp_bid_usd=best(ex.perp_books, ex.perps, BUY),
        perp_ask_usd=best(ex.perp_books, ex.perps, SELL),
        funding_rate=np.full(n, funding_rate),
    )


def accounts_from_exchange(ex: Exchange) -> AccountsView:
    """Coins and equity of every account, as the model would hand them to agents."""
    return accounts_view(ex)


def basis_exchange(**cfg: object) -> tuple[Exchange, int, BasisTrader]:
    """BTC at 100,000; a maker's spot and perp asks from 100,010 and bids from 99,990, 10 BTC
    a level (5 levels, 10 USD apart); a basis trader with 1M USD at 3x on the only asset."""
    ex = Exchange((btc_perp(mark_rule="index"),), (100_000.0,), (SpotSpec("BTC", 0.01, 0.001),))
    maker = open_maker(ex)
    ex.deposit_spot(maker, 0, 100.0)
    asks = [(100_010.0 + 10.0 * i, 10.0) for i in range(5)]  # 100,010 … 100,050
    bids = [(99_990.0 - 10.0 * i, 10.0) for i in range(5)]  # 99,990 … 99,950
    seed_book(ex, 0, maker, bids=bids, asks=asks, venue=Venue.SPOT)
    seed_book(ex, 0, maker, bids=bids, asks=asks, venue=Venue.PERP)
    acct = ex.open_account(CAPITAL_USD)
    config = BasisConfig(**{"leverage": 3.0, "entry_apr": 0.10, **cfg})  # type: ignore[arg-type]
    trader = BasisTrader(mesa.Model(rng=0), np.array([acct]), np.random.default_rng(3), config, 1)
    return ex, acct, trader


def run_minute(ex: Exchange, trader: BasisTrader, t: int, funding_rate: float) -> list:
    """One decide → submit round; return the outcomes."""
    ex.t = t
    intents = trader.decide(view_from_exchange(ex, t, funding_rate), accounts_from_exchange(ex))
    return ex.submit_many(intents)


def test_basis_trader_through_exchange_ends_hedged_then_flat() -> None:
    """Setup: `basis_exchange`; funding 0.03 % per 8 h (32.85 % a year), then −0.01 %."""
    ex, acct, trader = basis_exchange()

    outcomes = run_minute(ex, trader, 0, 0.0003)

    # unit 100,010 + 99,990 / 3 = 133,340 USD; 1M × 0.99 / 133,340 = 7.4246 → 7.424 BTC
    assert len(outcomes) == 2 and all(o.accepted for o in outcomes), outcomes
    assert ex.accounts.spot_lots[acct, 0] == 7_424  # lots of 0.001
    assert ex.accounts.qty_lots[acct, 0] == -7_424
    assert not ex.accounts.is_isolated[acct, 0]
    assert_invariants(ex)
    # carry unchanged: hold; carry negative: both legs unwound through the books
    assert run_minute(ex, trader, 1, 0.0003) == []
    assert all(o.accepted for o in run_minute(ex, trader, 2, -0.0001))
    assert ex.accounts.spot_lots[acct, 0] == 0 and ex.accounts.qty_lots[acct, 0] == 0
    assert_invariants(ex)


def test_basis_trader_through_exchange_dumps_spot_when_short_is_cut() -> None:
    """Setup: hedged 7.424 BTC as above; then 3 BTC of the short are closed on its account
    (a scripted reduce-only buy standing in for ADL, which would close it off-book)."""
    ex, acct, trader = basis_exchange(naked_spot="immediate")
    run_minute(ex, trader, 0, 0.0003)
    assert run_minute(ex, trader, 1, 0.0003) == []  # seen intact
    assert ex.submit(Order(acct, 0, BUY, 3.0, reduce_only=True)).accepted

    outcomes = run_minute(ex, trader, 2, 0.0003)

    # 7.424 spot − 4.424 short = 3 BTC naked → sold into the spot bids; legs equal again
    assert [o.filled_qty for o in outcomes] == [pytest.approx(3.0)]
    assert ex.accounts.spot_lots[acct, 0] == -ex.accounts.qty_lots[acct, 0] == 4_424
    assert trader.hedge_breaks_seen == 1
    assert_invariants(ex)


def test_fund_book_opens_through_exchange() -> None:
    """Setup: BTC 100,000 (major) + two small caps at 1.0 and 2.0; a maker quotes all three;
    the fund has 100k USD, 2x gross, h = 1 → BTC −100k, 50k of each alt."""
    specs = (
        btc_perp(mark_rule="index"),
        small_cap_perp("ALTAUSDT", mark_rule="index"),
        small_cap_perp("ALTBUSDT", mark_rule="index"),
    )
    ex = Exchange(specs, (100_000.0, 1.0, 2.0))
    maker = open_maker(ex)
    seed_book(ex, 0, maker, bids=[(99_990.0, 5.0)], asks=[(100_010.0, 5.0)])
    for k, px, coins in ((1, 1.0, 60_000.0), (2, 2.0, 30_000.0)):  # 60k USD a side (10x tier)
        seed_book(ex, k, maker, bids=[(px - 0.001, coins)], asks=[(px + 0.001, coins)])
    acct = ex.open_account(100_000.0)
    fund = MarketNeutralFund(
        mesa.Model(rng=0), np.array([acct]), np.random.default_rng(4), FundConfig(), 3, (0,)
    )
    view = view_from_exchange(ex, 0, 0.0001)

    outcomes = ex.submit_many(fund.decide(view, accounts_from_exchange(ex)))

    # BTC: −100k / 100,000 = −1 BTC; ALTA 50k / 1.0 = 50,000; ALTB 50k / 2.0 = 25,000
    assert all(o.accepted for o in outcomes), outcomes
    lots = ex.accounts.qty_lots[acct] * np.array([0.001, 1.0, 1.0])
    np.testing.assert_allclose(lots, [-1.0, 50_000.0, 25_000.0])
    assert_invariants(ex)
