"""Tests for model.engine.orderbook: matching, cancels, self-trade prevention and USD queries."""

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.engine.orderbook import BUY, SELL, Fill, OrderBook

TICK_USD, LOT_COINS = 0.1, 0.001  # 10000 ticks = 1000.0 USD; 10 lots = 0.01 coin
MAKER, TAKER, OTHER = 100, 200, 300


def make_book(bids=(), asks=(), owner=MAKER):
    """Rest orders of `owner` level by level, bids first; ids run 1, 2, ... in that order.

    bids/asks: [(price_ticks, [lots, lots, ...]), ...], each lots entry one order (FIFO order).
    """
    book = OrderBook(TICK_USD, LOT_COINS)
    for side, book_levels in ((BUY, bids), (SELL, asks)):
        for price_ticks, order_lots in book_levels:
            for lots in order_lots:
                book.submit(owner, side, lots, price_ticks)
    return book


def fills_of(*rows):
    """Build expected MAKER fills from (maker_order_id, price_ticks, qty_lots) rows."""
    return tuple(Fill(MAKER, order_id, price, qty) for order_id, price, qty in rows)


# name, bids, asks, order (side, qty, limit, ioc, post_only), fills,
# (order_id, filled, rested, expired), bid levels after, ask levels after
SUBMIT_CASES = [
    (
        "market buy walks 3 levels, last partially",
        [],
        [(1000, [5]), (1001, [3, 2]), (1002, [10])],  # ids 1; 2, 3; 4
        (BUY, 12, None, False, False),
        fills_of((1, 1000, 5), (2, 1001, 3), (3, 1001, 2), (4, 1002, 2)),  # 5+3+2+2 = 12
        (-1, 12, 0, 0),
        [],
        [(1002, 8)],  # 10 - 2
    ),
    (
        "market sell bigger than the book empties the bids",
        [(999, [4]), (998, [6])],
        [],
        (SELL, 15, None, False, False),
        fills_of((1, 999, 4), (2, 998, 6)),
        (-1, 10, 0, 5),  # 15 - (4+6) expires
        [],
        [],
    ),
    (
        "limit buy crosses one level then rests",
        [],
        [(1000, [5]), (1002, [5])],
        (BUY, 8, 1001, False, False),
        fills_of((1, 1000, 5)),  # 1002 > limit 1001 stops the walk
        (3, 5, 3, 0),  # ids 1, 2 are the asks, the remainder 8 - 5 rests as id 3
        [(1001, 3)],
        [(1002, 5)],
    ),
    (
        "IOC remainder expires",
        [],
        [(1000, [5]), (1002, [5])],
        (BUY, 8, 1001, True, False),
        fills_of((1, 1000, 5)),
        (-1, 5, 0, 3),
        [],
        [(1002, 5)],
    ),
    (
        "limit sell crosses two bid levels then rests at its limit",
        [(1000, [2]), (999, [2]), (998, [2])],
        [],
        (SELL, 5, 999, False, False),
        fills_of((1, 1000, 2), (2, 999, 2)),
        (4, 4, 1, 0),
        [(998, 2)],
        [(999, 1)],
    ),
    (
        "post-only that would cross is rejected whole",
        [],
        [(1000, [5])],
        (BUY, 3, 1000, False, True),
        (),
        (-1, 0, 0, 3),
        [],
        [(1000, 5)],
    ),
    (
        "post-only below the ask rests",
        [],
        [(1000, [5])],
        (BUY, 3, 999, False, True),
        (),
        (2, 0, 3, 0),
        [(999, 3)],
        [(1000, 5)],
    ),
    (
        "FIFO within a level: earlier maker filled first",
        [],
        [(1000, [2, 3])],
        (BUY, 4, None, False, False),
        fills_of((1, 1000, 2), (2, 1000, 2)),
        (-1, 4, 0, 0),
        [],
        [(1000, 1)],  # 2 + 3 - 4
    ),
]


@pytest.mark.parametrize(
    ("bids", "asks", "order", "fills", "outcome", "bids_after", "asks_after"),
    [case[1:] for case in SUBMIT_CASES],
    ids=[case[0] for case in SUBMIT_CASES],
)
def test_submit_matches_rests_and_expires(
    bids, asks, order, fills, outcome, bids_after, asks_after
):
    book = make_book(bids, asks)
    side, qty, limit, ioc, post_only = order
    result = book.submit(TAKER, side, qty, limit, ioc=ioc, post_only=post_only)
    assert result.fills == fills
    assert (result.order_id, result.filled_lots, result.rested_lots, result.expired_lots) == outcome
    assert result.stp_cancelled == ()
    assert book.levels(BUY) == bids_after
    assert book.levels(SELL) == asks_after


def test_self_trade_prevention_expires_own_makers_and_fills_the_next():
    book = OrderBook(TICK_USD, LOT_COINS)
    book.submit(TAKER, SELL, 3, 1000)  # id 1, the taker's own ask, first in the queue
    book.submit(MAKER, SELL, 4, 1000)  # id 2
    book.submit(TAKER, SELL, 2, 1001)  # id 3, own again
    result = book.submit(TAKER, BUY, 5, 1001)
    assert result.stp_cancelled == (1, 3)
    assert result.fills == fills_of((2, 1000, 4))
    assert (result.order_id, result.rested_lots) == (4, 1)  # 5 - 4 rests at 1001
    assert book.levels(SELL) == []
    assert book.levels(BUY) == [(1001, 1)]
    assert book.open_orders(TAKER) == [4]


def test_cancel_updates_levels_and_best_prices():
    book = make_book(bids=[(999, [2, 3]), (998, [4])], asks=[(1001, [5])])  # ids 1, 2; 3; 4
    assert book.cancel(1) == 2
    assert book.cancel(1) == 0
    assert book.levels(BUY) == [(999, 3), (998, 4)]
    assert book.cancel(2) == 3
    assert book.best_bid() == 998  # level 999 emptied and disappeared
    assert book.levels(BUY) == [(998, 4)]
    assert book.cancel(999) == 0  # unknown id
    assert book.n_orders == 2


def test_matching_skips_lazily_cancelled_orders():
    book = make_book(bids=[(999, [2, 3])])  # ids 1, 2
    book.cancel(1)
    result = book.submit(TAKER, SELL, 3, None)
    assert result.fills == fills_of((2, 999, 3))
    assert book.cancel(2) == 0  # fully filled, already gone
    assert book.best_bid() is None


def test_many_cancels_at_a_live_level_keep_fifo():
    book = make_book(asks=[(1000, [1] * 40)])  # ids 1..40, 1 lot each
    cancelled = sum(book.cancel(order_id) for order_id in range(2, 40))  # 38 dead ids, compacted
    result = book.submit(TAKER, BUY, 2, None)
    assert cancelled == 38
    assert result.fills == fills_of((1, 1000, 1), (40, 1000, 1))
    assert book.levels(SELL) == []


def test_cancel_owner_removes_only_that_account():
    book = make_book(bids=[(999, [2]), (998, [4])], asks=[(1001, [5]), (1002, [1])])
    book.submit(OTHER, BUY, 7, 997)  # id 5
    assert book.cancel_owner(MAKER) == 4
    assert book.cancel_owner(MAKER) == 0
    assert book.open_orders(MAKER) == []
    assert (book.best_bid(), book.best_ask(), book.n_orders) == (997, None, 1)


# Quote book, tick 0.1 USD and lot 0.001 coin: bids 999.0 x 0.010, 998.0 x 0.020, 900.0 x 0.005;
# asks 1001.0 x 0.010, 1002.0 x 0.030, 1100.0 x 0.005. Mid = (9990 + 10010) / 2 * 0.1 = 1000.0.
QUOTE_BIDS = [(9990, [10]), (9980, [20]), (9000, [5])]
QUOTE_ASKS = [(10010, [10]), (10020, [30]), (11000, [5])]


def test_best_prices_and_mid():
    book = make_book(QUOTE_BIDS, QUOTE_ASKS)
    assert (book.best_bid(), book.best_ask()) == (9990, 10010)
    assert book.mid_price() == pytest.approx(1000.0)
    assert make_book(asks=QUOTE_ASKS).mid_price() is None
    assert book.levels(SELL, 2) == [(10010, 10), (10020, 30)]


@pytest.mark.parametrize(
    ("bids", "asks", "pct", "side", "depth"),
    [
        # band [9900, 10100] ticks: bids 999*0.01 + 998*0.02 = 9.99 + 19.96 = 29.95 USD
        (QUOTE_BIDS, QUOTE_ASKS, 0.01, BUY, 29.95),
        # asks 1001*0.01 + 1002*0.03 = 10.01 + 30.06 = 40.07 USD
        (QUOTE_BIDS, QUOTE_ASKS, 0.01, SELL, 40.07),
        (QUOTE_BIDS, QUOTE_ASKS, 0.01, None, 70.02),  # 29.95 + 40.07
        # band [8000, 12000] adds 900*0.005 + 1100*0.005 = 4.5 + 5.5
        (QUOTE_BIDS, QUOTE_ASKS, 0.2, None, 80.02),
        # no mid: reference = best ask 10010; band up to 10010*1.001 = 10020.01 keeps 10020
        ([], QUOTE_ASKS, 0.001, None, 40.07),
        ([], [], 0.01, None, 0.0),
    ],
)
def test_depth_usd(bids, asks, pct, side, depth):
    assert make_book(bids, asks).depth_usd(pct, side) == pytest.approx(depth)


@pytest.mark.parametrize(
    ("side", "notional_usd", "price_usd"),
    [
        (BUY, 5.0, 1001.0),  # inside the first ask level (10.01 USD)
        # 10.01 USD buys 0.010 coin at 1001; 9.99 USD buys 9.99/1002 coin at 1002
        (BUY, 20.0, 20.0 / (0.010 + 9.99 / 1002)),  # 1001.49925...
        # 9.99 USD sells 0.010 coin at 999; 10.01 USD sells 10.01/998 coin at 998
        (SELL, 20.0, 20.0 / (0.010 + 10.01 / 998)),  # 998.49925...
        (BUY, 60.0, None),  # asks hold 10.01 + 30.06 + 5.5 = 45.57 USD
        (SELL, 50.0, None),  # bids hold 9.99 + 19.96 + 4.5 = 34.45 USD
    ],
)
def test_impact_price_is_read_only(side, notional_usd, price_usd):
    book = make_book(QUOTE_BIDS, QUOTE_ASKS)
    before = (book.levels(BUY), book.levels(SELL), book.n_orders)
    impact = book.impact_price(side, notional_usd)
    assert impact == (None if price_usd is None else pytest.approx(price_usd, rel=1e-12))
    assert (book.levels(BUY), book.levels(SELL), book.n_orders) == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"qty_lots": 0}, "qty_lots"),
        ({"qty_lots": -3}, "qty_lots"),
        ({"qty_lots": 1.5}, "qty_lots"),
        ({"qty_lots": True}, "qty_lots"),
        ({"side": 0}, "side"),
        ({"side": 2}, "side"),
        ({"limit_ticks": 0}, "limit_ticks"),
        ({"limit_ticks": -10}, "limit_ticks"),
        ({"limit_ticks": 1000.0}, "limit_ticks"),
        ({"limit_ticks": None, "post_only": True}, "post_only"),
    ],
)
def test_submit_rejects_bad_input(kwargs, field):
    order = {"owner": TAKER, "side": BUY, "qty_lots": 1, "limit_ticks": 1000} | kwargs
    with pytest.raises(ValueError, match=field):
        make_book().submit(**order)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda book: book.impact_price(BUY, 0.0), "notional_usd"),
        (lambda book: book.depth_usd(-0.01), "pct"),
        (lambda book: book.levels(0), "side"),
    ],
)
def test_queries_reject_bad_input(call, field):
    with pytest.raises(ValueError, match=field):
        call(make_book())


SUBMIT_OP = st.tuples(
    st.just("submit"),
    st.integers(0, 3),  # owner
    st.sampled_from([BUY, SELL]),
    st.integers(1, 20),  # qty_lots
    st.none() | st.integers(95, 105),  # limit_ticks
    st.booleans(),  # ioc
    st.booleans(),  # post_only
)
CANCEL_OP = st.tuples(st.just("cancel"), st.integers(1, 40))
CANCEL_OWNER_OP = st.tuples(st.just("cancel_owner"), st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SUBMIT_OP, SUBMIT_OP, CANCEL_OP, CANCEL_OWNER_OP), max_size=60))
def test_random_operations_keep_the_book_consistent(ops):
    book = OrderBook(TICK_USD, LOT_COINS)
    shadow = {}  # order_id -> [owner, side, price_ticks, remaining_lots]
    totals = defaultdict(int)
    for op in ops:
        if op[0] == "submit":
            _apply_submit(book, shadow, totals, *op[1:])
        elif op[0] == "cancel":
            cancelled = book.cancel(op[1])
            assert cancelled == shadow.pop(op[1], [0, 0, 0, 0])[3]
            totals["cancelled"] += cancelled
        else:
            own = [i for i, order in shadow.items() if order[0] == op[1]]
            assert book.cancel_owner(op[1]) == len(own)
            totals["cancelled"] += sum(shadow.pop(i)[3] for i in own)
        _assert_consistent(book, shadow, totals)


def _apply_submit(book, shadow, totals, owner, side, qty, limit, ioc, post_only):
    post_only = post_only and limit is not None
    result = book.submit(owner, side, qty, limit, ioc=ioc, post_only=post_only)
    assert result.filled_lots + result.rested_lots + result.expired_lots == qty
    assert sum(fill.qty_lots for fill in result.fills) == result.filled_lots
    for order_id in result.stp_cancelled:
        assert shadow[order_id][0] == owner
        totals["cancelled"] += shadow.pop(order_id)[3]
    for fill in result.fills:
        maker = shadow[fill.maker_order_id]
        assert (maker[0], maker[1], maker[2]) == (fill.maker_owner, -side, fill.price_ticks)
        assert fill.maker_owner != owner
        assert limit is None or (limit - fill.price_ticks) * side >= 0
        maker[3] -= fill.qty_lots
        if maker[3] == 0:
            del shadow[fill.maker_order_id]
    if result.rested_lots:
        shadow[result.order_id] = [owner, side, limit, result.rested_lots]
    totals["submitted"] += qty
    totals["filled"] += result.filled_lots
    totals["expired"] += result.expired_lots


def _assert_consistent(book, shadow, totals):
    resting_lots = 0
    for side in (BUY, SELL):
        expected = defaultdict(int)
        for _owner, order_side, price, lots in shadow.values():
            if order_side == side:
                expected[price] += lots
        book_levels = book.levels(side)
        assert book_levels == sorted(expected.items(), key=lambda level: -side * level[0])
        resting_lots += sum(lots for _, lots in book_levels)
    for order_id, order in shadow.items():
        assert book.order_info(order_id) == tuple(order)
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask
    assert book.n_orders == len(shadow)
    # every lot is taker-filled, expired or rested; rested lots are maker-filled, cancelled or rest
    assert totals["submitted"] == (
        2 * totals["filled"] + totals["expired"] + totals["cancelled"] + resting_lots
    )
