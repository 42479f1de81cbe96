"""Tests for model.engine.exchange: golden fills, margin modes, rejections, reserves, spot, stops,
funding, the conservation invariants (hypothesis) and account opening.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from model.engine.events import SCHEMAS
from model.engine.exchange import Exchange, InvariantError
from model.engine.orders import Order, OrderOutcome
from model.engine.risk_config import LiquidationConfig
from model.engine.specs import FundingSpec, SpotSpec, btc_perp, hyperliquid_funding, small_cap_perp
from model.engine.types import BUY, SELL, OrderKind, RejectReason, Venue
from tests.conftest import (
    MAKER_DEPOSIT_USD,
    assert_invariants,
    assert_same_balances,
    balances,
    changed_accounts,
    hidden_deficits,
    limit,
    make_exchange,
    market_order,
    open_maker,
    seed_book,
    writable,
)

INDEX_USD = 100_000.0
LOT = 0.001  # BTCUSDT: 1 lot = 0.001 BTC
TAKER_FEE = 0.0005  # 0.05 % of notional (Binance VIP0 USDⓈ-M)
MAKER_FEE = 0.0002  # 0.02 %
DEFAULT_LEVERAGE = 10.0  # AccountBook default
SPOT = SpotSpec("BTC", tick_size=0.1, lot_size=0.001)  # maker 0.01 %, taker 0.1 %
USD_TOL = 1e-6  # float dust allowed on golden USD amounts


def index_marked_exchange(**kwargs: object) -> Exchange:
    """One BTCUSDT perp whose mark is the index, so tests set the mark exactly."""
    return make_exchange(perps=(btc_perp(mark_rule="index"),), **kwargs)


def fill_rows(ex: Exchange, start: int = 0) -> list[dict[str, object]]:
    """Fill events from number `start` on, as dicts keyed by the event schema."""
    return [dict(zip(SCHEMAS["fill"], row, strict=True)) for row in ex.events.rows["fill"][start:]]


# --- 1. golden fills ------------------------------------------------------------------------

ASK_1_USD, ASK_1_QTY = 100_000.0, 0.3
ASK_2_USD, ASK_2_QTY = 100_100.0, 0.2
BUY_QTY = 0.5
TAKER_DEPOSIT = 100_000.0
# notional = 0.3 × 100,000 + 0.2 × 100,100 = 30,000 + 20,020 = 50,020 USD
BUY_NOTIONAL = 50_020.0
# average entry = 50,020 / 0.5 = 100,040 USD
BUY_AVG_USD = 100_040.0
# taker fee = 50,020 × 0.0005 = 25.01; maker fee = 50,020 × 0.0002 = 10.004
BUY_TAKER_FEE, BUY_MAKER_FEE = 25.01, 10.004


def _long_after_two_level_buy() -> tuple[Exchange, int, int]:
    """Maker rests 0.3 BTC @ 100,000 and 0.2 BTC @ 100,100; taker (100k USD) buys 0.5 market."""
    ex = make_exchange()
    maker = open_maker(ex)
    taker = ex.open_account(TAKER_DEPOSIT)
    seed_book(ex, 0, maker, asks=[(ASK_1_USD, ASK_1_QTY), (ASK_2_USD, ASK_2_QTY)])
    out = ex.submit(market_order(taker, BUY, BUY_QTY))
    assert out.accepted
    return ex, maker, taker


def test_market_buy_walks_two_ask_levels():
    """Setup: asks 0.3 @ 100,000 and 0.2 @ 100,100; a 0.5 BTC market buy takes both levels.

    Margin check (band price 110,000): 0.5 × 110,000 / 10 + 0.5 × 110,000 × 0.05 % = 5,527.5
    ≤ 100,000, so the order passes.
    """
    # Arrange
    ex = make_exchange()
    assert (ex.perps[0].taker_fee, ex.perps[0].maker_fee, ex.perps[0].lot_size) == (
        TAKER_FEE,
        MAKER_FEE,
        LOT,
    )
    maker = open_maker(ex)
    taker = ex.open_account(TAKER_DEPOSIT)
    seed_book(ex, 0, maker, asks=[(ASK_1_USD, ASK_1_QTY), (ASK_2_USD, ASK_2_QTY)])

    # Act
    out = ex.submit(market_order(taker, BUY, BUY_QTY))

    # Assert
    assert out.accepted and out.reason is None
    assert out.filled_qty == pytest.approx(BUY_QTY, rel=1e-12)
    assert out.expired_qty == 0.0 and out.rested_qty == 0.0
    assert out.avg_price_usd == pytest.approx(BUY_AVG_USD, rel=1e-12)
    acc = ex.accounts
    # 0.5 BTC / 0.001 = 500 lots, long for the taker, short for the maker
    assert acc.qty_lots[taker, 0] == round(BUY_QTY / LOT) == 500
    assert acc.qty_lots[maker, 0] == -500
    assert out.avg_price_usd * out.filled_qty == pytest.approx(BUY_NOTIONAL, rel=1e-12)
    fills = fill_rows(ex)
    assert sum(f["taker_fee_usd"] for f in fills) == pytest.approx(BUY_TAKER_FEE, rel=1e-12)
    assert sum(f["maker_fee_usd"] for f in fills) == pytest.approx(BUY_MAKER_FEE, rel=1e-12)
    # maker entry: (300 × 100,000 + 200 × 100,100) / 500 = 100,040, the same as the taker's
    assert acc.entry_price_usd[taker, 0] == pytest.approx(BUY_AVG_USD, rel=1e-12)
    assert acc.entry_price_usd[maker, 0] == pytest.approx(BUY_AVG_USD, rel=1e-12)
    # taker wallet 100,000 − 25.01 = 99,974.99; maker 100M − 10.004; fee account 35.014
    assert acc.collateral_usd[taker] == pytest.approx(TAKER_DEPOSIT - BUY_TAKER_FEE, abs=USD_TOL)
    maker_wallet = MAKER_DEPOSIT_USD - BUY_MAKER_FEE
    assert acc.collateral_usd[maker] == pytest.approx(maker_wallet, abs=USD_TOL)
    assert acc.collateral_usd[ex.fee_account] == pytest.approx(
        BUY_TAKER_FEE + BUY_MAKER_FEE, abs=USD_TOL
    )
    assert acc.fees_paid_usd[taker, 0] == pytest.approx(BUY_TAKER_FEE, abs=USD_TOL)
    # one fill event per level, at the maker's price: 0.3 @ 100,000 then 0.2 @ 100,100
    assert [(f["taker"], f["maker"], f["price_usd"], f["qty"]) for f in fills] == [
        (taker, maker, pytest.approx(ASK_1_USD), pytest.approx(ASK_1_QTY)),
        (taker, maker, pytest.approx(ASK_2_USD), pytest.approx(ASK_2_QTY)),
    ]
    assert ex.prices.last_usd[0] == ASK_2_USD
    assert_invariants(ex)


CLOSE_BID_USD, CLOSE_QTY = 101_000.0, 0.2
FLIP_BID_USD, FLIP_QTY = 99_000.0, 0.5


def test_partial_close_realises_pnl_and_keeps_entry():
    """Setup: the taker's 0.5 BTC long @ 100,040 (above) sells 0.2 into a maker bid @ 101,000.

    Reduce rule: realised = 0.2 × (101,000 − 100,040) = 0.2 × 960 = 192 USD, entry unchanged.
    """
    # Arrange
    ex, maker, taker = _long_after_two_level_buy()
    seed_book(ex, 0, maker, bids=[(CLOSE_BID_USD, CLOSE_QTY)])
    wallet_before = float(ex.accounts.collateral_usd[taker])
    maker_before = float(ex.accounts.collateral_usd[maker])

    # Act
    out = ex.submit(market_order(taker, SELL, CLOSE_QTY))

    # Assert
    assert out.accepted and out.avg_price_usd == pytest.approx(CLOSE_BID_USD)
    acc = ex.accounts
    assert acc.qty_lots[taker, 0] == 300  # 500 − 200 lots
    assert acc.entry_price_usd[taker, 0] == pytest.approx(BUY_AVG_USD, rel=1e-12)
    assert acc.realized_pnl_usd[taker, 0] == pytest.approx(192.0, abs=USD_TOL)
    # taker fee = 0.2 × 101,000 × 0.0005 = 10.1 → wallet += 192 − 10.1 = 181.9
    assert acc.collateral_usd[taker] - wallet_before == pytest.approx(181.9, abs=USD_TOL)
    # maker's short −500 @ 100,040 buys back 200: −0.2 × 960 = −192; fee 20,200 × 0.0002 = 4.04
    assert acc.qty_lots[maker, 0] == -300
    assert acc.entry_price_usd[maker, 0] == pytest.approx(BUY_AVG_USD, rel=1e-12)
    assert acc.collateral_usd[maker] - maker_before == pytest.approx(-192.0 - 4.04, abs=USD_TOL)
    assert_invariants(ex)


def test_flip_closes_old_side_and_opens_remainder_at_fill_price():
    """Setup: after the partial close the taker is long 0.3 @ 100,040 and the maker short 0.3;
    the taker sells 0.5 into a maker bid @ 99,000, flipping both.

    Taker: closes 0.3 → 0.3 × (99,000 − 100,040) = −312, opens 0.2 short @ 99,000.
    Maker: closes 0.3 short → +312, opens 0.2 long @ 99,000.
    """
    # Arrange
    ex, maker, taker = _long_after_two_level_buy()
    seed_book(ex, 0, maker, bids=[(CLOSE_BID_USD, CLOSE_QTY)])
    ex.submit(market_order(taker, SELL, CLOSE_QTY))
    seed_book(ex, 0, maker, bids=[(FLIP_BID_USD, FLIP_QTY)])
    wallet_before = float(ex.accounts.collateral_usd[taker])

    # Act
    out = ex.submit(market_order(taker, SELL, FLIP_QTY))

    # Assert
    assert out.accepted and out.filled_qty == pytest.approx(FLIP_QTY)
    acc = ex.accounts
    assert (acc.qty_lots[taker, 0], acc.qty_lots[maker, 0]) == (-200, 200)
    assert acc.entry_price_usd[taker, 0] == FLIP_BID_USD
    assert acc.entry_price_usd[maker, 0] == FLIP_BID_USD
    # realised in total: +192 (partial close) − 312 (flip) = −120
    assert acc.realized_pnl_usd[taker, 0] == pytest.approx(192.0 - 312.0, abs=USD_TOL)
    assert acc.realized_pnl_usd[maker, 0] == pytest.approx(-192.0 + 312.0, abs=USD_TOL)
    # fee on the whole fill: 0.5 × 99,000 × 0.0005 = 24.75 → wallet −312 − 24.75
    assert acc.collateral_usd[taker] - wallet_before == pytest.approx(-336.75, abs=USD_TOL)
    assert_invariants(ex)


# --- 2. a fill moves only its two parties and the fee pool ----------------------------------


def test_fill_moves_only_taker_maker_and_fee_account():
    """Setup: bystanders hold a short (B1), a cross long (B2), an isolated long (B3, 20x) and
    resting perp and spot orders (B4); then a taker buys 0.4 BTC from the maker's 100,500 ask.

    Fees: notional 0.4 × 100,500 = 40,200; taker 20.1 + maker 8.04 = 28.14 to the fee account.
    """
    # Arrange
    ex = make_exchange(spots=(SPOT,))
    maker = open_maker(ex)
    b1, b2, b3, b4, taker = (int(i) for i in ex.open_accounts(5, 1_000_000.0))
    seed_book(ex, 0, b1, asks=[(100_000.0, 0.3)])
    assert ex.submit(market_order(b2, BUY, 0.2)).accepted
    assert ex.submit(market_order(b3, BUY, 0.1, leverage=20.0, isolated=True)).accepted
    ex.deposit_spot(b4, 0, 1.0)
    seed_book(ex, 0, b4, bids=[(95_000.0, 0.1)])
    seed_book(ex, 0, b4, asks=[(100_000.0, 0.5)], venue=Venue.SPOT)
    seed_book(ex, 0, maker, asks=[(100_500.0, 0.4)])
    before = balances(ex, with_reserves=True)
    fee_before = float(ex.accounts.collateral_usd[ex.fee_account])
    n_fills = len(fill_rows(ex))

    # Act
    out = ex.submit(market_order(taker, BUY, 0.4))

    # Assert
    assert out.filled_qty == pytest.approx(0.4)
    after = balances(ex, with_reserves=True)
    assert changed_accounts(before, after) == {taker, maker, ex.fee_account}
    [row] = fill_rows(ex, n_fills)
    taker_fee, maker_fee = row["taker_fee_usd"], row["maker_fee_usd"]
    assert (taker_fee, maker_fee) == (pytest.approx(20.1), pytest.approx(8.04))
    fee_delta = float(ex.accounts.collateral_usd[ex.fee_account]) - fee_before
    assert fee_delta == pytest.approx(taker_fee + maker_fee, abs=USD_TOL)
    assert_invariants(ex)


# --- 3. isolated margin ---------------------------------------------------------------------

ISO_DEPOSIT, ISO_LEVERAGE, ISO_QTY = 10_000.0, 20.0, 0.1
ISO_EXIT_USD = 102_000.0


def test_isolated_position_locks_and_releases_margin():
    """Setup: 10,000 USD; buy 0.1 BTC @ 100,000 isolated at 20x, then sell 0.05 @ 102,000.

    Open: lock 0.1 × 100,000 / 20 = 500; fee 0.1 × 100,000 × 0.05 % = 5; wallet 9,495.
    Close half: release 500 × 50 / 100 = 250; realised 0.05 × 2,000 = 100;
    fee 0.05 × 102,000 × 0.05 % = 2.55; wallet 9,495 + 250 + 100 − 2.55 = 9,842.45.
    """
    # Arrange
    ex = index_marked_exchange()
    maker = open_maker(ex)
    iso = ex.open_account(ISO_DEPOSIT)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, ISO_QTY)])

    # Act: open
    opened = ex.submit(market_order(iso, BUY, ISO_QTY, leverage=ISO_LEVERAGE, isolated=True))

    # Assert: open
    acc = ex.accounts
    assert opened.accepted and acc.is_isolated[iso, 0]
    assert acc.isolated_margin_usd[iso, 0] == pytest.approx(500.0, abs=USD_TOL)
    assert acc.collateral_usd[iso] == pytest.approx(9_495.0, abs=USD_TOL)
    # the isolated position takes no cross initial margin: available = wallet 9,495
    assert ex.available_usd(iso) == pytest.approx(9_495.0, abs=USD_TOL)
    assert_invariants(ex)

    # Act: close half at a profit
    seed_book(ex, 0, maker, bids=[(ISO_EXIT_USD, ISO_QTY / 2)])
    closed = ex.submit(market_order(iso, SELL, ISO_QTY / 2))

    # Assert: close half
    assert closed.accepted and acc.qty_lots[iso, 0] == 50
    assert acc.isolated_margin_usd[iso, 0] == pytest.approx(250.0, abs=USD_TOL)
    assert acc.collateral_usd[iso] == pytest.approx(9_842.45, abs=USD_TOL)
    assert_invariants(ex)


def test_cross_margin_is_the_default():
    """Setup: 10,000 USD; buy 0.1 BTC @ 100,000 without a margin mode.

    Cross: nothing is locked; the wallet pays only the fee 0.1 × 100,000 × 0.05 % = 5;
    available = 9,995 − IM 0.1 × 100,000 / 10 = 8,995.
    """
    ex = index_marked_exchange()
    maker = open_maker(ex)
    trader = ex.open_account(ISO_DEPOSIT)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, ISO_QTY)])

    ex.submit(market_order(trader, BUY, ISO_QTY))

    acc = ex.accounts
    assert not acc.is_isolated[trader, 0]
    assert acc.isolated_margin_usd[trader, 0] == 0.0
    assert acc.collateral_usd[trader] == pytest.approx(9_995.0, abs=USD_TOL)
    assert ex.available_usd(trader) == pytest.approx(8_995.0, abs=USD_TOL)


# --- 4. pre-trade rejections ----------------------------------------------------------------

BID_USD, ASK_USD = 99_000.0, 101_000.0
POOR_DEPOSIT, WHALE_DEPOSIT = 1_000.0, 10_000_000.0


class RejectScene:
    """Perp 0 (BTC, mark = index) quoted 99,000 / 101,000 by a maker; perp 1 (ALT) empty;
    one spot market. Accounts: poor (1,000 USD, flat), whale (10M USD, flat), long (0.1 BTC).
    """

    def __init__(self) -> None:
        self.ex = make_exchange(
            perps=(btc_perp(mark_rule="index"), small_cap_perp()),
            index=(INDEX_USD, 1.0),
            spots=(SPOT,),
        )
        self.maker = open_maker(self.ex)
        self.poor = self.ex.open_account(POOR_DEPOSIT)
        self.whale = self.ex.open_account(WHALE_DEPOSIT)
        self.long = self.ex.open_account(100_000.0)
        seed_book(self.ex, 0, self.maker, bids=[(BID_USD, 1.0)], asks=[(ASK_USD, 1.0)])
        assert self.ex.submit(market_order(self.long, BUY, 0.1)).accepted
        seed_book(self.ex, 0, self.maker, asks=[(ASK_USD, 0.1)])  # restore the ask


REJECT_CASES = [
    # (id, order builder, expected reason)
    ("qty_nan", lambda s: market_order(s.whale, BUY, math.nan), RejectReason.INVALID_QTY),
    ("qty_inf", lambda s: market_order(s.whale, BUY, math.inf), RejectReason.INVALID_QTY),
    ("qty_zero", lambda s: market_order(s.whale, BUY, 0.0), RejectReason.INVALID_QTY),
    ("qty_negative", lambda s: market_order(s.whale, BUY, -0.1), RejectReason.INVALID_QTY),
    ("account_999", lambda s: market_order(999, BUY, 0.1), RejectReason.UNKNOWN_ACCOUNT),
    ("account_negative", lambda s: market_order(-1, BUY, 0.1), RejectReason.UNKNOWN_ACCOUNT),
    (
        "system_fee_account",
        lambda s: market_order(s.ex.fee_account, BUY, 0.1),
        RejectReason.UNKNOWN_ACCOUNT,
    ),
    (
        "perp_market_2",
        lambda s: market_order(s.whale, BUY, 0.1, market=2),
        RejectReason.UNKNOWN_MARKET,
    ),
    (
        "spot_market_1",
        lambda s: market_order(s.whale, BUY, 0.1, market=1, venue=Venue.SPOT),
        RejectReason.UNKNOWN_MARKET,
    ),
    # 99,000.05 is half a 0.1 tick
    ("off_tick", lambda s: limit(s.whale, BUY, 0.1, 99_000.05), RejectReason.OFF_TICK),
    # 0.0015 BTC is 1.5 lots of 0.001
    ("off_lot", lambda s: limit(s.whale, BUY, 0.0015, BID_USD), RejectReason.OFF_LOT),
    # 0.01 × 99,000 = 990 USD: first bracket (0–300k), 150x max
    (
        "leverage_151_first_bracket",
        lambda s: limit(s.whale, BUY, 0.01, BID_USD, leverage=151.0),
        RejectReason.LEVERAGE_ABOVE_TIER_MAX,
    ),
    # 20 × 100,000 = 2M USD: bracket 800k–3M, 75x max
    (
        "leverage_76_at_2m",
        lambda s: limit(s.whale, BUY, 20.0, INDEX_USD, leverage=76.0),
        RejectReason.LEVERAGE_ABOVE_TIER_MAX,
    ),
    # needs 1 × 99,000 / 10 + 99,000 × 0.05 % = 9,949.5 > 1,000
    ("margin", lambda s: limit(s.poor, BUY, 1.0, BID_USD), RejectReason.INSUFFICIENT_MARGIN),
    (
        "reduce_only_adds_to_long",
        lambda s: market_order(s.long, BUY, 0.05, reduce_only=True),
        RejectReason.REDUCE_ONLY_WOULD_INCREASE,
    ),
    (
        "reduce_only_when_flat",
        lambda s: market_order(s.poor, SELL, 0.001, reduce_only=True),
        RejectReason.REDUCE_ONLY_WOULD_INCREASE,
    ),
    (
        "post_only_at_best_ask",
        lambda s: limit(s.whale, BUY, 0.1, ASK_USD, post_only=True),
        RejectReason.POST_ONLY_WOULD_CROSS,
    ),
    (
        "market_into_empty_book",
        lambda s: market_order(s.whale, BUY, 1.0, market=1),
        RejectReason.NO_LIQUIDITY,
    ),
    (
        "spot_sell_without_coins",
        lambda s: limit(s.poor, SELL, 0.01, INDEX_USD, venue=Venue.SPOT),
        RejectReason.INSUFFICIENT_SPOT,
    ),
]


@pytest.mark.parametrize(
    ("build", "reason"),
    [pytest.param(b, r, id=i) for i, b, r in REJECT_CASES],
)
def test_pre_trade_rejection(build, reason):
    """Each bad order returns accepted=False with its reason, is counted and logged once, and
    leaves every balance, reserve, leverage setting and margin mode as it was."""
    # Arrange
    scene = RejectScene()
    ex = scene.ex
    order = build(scene)
    before = balances(ex, with_reserves=True)
    settings_before = (ex.accounts.leverage.copy(), ex.accounts.is_isolated.copy())
    counts_before = ex.events.reject_counts.copy()
    n_rejects = ex.events.count("reject")

    # Act
    out = ex.submit(order)

    # Assert
    assert out == OrderOutcome(accepted=False, reason=reason)
    assert ex.events.reject_counts - counts_before == {reason.name: 1}
    assert ex.events.rows["reject"][n_rejects:] == [
        (ex.t, order.account, str(order.venue), order.market, reason.name)
    ]
    assert_same_balances(before, balances(ex, with_reserves=True))
    np.testing.assert_array_equal(ex.accounts.leverage, settings_before[0])
    np.testing.assert_array_equal(ex.accounts.is_isolated, settings_before[1])
    assert_invariants(ex)


@pytest.mark.parametrize(
    ("qty", "leverage"),
    [
        pytest.param(0.01, 150.0, id="150x_in_first_bracket"),  # 1,000 USD ≤ 300k → 150x
        pytest.param(20.0, 75.0, id="75x_at_2m"),  # 2M USD in 800k–3M → 75x
    ],
)
def test_leverage_at_the_tier_maximum_is_accepted(qty, leverage):
    """The bracket edges of the rejection cases above: exactly the tier maximum is allowed.

    2M at 75x needs 2,000,000 / 75 + 2,000,000 × 0.05 % = 26,666.67 + 1,000 ≤ 10M.
    """
    scene = RejectScene()

    out = scene.ex.submit(limit(scene.whale, BUY, qty, INDEX_USD, leverage=leverage))

    assert out.accepted and out.rested_qty == pytest.approx(qty)
    assert scene.ex.accounts.leverage[scene.whale, 0] == leverage


def test_regression_rejected_post_only_order_keeps_leverage_setting():
    """Regression: `_submit_perp` stored the order's leverage before the book refused a
    post-only order, so a rejected order re-margined the account's open position.

    Setup: the `long` account holds 0.1 BTC at the default 10x (IM 0.1 × 100,000 / 10 =
    1,000). A post-only buy at 1x that would cross must leave the setting at 10x and the
    available balance unchanged (at 1x the IM would be 10,000 and available 9,000 lower).
    """
    # Arrange
    scene = RejectScene()
    ex, acct = scene.ex, scene.long
    available_before = ex.available_usd(acct)

    # Act
    out = ex.submit(limit(acct, BUY, 0.001, ASK_USD, leverage=1.0, post_only=True))

    # Assert
    assert out.reason == RejectReason.POST_ONLY_WOULD_CROSS
    assert ex.accounts.leverage[acct, 0] == DEFAULT_LEVERAGE
    assert ex.available_usd(acct) == pytest.approx(available_before, abs=USD_TOL)


def test_regression_lowering_leverage_cannot_leave_available_balance_negative():
    """Regression: the pre-trade check margined only the opening part at the order's leverage,
    then that leverage became the setting of the whole existing cross position.

    Setup: 20,000 USD, long 1 BTC @ 100,000 at 10x → wallet 20,000 − 50 fee = 19,950, IM
    10,000, available 9,950. A resting buy of 0.001 @ 99,000 at 1x needs 99 + 0.05 ≤ 9,950
    and passes; but at 1x the long's IM becomes 100,000, so available would be
    19,950 − 100,000 − 99 = −80,149. An accepted order must keep available ≥ 0 at unchanged
    marks (Binance refuses a leverage change the margin cannot carry).
    """
    # Arrange
    ex = index_marked_exchange()
    maker = open_maker(ex)
    trader = ex.open_account(20_000.0)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, 1.0)])
    ex.submit(market_order(trader, BUY, 1.0))
    assert ex.available_usd(trader) == pytest.approx(9_950.0, abs=USD_TOL)

    # Act
    ex.submit(limit(trader, BUY, 0.001, 99_000.0, leverage=1.0))

    # Assert
    assert ex.available_usd(trader) >= 0.0


def test_regression_resting_reduce_only_order_never_opens_a_position():
    """Regression (fixed by refusing resting reduce-only orders): a reduce-only limit order was
    clipped to the position only when submitted; once the position was gone it still rested
    and, when lifted, opened a new position with no margin check and no reserve.

    Setup: A (20,000 USD) is long 1 BTC @ 100,000 and sends a reduce-only sell 1 @ 103,000
    (it may rest or be refused); A closes the long with a market sell into a 100,000 bid;
    B then market-buys 1 BTC (the maker also offers 1 @ 104,000, inside the 5 % market-order
    band, so B fills either way).
    A must stay flat.
    """
    # Arrange
    ex = index_marked_exchange()
    maker = open_maker(ex)
    a_acct, b_acct = ex.open_account(20_000.0), ex.open_account(1_000_000.0)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, 1.0)])
    ex.submit(market_order(a_acct, BUY, 1.0))
    ex.submit(limit(a_acct, SELL, 1.0, 103_000.0, reduce_only=True))
    seed_book(ex, 0, maker, bids=[(INDEX_USD, 1.0)], asks=[(104_000.0, 1.0)])
    ex.submit(market_order(a_acct, SELL, 1.0))
    assert ex.accounts.qty_lots[a_acct, 0] == 0

    # Act
    bought = ex.submit(market_order(b_acct, BUY, 1.0))

    # Assert
    assert bought.filled_qty == pytest.approx(1.0)
    assert ex.accounts.qty_lots[a_acct, 0] == 0
    assert_invariants(ex)


# --- 5. market-order price protection -------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "levels", "avg_usd"),
    [
        # band 100,000 × 1.1 = 110,000: the 110,000 ask fills, 110,000.1 does not;
        # avg = (0.5 × 100,000 + 0.5 × 110,000) / 1 = 105,000
        pytest.param(BUY, [100_000.0, 110_000.0, 110_000.1], 105_000.0, id="buy"),
        # band 100,000 × 0.9 = 90,000: avg = (100,000 + 90,000) / 2 = 95,000
        pytest.param(SELL, [100_000.0, 90_000.0, 89_999.9], 95_000.0, id="sell"),
    ],
)
def test_market_order_stops_at_the_protection_band(side, levels, avg_usd):
    """Setup: 0.5 BTC at each of three levels; a 1.5 BTC market order, band 10 %."""
    # Arrange
    ex = make_exchange(market_order_band=0.1)
    maker = open_maker(ex)
    taker = ex.open_account(1_000_000.0)
    book_side = [(p, 0.5) for p in levels]
    seed_book(ex, 0, maker, **({"asks": book_side} if side == BUY else {"bids": book_side}))

    # Act
    out = ex.submit(market_order(taker, side, 1.5))

    # Assert
    assert out.accepted
    assert out.filled_qty == pytest.approx(1.0)
    assert out.expired_qty == pytest.approx(0.5)
    assert out.rested_qty == 0.0
    assert out.avg_price_usd == pytest.approx(avg_usd, rel=1e-12)
    # the level beyond the band is untouched: 500 lots at ticks of 110,000.1 / 89,999.9
    assert ex.perp_books[0].levels(-side) == [(round(levels[2] / 0.1), 500)]
    assert ex.accounts.qty_lots[taker, 0] == side * 1_000


# --- 6. reserves of resting orders ----------------------------------------------------------

RESERVE_DEPOSIT, RESERVE_BID_USD = 100_000.0, 99_000.0


def test_resting_order_reserve_follows_fills_and_cancel():
    """Setup: mark = index = 100,000; 100,000 USD; a resting bid of 1 BTC @ 99,000 at 10x.

    Reserve: 1 × 99,000 / 10 = 9,900 → available 90,100.
    A taker sells 0.4: reserve 0.6 × 9,900 = 5,940; maker fee 0.4 × 99,000 × 0.02 % = 7.92;
    long 0.4 @ 99,000 has uPnL 0.4 × 1,000 = 400 and IM 0.4 × 100,000 / 10 = 4,000
    → available 99,992.08 + 400 − 4,000 − 5,940 = 90,452.08.
    Cancel: reserve 0 → available 99,992.08 + 400 − 4,000 = 96,392.08.
    """
    # Arrange
    ex = index_marked_exchange()
    bidder = ex.open_account(RESERVE_DEPOSIT)
    taker = ex.open_account(1_000_000.0)

    # Act: rest
    [rested] = seed_book(ex, 0, bidder, bids=[(RESERVE_BID_USD, 1.0)])

    # Assert: rest
    assert ex.order_margin_usd[bidder] == pytest.approx(9_900.0, abs=USD_TOL)
    assert ex.available_usd(bidder) == pytest.approx(90_100.0, abs=USD_TOL)

    # Act: partial fill
    ex.submit(market_order(taker, SELL, 0.4))

    # Assert: partial fill
    assert ex.order_margin_usd[bidder] == pytest.approx(5_940.0, abs=USD_TOL)
    assert ex.available_usd(bidder) == pytest.approx(90_452.08, abs=USD_TOL)

    # Act: cancel (another account cannot cancel it)
    assert not ex.cancel(taker, Venue.PERP, 0, rested.order_id)
    assert ex.cancel(bidder, Venue.PERP, 0, rested.order_id)

    # Assert: cancel
    assert ex.order_margin_usd[bidder] == 0.0
    assert ex.available_usd(bidder) == pytest.approx(96_392.08, abs=USD_TOL)
    assert ex.perp_books[0].open_orders(bidder) == []
    assert not ex.cancel(bidder, Venue.PERP, 0, rested.order_id)  # already gone
    assert_invariants(ex)


def test_cancel_all_releases_every_reserve():
    """Setup: two resting bids (1 @ 99,000 and 0.5 @ 98,000, 10x) and one stop.

    Reserve: 9,900 + 0.5 × 98,000 / 10 = 9,900 + 4,900 = 14,800; cancel_all returns 3.
    """
    ex = index_marked_exchange()
    bidder = ex.open_account(RESERVE_DEPOSIT)
    seed_book(ex, 0, bidder, bids=[(99_000.0, 1.0), (98_000.0, 0.5)])
    ex.submit(Order(bidder, 0, BUY, 0.1, OrderKind.STOP_MARKET, 105_000.0))
    assert ex.order_margin_usd[bidder] == pytest.approx(14_800.0, abs=USD_TOL)

    n = ex.cancel_all(bidder)

    assert n == 3
    assert ex.order_margin_usd[bidder] == 0.0
    assert ex.available_usd(bidder) == RESERVE_DEPOSIT
    assert ex.perp_books[0].n_orders == 0 and len(ex.stops) == 0


# --- 7. spot --------------------------------------------------------------------------------


def test_spot_buy_moves_usd_and_coins_between_the_parties():
    """Setup: seller S deposits 1 BTC and rests 0.5 @ 100,000; buyer B (100,000 USD) buys 0.3.

    Notional 0.3 × 100,000 = 30,000; taker fee 0.1 % = 30; maker fee 0.01 % = 3.
    B: 100,000 − 30,000 − 30 = 69,970 USD, 300 lots. S: 30,000 − 3 = 29,997 USD,
    1,000 − 300 = 700 lots, 200 still reserved. Fee account 33.
    """
    # Arrange
    ex = make_exchange(spots=(SPOT,))
    seller = ex.open_account()
    buyer = ex.open_account(100_000.0)
    ex.deposit_spot(seller, 0, 1.0)
    seed_book(ex, 0, seller, asks=[(INDEX_USD, 0.5)], venue=Venue.SPOT)
    assert ex.spot_reserved_lots[seller, 0] == 500

    # Act
    out = ex.submit(market_order(buyer, BUY, 0.3, venue=Venue.SPOT))

    # Assert
    assert out.accepted and out.filled_qty == pytest.approx(0.3)
    acc = ex.accounts
    assert (acc.spot_lots[buyer, 0], acc.spot_lots[seller, 0]) == (300, 700)
    assert ex.spot_reserved_lots[seller, 0] == 200
    assert ex.spot_deposits_lots.tolist() == [1_000]
    assert acc.collateral_usd[buyer] == pytest.approx(69_970.0, abs=USD_TOL)
    assert acc.collateral_usd[seller] == pytest.approx(29_997.0, abs=USD_TOL)
    assert acc.collateral_usd[ex.fee_account] == pytest.approx(33.0, abs=USD_TOL)
    assert not acc.qty_lots.any()  # no perp position from a spot trade
    assert_invariants(ex)
    # the 200 reserved lots are not free: 700 − 200 = 500 < 600
    refused = ex.submit(limit(seller, SELL, 0.6, 101_000.0, venue=Venue.SPOT))
    assert refused.reason == RejectReason.INSUFFICIENT_SPOT


# --- 8. stop-market -------------------------------------------------------------------------

STOP_TRIGGER_USD, STOP_FILL_BID_USD = 95_000.0, 94_000.0


@pytest.mark.parametrize("fire_index_usd", [95_000.0, 94_500.0], ids=["at_trigger", "below"])
def test_sell_stop_fires_only_when_mark_reaches_trigger(fire_index_usd):
    """Setup: long 1 BTC @ 100,000; reduce-only sell stop at 95,000; maker bid 1 @ 94,000.

    Mark (= index) 96,000: no fire. Mark ≤ 95,000: fires as a market sell, fills @ 94,000,
    realised 1 × (94,000 − 100,000) = −6,000.
    """
    # Arrange
    ex = index_marked_exchange()
    maker = open_maker(ex)
    holder = ex.open_account(50_000.0)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, 1.0)])
    ex.submit(market_order(holder, BUY, 1.0))
    stop = ex.submit(
        Order(holder, 0, SELL, 1.0, OrderKind.STOP_MARKET, STOP_TRIGGER_USD, reduce_only=True)
    )
    seed_book(ex, 0, maker, bids=[(STOP_FILL_BID_USD, 1.0)])
    assert stop.accepted and len(ex.stops) == 1

    # Act / Assert: above the trigger
    ex.set_index([96_000.0])
    ex.update_marks()
    assert ex.prices.mark_usd[0] == 96_000.0
    assert ex.trigger_stops() == []
    assert ex.accounts.qty_lots[holder, 0] == 1_000 and len(ex.stops) == 1

    # Act / Assert: at or below the trigger
    ex.set_index([fire_index_usd])
    ex.update_marks()
    [fired] = ex.trigger_stops()
    assert fired.accepted and fired.avg_price_usd == STOP_FILL_BID_USD
    assert ex.accounts.qty_lots[holder, 0] == 0
    assert ex.accounts.realized_pnl_usd[holder, 0] == pytest.approx(-6_000.0, abs=USD_TOL)
    assert len(ex.stops) == 0 and ex.trigger_stops() == []  # fires once
    assert_invariants(ex)


def test_regression_spot_stop_does_not_crash_trigger_stops():
    """Regression: `_place_stop` accepted a stop on the spot venue, but `StopBook.pop_triggered`
    looks its trigger up in the perp marks by the spot asset's index: with one perp and two
    spot assets, a stop on asset 1 made every later `trigger_stops()` raise IndexError (and one
    on asset 0 would trigger on the BTC perp's mark). Stops are perp-only: spot stops refused.
    """
    ex = make_exchange(spots=(SPOT, SpotSpec("ETH", tick_size=0.01, lot_size=0.001)))
    trader = ex.open_account(100_000.0)
    ex.deposit_spot(trader, 1, 1.0)
    stop = Order(trader, 1, SELL, 1.0, OrderKind.STOP_MARKET, 3_000.0, venue=Venue.SPOT)

    out = ex.submit(stop)
    fired = ex.trigger_stops()

    assert fired == []
    assert not out.accepted


# --- 9. funding -----------------------------------------------------------------------------

FUNDING_QTY = 1.0
INTERVAL_STEPS = 480  # 8 h of one-minute steps


def _long_short_pair() -> tuple[Exchange, int, int, int]:
    """Long L and short S of 1 BTC each, traded at 100,000; mark = index = 100,000."""
    ex = index_marked_exchange()
    maker = open_maker(ex)
    long_, short = (int(i) for i in ex.open_accounts(2, 100_000.0))
    seed_book(ex, 0, short, asks=[(INDEX_USD, FUNDING_QTY)])
    ex.submit(market_order(long_, BUY, FUNDING_QTY))
    return ex, maker, long_, short


def _run_funding_interval(ex: Exchange) -> list[int]:
    """Sample the premium at t = 1..480 (the model's step clock); settle at t = 480."""
    for t in range(1, INTERVAL_STEPS + 1):
        ex.t = t
        ex.sample_premium()
        ex.update_marks()
        if t < INTERVAL_STEPS:
            assert ex.settle_funding() == [], f"settled early at t={t}"
    return ex.settle_funding()


@pytest.mark.parametrize(
    ("bid_usd", "ask_usd", "rate"),
    [
        # impact bid 100,100 (30,000 USD impact notional fits in 1 BTC @ 100,100):
        # P = (100,100 − 100,000) / 100,000 = 0.1 %; F = 0.1 % + clamp(0.01 % − 0.1 %, ±0.05 %)
        #   = 0.1 % − 0.05 % = 0.05 %
        pytest.param(100_100.0, 100_200.0, 0.0005, id="premium_longs_pay"),
        # P = −(100,000 − 99,900) / 100,000 = −0.1 %; F = −0.1 % + 0.05 % = −0.05 %
        pytest.param(99_800.0, 99_900.0, -0.0005, id="discount_shorts_pay"),
        # index inside the impact spread: P = 0; F = 0 + clamp(0.01 %) = I = 0.01 %
        pytest.param(99_950.0, 100_050.0, 0.0001, id="flat_interest_only"),
    ],
)
def test_funding_settlement_moves_qty_mark_rate_from_long_to_short(bid_usd, ask_usd, rate):
    """Setup: L long and S short 1 BTC; a maker quotes 1 BTC each side at (bid, ask) for the
    whole 8 h interval. Payment = qty × mark × F = 1 × 100,000 × F from L to S
    (50 USD at F = 0.05 %, −50 at −0.05 %, 10 at 0.01 %)."""
    # Arrange
    ex, maker, long_, short = _long_short_pair()
    seed_book(ex, 0, maker, bids=[(bid_usd, 1.0)], asks=[(ask_usd, 1.0)])
    before = ex.accounts.collateral_usd.copy()
    payment = FUNDING_QTY * INDEX_USD * rate

    # Act
    settled = _run_funding_interval(ex)

    # Assert
    assert settled == [0]
    assert ex.prices.funding_rate[0] == pytest.approx(rate, rel=1e-9)
    delta = ex.accounts.collateral_usd - before
    assert delta[long_] == pytest.approx(-payment, rel=1e-9)
    assert delta[short] == pytest.approx(payment, rel=1e-9)
    others = np.delete(delta, [long_, short])
    np.testing.assert_array_equal(others, 0.0)  # maker (flat) and fee account untouched
    paid = ex.accounts.funding_paid_usd[:, 0]
    assert (paid[long_], paid[short]) == (pytest.approx(payment), pytest.approx(-payment))
    assert paid.sum() == pytest.approx(0.0, abs=1e-9)
    [event] = ex.events.rows["funding"]
    assert event == (
        INTERVAL_STEPS,
        0,
        pytest.approx(rate, rel=1e-9),
        INDEX_USD,
        pytest.approx(payment, rel=1e-9),
        pytest.approx(-payment, rel=1e-9),
    )
    assert_invariants(ex)


def test_funding_of_isolated_position_moves_its_isolated_margin():
    """Setup: as above with F = 0.05 % (bid 100,100 / ask 100,200), but S's short is isolated
    at 10x (margin 1 × 100,000 / 10 = 10,000): the 50 USD lands in the isolated margin."""
    # Arrange
    ex = index_marked_exchange()
    maker = open_maker(ex)
    long_, short = (int(i) for i in ex.open_accounts(2, 100_000.0))
    ex.submit(limit(short, SELL, FUNDING_QTY, INDEX_USD, isolated=True))
    ex.submit(market_order(long_, BUY, FUNDING_QTY))
    seed_book(ex, 0, maker, bids=[(100_100.0, 1.0)], asks=[(100_200.0, 1.0)])
    wallet_before = float(ex.accounts.collateral_usd[short])
    assert ex.accounts.isolated_margin_usd[short, 0] == pytest.approx(10_000.0)

    # Act
    _run_funding_interval(ex)

    # Assert: 1 × 100,000 × 0.05 % = 50
    assert ex.accounts.isolated_margin_usd[short, 0] == pytest.approx(10_050.0, rel=1e-9)
    assert ex.accounts.collateral_usd[short] == wallet_before
    assert_invariants(ex)


# --- 10. property: random operation sequences keep every invariant --------------------------

H_PERPS = (
    btc_perp(funding=FundingSpec(interval_minutes=3)),
    small_cap_perp(funding=FundingSpec(interval_minutes=2, cap=0.02)),
)
H_INDEX = (100_000.0, 1.0)
H_STEP_TICKS = (50, 10)  # price grid of the random orders: 5 USD on BTC, 0.001 USD on ALT
H_MAX_LOTS = (800, 5_000)  # up to 0.8 BTC, 5,000 ALT
N_TRADERS = 4
TRADER_DEPOSIT = 50_000.0

traders_ = st.integers(0, N_TRADERS - 1)
markets_ = st.integers(0, len(H_PERPS) - 1)
sides_ = st.sampled_from([BUY, SELL])
offsets_ = st.integers(-20, 20)
fractions_ = st.floats(0.001, 1.0)

OPS = st.one_of(
    st.tuples(st.just("deposit"), traders_, st.floats(1.0, 20_000.0)),
    st.tuples(st.just("withdraw"), traders_, st.floats(1.0, 40_000.0)),
    st.tuples(
        st.just("limit"),
        traders_,
        markets_,
        sides_,
        offsets_,
        fractions_,
        st.sampled_from([None, 1.0, 5.0, 20.0, 100.0, 150.0]),
        st.sampled_from([None, True, False]),
        st.booleans(),
    ),
    st.tuples(st.just("market"), traders_, markets_, sides_, fractions_, st.booleans()),
    st.tuples(st.just("stop"), traders_, markets_, sides_, offsets_, fractions_),
    st.tuples(st.just("spot_limit"), traders_, sides_, offsets_, st.integers(1, 500)),
    st.tuples(st.just("spot_market"), traders_, sides_, st.integers(1, 500)),
    st.tuples(st.just("cancel"), traders_, markets_, st.integers(0, 10)),
    st.tuples(st.just("cancel_all"), traders_),
    st.tuples(st.just("index"), markets_, st.floats(-0.05, 0.05)),
    st.tuples(st.just("step")),
    st.tuples(st.just("requote")),
    st.tuples(st.just("liquidate")),
    st.tuples(st.just("unwind")),
)


class World:
    """Two perps and a spot market, a quoting maker and four traders with USD and 1 BTC."""

    def __init__(
        self, perps: tuple = H_PERPS, deposit_usd: float = TRADER_DEPOSIT, **exchange_kwargs
    ) -> None:
        self.ex = make_exchange(perps=perps, index=H_INDEX, spots=(SPOT,), **exchange_kwargs)
        self.maker = open_maker(self.ex)
        self.traders = [int(i) for i in self.ex.open_accounts(N_TRADERS, deposit_usd)]
        for acct in [*self.traders, self.maker]:
            self.ex.deposit_spot(acct, 0, 1.0)
        for order in self.requote():
            assert self.ex.submit(order).rested_qty == pytest.approx(order.qty)

    def price(self, market: int, offset: int, venue: Venue = Venue.PERP) -> float:
        if venue == Venue.SPOT:
            return (round(self.ex.prices.index_usd[0] / SPOT.tick_size) + 50 * offset) / 10
        tick = self.ex.perps[market].tick_size
        ticks = round(self.ex.prices.index_usd[market] / tick) + H_STEP_TICKS[market] * offset
        return max(ticks, 1) * tick

    def requote(self) -> list[Order]:
        orders = []
        for k in range(len(H_PERPS)):
            for j in (1, 2, 3):
                qty = H_MAX_LOTS[k] * self.ex.perps[k].lot_size
                orders += [
                    limit(self.maker, BUY, qty, self.price(k, -j), market=k),
                    limit(self.maker, SELL, qty, self.price(k, j), market=k),
                ]
        for j in (1, 2):
            orders += [
                limit(self.maker, BUY, 0.1, self.price(0, -j, Venue.SPOT), venue=Venue.SPOT),
                limit(self.maker, SELL, 0.1, self.price(0, j, Venue.SPOT), venue=Venue.SPOT),
            ]
        return orders

    def lots_qty(self, market: int, fraction: float) -> float:
        return max(1, round(fraction * H_MAX_LOTS[market])) * self.ex.perps[market].lot_size

    def to_orders(self, op: tuple) -> list[Order]:
        """Turn an order op into orders; run a non-order op in place and return []."""
        name = op[0]
        if name == "requote":
            return self.requote()
        acct = self.traders[op[1]] if len(op) > 1 and name != "index" else -1
        if name == "limit":
            _, _, k, side, off, frac, lev, iso, post = op
            price = self.price(k, off)
            qty = self.lots_qty(k, frac)
            return [limit(acct, side, qty, price, k, leverage=lev, isolated=iso, post_only=post)]
        if name == "market":
            _, _, k, side, frac, reduce = op
            return [market_order(acct, side, self.lots_qty(k, frac), k, reduce_only=reduce)]
        if name == "stop":
            _, _, k, side, off, frac = op
            qty, trigger = self.lots_qty(k, frac), self.price(k, off)
            return [Order(acct, k, side, qty, OrderKind.STOP_MARKET, trigger, reduce_only=True)]
        if name == "spot_limit":
            _, _, side, off, lots = op
            price = self.price(0, off, Venue.SPOT)
            return [limit(acct, side, lots * SPOT.lot_size, price, venue=Venue.SPOT)]
        if name == "spot_market":
            _, _, side, lots = op
            return [market_order(acct, side, lots * SPOT.lot_size, venue=Venue.SPOT)]
        self.run_non_order(op, acct)
        return []

    def run_non_order(self, op: tuple, acct: int) -> None:
        ex, name = self.ex, op[0]
        if name == "deposit":
            ex.deposit(acct, op[2])
        elif name == "withdraw":
            ex.withdraw(acct, op[2])
        elif name == "cancel":
            open_ids = ex.perp_books[op[2]].open_orders(acct)
            if open_ids:
                assert ex.cancel(acct, Venue.PERP, op[2], open_ids[op[3] % len(open_ids)])
        elif name == "cancel_all":
            ex.cancel_all(acct)
        elif name == "index":
            idx = ex.prices.index_usd.copy()
            idx[op[1]] *= 1.0 + op[2]
            ex.set_index(idx)
            ex.update_marks()
        elif name == "liquidate":
            ex.liquidate()
        elif name == "unwind":
            ex.unwind_system_positions()
        elif name == "step":
            ex.t += 1
            ex.sample_premium()
            ex.update_marks()
            ex.settle_funding()
            ex.trigger_stops()


def _check_order(world: World, order: Order) -> None:
    """Submit one order; a reject changes no balance, a fill moves only its parties."""
    ex = world.ex
    before = balances(ex)
    fee_before = float(ex.accounts.collateral_usd[ex.fee_account])
    n_fills = len(fill_rows(ex))

    out = ex.submit(order)

    after = balances(ex)
    if not out.accepted:
        assert_same_balances(before, after)
        return
    new_fills = fill_rows(ex, n_fills)
    parties = {order.account, ex.fee_account} | {f["maker"] for f in new_fills}
    assert changed_accounts(before, after) <= parties
    fees = sum(f["taker_fee_usd"] + f["maker_fee_usd"] for f in new_fills)
    fee_delta = float(ex.accounts.collateral_usd[ex.fee_account]) - fee_before
    assert fee_delta == pytest.approx(fees, rel=1e-9, abs=1e-6)


def assert_reserves_match_books(ex: Exchange) -> None:
    """Reserved spot coins equal the resting spot sells; no resting order, no margin reserve."""
    for acct in range(ex.accounts.n):
        for a, book in enumerate(ex.spot_books):
            infos = [book.order_info(oid) for oid in book.open_orders(acct)]
            resting_sells = sum(lots for _, side, _, lots in infos if side == SELL)
            assert ex.spot_reserved_lots[acct, a] == resting_sells
        books = [*ex.perp_books, *ex.spot_books]
        if not any(book.open_orders(acct) for book in books):
            assert ex.order_margin_usd[acct] == pytest.approx(0.0, abs=1e-6)
        assert ex.order_margin_usd[acct] >= -1e-6


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=40), deposit=st.sampled_from([TRADER_DEPOSIT, 1e3]))
def test_random_operation_sequences_keep_every_invariant(ops, deposit):
    """Random deposits, withdrawals, limit/market/stop orders (some isolated, some post-only or
    reduce-only) on both perps and the spot book, cancels, index moves and funding steps.

    After every operation: money conserved, net open interest zero, spot coins conserved,
    funding zero-sum, no wallet or isolated margin NaN, order reserves consistent with the
    books, no flat account below zero without recorded bad debt (and, after a liquidation
    pass, no account at all: issue 16); rejected orders move nothing and a fill moves only
    taker, makers and the fee account.
    """
    world = World(deposit_usd=deposit)
    assert_invariants(world.ex)
    for op in ops:
        for order in world.to_orders(op):
            _check_order(world, order)
        assert_invariants(world.ex)
        assert_reserves_match_books(world.ex)
        assert hidden_deficits(world.ex, flat_only=op[0] != "liquidate") == {}


def test_hyperliquid_funding_pays_an_eighth_of_the_rate_hourly_on_the_oracle():
    """TV-H4 on the engine (exchange-mechanics §5.6). Setup: a perp on hyperliquid_funding()
    whose mark is its last trade (100,500: L bought 1 BTC from S there), index (oracle)
    100,000; a maker bids 1 BTC at 101,000 and asks at 101,100 all hour.
    P = (101,000 − 100,000)/100,000 = 1 %; F = 1 % + clamp(0.01 % − 1 %, ±0.05 %) = 0.95 %
    (8-hour formula); paid at t = 60 min: F/8 = 0.11875 % of 1 × 100,000 (the oracle, not the
    mark 100,500) = 118.75 from L to S."""
    ex = make_exchange(perps=(btc_perp(mark_rule="last", funding=hyperliquid_funding()),))
    maker = open_maker(ex)
    long_, short = (int(i) for i in ex.open_accounts(2, 100_000.0))
    seed_book(ex, 0, short, asks=[(100_500.0, 1.0)])
    assert ex.submit(market_order(long_, BUY, 1.0)).filled_qty == 1.0
    seed_book(ex, 0, maker, bids=[(101_000.0, 1.0)], asks=[(101_100.0, 1.0)])
    before = ex.accounts.collateral_usd.copy()

    for t in range(1, 61):
        ex.t = t
        ex.sample_premium()
        ex.update_marks()
        settled = ex.settle_funding()

    assert settled == [0] and ex.events.count("funding") == 1
    assert ex.prices.mark_usd[0] == 100_500.0
    assert ex.prices.funding_rate[0] == pytest.approx(0.0095 / 8, rel=1e-12)
    delta = ex.accounts.collateral_usd - before
    assert (delta[long_], delta[short]) == (pytest.approx(-118.75), pytest.approx(118.75))
    assert_invariants(ex)


# --- 11. check_invariants catches corrupted books -------------------------------------------


def _add_usd(ex: Exchange, acct: int) -> None:
    writable(ex.accounts.collateral_usd)[acct] += 1.0


def _add_isolated_usd(ex: Exchange, acct: int) -> None:
    writable(ex.accounts.isolated_margin_usd)[acct, 0] += 1.0


def _add_position_lot(ex: Exchange, acct: int) -> None:
    writable(ex.accounts.qty_lots)[acct, 0] += 1


def _add_spot_lot(ex: Exchange, acct: int) -> None:
    writable(ex.accounts.spot_lots)[acct, 0] += 1


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        pytest.param(_add_usd, "money", id="collateral_plus_1_usd"),
        pytest.param(_add_isolated_usd, "money", id="isolated_margin_plus_1_usd"),
        pytest.param(_add_position_lot, "open interest", id="position_plus_1_lot"),
        pytest.param(_add_spot_lot, "spot", id="spot_plus_1_lot"),
    ],
)
def test_check_invariants_detects_corrupted_books(corrupt, message):
    """Setup: a clean book (long/short pair, 1 BTC spot deposited; 200M USD deposited, so the
    cash tolerance is 1e-9 × 200M = 0.2 USD < 1 USD); one cell is then edited directly."""
    # Arrange
    ex = make_exchange(perps=(btc_perp(mark_rule="index"),), spots=(SPOT,))
    maker, other = open_maker(ex), open_maker(ex)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, 1.0)])
    ex.submit(market_order(other, BUY, 1.0))
    ex.deposit_spot(other, 0, 1.0)
    ex.check_invariants()

    # Act
    corrupt(ex, other)

    # Assert
    with pytest.raises(InvariantError, match=message):
        ex.check_invariants()


def test_check_invariants_detects_non_zero_sum_funding():
    """A settlement whose payments do not net to zero (residual 1 USD) is refused."""
    ex, _, _, _ = _long_short_pair()
    ex.check_invariants()

    ex.ledger.last_funding_residual_usd = 1.0  # as if a settlement had not summed to zero

    with pytest.raises(InvariantError, match="funding"):
        ex.check_invariants()


# --- 12. vectorised account opening ---------------------------------------------------------


def test_open_accounts_gives_contiguous_ids_and_credits_deposits():
    """Setup: after the engine's own rows (fee account, insurance pools), three accounts with
    100, 200 and 300 USD get the next three ids."""
    ex = make_exchange()
    first = ex.accounts.n
    deposits_before = ex.deposits_usd

    ids = ex.open_accounts(3, np.array([100.0, 200.0, 300.0]))

    assert ids.tolist() == [first, first + 1, first + 2]
    assert ex.accounts.n == first + 3
    assert ex.accounts.collateral_usd[ids].tolist() == [100.0, 200.0, 300.0]
    assert ex.deposits_usd - deposits_before == 600.0  # 100 + 200 + 300
    assert not ex.is_system[ids].any() and ex.is_system[ex.fee_account]
    assert_invariants(ex)


def test_open_accounts_growth_keeps_earlier_rows():
    """Setup: a trader holds an isolated long of 0.5 BTC @ 100,000 (20x) and a resting bid
    (reserve 1 × 98,000 / 20 = 4,900); then 100 more accounts (5 USD each) push the account
    book past its 64-row capacity."""
    # Arrange
    ex = make_exchange()
    maker = open_maker(ex)
    trader = ex.open_account(50_000.0)
    seed_book(ex, 0, maker, asks=[(INDEX_USD, 0.5)])
    ex.submit(market_order(trader, BUY, 0.5, isolated=True, leverage=20.0))
    seed_book(ex, 0, trader, bids=[(98_000.0, 1.0)])
    n_before, deposits_before = ex.accounts.n, ex.deposits_usd
    before = balances(ex, with_reserves=True)
    settings_before = (ex.accounts.leverage.copy(), ex.accounts.is_isolated.copy())

    # Act
    ids = ex.open_accounts(100, 5.0)

    # Assert
    assert ids.tolist() == list(range(n_before, n_before + 100))
    assert ex.accounts.n == n_before + 100
    old = {name: arr[:n_before] for name, arr in balances(ex, with_reserves=True).items()}
    assert_same_balances(before, old)
    assert ex.order_margin_usd[trader] == pytest.approx(4_900.0)
    np.testing.assert_array_equal(ex.accounts.leverage[:n_before], settings_before[0])
    np.testing.assert_array_equal(ex.accounts.is_isolated[:n_before], settings_before[1])
    np.testing.assert_array_equal(ex.accounts.collateral_usd[ids], 5.0)
    assert not ex.is_system[ids].any()
    assert ex.deposits_usd - deposits_before == pytest.approx(500.0)  # 100 × 5
    assert_invariants(ex)


def test_regression_open_accounts_growth_gives_new_rows_default_leverage():
    """Regression: `AccountBook._grow` copied only rows [0, n) and then set the default leverage
    on rows [old_cap, new_cap): rows [n, old_cap) of the new arrays kept leverage 0. Opening 100
    accounts after the engine's few system rows (capacity 64) left the new accounts below
    id 64 at 0x, so their first order raised ZeroDivisionError in the margin check and
    `risk_arrays` gave NaN initial margin.
    """
    # Arrange
    ex = make_exchange()

    # Act
    ids = ex.open_accounts(100, 1_000.0)

    # Assert
    np.testing.assert_array_equal(ex.accounts.leverage[ids, 0], DEFAULT_LEVERAGE)
    assert np.all(np.isfinite(ex.risk_arrays()["cross_im_usd"]))


def test_regression_open_accounts_with_bad_deposit_opens_nothing():
    """Regression: `open_accounts` added the rows before it validated the deposits, so a
    refused call (ValueError) left three zero-balance accounts behind, unknown to the caller."""
    ex = make_exchange()
    n_before = ex.accounts.n

    with pytest.raises(ValueError, match="deposit_usd"):
        ex.open_accounts(3, -1.0)

    assert ex.accounts.n == n_before


def test_withdraw_respects_available_and_keeps_cash_invariant():
    """Setup: 10,000 USD and a resting bid reserving 0.1 × 99,000 / 10 = 990 → available 9,010.

    9,011 is refused; 9,010 is paid and recorded as a withdrawal, so cash still balances.
    """
    ex = index_marked_exchange()
    trader = ex.open_account(10_000.0)
    seed_book(ex, 0, trader, bids=[(99_000.0, 0.1)])

    assert not ex.withdraw(trader, 9_011.0)
    assert ex.withdraw(trader, 9_010.0)

    assert ex.accounts.collateral_usd[trader] == pytest.approx(990.0, abs=USD_TOL)
    assert ex.withdrawals_usd == 9_010.0
    assert_invariants(ex)


def test_regression_unrealised_profit_cannot_be_withdrawn():
    """Issue 16, defect 2 (Binance: unrealised profit is not transferable). Setup: 2,000 USD,
    buys 0.1 BTC at 100,000 at 10x (taker fee 0.1 × 100,000 × 0.0005 = 5 → wallet 1,995); the
    mark rises to 107,000: unrealised profit 0.1 × 7,000 = 700, initial margin 10,700 / 10 =
    1,070. Available = 1,995 + 700 − 1,070 = 1,625, but the withdrawable amount is
    min(wallet, equity) − initial margin = 1,995 − 1,070 = 925: 1,000 is refused, 900 paid."""
    ex = index_marked_exchange()
    maker, trader = open_maker(ex), ex.open_account(2_000.0)
    seed_book(ex, 0, maker, asks=[(100_000.0, 0.1)])
    assert ex.submit(market_order(trader, BUY, 0.1, leverage=10.0)).filled_qty == 0.1
    ex.set_index([107_000.0])
    ex.update_marks()

    assert ex.available_usd(trader) == pytest.approx(1_625.0, abs=USD_TOL)
    assert not ex.withdraw(trader, 1_000.0)
    assert ex.withdraw(trader, 900.0)
    assert ex.accounts.collateral_usd[trader] == pytest.approx(1_095.0, abs=USD_TOL)
    assert_invariants(ex)


def test_regression_reduce_only_limit_far_below_the_mark_is_refused():
    """Issue 16, defect 7 (third path): long 0.1 BTC at 100,000, mark 100,000; bids at 99,000
    and 40,000. A reduce-only IOC sell limit at 40,000 (60 % below the mark, past the 5 % band
    at 95,000) is refused instead of selling through both bids; at 95,000 it sells 0.05 at
    99,000 and stops there."""
    ex = index_marked_exchange()
    maker, trader = open_maker(ex), ex.open_account(20_000.0)
    seed_book(ex, 0, maker, asks=[(100_000.0, 0.1)], bids=[(99_000.0, 0.05), (40_000.0, 0.05)])
    assert ex.submit(market_order(trader, BUY, 0.1)).filled_qty == 0.1

    far = ex.submit(limit(trader, SELL, 0.1, 40_000.0, ioc=True, reduce_only=True))
    near = ex.submit(limit(trader, SELL, 0.1, 95_000.0, ioc=True, reduce_only=True))

    assert (far.accepted, far.reason) == (False, RejectReason.PRICE_OUTSIDE_BAND)
    assert near.accepted and near.filled_qty == pytest.approx(0.05)
    assert ex.accounts.qty_lots[trader, 0] == 50
    assert_invariants(ex)


def test_regression_an_isolated_close_fills_no_worse_than_where_its_margin_runs_out():
    """Issue 16, defect 7 (first path). Setup: deposit 115; buys 0.1 BTC at 100,000,
    isolated at 100x: margin 10,000/100 = 100 locked, fee 5, wallet 10. Mark 99,500:
    isolated equity 100 − 50 = 50 (above MM 0.4 % · 9,950 = 39.8). Bids 0.04 at 99,100 and
    0.1 at 96,000 (4 % below the mark, inside the 5 % market-order band).
    A market sell of 0.1 used to fill at 96,000 too: realised −400 against the 100 released,
    so the wallet went to 10 − 300 − fees ≈ −294.8, flat, with no bad debt. Now it fills no
    worse than p* = (99,500·0.1 − 50)/(0.1·(1 − 0.0005)) = 99,049.5 (margin.worst_close_price):
    0.04 at 99,100, the rest expires, the wallet stays positive."""
    ex = index_marked_exchange()
    maker, trader = open_maker(ex), ex.open_account(115.0)
    seed_book(ex, 0, maker, asks=[(100_000.0, 0.1)])
    buy = market_order(trader, BUY, 0.1, leverage=100.0, isolated=True)
    assert ex.submit(buy).filled_qty == 0.1
    assert ex.accounts.collateral_usd[trader] == pytest.approx(10.0, abs=USD_TOL)
    ex.set_index([99_500.0])
    ex.update_marks()
    seed_book(ex, 0, maker, bids=[(99_100.0, 0.04), (96_000.0, 0.1)])

    out = ex.submit(market_order(trader, SELL, 0.1))

    assert out.accepted and out.filled_qty == pytest.approx(0.04)
    assert out.avg_price_usd == pytest.approx(99_100.0)
    assert ex.accounts.qty_lots[trader, 0] == 60
    assert ex.accounts.collateral_usd[trader] > 0
    assert hidden_deficits(ex) == {}
    assert_invariants(ex)


def test_regression_a_leverage_change_with_resting_orders_is_refused():
    """Found by the random crashes of tests/test_policies.py once they checked wallets. Setup:
    deposit 1,100; a resting isolated sell of 0.4 BTC at 100,000 at 40x reserves
    40,000/40 = 1,000 of margin (+ 20 of fee). A second sell of 0.001 BTC at 5x (margin 20,
    affordable) used to change the market's leverage under the resting order: when a buyer
    took both, the 0.4 BTC locked 40,000/5 = 8,000 and the wallet fell to about −6,930.
    Now the order that would change the leverage is refused while orders rest (Binance
    re-checks open orders on a leverage change), and the fill locks 1,000: wallet 92."""
    ex = index_marked_exchange()
    maker, trader = open_maker(ex), ex.open_account(1_100.0)
    first = limit(trader, SELL, 0.4, 100_000.0, leverage=40.0, isolated=True)
    assert ex.submit(first).rested_qty == pytest.approx(0.4)

    second = ex.submit(limit(trader, SELL, 0.001, 100_000.0, leverage=5.0))
    ex.submit(market_order(maker, BUY, 0.401))

    assert (second.accepted, second.reason) == (
        False, RejectReason.LEVERAGE_CHANGE_WITH_OPEN_ORDERS,
    )  # fmt: skip
    assert ex.accounts.qty_lots[trader, 0] == -400
    # 1,100 − 1,000 locked − 8 maker fee (0.02 % of 40,000)
    assert ex.accounts.collateral_usd[trader] == pytest.approx(92.0)
    assert hidden_deficits(ex) == {}
    assert_invariants(ex)


def test_regression_a_cross_account_bankrupt_at_the_mark_cannot_close_itself():
    """Issue 16, defect 7 (second path). Setup: deposit 205; buys 0.1 BTC at 100,000, cross
    at 50x (fee 5, wallet 200). Mark 97,000: equity 200 − 300 = −100, bankrupt. A market
    sell into a bid at 96,500 used to leave it flat at wallet 200 − 350 − 4.8 = −154.8 with
    no bad debt (ACCOUNT_IN_LIQUIDATION was never used). Now it is refused with that reason
    and the liquidation pass closes the account, recording what nobody covers."""
    ex = index_marked_exchange()
    maker, trader = open_maker(ex), ex.open_account(205.0)
    seed_book(ex, 0, maker, asks=[(100_000.0, 0.1)])
    assert ex.submit(market_order(trader, BUY, 0.1, leverage=50.0)).filled_qty == 0.1
    ex.set_index([97_000.0])
    ex.update_marks()
    seed_book(ex, 0, maker, bids=[(96_500.0, 0.1)])

    out = ex.submit(market_order(trader, SELL, 0.1))

    assert (out.accepted, out.reason) == (False, RejectReason.ACCOUNT_IN_LIQUIDATION)
    assert ex.accounts.qty_lots[trader, 0] == 1_00
    ex.liquidate()
    assert ex.accounts.qty_lots[trader, 0] == 0
    assert hidden_deficits(ex) == {}
    assert_invariants(ex)


# --- 13. deposit_many: vectorised deposits --------------------------------------------------


def test_deposit_many_credits_each_account_and_conserves_money():
    """Setup: three accounts with 100 USD each; deposit 10, 0 and 2.5 USD at once."""
    ex = make_exchange()
    ids = ex.open_accounts(3, 100.0)
    deposits_before = ex.deposits_usd

    ex.deposit_many(ids, np.array([10.0, 0.0, 2.5]))

    assert ex.accounts.collateral_usd[ids].tolist() == [110.0, 100.0, 102.5]
    assert ex.deposits_usd - deposits_before == 12.5  # 10 + 0 + 2.5
    assert_invariants(ex)


UNKNOWN_ID = 99  # never opened


@pytest.mark.parametrize(
    ("rows", "usd", "message"),
    [
        pytest.param([0, 1], [1.0], "one amount per account", id="shape"),
        pytest.param([0, 0], [1.0, 1.0], "distinct accounts", id="duplicate"),
        pytest.param([0, UNKNOWN_ID], [1.0, 1.0], "unknown account", id="unknown"),
        pytest.param([0, 1], [1.0, -1.0], "finite and >= 0", id="negative"),
        pytest.param([0, 1], [1.0, math.nan], "finite and >= 0", id="nan"),
    ],
)
def test_deposit_many_refuses_bad_input_and_moves_nothing(rows, usd, message):
    """Setup: two opened accounts; `rows` index them (UNKNOWN_ID is an id never opened)."""
    ex = make_exchange()
    ids = ex.open_accounts(2, 100.0).tolist()
    accounts = [ids[r] if r < len(ids) else r for r in rows]
    before, deposits_before = balances(ex), ex.deposits_usd

    with pytest.raises(ValueError, match=message):
        ex.deposit_many(np.array(accounts), np.array(usd))

    assert_same_balances(before, balances(ex))
    assert ex.deposits_usd == deposits_before


# --- 14. open_book: the opening open interest -----------------------------------------------

BOOK_USD = 10_000.0  # each opening account's wallet


def _book_exchange(n: int = 3) -> tuple[Exchange, list[int]]:
    """One BTCUSDT perp (2025 brackets: 150x to 300k, 100x to 800k) and `n` accounts of
    10,000 USD."""
    ex = index_marked_exchange()
    return ex, [int(i) for i in ex.open_accounts(n, BOOK_USD)]


def test_open_book_opens_matched_positions_at_one_price():
    """Setup: A long 100 lots (0.1 BTC = 10,000 USD) at 10x isolated, B short 60 lots at 5x
    cross, C short 40 lots at 20x cross, all at 100,000."""
    ex, (a, b, c) = _book_exchange()
    deposits_before = ex.deposits_usd

    ex.open_book(
        0, np.array([a, b, c]), np.array([100, -60, -40]), INDEX_USD,
        np.array([10.0, 5.0, 20.0]), np.array([True, False, False]),
    )  # fmt: skip

    acc = ex.accounts
    assert acc.qty_lots[[a, b, c], 0].tolist() == [100, -60, -40]
    assert acc.entry_price_usd[[a, b, c], 0].tolist() == [INDEX_USD] * 3
    assert acc.leverage[[a, b, c], 0].tolist() == [10.0, 5.0, 20.0]
    # A's isolated margin 10,000 / 10 = 1,000 moves out of its wallet; cross wallets stay
    assert acc.isolated_margin_usd[a, 0] == pytest.approx(1_000.0)
    assert acc.collateral_usd[[a, b, c]].tolist() == [9_000.0, BOOK_USD, BOOK_USD]
    assert ex.deposits_usd == deposits_before, "no money created, no fee charged"
    assert ex.long_lots[0] == 100 and ex.users_in_position == 3
    assert ex.events.rows["opening"] == [(0, 0, 3, 100, INDEX_USD)]
    assert not ex.events.rows["fill"] and ex.perp_books[0].best_bid() is None
    assert_invariants(ex)


@pytest.mark.parametrize(
    ("lots", "leverage", "message"),
    [
        # 100 − 99 = 1 lot left over: net open interest would not be zero
        pytest.param([100, -99], [10.0, 10.0], "net to zero", id="not_netting"),
        # 150x is the first bracket's cap (to 300k); 200x is above it
        pytest.param([10, -10], [200.0, 10.0], "exceeds its tier", id="leverage_above_cap"),
        # 4 BTC = 400,000 USD sits in the 100x bracket: 150x is refused there, although the
        # margin 400,000 / 150 = 2,667 would fit the wallet
        pytest.param([4_000, -4_000], [150.0, 100.0], "exceeds its tier", id="bracket_cap"),
        # 1 BTC at 5x needs 100,000 / 5 = 20,000 > 10,000 USD
        pytest.param([1_000, -1_000], [5.0, 20.0], "collateral", id="unaffordable"),
    ],
)
def test_open_book_refuses_a_bad_book_and_moves_nothing(lots, leverage, message):
    ex, (a, b, _) = _book_exchange()
    before = balances(ex)

    with pytest.raises(ValueError, match=message):
        ex.open_book(0, np.array([a, b]), np.array(lots), INDEX_USD, np.array(leverage), False)

    assert_same_balances(before, balances(ex))
    assert not ex.events.rows["opening"]


def test_open_book_refuses_a_duplicate_or_an_account_already_in_the_market():
    ex, (a, b, c) = _book_exchange()
    with pytest.raises(ValueError, match="flat and distinct"):  # A listed twice
        ex.open_book(0, np.array([a, a, b]), np.array([10, 10, -20]), INDEX_USD, 10.0, False)
    ex.open_book(0, np.array([a, b]), np.array([10, -10]), INDEX_USD, 10.0, False)
    before = balances(ex)
    with pytest.raises(ValueError, match="flat and distinct"):  # B already short 10 lots
        ex.open_book(0, np.array([b, c]), np.array([10, -10]), INDEX_USD, 10.0, False)
    assert_same_balances(before, balances(ex))


def test_regression_open_book_refuses_a_nan_leverage():
    # NaN compared False in both the tier and the collateral check, so open_book took it
    ex, (a, b, _) = _book_exchange()
    before = balances(ex)
    with pytest.raises(ValueError, match="leverage of market 0 must be finite and > 0"):
        ex.open_book(
            0, np.array([a, b]), np.array([10, -10]), INDEX_USD, np.array([math.nan, 10.0]), False
        )
    assert_same_balances(before, balances(ex))
    assert not ex.events.rows["opening"]


@pytest.mark.parametrize("leverage", [math.inf, 0.0, -10.0])
def test_open_book_refuses_an_infinite_zero_or_negative_leverage(leverage):
    # −10x: margin 10 × 0.001 × 100,000 / −10 = −100 USD passed both the tier and the
    # collateral check; inf and 0 were refused, but only as above the cap or unaffordable
    ex, (a, b, _) = _book_exchange()
    before = balances(ex)
    with pytest.raises(ValueError, match="leverage of market 0 must be finite and > 0"):
        ex.open_book(
            0, np.array([a, b]), np.array([10, -10]), INDEX_USD, np.array([10.0, leverage]), False
        )
    assert_same_balances(before, balances(ex))
    assert not ex.events.rows["opening"]


# --- 15. forced closes off the book (the counterfactual twin) -------------------------------

CRASH_USD = 95_000.0


def _off_book_pair(forced_closes: str = "off_book") -> tuple[Exchange, int, int, int]:
    """Long L and short S of 1 BTC at 100,000 (cross 10x); a maker bids 1 BTC at 94,000 and
    offers 1 BTC at 96,000; then the index (= mark) falls to 95,000."""
    ex = index_marked_exchange(liquidation=LiquidationConfig(forced_closes=forced_closes))
    maker = open_maker(ex)
    long_, short = (int(i) for i in ex.open_accounts(2, 100_000.0))
    seed_book(ex, 0, short, asks=[(INDEX_USD, 1.0)])
    ex.submit(market_order(long_, BUY, 1.0))
    seed_book(ex, 0, maker, bids=[(94_000.0, 1.0)], asks=[(96_000.0, 1.0)])
    ex.set_index([CRASH_USD])
    ex.update_marks()
    return ex, maker, long_, short


def _book_levels(ex: Exchange) -> tuple[list, list]:
    return ex.perp_books[0].levels(BUY), ex.perp_books[0].levels(SELL)


def test_forced_ioc_off_book_fills_everything_at_the_mark_within_the_limit():
    ex, _, long_, _ = _off_book_pair()
    levels, last = _book_levels(ex), float(ex.prices.last_usd[0])
    wallet = float(ex.accounts.collateral_usd[long_])
    n_fills = len(fill_rows(ex))

    # sell 1,000 lots no lower than 94,500: the mark 95,000 is within it
    filled, notional = ex.forced_ioc(long_, 0, SELL, 1_000, 94_500.0, is_liquidation=True)

    assert (filled, notional) == (1_000, pytest.approx(95_000.0))  # 1 BTC × 95,000
    assert ex.accounts.qty_lots[long_, 0] == 0
    assert ex.accounts.qty_lots[ex.sink, 0] == 1_000  # the sink bought it
    assert ex.accounts.entry_price_usd[ex.sink, 0] == CRASH_USD
    # realised 1 × (95,000 − 100,000) = −5,000; no fee on a liquidation
    assert ex.accounts.collateral_usd[long_] == pytest.approx(wallet - 5_000.0)
    assert _book_levels(ex) == levels, "no book moved (the 94,000 bid is still there)"
    assert float(ex.prices.last_usd[0]) == last, "no last price moved"
    (row,) = fill_rows(ex, n_fills)
    assert row["venue"] == "off_book" and row["maker"] == ex.sink
    assert (row["taker"], row["taker_side"], row["price_usd"]) == (long_, SELL, CRASH_USD)
    assert (row["qty"], row["taker_fee_usd"], row["is_liquidation"]) == (1.0, 0.0, True)
    assert_invariants(ex)


def test_forced_ioc_off_book_fills_nothing_beyond_the_limit():
    ex, _, long_, short = _off_book_pair()
    before, n_fills = balances(ex), len(fill_rows(ex))

    # a sell no lower than 95,000.1 and a buy no higher than 94,999.9: the mark is beyond both
    assert ex.forced_ioc(long_, 0, SELL, 1_000, 95_000.1, is_liquidation=True) == (0, 0.0)
    assert ex.forced_ioc(short, 0, BUY, 1_000, 94_999.9, is_liquidation=True) == (0, 0.0)

    assert_same_balances(before, balances(ex))
    assert len(fill_rows(ex)) == n_fills


def test_forced_ioc_off_book_pool_unwind_pays_the_taker_fee():
    ex, _, long_, _ = _off_book_pair()
    fees_before = float(ex.accounts.collateral_usd[ex.fee_account])

    ex.forced_ioc(long_, 0, SELL, 500, 90_000.0, is_liquidation=False)

    # 0.5 × 95,000 = 47,500 × 0.05 % = 23.75 USD to the fee account
    assert ex.accounts.collateral_usd[ex.fee_account] - fees_before == pytest.approx(23.75)
    assert ex.accounts.qty_lots[[long_, ex.sink], 0].tolist() == [500, 500]
    assert_invariants(ex)


def test_forced_closes_on_the_book_walk_the_bids_and_have_no_sink():
    ex, maker, long_, _ = _off_book_pair("book")
    assert ex.sink is None
    assert ex.forced_levels(0, 1) == [(94_000.0, 1_000)]  # the bids a long sells into

    filled, notional = ex.forced_ioc(long_, 0, SELL, 1_000, 94_000.0, is_liquidation=True)

    assert (filled, notional) == (1_000, pytest.approx(94_000.0))
    assert ex.accounts.qty_lots[maker, 0] == 1_000
    assert float(ex.prices.last_usd[0]) == 94_000.0
    assert_invariants(ex)


def test_forced_levels_off_book_is_one_unlimited_level_at_the_mark():
    ex, *_ = _off_book_pair()
    for side in (BUY, SELL):
        ((price, lots),) = ex.forced_levels(0, side)
        assert price == CRASH_USD and lots >= 1 << 62
    assert ex.is_system[ex.sink]


# --- 16. property: forced closes off the book keep every invariant --------------------------

H_INDEX_PERPS = tuple(dataclasses.replace(p, mark_rule="index") for p in H_PERPS)
"""The section-10 perps marked at the index, so a crash moves the marks at once."""
OFF_BOOK_OPS = st.one_of(
    OPS,
    st.tuples(
        st.just("crash"),
        st.sampled_from([0, 0, 1]),  # mostly BTC, where the opening book is
        st.sampled_from([-0.3, -0.15, -0.08, 0.08, 0.15, 0.3]) | st.floats(-0.3, 0.3),
    ),
    st.tuples(st.just("liquidate")),
    st.tuples(st.just("unwind")),
)


def _liquidate_off_book(ex: Exchange) -> None:
    """A liquidation pass; every forced close is at the mark against the sink, no last moves."""
    ex.t += 1
    marks, last = ex.prices.mark_usd.copy(), ex.prices.last_usd.copy()
    n_fills = len(fill_rows(ex))
    ex.liquidate()
    for row in fill_rows(ex, n_fills):
        assert row["venue"] == "off_book" and row["maker"] == ex.sink
        assert row["price_usd"] == marks[row["market"]]
    np.testing.assert_array_equal(ex.prices.last_usd, last)


def _run_forced_op(world: World, op: tuple) -> bool:
    """Run a crash (and the liquidation pass after it), a liquidation pass or a pool unwind;
    False for any other op."""
    ex, name = world.ex, op[0]
    if name == "crash":
        idx = ex.prices.index_usd.copy()
        idx[op[1]] *= 1.0 + op[2]
        ex.set_index(idx)
        ex.update_marks()
        _liquidate_off_book(ex)
    elif name == "liquidate":
        _liquidate_off_book(ex)
    elif name == "unwind":
        ex.unwind_system_positions()
    else:
        return False
    return True


@st.composite
def opening_books(draw) -> tuple[list[int], list[float], list[bool], float]:
    """Each trader's opening BTC position: −6 to 6 whole BTC (up to 600,000 USD, 12x its
    50,000 USD) at 20x or 50x (both allowed below the 800k bracket edge), cross or isolated."""
    n = N_TRADERS
    coins = draw(st.lists(st.integers(-6, 6), min_size=n, max_size=n))
    lots = [1_000 * c for c in coins]  # 1 BTC = 1,000 lots
    leverage = draw(st.lists(st.sampled_from([20.0, 50.0]), min_size=n, max_size=n))
    isolated = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    pool_usd = draw(st.sampled_from([0.0, 2_000.0, 1_000_000.0]))  # empty, thin, ample
    return lots, leverage, isolated, pool_usd


@settings(max_examples=80, deadline=None)
@given(book=opening_books(), ops=st.lists(OFF_BOOK_OPS, min_size=3, max_size=40))
@example(  # always run: −8 % closes a solvent 6 BTC long off the book at the mark; then
    # −30 % and +80 % bankrupt the rest and the shorts past a 2,000 USD pool, into ADL
    book=([6_000, -6_000, 3_000, 0], [50.0, 50.0, 20.0, 20.0], [False, True, False, False], 2e3),
    ops=[("crash", 0, -0.08), ("crash", 0, -0.3), ("unwind",), ("crash", 0, 0.8), ("liquidate",)],
)
def test_random_sequences_with_forced_closes_off_the_book_keep_every_invariant(book, ops):
    """A levered opening book (the maker holds its net at 10x) and an empty, thin or ample
    pool, then the random operations of section 10 plus index crashes of up to ±30 % (each
    followed by a liquidation pass), liquidation passes and pool unwinds, with
    `forced_closes="off_book"`: after every operation money, open interest (the sink
    included), spot coins and funding balance, and reserves match the books; a liquidation
    pass trades only off the books, at the mark, and moves no last price."""
    lots, leverage, isolated, pool_usd = book
    config = LiquidationConfig(forced_closes="off_book", pool_initial_usd=pool_usd)
    world = World(H_INDEX_PERPS, liquidation=config)
    world.ex.open_book(
        0,
        np.array([*world.traders, world.maker]),
        np.array([*lots, -sum(lots)]),
        H_INDEX[0],
        np.array([*leverage, 10.0]),
        np.array([*isolated, False]),
    )
    assert world.ex.sink is not None
    assert_invariants(world.ex)
    for op in ops:
        if not _run_forced_op(world, op):
            for order in world.to_orders(op):
                _check_order(world, order)
        assert_invariants(world.ex)
        assert_reserves_match_books(world.ex)
