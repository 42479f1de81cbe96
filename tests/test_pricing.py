"""Golden numbers and behaviour of model.engine.pricing (index, mark rules, basis average)."""

from __future__ import annotations

import numpy as np
import pytest

from model.engine.pricing import (
    MARK_RULES,
    BasisAverager,
    EwmVolatility,
    funding_basis_price,
    mark_price,
    mark_price_binance,
    robust_index,
)

NAN = np.nan


# --- robust_index ------------------------------------------------------------------------


def test_robust_index_drops_one_bad_source():
    # median(100, 100.2, 160) = 100.2; |160 − 100.2| / 100.2 = 59.7 % > 5 % → weight 0;
    # one outlier → mean(100, 100.2) = 100.1
    assert robust_index([100.0, 100.2, 160.0]) == pytest.approx(100.1, rel=1e-12)


def test_robust_index_two_bad_sources_uses_median_of_all():
    # median(40, 100, 100.2, 100.4, 160) = 100.2; 40 and 160 both deviate > 5 % → median = 100.2
    assert robust_index([100.0, 100.2, 100.4, 160.0, 40.0]) == pytest.approx(100.2, rel=1e-12)


def test_robust_index_no_outlier_is_plain_mean():
    # all within 5 % of median 101 → mean(100, 101, 103) = 101.333…
    assert robust_index([100.0, 101.0, 103.0]) == pytest.approx(304.0 / 3, rel=1e-12)


def test_robust_index_deviation_exactly_at_threshold_is_kept():
    # median(100, 100, 110) = 100; |110 − 100| / 100 = 10 % = max_deviation → kept: 310 / 3
    assert robust_index([100.0, 100.0, 110.0], max_deviation=0.10) == pytest.approx(310.0 / 3)


def test_robust_index_missing_sources_are_ignored():
    # valid (100, 100.2, 160): same as the one-bad-source case → 100.1
    assert robust_index([NAN, 100.0, 100.2, NAN, 160.0]) == pytest.approx(100.1, rel=1e-12)
    assert np.isnan(robust_index([NAN, NAN]))


def test_robust_index_rows_are_markets():
    sources = np.array(
        [
            [100.0, 100.2, 160.0],  # one outlier → 100.1
            [10.0, 20.0, 10.2],  # median 10.2; 20 deviates → mean(10, 10.2) = 10.1
            [NAN, 3000.0, NAN],  # one source → 3000
            [NAN, NAN, NAN],  # none → NaN
        ]
    )
    index = robust_index(sources)
    np.testing.assert_allclose(index[:3], [100.1, 10.1, 3000.0], rtol=1e-12)
    assert np.isnan(index[3])
    assert index.shape == (4,)


@pytest.mark.parametrize("bad", [0.0, -0.05, np.nan, np.inf])
def test_robust_index_rejects_bad_max_deviation(bad):
    with pytest.raises(ValueError, match="max_deviation"):
        robust_index([100.0, 101.0], max_deviation=bad)


def test_robust_index_rejects_bad_shape():
    with pytest.raises(ValueError, match="sources_usd"):
        robust_index(np.ones((2, 2, 2)))


# --- mark price ----------------------------------------------------------------------------


def test_tv_b9_funding_basis_price():
    # TV-B9: 10,000 · (1 + 0.0003 · 240 / 480) = 10,000 · 1.00015 = 10,001.5
    assert funding_basis_price(10_000.0, 0.0003, 240, 480) == pytest.approx(10_001.5, rel=1e-12)


@pytest.mark.parametrize("bad", [0, -480])
def test_funding_basis_price_rejects_bad_interval(bad):
    with pytest.raises(ValueError, match="interval_minutes"):
        funding_basis_price(10_000.0, 0.0003, 0, bad)


@pytest.mark.parametrize("bad", [-1, 481])
def test_funding_basis_price_rejects_time_outside_interval(bad):
    with pytest.raises(ValueError, match="minutes_to_funding"):
        funding_basis_price(10_000.0, 0.0003, bad, 480)


def test_binance_mark_median_ordering_price1_lt_price2_lt_last_gives_price2():
    # Price1 = 10,000 · (1 + 0.0001 · 0.5) = 10,000.5; Price2 = 10,000 + 3 = 10,003; Last = 10,010
    # Price1 < Price2 < Last → Price2 = 10,003
    mark = mark_price_binance(10_000.0, 0.0001, 240, 480, 3.0, 10_010.0)
    assert mark == pytest.approx(10_003.0, rel=1e-12)


def test_binance_mark_picks_each_leg_as_median():
    # index 10,000, F = 0 → Price1 = 10,000 (τ irrelevant); Price2 = 10,000 + basis
    index = np.full(3, 10_000.0)
    basis = np.array([5.0, -5.0, 5.0])
    last = np.array([10_002.0, 9_990.0, 9_990.0])
    # m0: (10,000, 10,005, 10,002) → Last 10,002; m1: (10,000, 9,995, 9,990) → Price2 9,995;
    # m2: (10,000, 10,005, 9,990) → Price1 10,000
    mark = mark_price_binance(index, 0.0, 60, 480, basis, last)
    np.testing.assert_allclose(mark, [10_002.0, 9_995.0, 10_000.0], rtol=1e-12)


def test_binance_mark_without_last_trade_is_mean_of_price1_and_price2():
    # Price1 = 10,001.5 (TV-B9), Price2 = 10,000 + 2.5 = 10,002.5 → (10,001.5 + 10,002.5) / 2
    mark = mark_price_binance(10_000.0, 0.0003, 240, 480, 2.5, NAN)
    assert mark == pytest.approx(10_002.0, rel=1e-12)


def test_binance_mark_resists_a_spike_in_last_price():
    # Price1 = Price2 = 100 (F = 0, basis 0); a last trade at 50 cannot move the mark
    assert mark_price_binance(100.0, 0.0, 0, 480, 0.0, 50.0) == pytest.approx(100.0)


def test_mark_rules_dispatch():
    index = np.array([100.0, 200.0])
    last = np.array([101.0, NAN])
    assert MARK_RULES == ("binance", "index", "last")
    np.testing.assert_array_equal(mark_price("index", index_usd=index, last_price_usd=last), index)
    # "last": trade where there is one, index where not
    np.testing.assert_array_equal(
        mark_price("last", index_usd=index, last_price_usd=last), [101.0, 200.0]
    )
    np.testing.assert_array_equal(mark_price("last", index_usd=index), index)
    binance = mark_price(
        "binance",
        index_usd=index,
        last_price_usd=last,
        last_funding_rate=0.0,
        minutes_to_funding=0,
        interval_minutes=480,
        ma_basis_usd=np.array([2.0, 4.0]),
    )
    # m0: median(100, 102, 101) = 101; m1: no trade → mean(200, 204) = 202
    np.testing.assert_allclose(binance, [101.0, 202.0], rtol=1e-12)


def test_mark_price_does_not_alias_index():
    index = np.array([100.0])
    mark = mark_price("index", index_usd=index)
    mark[0] = 0.0
    assert index[0] == 100.0


def test_mark_price_unknown_rule_lists_valid_rules():
    with pytest.raises(ValueError, match=r"rule='mid'.*binance.*index.*last"):
        mark_price("mid", index_usd=100.0)


def test_mark_price_binance_missing_input_is_named():
    with pytest.raises(ValueError, match="ma_basis_usd"):
        mark_price(
            "binance",
            index_usd=100.0,
            last_price_usd=100.0,
            last_funding_rate=0.0,
            minutes_to_funding=0,
            interval_minutes=480,
        )


# --- BasisAverager -------------------------------------------------------------------------


def test_basis_averager_starts_at_zero():
    averager = BasisAverager(n_markets=2, window_steps=3)
    np.testing.assert_array_equal(averager.value, [0.0, 0.0])


def test_basis_averager_window_drops_oldest_sample():
    averager = BasisAverager(n_markets=1, window_steps=3)
    for mid in (101.0, 102.0, 103.0):  # basis 1, 2, 3
        averager.update([mid], [100.0])
    assert averager.value[0] == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    averager.update([110.0], [100.0])  # basis 10 pushes out 1
    assert averager.value[0] == pytest.approx(5.0)  # (2 + 3 + 10) / 3
    averager.update([90.0], [100.0])  # basis −10 pushes out 2
    assert averager.value[0] == pytest.approx(1.0)  # (3 + 10 − 10) / 3


def test_basis_averager_partial_window_averages_valid_samples_only():
    averager = BasisAverager(n_markets=1, window_steps=5)
    averager.update([104.0], [100.0])
    averager.update([102.0], [100.0])
    assert averager.value[0] == pytest.approx(3.0)  # (4 + 2) / 2, not / 5
    assert averager.counts[0] == 2


def test_basis_averager_skips_nan_mid_per_market():
    averager = BasisAverager(n_markets=2, window_steps=2)
    averager.update([101.0, 201.0], [100.0, 200.0])  # basis 1, 1
    averager.update([103.0, NAN], [100.0, 200.0])  # basis 3, (skipped)
    averager.update([105.0, NAN], [100.0, 200.0])  # basis 5 pushes out 1, (skipped)
    # m0: (3 + 5) / 2 = 4; m1: only the first sample → 1
    np.testing.assert_allclose(averager.value, [4.0, 1.0])
    np.testing.assert_array_equal(averager.counts, [2, 1])


def test_basis_averager_reset_clears_samples():
    averager = BasisAverager(n_markets=1, window_steps=2)
    averager.update([150.0], [100.0])
    averager.reset()
    assert averager.value[0] == 0.0
    averager.update([99.0], [100.0])
    assert averager.value[0] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("n_markets", "window_steps", "field"),
    [(2, 0, "window_steps"), (2, 2.5, "window_steps"), (0, 5, "n_markets"), (True, 5, "n_markets")],
)
def test_basis_averager_rejects_bad_configuration(n_markets, window_steps, field):
    with pytest.raises(ValueError, match=field):
        BasisAverager(n_markets=n_markets, window_steps=window_steps)


def test_basis_averager_rejects_wrong_shape():
    averager = BasisAverager(n_markets=2, window_steps=2)
    with pytest.raises(ValueError, match="n_markets"):
        averager.update([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])


def test_ewm_volatility_hand_computed():
    # span 3 → α = 0.5. r = 0.02: d = 0.02, μ = 0.01, v = 0.5 · (0 + 0.5 · 0.0004) = 1e-4.
    # r = 0: d = −0.01, μ = 0.005, v = 0.5 · (1e-4 + 0.5 · 1e-4) = 7.5e-5;
    # start-up weight 1 − 0.5² = 0.75 → std = sqrt(1e-4) = 0.01 (the population std of 0.02, 0)
    vol = EwmVolatility(2, 3)
    assert vol.std.tolist() == [0.0, 0.0]
    vol.update(np.array([0.02, np.nan]))
    assert vol.std.tolist() == [0.0, 0.0]  # fewer than two returns
    vol.update(np.array([0.0, 0.0]))
    np.testing.assert_allclose(vol.std, [0.01, 0.0], rtol=1e-12)


def test_ewm_volatility_tracks_the_std_and_forgets_a_jump():
    rng = np.random.default_rng(3)
    vol = EwmVolatility(1, 60)
    for r in rng.normal(0.0, 0.001, 2_000):
        vol.update(np.array([r]))
    assert 0.0007 < vol.std[0] < 0.0013
    vol.update(np.array([0.05]))
    jumped = vol.std[0]
    for _ in range(120):
        vol.update(np.array([0.0]))
    # no echo: the jump decays geometrically, (1 − 2/61)^120 ≈ 0.018 of its weight is left
    assert vol.std[0] < 0.2 * jumped


def test_regression_mark_stays_positive_when_the_basis_outgrows_the_index():
    """Issue 16, defect 8: a perp that has not traded keeps a basis of −25 USD sampled while its
    index was 100 (quotes pulled, mid 75); the index then falls 90 % to 10. Price2 = 10 − 25
    = −15 is not a price: the leg is dropped as a missing last trade is, so the mark is
    Price1 = 10 · (1 + 0.0001 · 240/480) = 10.0005, not (10.0005 − 15) / 2 = −2.49975."""
    mark = mark_price_binance(
        index_usd=[10.0],
        last_funding_rate=[0.0001],
        minutes_to_funding=[240.0],
        interval_minutes=[480.0],
        ma_basis_usd=[-25.0],
        last_price_usd=[np.nan],
    )
    assert mark[0] == pytest.approx(10.0005)
