"""The depth and impact arithmetic over a book's levels, on hand-derived cases (each docstring's
example), and its agreement with a real book's USD queries."""

from __future__ import annotations

import pytest

from model.engine import book_depth as bd
from model.engine.orderbook import BUY, SELL, OrderBook

LEVELS = [(100, 2), (99, 3), (90, 5)]
"""Bids walked from the best: 100 × 2 lots, 99 × 3, 90 × 5."""


def test_a_band_sums_the_levels_inside_it_and_stops_at_the_first_outside():
    assert bd.band_tick_lots(iter(LEVELS), 98.0, 102.0) == 100 * 2 + 99 * 3  # 497
    assert bd.band_tick_lots(iter(LEVELS), 100.5, 102.0) == 0  # the best level is already out


def test_bands_read_one_running_sum_narrowest_first():
    """[99.5, 100.5] holds only 100 × 2 = 200; [98, 102] adds 99 × 3 = 497; [80, 120] all,
    497 + 450 = 947."""
    bands = [(99.5, 100.5), (98.0, 102.0), (80.0, 120.0)]
    assert bd.bands_tick_lots(iter(LEVELS), bands) == [200, 497, 947]


def test_band_edges_are_widened_by_the_relative_tolerance():
    lo, hi = bd.band_edges(100.0, 0.01)
    assert (lo, hi) == pytest.approx((99.0 - 1e-7, 101.0 + 1e-7), abs=1e-12)


def test_the_reference_is_the_mid_or_the_only_side():
    assert bd.reference_ticks(99, 101) == 100.0
    assert (bd.reference_ticks(99, None), bd.reference_ticks(None, 101)) == (99, 101)
    assert bd.reference_ticks(None, None) is None


def test_impact_takes_whole_levels_then_a_fraction_of_the_last():
    """Asks (100, 2), (101, 4): a notional of 402 takes 2 lots (200) and 202 / 101 = 2 more."""
    assert bd.impact_lots(iter([(100, 2), (101, 4)]), 402.0) == pytest.approx(4.0)
    assert bd.impact_lots(iter([(100, 2)]), 201.0) is None  # the side runs out


def test_bands_both_sides_keep_the_caller_s_order():
    """Bids (100, 2), (99, 3); asks (102, 1), (110, 4); ref 101. ±1.5 % = [99.485, 102.515]:
    100·2 + 102 = 302; ±0.5 % = [100.495, 101.505]: nothing; ±10 %: 497 + 102 + 440 = 1,039."""
    bids, asks = [(100, 2), (99, 3)], [(102, 1), (110, 4)]
    out = bd.depth_bands_tick_lots(iter(bids), iter(asks), 101.0, (0.015, 0.005, 0.10))
    assert out == [302, 0, 1039]


def test_a_real_book_s_bands_equal_its_single_depth_queries():
    book = OrderBook(tick_size=0.5, lot_size=0.01)
    for price, lots in ((200, 3), (199, 2), (190, 7)):
        book.rest(1, BUY, lots, price)
    for price, lots in ((201, 4), (205, 1), (230, 9)):
        book.rest(2, SELL, lots, price)
    pcts = (0.05, 0.001, 0.2)
    assert book.depth_usd_bands(pcts) == [book.depth_usd(p) for p in pcts]
