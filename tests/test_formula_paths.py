"""The engine's fast paths are the formula library's functions, value for value.

DESIGN.md §2: a fast path is an implementation behind the same function, held equal to the
plain one by tests. The block and incremental risk scans and the ADL heaps are held equal in
tests/test_fast_paths.py; the ones here are the per-order balance check, the bankruptcy price
the liquidator prices legs with, and the tier cap the order check reads.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.engine.margin import bankruptcy_price, bankruptcy_price_at_mark, unrealized_pnl_usd
from model.engine.tiers import BTCUSDT_2025
from model.market import CascadeModel


@pytest.fixture(scope="module")
def traded_model():
    """A short shock run with open positions in every market (cross and isolated)."""
    model = CascadeModel(
        scenario="shock",
        rng=11,
        horizon_minutes=120,
        **{"retail.n_accounts": 400, "shocks.0.start_minute": 60},
    )
    for _ in range(100):
        model.step()
    return model


def test_available_balance_fast_path_equals_the_risk_arrays(traded_model):
    ex = traded_model.exchange
    r = ex.risk_arrays()
    plain = r["cross_equity_usd"] - r["cross_im_usd"] - ex.order_margin_usd
    fast = np.array([ex.available_usd(a) for a in range(ex.accounts.n)])
    assert (ex.accounts.qty_lots != 0).any(axis=1).sum() > 100  # many accounts in position
    np.testing.assert_array_equal(fast, plain)


def test_exchange_upnl_is_the_margin_formula(traded_model):
    ex = traded_model.exchange
    qty = ex.accounts.qty_lots * ex.perp_lot_sizes
    expected = unrealized_pnl_usd(qty, ex.accounts.entry_price_usd, ex.prices.mark_usd)
    np.testing.assert_array_equal(ex.upnl_usd(), expected)


def test_bankruptcy_price_at_mark_golden():
    # long 2 coins, entry 110, wallet 10, mark 100: equity = 10 + 2·(100 − 110) = −10
    # BP = 100 − (−10)/2 = 105 = EP − WB/Q = 110 − 10/2
    assert bankruptcy_price_at_mark(1, 2.0, -10.0, 100.0) == 105.0
    assert bankruptcy_price(side=1, qty=2.0, entry_price=110.0, wallet_balance=10.0) == 105.0
    # short 4 coins, entry 50, wallet 20, mark 52: equity = 20 − 4·2 = 12; BP = 52 + 12/4 = 55
    assert bankruptcy_price_at_mark(-1, 4.0, 12.0, 52.0) == 55.0


@given(
    side=st.sampled_from([1, -1]),
    qty=st.floats(0.001, 1e3),
    entry=st.floats(1.0, 1e5),
    wallet=st.floats(0.0, 1e6),
    mark_move=st.floats(-0.5, 0.5),
)
def test_bankruptcy_price_at_mark_equals_the_entry_form(side, qty, entry, wallet, mark_move):
    mark = entry * (1 + mark_move)
    equity = wallet + unrealized_pnl_usd(side * qty, entry, mark)
    at_mark = bankruptcy_price_at_mark(side, qty, equity, mark)
    from_entry = bankruptcy_price(side=side, qty=qty, entry_price=entry, wallet_balance=wallet)
    if np.isnan(from_entry):  # the entry form returns NaN where BP <= 0
        assert at_mark <= 1e-9 * (entry + wallet / qty)
    else:
        assert at_mark == pytest.approx(from_entry, rel=1e-9, abs=1e-9 * (entry + wallet / qty))


@given(st.one_of(st.sampled_from(BTCUSDT_2025.floors_usd), st.floats(0.0, 1e10)))
def test_tier_cap_for_one_float_equals_the_array_path(notional):
    # bracket edges included: a notional on a floor belongs to the bracket that starts there
    table = BTCUSDT_2025
    assert table.max_leverage_at(notional) == table.max_leverage_at(np.array([notional]))[0]
