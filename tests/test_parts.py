"""The engine's parts stand alone: each is built from a ledger and the pieces it is handed.

DESIGN.md §2: order entry, market phases and the ledger are composed, not mixed into one
class, so each can be built and tested without an `Exchange`.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.engine.events import EventLog
from model.engine.ledger import InvariantError, Ledger
from model.engine.marks import MarketPrices
from model.engine.order_entry import OrderDesk
from model.engine.orderbook import OrderBook
from model.engine.phases import MarketPhases
from model.engine.specs import btc_perp
from model.engine.types import BUY, SELL, Clock
from tests.conftest import limit, market_order, writable

INDEX_USD = 100_000.0


def _parts():
    """One fee-free BTC perp (lot 0.001 BTC, tick 0.1) with its ledger, desk and phases."""
    spec = btc_perp(mark_rule="index", taker_fee=0.0, maker_fee=0.0)
    ledger, clock, events = Ledger(np.array([spec.lot_size]), np.zeros(0)), Clock(), EventLog()
    prices = MarketPrices((spec,), np.array([INDEX_USD]), 1)
    books = [OrderBook(spec.tick_size, spec.lot_size)]
    desk = OrderDesk(
        ledger, clock, (spec,), (), books, [], prices, events, np.random.default_rng(0), 0.05, {}
    )
    phases = MarketPhases(ledger, clock, (spec,), (), books, prices, events, ())
    return ledger, desk, phases


def test_an_order_desk_trades_through_its_ledger_alone():
    ledger, desk, _ = _parts()
    maker, taker = ledger.open_accounts(2, 1_000_000.0)
    desk.reserves.grow(ledger.n)
    assert desk.submit(limit(int(maker), SELL, 0.5, INDEX_USD)).accepted
    out = desk.submit(market_order(int(taker), BUY, 0.5))
    # 0.5 BTC at 100,000: the taker is long 500 lots, the maker short 500, no fee
    assert out.filled_qty == pytest.approx(0.5) and out.avg_price_usd == INDEX_USD
    assert ledger.qty_lots[taker, 0] == 500 and ledger.qty_lots[maker, 0] == -500
    assert desk.reserves.margin_usd[maker] == 0.0  # the resting order's reserve released
    ledger.check_invariants(np.array([INDEX_USD]))


def test_market_phases_settle_funding_through_the_ledger_alone():
    ledger, desk, phases = _parts()
    long_, short = ledger.open_accounts(2, 100_000.0)
    desk.reserves.grow(ledger.n)
    ledger.open_positions(0, np.array([long_, short]), np.array([100, -100]), INDEX_USD,
                          np.array([10.0, 10.0]), np.array([False, False]))  # fmt: skip
    due = []
    while not due:  # step the clock to the first settlement
        phases.clock.t += 1
        phases.sample_premium()
        due = phases.settle_funding()
    paid = ledger.funding_paid_usd[:, 0]
    # an empty book gives no premium, so the rate is the interest rate (0.01 %) > 0
    assert paid[long_] > 0 and paid[short] == -paid[long_]  # longs pay shorts, zero-sum
    ledger.check_invariants(phases.prices.mark_usd)


def test_the_ledger_alone_refuses_a_write_past_its_api():
    ledger = Ledger(np.array([0.001]), np.zeros(0))
    acct = ledger.open_account(100.0)
    with pytest.raises(ValueError, match="read-only"):
        ledger.collateral_usd[acct] += 1.0
    ledger.move_cash(acct, ledger.fee_account, 40.0)
    assert ledger.collateral_usd[acct] == 60.0
    ledger.check_invariants(np.zeros(1))
    ledger.withdraw(acct, 10.0)  # the API's own write: still balanced
    ledger.check_invariants(np.zeros(1))
    writable(ledger.collateral_usd)[acct] += 1.0  # past the API: the invariant sees it
    with pytest.raises(InvariantError, match="money"):
        ledger.check_invariants(np.zeros(1))


def test_the_ledger_refuses_bad_amounts_naming_them():
    ledger = Ledger(np.array([0.001]), np.array([0.01]))
    acct = ledger.open_account(100.0)
    with pytest.raises(ValueError, match="withdrawal usd"):
        ledger.withdraw(acct, -5.0)
    with pytest.raises(ValueError, match="spot deposit lots"):
        ledger.deposit_spot(acct, 0, 0)
    ledger.check_invariants(np.zeros(1))  # nothing was written


@settings(max_examples=60, deadline=None)
@given(
    lots=st.integers(1, 10_000).map(lambda n: n * (1 if n % 2 else -1)),
    entry=st.floats(10.0, 1e5),
    share=st.floats(0.0, 1.0),
    mark=st.floats(1.0, 2e5),
)
def test_a_ledger_haircut_takes_exactly_its_amount_out_of_the_position(lots, entry, share, mark):
    """haircut(a) moves the winner's entry by a/q: its UPnL q·(m − e) falls by a at every mark
    m, its wallet is untouched, `dst` gains a, and the books still balance."""
    ledger = Ledger(np.array([0.001]), np.zeros(0))
    winner, other, dst = (ledger.open_account(1_000.0) for _ in range(3))
    ledger.open_positions(0, np.array([winner, other]), np.array([lots, -lots]), entry,
                          np.array([10.0, 10.0]), np.array([False, False]))  # fmt: skip
    profit = lots * 0.001 * (mark - entry)
    amount = share * abs(profit)
    ledger.haircut(np.array([winner]), np.array([[amount]]), dst)
    upnl = lots * 0.001 * (mark - ledger.entry_price_usd[winner, 0])
    assert upnl == pytest.approx(profit - amount, abs=1e-9 * max(1.0, abs(profit) + entry))
    assert ledger.collateral_usd[winner] == 1_000.0
    assert ledger.collateral_usd[dst] == 1_000.0 + amount
    ledger.check_invariants(np.array([mark]))
    with pytest.raises(ValueError, match="open position"):
        ledger.haircut(np.array([dst]), np.array([[1.0]]), winner)
