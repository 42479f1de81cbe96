"""Golden numbers, behaviour and the zero-sum property of model.engine.funding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from model.engine.funding import (
    PremiumAccumulator,
    funding_payments_usd,
    funding_rate,
    is_funding_time,
    premium_index,
)

NAN = np.nan
INTEREST = 0.0001  # I = 0.01 % per 8 h


# --- premium index -------------------------------------------------------------------------


def test_tv_h4_premium_and_rate():
    # premium = (max(0, 10,100 − 10,000) − max(0, 10,000 − 10,150)) / 10,000 = 100 / 10,000 = 1 %
    premium = premium_index(10_100.0, 10_150.0, 10_000.0)
    assert premium == pytest.approx(0.01, rel=1e-12)
    # F = 1 % + clamp(0.01 % − 1 %, ±0.05 %) = 1 % − 0.05 % = 0.95 % (Hyperliquid cap 4 %)
    rate = funding_rate(premium, interest_rate=INTEREST, cap=0.04)
    assert rate == pytest.approx(0.0095, rel=1e-12)


def test_premium_impact_ask_below_index_is_negative():
    # (max(0, 9,850 − 10,000) − max(0, 10,000 − 9,900)) / 10,000 = (0 − 100) / 10,000 = −1 %
    assert premium_index(9_850.0, 9_900.0, 10_000.0) == pytest.approx(-0.01, rel=1e-12)


def test_premium_is_zero_when_index_inside_impact_spread():
    # bid 9,990 < index 10,000 < ask 10,010 → (0 − 0) / 10,000 = 0
    assert premium_index(9_990.0, 10_010.0, 10_000.0) == 0.0


def test_premium_thin_side_contributes_zero():
    # no impact bid (book too thin): (0 − max(0, 100 − 98)) / 100 = −2 %
    # no impact ask: (max(0, 103 − 100) − 0) / 100 = 3 %; both thin → 0
    premium = premium_index([NAN, 103.0, NAN], [98.0, NAN, NAN], 100.0)
    np.testing.assert_allclose(premium, [-0.02, 0.03, 0.0], rtol=1e-12, atol=0.0)


def test_premium_nan_index_is_nan():
    assert np.isnan(premium_index(100.0, 101.0, NAN))


# --- funding rate --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("premium", "expected"),
    [
        (0.0003, 0.0001),  # 0.03 % + clamp(0.01 − 0.03 = −0.02 %) = 0.01 %
        (-0.0004, 0.0001),  # −0.04 % + clamp(+0.05 %) = 0.01 %
        (0.0006, 0.0001),  # 0.06 % + clamp(−0.05 %) = 0.01 %
        (0.0020, 0.0015),  # 0.20 % + clamp(−0.19 % → −0.05 %) = 0.15 %
        (-0.0020, -0.0015),  # −0.20 % + clamp(+0.21 % → +0.05 %) = −0.15 %
    ],
)
def test_binance_funding_tvs(premium, expected):
    assert funding_rate(premium, interest_rate=INTEREST, clamp=0.0005) == pytest.approx(
        expected, abs=1e-15
    )


def test_funding_rate_is_vectorised_over_markets():
    rates = funding_rate(np.array([0.0003, 0.0020, -0.0020]))
    np.testing.assert_allclose(rates, [0.0001, 0.0015, -0.0015], rtol=0, atol=1e-15)


def test_funding_rate_cap_and_floor():
    # 1 % + clamp(0.01 % − 1 %) = 0.95 % → capped at 0.3 %; −1 % → −0.95 % → floored at −0.3 %
    np.testing.assert_allclose(funding_rate([0.01, -0.01], cap=0.003), [0.003, -0.003])


def test_funding_rate_per_market_caps():
    # both premiums give 0.95 %; BTC capped at 0.3 %, an alt at 2 % keeps 0.95 %
    rates = funding_rate([0.01, 0.01], cap=np.array([0.003, 0.02]))
    np.testing.assert_allclose(rates, [0.003, 0.0095], rtol=1e-12)


def test_funding_rate_zero_interest_pairs():
    # I = 0 (e.g. BNB pairs): P = 0.03 % → 0.03 % + clamp(−0.03 %) = 0
    assert funding_rate(0.0003, interest_rate=0.0) == pytest.approx(0.0, abs=1e-18)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"clamp": -0.0005}, "clamp"), ({"cap": 0.0}, "cap"), ({"cap": NAN}, "cap")],
)
def test_funding_rate_rejects_bad_bounds(kwargs, field):
    with pytest.raises(ValueError, match=field):
        funding_rate(0.0, **kwargs)


# --- premium accumulator -------------------------------------------------------------------


def test_premium_average_weights_one_to_n():
    accumulator = PremiumAccumulator(n_markets=1)
    for premium in (0.001, 0.002, 0.003):
        accumulator.add([premium])
    # (1·0.001 + 2·0.002 + 3·0.003) / (1 + 2 + 3) = 0.014 / 6 = 0.0023333…
    assert accumulator.average()[0] == pytest.approx(0.014 / 6, rel=1e-12)
    assert accumulator.n_steps == 3


def test_premium_average_later_samples_weigh_more():
    accumulator = PremiumAccumulator(n_markets=2)
    accumulator.add([0.01, 0.0])
    accumulator.add([0.0, 0.01])
    # m0: (1·0.01 + 2·0) / 3 = 0.00333…; m1: (1·0 + 2·0.01) / 3 = 0.00666…
    np.testing.assert_allclose(accumulator.average(), [0.01 / 3, 0.02 / 3], rtol=1e-12)


def test_premium_average_skips_nan_but_keeps_time_weights():
    accumulator = PremiumAccumulator(n_markets=1)
    accumulator.add([0.004])  # w = 1
    accumulator.add([NAN])  # w = 2, skipped
    accumulator.add([0.001])  # w = 3
    # (1·0.004 + 3·0.001) / (1 + 3) = 0.007 / 4 = 0.00175
    assert accumulator.average()[0] == pytest.approx(0.00175, rel=1e-12)


def test_premium_average_empty_is_zero_and_reset_restarts_weights():
    accumulator = PremiumAccumulator(n_markets=2)
    np.testing.assert_array_equal(accumulator.average(), [0.0, 0.0])
    accumulator.add(0.05)  # a scalar broadcasts to every market
    accumulator.reset()
    accumulator.add([0.002, -0.002])  # w = 1 again after reset
    accumulator.add([0.004, NAN])  # w = 2
    # m0: (1·0.002 + 2·0.004) / 3 = 0.01 / 3; m1: only −0.002
    np.testing.assert_allclose(accumulator.average(), [0.01 / 3, -0.002], rtol=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_premium_accumulator_rejects_bad_n_markets(bad):
    with pytest.raises(ValueError, match="n_markets"):
        PremiumAccumulator(n_markets=bad)


def test_premium_accumulator_rejects_wrong_shape():
    accumulator = PremiumAccumulator(n_markets=2)
    with pytest.raises(ValueError, match="n_markets"):
        accumulator.add([0.0, 0.0, 0.0])


# --- payments ------------------------------------------------------------------------------


def test_tv_b10_payment_per_settlement_and_per_day():
    # $20,000 long = 2 coins at mark 10,000; 2 · 10,000 · 0.0001 = $2 per settlement;
    # 3 settlements a day (8 h interval) → $6
    payment = funding_payments_usd(2.0, 10_000.0, 0.0001)
    assert payment == pytest.approx(2.0, rel=1e-12)
    assert 3 * payment == pytest.approx(6.0, rel=1e-12)


def test_payments_sign_convention_and_broadcast():
    qty = np.array([[2.0, -10.0], [-2.0, 10.0]])  # accounts × markets
    mark = np.array([10_000.0, 50.0])
    rate = np.array([0.0001, -0.001])
    payments = funding_payments_usd(qty, mark, rate)
    # m0, F > 0: long pays 2·10,000·0.0001 = 2, short receives 2
    # m1, F < 0: short pays −10·50·(−0.001) = 0.5, long receives 0.5
    np.testing.assert_allclose(payments, [[2.0, 0.5], [-2.0, -0.5]], rtol=1e-12)
    np.testing.assert_allclose(payments.sum(axis=0), [0.0, 0.0], atol=1e-12)


_LOTS = st.integers(min_value=-(10**6), max_value=10**6)  # qty in lots of 0.001 coin


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_accounts=st.integers(min_value=1, max_value=60),
    n_markets=st.integers(min_value=1, max_value=4),
)
def test_payments_are_zero_sum_over_a_balanced_book(data, n_accounts, n_markets):
    lots = data.draw(hnp.arrays(np.int64, (n_accounts, n_markets), elements=_LOTS))
    qty = lots * 0.001
    # the last account takes the other side of everyone else: Σ qty = 0 per market
    qty = np.vstack([qty, -qty.sum(axis=0)])
    mark = data.draw(
        hnp.arrays(np.float64, n_markets, elements=st.floats(min_value=0.01, max_value=1e6))
    )
    rate = data.draw(hnp.arrays(np.int64, n_markets, elements=st.integers(-30_000, 30_000)))
    rate = rate * 1e-6  # −3 % … +3 % in steps of 0.0001 %
    payments = funding_payments_usd(qty, mark, rate)
    net = np.abs(payments.sum(axis=0))
    gross = np.abs(payments).sum(axis=0)
    assert np.all(net <= 1e-9 * gross)


# --- schedule ------------------------------------------------------------------------------


def test_is_funding_time_every_interval():
    # 8 h interval, one-minute steps → 480 steps
    assert is_funding_time(480, 480)
    assert is_funding_time(0, 480)
    assert not is_funding_time(479, 480)
    due = is_funding_time(np.arange(0, 1441, 240), 480)
    np.testing.assert_array_equal(due, [True, False, True, False, True, False, True])


def test_is_funding_time_with_offset():
    # run starts at 05:00 UTC, first settlement at 08:00 → offset 180 steps
    due = is_funding_time(np.array([0, 179, 180, 660, 1140, 1141]), 480, offset=180)
    np.testing.assert_array_equal(due, [False, False, True, True, True, False])


@pytest.mark.parametrize(
    ("interval_steps", "offset", "field"),
    [(0, 0, "interval_steps"), (8.0, 0, "interval_steps"), (480, -1, "offset")],
)
def test_is_funding_time_rejects_bad_schedule(interval_steps, offset, field):
    with pytest.raises(ValueError, match=field):
        is_funding_time(10, interval_steps, offset=offset)
