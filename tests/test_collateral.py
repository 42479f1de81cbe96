"""Collateral other than USD (model/engine/collateral.py): spot coins with a haircut count in
cross equity, valued on the venue's spot book or on an outside reference; a liquidated
account's coins are sold to pay its deficit; the scripted depeg demo's claim; invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from experiments import scripted_depeg
from experiments.cli import main
from model.engine.collateral import (
    Collateral,
    CollateralAsset,
    CollateralConfig,
    lots_to_raise,
)
from model.engine.ledger import InvariantError
from model.engine.liquidation_units import unit_state
from model.engine.orders import Order
from model.engine.risk_config import LiquidationConfig
from model.engine.risk_scan import RiskScanner
from model.engine.specs import SpotSpec, btc_perp
from model.engine.types import BUY, SELL, OrderKind, RejectReason, Venue
from tests.conftest import MAKER_DEPOSIT_USD, make_exchange, writable

INDEX_USD = 100_000.0
COIN = "USDEUSDT"
HAIRCUT = 0.05
COINS = 2_000.0
"""The trader's whole margin: 2,000 coins = 1,900 USD of margin at 1.00 after the haircut."""
QTY_BTC = 2.4
"""A 240,000 USD long: maintenance 0.4 % · 240,000 = 960 USD (BTCUSDT's first bracket)."""
LIQ_FEE = 0.001
"""A 0.1 % clearance fee (instead of 0.5 %), so the liquidation sells only part of the coins."""


def coin_spec(symbol: str = COIN) -> SpotSpec:
    return SpotSpec(symbol, tick_size=0.0001, lot_size=1.0)


def collateral_cfg(valuation: str = "venue", haircut: float = HAIRCUT) -> CollateralConfig:
    return CollateralConfig((CollateralAsset(COIN, haircut, 1.0),), valuation)


def spot(acct: int, side: int, qty: float, price: float, *, ioc: bool = False) -> Order:
    return Order(acct, 0, side, qty, OrderKind.LIMIT, price, ioc=ioc, venue=Venue.SPOT)


def depeg_scene(valuation: str = "venue"):
    """Setup: a coin-margined trader (2,000 coins, no USD) long 2.4 BTC at 100,000 (bought as
    maker at the index, no fee, mark = index: UPnL 0); a maker bidding 99,990 for 3 BTC and
    the coin at 0.51 (1 coin) and 0.50 (3,000 coins); a seller with coins to trade the coin's
    last price. Returns (exchange, trader, seller, maker)."""
    perp = btc_perp(mark_rule="index", maker_fee=0.0, liquidation_fee=LIQ_FEE)
    ex = make_exchange(
        perps=(perp,),
        spots=(coin_spec(),),
        spot_of_perp=[-1],
        collateral=collateral_cfg(valuation),
        liquidation=LiquidationConfig(partial_rule="none"),
    )
    maker = ex.open_account(MAKER_DEPOSIT_USD)
    trader = ex.open_account()
    ex.deposit_spot(trader, 0, COINS)
    buy = Order(trader, 0, BUY, QTY_BTC, OrderKind.LIMIT, INDEX_USD, leverage=150.0)
    assert ex.submit(buy).accepted
    short = ex.open_account(100_000.0)
    out = ex.submit(Order(short, 0, SELL, QTY_BTC, OrderKind.LIMIT, INDEX_USD, ioc=True))
    assert out.filled_qty == pytest.approx(QTY_BTC)
    assert ex.submit(Order(maker, 0, BUY, 3.0, OrderKind.LIMIT, 99_990.0)).accepted
    assert ex.submit(spot(maker, BUY, 1.0, 0.51)).accepted
    assert ex.submit(spot(maker, BUY, 3_000.0, 0.50)).accepted
    seller = ex.open_account()
    ex.deposit_spot(seller, 0, 10.0)
    return ex, trader, seller, maker


def sell_coin(ex, seller: int, price: float) -> None:
    """The seller sells one coin at `price` (the coin's last trade on the venue)."""
    assert ex.submit(spot(seller, SELL, 1.0, price, ioc=True)).avg_price_usd == price


# --- golden numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valuation", "expected"),
    [
        ("venue", 1_000.0 + 2_000 * 0.98 * 0.95),  # 1,000 + 1,862 = 2,862 USD: the last trade
        ("reference", 1_000.0 + 2_000 * 1.00 * 0.95),  # 1,000 + 1,900 = 2,900 USD: 1.00
    ],
)
def test_cross_equity_counts_the_coins_after_the_haircut(valuation, expected):
    ex = make_exchange(
        spots=(coin_spec(),), spot_of_perp=[-1], collateral=collateral_cfg(valuation)
    )
    maker = ex.open_account(MAKER_DEPOSIT_USD)
    acct = ex.open_account(1_000.0)
    ex.deposit_spot(acct, 0, 2_000.0)
    seller = ex.open_account()
    ex.deposit_spot(seller, 0, 5.0)
    ex.submit(spot(maker, BUY, 5.0, 0.98))
    assert ex.submit(spot(seller, SELL, 5.0, 0.98, ioc=True)).filled_qty == 5.0  # last: 0.98
    equity = ex.risk_arrays()["cross_equity_usd"][acct]
    assert equity == pytest.approx(expected, rel=1e-12)
    assert ex.available_usd(acct) == pytest.approx(expected, rel=1e-12)  # no position, no order
    assert ex.desk.balances.withdrawable_usd(acct) == pytest.approx(1_000.0)  # coins stay coins


def test_a_venue_without_a_trade_values_the_coin_at_its_mid_then_its_reference():
    ex = make_exchange(spots=(coin_spec(),), spot_of_perp=[-1], collateral=collateral_cfg())
    acct = ex.open_account()
    ex.deposit_spot(acct, 0, 100.0)
    assert ex.collateral.value_usd(acct) == pytest.approx(100 * 1.0 * 0.95)  # reference 1.00
    maker = ex.open_account(MAKER_DEPOSIT_USD)
    ex.deposit_spot(maker, 0, 1.0)
    ex.submit(spot(maker, BUY, 1.0, 0.96))
    ex.submit(spot(maker, SELL, 1.0, 0.98))
    assert ex.collateral.value_usd(acct) == pytest.approx(100 * 0.97 * 0.95)  # mid 0.97


def test_the_trigger_sits_at_the_depegged_price_and_only_on_the_venue():
    """Trigger: 2,000 · p · 0.95 < 960 ⇔ p < 960 / 1,900 = 0.50526…: at a last trade of 0.51
    the equity is 1,938 · … = 969 ≥ 960 (not flagged), at 0.50 it is 950 < 960 (flagged). With
    valuation="reference" the coin stays at 1.00: 1,900 ≥ 960, never flagged."""
    for valuation, flagged_at_050 in (("venue", True), ("reference", False)):
        ex, trader, seller, _ = depeg_scene(valuation)
        r = ex.risk_arrays()
        assert r["upnl_usd"][trader].sum() == 0.0  # the perp never loses
        assert r["cross_mm_usd"][trader] == pytest.approx(960.0)
        sell_coin(ex, seller, 0.51)
        assert ex.risk_arrays()["cross_equity_usd"][trader] == pytest.approx(
            969.0 if valuation == "venue" else 1_900.0
        )
        assert ex.liquidator.scan() == [] == ex.liquidator.scan_reference()
        sell_coin(ex, seller, 0.50)
        expected = [(trader, None)] if flagged_at_050 else []
        assert ex.liquidator.scan() == expected == ex.liquidator.scan_reference()
        ex.check_invariants()


def test_liquidation_sells_just_the_coins_that_pay_the_deficit_and_the_fee():
    """At 0.50 the trader is closed: 2.4 BTC sold at 99,990 (stage 1, above the bankruptcy
    price 100,000 − 950 / 2.4 = 99,604.17) realises −2.4 · 10 = −24 USD; the clearance fee is
    0.1 % · 239,976 = 239.976 USD. The wallet needs 24 + 239.976 = 263.976 USD: ⌈263.976 / 0.50⌉
    = 528 coins sold at 0.50 raise 264.00, the wallet holds 240.00, the pool takes the fee and
    the 0.024 residual (residual_to_pool = 1): 240.00. 2,000 − 528 = 1,472 coins stay."""
    ex, trader, seller, _ = depeg_scene("venue")
    sell_coin(ex, seller, 0.51)
    sell_coin(ex, seller, 0.50)
    pool = ex.liquidator.pools.account(0)
    pool_before = float(ex.accounts.collateral_usd[pool])
    assert ex.liquidate() == 1
    assert ex.accounts.qty_lots[trader, 0] == 0
    assert ex.accounts.spot_lots[trader, 0] == 1_472
    assert ex.accounts.collateral_usd[trader] == pytest.approx(0.0, abs=1e-9)
    assert ex.accounts.collateral_usd[pool] - pool_before == pytest.approx(240.0, abs=1e-9)
    fills = ex.events.frame("fill")
    sale = fills[(fills.venue == "spot") & fills.is_liquidation]
    assert sale.qty.tolist() == [528.0] and sale.price_usd.tolist() == [pytest.approx(0.50)]
    assert sale.taker_fee_usd.tolist() == [0.0]
    assert ex.events.count("bad_debt") == 0
    ex.check_invariants()


def test_coins_the_book_cannot_take_stay_and_the_fee_is_cut_to_what_they_raised():
    """With only 100 coins bid (at 0.50: 50 USD), the 263.976 USD the wallet needs is not
    raised: −24 + 50 = 26 USD is left, all of it to the pool as the (cut) fee, and the trader
    keeps its 1,900 unsold coins."""
    ex, trader, seller, maker = depeg_scene("venue")
    sell_coin(ex, seller, 0.51)
    sell_coin(ex, seller, 0.50)
    ex.cancel_all(maker)  # leave 3 BTC bid at 99,990 and only 100 coins bid
    assert ex.submit(Order(maker, 0, BUY, 3.0, OrderKind.LIMIT, 99_990.0)).accepted
    assert ex.submit(spot(maker, BUY, 100.0, 0.50)).accepted
    pool = ex.liquidator.pools.account(0)
    pool_before = float(ex.accounts.collateral_usd[pool])
    ex.liquidate()
    assert ex.accounts.qty_lots[trader, 0] == 0
    assert ex.accounts.spot_lots[trader, 0] == 1_900
    assert ex.accounts.collateral_usd[trader] == pytest.approx(0.0, abs=1e-9)
    assert ex.accounts.collateral_usd[pool] - pool_before == pytest.approx(26.0, abs=1e-9)
    ex.check_invariants()


def test_lots_to_raise_walks_the_bids():
    # 10 lots of 1 coin at 0.9 raise 9.0; 3 more at 0.8 raise 2.4: 11.4 ≥ 11 with 13 lots
    assert lots_to_raise([(0.9, 10), (0.8, 5)], 1.0, 11.0, 100) == (13, 0.8)
    assert lots_to_raise([(0.9, 10)], 1.0, 100.0, 4) == (4, 0.9)  # capped by the coins held
    lots, worst = lots_to_raise([], 1.0, 5.0, 10)
    assert lots == 0 and math.isnan(worst)


# --- exact paths: the one formula in every reader -----------------------------------------


def test_scan_available_and_liquidator_read_the_same_equity():
    ex, trader, seller, _ = depeg_scene("venue")
    sell_coin(ex, seller, 0.51)
    r = ex.risk_arrays()
    plain = r["cross_equity_usd"] - r["cross_im_usd"] - ex.order_margin_usd
    fast = np.array([ex.available_usd(a) for a in range(ex.accounts.n)])
    np.testing.assert_array_equal(fast, plain)
    equity, mm, _ = unit_state(ex, trader, None)
    assert (equity, mm) == pytest.approx((r["cross_equity_usd"][trader], r["cross_mm_usd"][trader]))
    scanner = RiskScanner(ex, min_incremental=0)  # collateral on: every scan is full
    for price in (0.51, 0.50):  # the 0.51 bid was taken: this one trades at 0.50
        ex.submit(spot(seller, SELL, 1.0, price, ioc=True))
        assert scanner.scan() == ex.liquidator.scan_reference()
    assert scanner.incremental_scans == 0 and scanner.full_scans == 2


def test_by_default_no_coin_counts():
    ex = make_exchange(spots=(coin_spec(),))
    acct = ex.open_account(10.0)
    ex.deposit_spot(acct, 0, 1_000.0)
    assert not ex.collateral.enabled
    assert ex.collateral.value_usd() == 0.0
    assert ex.risk_arrays()["cross_equity_usd"][acct] == 10.0
    assert ex.available_usd(acct) == 10.0


# --- configuration errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assets": (CollateralAsset(COIN, 1.0, 1.0),)}, r"assets\[0\]\.haircut must be in"),
        ({"assets": (CollateralAsset(COIN, -0.1, 1.0),)}, r"assets\[0\]\.haircut must be in"),
        ({"assets": (CollateralAsset(COIN, math.nan, 1.0),)}, r"haircut must be a finite"),
        ({"assets": (CollateralAsset(COIN, 0.1, 0.0),)}, r"assets\[0\]\.reference_usd must be >"),
        ({"assets": (CollateralAsset("", 0.1, 1.0),)}, r"assets\[0\]\.symbol must be a non-empty"),
        (
            {"assets": (CollateralAsset(COIN, 0.1, 1.0), CollateralAsset(COIN, 0.2, 1.0))},
            r"assets\[1\]\.symbol 'USDEUSDT' is listed twice",
        ),
        ({"assets": [CollateralAsset(COIN, 0.1, 1.0)]}, r"collateral\.assets must be a tuple"),
        ({"assets": ("USDE",)}, r"collateral\.assets\[0\] must be a CollateralAsset"),
        ({"valuation": "mid"}, r"collateral\.valuation must be one of 'venue', 'reference'"),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CollateralConfig(**kwargs)


def test_a_collateral_symbol_must_be_a_spot_market_of_the_exchange():
    cfg = CollateralConfig((CollateralAsset("WBETHUSDT", 0.1, 4_000.0),))
    with pytest.raises(ValueError, match=r"assets\[0\]\.symbol must be a spot market .*USDEUSDT"):
        make_exchange(spots=(coin_spec(),), collateral=cfg)


def test_the_reference_is_set_by_symbol_and_checked():
    ex = make_exchange(
        spots=(coin_spec(),), spot_of_perp=[-1], collateral=collateral_cfg("reference")
    )
    acct = ex.open_account()
    ex.deposit_spot(acct, 0, 100.0)
    ex.set_collateral_reference(COIN, 0.9)
    assert ex.collateral.value_usd(acct) == pytest.approx(100 * 0.9 * 0.95)
    with pytest.raises(ValueError, match="unknown collateral symbol 'BNSOL'"):
        ex.set_collateral_reference("BNSOL", 1.0)
    with pytest.raises(ValueError, match=r"reference_usd must be > 0"):
        ex.set_collateral_reference(COIN, -1.0)


def test_negative_coins_of_a_collateral_asset_break_the_invariants():
    ex = make_exchange(spots=(coin_spec(),), spot_of_perp=[-1], collateral=collateral_cfg())
    a, b = ex.open_account(), ex.open_account()
    ex.deposit_spot(a, 0, 5.0)
    writable(ex.accounts.spot_lots)[a, 0] += 7  # coins moved from b to a by no transfer
    writable(ex.accounts.spot_lots)[b, 0] -= 7
    with pytest.raises(InvariantError, match="collateral 'USDEUSDT': an account holds negative"):
        ex.check_invariants()
    assert isinstance(ex.collateral, Collateral)


# --- the demo's claim ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_the_depeg_liquidates_on_the_venue_valuation_only(seed):
    venue = scripted_depeg.outcome("venue", seed)
    reference = scripted_depeg.outcome("reference", seed)
    assert venue["liquidated"] and not reference["liquidated"]
    assert venue["min_perp_upnl_usd"] >= 0 and reference["min_perp_upnl_usd"] >= 0
    assert venue["coins_sold_by_engine"] > 0 and reference["coins_sold_by_engine"] == 0


def test_cli_prints_both_valuations_side_by_side(capsys):
    assert main(["run", "cascade-demo", "--collateral-depeg"]) == 0
    out = capsys.readouterr().out
    assert "venue:liq" in out and "ref:liq" in out
    assert "valuation=venue: liquidated True" in out
    assert "valuation=reference: liquidated False" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--haircut", "1.5"], "collateral.assets[0].haircut must be in [0.0, 1.0), got 1.5"),
        (["--haircut", "nan"], "collateral.assets[0].haircut must be a finite number"),
    ],
)
def test_cli_bad_collateral_input_exits_2_naming_the_field(argv, message, capsys):
    assert main(["run", "cascade-demo", "--collateral-depeg", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_refuses_collateral_depeg_on_a_scenario(capsys):
    assert main(["run", "shock", "--collateral-depeg"]) == 2
    assert "--collateral-depeg applies to cascade-demo only" in capsys.readouterr().err


# --- invariants through random sequences --------------------------------------------------------

COIN_PRICES = st.sampled_from([1.0, 0.99, 0.95, 0.8, 0.65, 0.5, 0.3])
OPS = st.one_of(
    st.tuples(st.just("deposit"), st.integers(0, 2), st.floats(10.0, 5_000.0)),
    st.tuples(st.just("coins"), st.integers(0, 2), st.integers(0, 1), st.integers(1, 3_000)),
    st.tuples(
        st.just("perp"),
        st.integers(0, 2),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 60),
        st.sampled_from([20.0, 100.0, 150.0]),
    ),
    st.tuples(
        st.just("spot"),
        st.integers(0, 2),
        st.integers(0, 1),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 2_000),
        COIN_PRICES,
    ),
    st.tuples(st.just("dump"), st.integers(0, 1), COIN_PRICES),
    st.tuples(st.just("index"), st.floats(-0.1, 0.1)),
    st.tuples(st.just("reference"), st.integers(0, 1), COIN_PRICES),
    st.tuples(st.just("liquidate")),
)
SYMBOLS = ("USDEUSDT", "WBETHUSDT")


class World:
    """Two collateral coins (haircuts 5 % and 10 %), a BTC perp with a maker ladder, the coins'
    bid ladders from 1.00 to 0.30, three coin-margined traders long 1, 1.5 and 1.8 BTC at
    100x, and a seller of coins."""

    def __init__(self, valuation: str) -> None:
        cfg = CollateralConfig(
            (CollateralAsset(SYMBOLS[0], 0.05, 1.0), CollateralAsset(SYMBOLS[1], 0.10, 1.0)),
            valuation,
        )
        self.ex = ex = make_exchange(
            perps=(btc_perp(mark_rule="index"),),
            spots=(coin_spec(SYMBOLS[0]), coin_spec(SYMBOLS[1])),
            spot_of_perp=[-1],
            collateral=cfg,
        )
        self.maker = ex.open_account(MAKER_DEPOSIT_USD)
        for i in range(1, 41):
            for side in (BUY, SELL):
                price = INDEX_USD - side * 25.0 * i
                ex.submit(Order(self.maker, 0, side, 0.5, OrderKind.LIMIT, price, leverage=10.0))
        for a in (0, 1):
            ex.deposit_spot(self.maker, a, 50_000.0)
            for cents in range(100, 29, -1):
                ex.submit(Order(self.maker, a, BUY, 300.0, OrderKind.LIMIT, cents / 100,
                                venue=Venue.SPOT))  # fmt: skip
            ex.submit(Order(self.maker, a, SELL, 5_000.0, OrderKind.LIMIT, 1.01, venue=Venue.SPOT))
        self.traders = [int(ex.open_account(100.0)) for _ in range(3)]
        for t, btc in zip(self.traders, (1.0, 1.5, 1.8), strict=True):
            ex.deposit_spot(t, 0, 2_000.0)  # 1,900 USD of margin: 100x of it is 1.9 BTC
            ex.submit(Order(t, 0, BUY, btc, OrderKind.MARKET, leverage=100.0))
        self.seller = ex.open_account()
        ex.deposit_spot(self.seller, 0, 100_000.0)
        ex.deposit_spot(self.seller, 1, 100_000.0)

    def apply(self, op: tuple) -> None:
        ex, kind = self.ex, op[0]
        if kind == "deposit":
            ex.deposit(self.traders[op[1]], op[2])
        elif kind == "coins":
            ex.deposit_spot(self.traders[op[1]], op[2], float(op[3]))
        elif kind == "perp":
            _, i, side, lots, lev = op
            qty = round(lots * 0.05, 3)  # up to 3 BTC: 150x of 2,000 USD margin
            ex.submit(Order(self.traders[i], 0, side, qty, OrderKind.MARKET, leverage=lev))
        elif kind == "spot":
            _, i, a, side, qty, price = op
            ex.submit(Order(self.traders[i], a, side, float(qty), OrderKind.LIMIT, price,
                            ioc=True, venue=Venue.SPOT))  # fmt: skip
        elif kind == "dump":
            ex.submit(Order(self.seller, op[1], SELL, 20_000.0, OrderKind.LIMIT, op[2], ioc=True,
                            venue=Venue.SPOT))  # fmt: skip
            ex.liquidate()
        elif kind == "index":
            ex.set_index([INDEX_USD * (1 + op[1])])
            ex.liquidate()
        elif kind == "reference":
            ex.set_collateral_reference(SYMBOLS[op[1]], op[2])
        else:
            ex.liquidate()


def assert_collateral_invariants(world: World) -> None:
    ex = world.ex
    ex.check_invariants()  # money, open interest, coins per asset, no negative collateral coins
    assert np.array_equal(ex.accounts.spot_lots.sum(axis=0), ex.spot_deposits_lots)
    r = ex.risk_arrays()
    prices = ex.collateral.prices_usd()
    coins = ex.accounts.spot_lots @ (prices * np.array([0.95, 0.90]))  # lots of 1 coin
    upnl = (r["upnl_usd"] * r["is_cross"]).sum(axis=1)
    np.testing.assert_allclose(
        r["cross_equity_usd"], ex.accounts.collateral_usd + upnl + coins, rtol=1e-12, atol=1e-9
    )
    plain = r["cross_equity_usd"] - r["cross_im_usd"] - ex.order_margin_usd
    fast = np.array([ex.available_usd(a) for a in range(ex.accounts.n)])
    np.testing.assert_array_equal(fast, plain)
    assert ex.liquidator.scanner.full_scan() == ex.liquidator.scan_reference()


@settings(max_examples=60, deadline=None)
@given(
    valuation=st.sampled_from(["venue", "reference"]), ops=st.lists(OPS, min_size=1, max_size=30)
)
@example(  # always run: the coin dumped to 0.65, then to 0.5, liquidates the 1.8 BTC trader
    # (2,000 coins sold into the bids); a 10 % index fall then liquidates the two others
    valuation="venue",
    ops=[("dump", 0, 0.65), ("dump", 0, 0.5), ("index", -0.1), ("liquidate",)],
)
def test_random_sequences_with_collateral_keep_every_invariant(valuation, ops):
    """Deposits of USD and coins, perp and spot trades, coin dumps and index moves (each
    followed by a liquidation pass), reference moves and liquidation passes, with two
    collateral coins: after every operation money, open interest and every collateral coin
    are conserved, no account holds negative coins, cross equity is wallet + cross UPnL + the
    coins' value after haircut, and the available balance and the scan agree with it."""
    world = World(valuation)
    assert_collateral_invariants(world)
    for op in ops:
        world.apply(op)
        assert_collateral_invariants(world)


def test_collateral_coins_do_not_pay_for_spot_buys():
    """A coin-margined account (2,000 coins = 1,900 USD of margin, no USD) may hold perp
    positions on its coins, but a spot buy spends USD: buying 10 coins at 1.00 is refused
    (it would put the USD wallet at −10, paid for on credit by the coins)."""
    ex = make_exchange(spots=(coin_spec(),), spot_of_perp=[-1], collateral=collateral_cfg())
    maker, trader = ex.open_account(MAKER_DEPOSIT_USD), ex.open_account()
    ex.deposit_spot(maker, 0, 100.0)
    ex.deposit_spot(trader, 0, COINS)
    assert ex.submit(spot(maker, SELL, 100.0, 1.0)).accepted
    assert ex.available_usd(trader) == pytest.approx(COINS * 1.0 * (1 - HAIRCUT))

    out = ex.submit(spot(trader, BUY, 10.0, 1.0, ioc=True))

    assert (out.accepted, out.reason) == (False, RejectReason.INSUFFICIENT_MARGIN)
    assert ex.accounts.collateral_usd[trader] == 0.0
