"""Summary metrics (model/summary.py): the drawdown from the pre-shock level to the post-shock
low (DESIGN.md §2.3)."""

from __future__ import annotations

import numpy as np
import pytest

from model.summary import FALL_WINDOW_MINUTES, drawdown


def test_drawdown_docstring_example():
    # level = prices[1] = 101 (the minute before the shock), low = min(95, 90, 97) = 90:
    # 1 − 90 / 101 = 0.108911 (a peak-to-trough from minute 2 would say 1 − 90 / 95 = 5.3 %)
    assert drawdown(np.array([100.0, 101.0, 95.0, 90.0, 97.0]), 2) == pytest.approx(0.1089108911)


def test_an_upward_squeeze_after_the_shock_is_no_fall():
    # up from 100 to 130 and back to 104: never below the pre-shock 100
    assert drawdown(np.array([100.0, 100.0, 130.0, 104.0, 101.0]), 2) == 0.0


def test_a_squeeze_then_a_fall_counts_only_the_fall_below_the_level():
    # level 100; the high of 130 is not the reference: low 88 → 12 %
    assert drawdown(np.array([100.0, 100.0, 130.0, 88.0, 120.0]), 2) == pytest.approx(0.12)


def test_drawdown_window_is_respected():
    prices = np.array([100.0, 100.0, 95.0, 99.0, 80.0])
    # window 2: minutes 2–3 → low 95 → 5 %; window None: to the end → low 80 → 20 %
    assert drawdown(prices, 2, window=2) == pytest.approx(0.05)
    assert drawdown(prices, 2, window=None) == pytest.approx(0.20)


def test_drawdown_default_window_stops_after_fall_window_minutes():
    # shock at minute 10; a low of 50 one minute inside the window, another just after it
    start = 10
    inside = np.full(start + FALL_WINDOW_MINUTES + 20, 100.0)
    inside[start + FALL_WINDOW_MINUTES - 1] = 50.0
    outside = np.full(start + FALL_WINDOW_MINUTES + 20, 100.0)
    outside[start + FALL_WINDOW_MINUTES] = 50.0
    assert drawdown(inside, start) == pytest.approx(0.5)
    assert drawdown(outside, start) == 0.0


def test_drawdown_from_minute_zero_uses_the_first_price_as_level():
    # start 0: level = prices[0] = 100, low 75 → 25 %
    assert drawdown(np.array([100.0, 90.0, 75.0, 80.0]), 0) == pytest.approx(0.25)


def test_drawdown_ignores_nans_and_refuses_a_missing_level():
    # NaN minutes after the shock are skipped: low 90 of 100 → 10 %
    assert drawdown(np.array([100.0, 100.0, np.nan, 90.0, np.nan]), 2) == pytest.approx(0.10)
    # no pre-shock level, or nothing after the shock: no fall to measure
    assert drawdown(np.array([100.0, np.nan, 90.0]), 2) == 0.0
    assert drawdown(np.array([100.0, 100.0, np.nan, np.nan]), 2) == 0.0
