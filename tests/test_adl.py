"""Tests for model/engine/adl.py: ADL scores and allocation rules (golden numbers, properties)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.engine import adl, adl_scores
from model.engine.risk_config import ADL_SCORES

# ---------------------------------------------------------------------------------------------
# TV-R1: contract-space ADL (exchange-mechanics §7.3, Robinson/Thogiti critique of Chitra)
# ---------------------------------------------------------------------------------------------
MARK_USD = 3_000.0
SHORT_QTY = 2  # ETH
SHORT_ENTRY_USD = 2_000.0
SHORT_COLLATERAL_USD = 500.0
# short equity at mark = 500 + 2 × (2,000 − 3,000) = −1,500 USD  (the deficit)
# bankruptcy price: 500 + 2 × (2,000 − BP) = 0  →  BP = 2,250
SHORT_BANKRUPTCY_USD = SHORT_ENTRY_USD + SHORT_COLLATERAL_USD / SHORT_QTY
# opposite-side longs A, B, C
LONG_QTY = np.array([1, 3, 2])  # ETH (integer lots)
LONG_ENTRY_USD = np.array([1_800.0, 2_500.0, 2_800.0])
LONG_COLLATERAL_USD = np.array([300.0, 2_000.0, 1_000.0])
# A: equity 300 + 1 × (3,000 − 1,800) = 1,500 on a 3,000 position; own BP 1,800 − 300 = 1,500
# B: own BP 2,500 − 2,000/3 = 1,833.33;  C: own BP 2,800 − 1,000/2 = 2,300
LONG_BANKRUPTCY_USD = LONG_ENTRY_USD - LONG_COLLATERAL_USD / LONG_QTY


def test_tv_r1_contract_space_top_long_bears_half_the_deficit() -> None:
    """Setup: a 2 ETH short is bankrupt by $1,500; the top long (1 ETH, $1,500 equity) is hit.

    Closing a long at BP 2,250 instead of mark 3,000 costs it 750 USD per ETH.
    """
    assert SHORT_COLLATERAL_USD + SHORT_QTY * (SHORT_ENTRY_USD - MARK_USD) == -1_500.0
    assert SHORT_BANKRUPTCY_USD == 2_250.0
    # scores: A 0.6667 × 3,000/1,500 = 1.3333; B 0.2 × 3,000/1,166.67 = 0.5143;
    #         C (200/2,800) × 3,000/700 = 0.3061
    scores = adl_scores.bitmex_score(1, LONG_ENTRY_USD, MARK_USD, LONG_BANKRUPTCY_USD)
    np.testing.assert_allclose(scores, [4 / 3, 0.2 * 3_000 / (3_000 - 5_500 / 3), 0.30612245])

    closed = adl.queue_allocation(scores, LONG_QTY, SHORT_QTY)

    np.testing.assert_array_equal(closed, [1, 1, 0])  # 1 ETH from A, 1 ETH from B
    cost_a = adl.adl_budget_usd(closed[0], SHORT_BANKRUPTCY_USD, MARK_USD)
    cost_b = adl.adl_budget_usd(closed[1], SHORT_BANKRUPTCY_USD, MARK_USD)
    assert (cost_a, cost_b) == (750.0, 750.0)  # |3,000 − 2,250| × 1 each
    assert adl.adl_budget_usd(closed, SHORT_BANKRUPTCY_USD, MARK_USD) == 1_500.0  # = deficit
    # A keeps 300 + (2,250 − 1,800) × 1 = 750 of its 1,500 equity
    equity_a_after = LONG_COLLATERAL_USD[0] + closed[0] * (SHORT_BANKRUPTCY_USD - LONG_ENTRY_USD[0])
    assert equity_a_after == 750.0


def test_overshoot_is_value_taken_minus_needed_budget() -> None:
    # wealth-space queue seizing A's whole 1,500 equity vs the 750 it needed to bear
    assert adl.adl_overshoot_usd(1_500.0, 750.0) == 750.0
    assert adl.adl_overshoot_usd(500.0, 750.0) == 0.0


# ---------------------------------------------------------------------------------------------
# queue_allocation
# ---------------------------------------------------------------------------------------------
def test_queue_takes_highest_score_first_and_last_one_partially() -> None:
    # order: index 1 (score 0.9) gives all 2, index 2 (0.5) gives 2 of 3, index 0 nothing
    closed = adl.queue_allocation([0.1, 0.9, 0.5], np.array([4.0, 2.0, 3.0]), 4.0)
    np.testing.assert_array_equal(closed, [0.0, 2.0, 2.0])
    assert closed.dtype == np.float64


def test_queue_ties_go_to_lower_index_first() -> None:
    closed = adl.queue_allocation([1.0, 1.0, 1.0], np.array([2, 2, 2]), 3)
    np.testing.assert_array_equal(closed, [2, 1, 0])


def test_queue_runs_out_of_candidates_and_closes_less() -> None:
    closed = adl.queue_allocation([2.0, 1.0], np.array([1, 2]), 10)
    np.testing.assert_array_equal(closed, [1, 2])  # 3 < 10: the caller sees the shortfall


def test_queue_keeps_integer_dtype_and_accepts_integral_float_qty() -> None:
    available = np.array([5, 7], dtype=np.int32)
    closed = adl.queue_allocation([0.0, 1.0], available, 9.0)
    assert closed.dtype == np.int32
    np.testing.assert_array_equal(closed, [2, 7])
    with pytest.raises(ValueError, match=r"qty_to_close.*2\.5"):
        adl.queue_allocation([0.0, 1.0], available, 2.5)


def test_queue_does_not_mutate_inputs() -> None:
    scores, available = np.array([0.3, 0.2]), np.array([1.0, 1.0])
    adl.queue_allocation(scores, available, 1.5)
    np.testing.assert_array_equal(scores, [0.3, 0.2])
    np.testing.assert_array_equal(available, [1.0, 1.0])


def test_allocations_accept_read_only_inputs() -> None:
    # read-only arrays raise on any write, so passing proves the functions never mutate inputs
    scores, available, notional, equity = (
        np.array(v) for v in ([1.0, 2.0], [3, 4], [9.0] * 2, [3.0] * 2)
    )
    for arr in (scores, available, notional, equity):
        arr.flags.writeable = False
    np.testing.assert_array_equal(adl.queue_allocation(scores, available, 5), [1, 4])
    np.testing.assert_array_equal(adl.contract_pro_rata(available, 7), [3, 4])
    # both at 3x leverage, 3 + 4 = 7 contracts available: closing 7 or more closes everything
    np.testing.assert_array_equal(
        adl.min_max_leverage_allocation(notional, equity, available, 1.0, 9), [3, 4]
    )
    np.testing.assert_array_equal(
        adl.min_max_leverage_allocation(notional, equity, available, 1.0, 0), [0, 0]
    )


@pytest.mark.parametrize(
    ("scores", "available", "qty", "match"),
    [
        ([np.nan, 1.0], [1.0, 1.0], 1.0, "scores.*nan"),
        ([1.0, 1.0], [1.0, -2.0], 1.0, r"available_qty.*-2\.0"),
        ([1.0, 1.0], [1.0, 1.0], -1.0, r"qty_to_close.*-1\.0"),
        ([1.0], [1.0, 1.0], 1.0, "shapes do not match"),
        ([[1.0]], [[1.0]], 1.0, "scores must be 1-D"),
        ([1.0], [1.0], np.inf, "qty_to_close must be finite"),
    ],
)
def test_queue_rejects_bad_arguments(scores, available, qty, match) -> None:
    with pytest.raises(ValueError, match=match):
        adl.queue_allocation(scores, available, qty)


# ---------------------------------------------------------------------------------------------
# wealth-space haircuts
# ---------------------------------------------------------------------------------------------
def test_pro_rata_equal_fraction_when_budget_below_total_profit() -> None:
    # winners' profit 100 + 300 = 400; budget 200 → h = 200/400 = 0.5; takes 50 + 150 = 200
    haircut = adl.pro_rata_haircut([100.0, 300.0, -50.0, 0.0], 200.0)
    np.testing.assert_array_equal(haircut, [0.5, 0.5, 0.0, 0.0])


def test_pro_rata_caps_at_one_when_budget_exceeds_total_profit() -> None:
    haircut = adl.pro_rata_haircut([100.0, 300.0, -50.0], 1_000.0)  # residual 600 for caller
    np.testing.assert_array_equal(haircut, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(adl.pro_rata_haircut([-1.0, 0.0], 10.0), [0.0, 0.0])


def test_capped_pro_rata_water_fills_around_a_binding_cap() -> None:
    # plain pro-rata would be 300/1,000 = 0.3 > cap 0.1, so account 0 pays 0.1 × 100 = 10;
    # the rest 290 over 300 + 600 = 900: eta = 290/900 = 0.32222
    # check: 10 + 0.32222 × 300 + 0.32222 × 600 = 10 + 96.667 + 193.333 = 300
    haircut = adl.capped_pro_rata_haircut([100.0, 300.0, 600.0], 300.0, [0.1, 1.0, 1.0])
    np.testing.assert_allclose(haircut, [0.1, 290 / 900, 290 / 900], rtol=1e-12)


def test_capped_pro_rata_all_caps_bind_when_budget_is_large() -> None:
    # sum cap·w = 0.1 × 100 + 0.5 × 300 + 1 × 600 = 760 < 1,000
    haircut = adl.capped_pro_rata_haircut([100.0, 300.0, 600.0, -5.0], 1_000.0, [0.1, 0.5, 1, 1])
    np.testing.assert_array_equal(haircut, [0.1, 0.5, 1.0, 0.0])


def test_capped_pro_rata_rejects_caps_above_one() -> None:
    with pytest.raises(ValueError, match=r"caps.*1\.5"):
        adl.capped_pro_rata_haircut([1.0], 1.0, [1.5])


# ---------------------------------------------------------------------------------------------
# contract_pro_rata
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("available", "qty", "expected"),
    [
        # exact 0.5, 1, 1.5, 2 → floors 0,1,1,2 (4); remainders 5,0,5,0 (÷10): tie → index 0
        ([1, 2, 3, 4], 5, [1, 1, 1, 2]),
        # exact 3.5, 2.1, 1.4 → floors 3,2,1 (6); remainders 5,1,4 → index 0 gets the lot
        ([5, 3, 2], 7, [4, 2, 1]),
        # exact 2/3 each → floors 0; equal remainders → lower indices first
        ([3, 3, 3], 2, [1, 1, 0]),
        ([3, 3, 3], 50, [3, 3, 3]),  # more than held: everyone closes everything
        ([0, 0], 4, [0, 0]),
    ],
)
def test_contract_pro_rata_integer_lots_total_exactly(available, qty, expected) -> None:
    closed = adl.contract_pro_rata(np.array(available), qty)
    np.testing.assert_array_equal(closed, expected)
    assert np.issubdtype(closed.dtype, np.integer)


def test_contract_pro_rata_float_is_proportional() -> None:
    np.testing.assert_allclose(adl.contract_pro_rata(np.array([1.0, 3.0]), 2.0), [0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# min_max_leverage_allocation (Campbell et al. water-filling)
# ---------------------------------------------------------------------------------------------
PRICE_USD = 100.0
NOTIONAL_USD = np.array([1_000.0, 1_000.0, 1_000.0])  # 10 contracts each
EQUITY_USD = np.array([200.0, 250.0, 500.0])  # leverage 5, 4, 2
QUEUE_SCORES = [1.0, 2.0, 3.0]  # the queue ranks the least-levered account C first


def _max_leverage(closed) -> float:
    return float(adl.leverage_after_close(NOTIONAL_USD, EQUITY_USD, closed, PRICE_USD).max())


def test_min_max_drains_the_most_levered_until_leverages_equalise() -> None:
    """Setup: A 5x, B 4x, C 2x, 10 contracts each at $100; close 11 contracts."""
    # A alone to 4x: (1,000 − 4 × 200)/100 = 2; then A and B to L: 20 − 4.5 L = 11 → L = 2
    # A: (1,000 − 2 × 200)/100 = 6, B: (1,000 − 2 × 250)/100 = 5, C: already at 2x → 0
    closed = adl.min_max_leverage_allocation(NOTIONAL_USD, EQUITY_USD, [10.0] * 3, PRICE_USD, 11)
    np.testing.assert_allclose(closed, [6.0, 5.0, 0.0])
    np.testing.assert_allclose(
        adl.leverage_after_close(NOTIONAL_USD, EQUITY_USD, closed, PRICE_USD), [2.0, 2.0, 2.0]
    )
    # the queue over-cuts C (10, all of it) and B (1), leaving A at 5x and B at 900/250 = 3.6x
    queue = adl.queue_allocation(QUEUE_SCORES, [10.0] * 3, 11)
    np.testing.assert_array_equal(queue, [0.0, 1.0, 10.0])
    assert _max_leverage(queue) == 5.0
    assert _max_leverage(closed) <= _max_leverage(queue)


def test_min_max_first_step_and_available_floor() -> None:
    # closing 2 brings A exactly down to B's 4x: (1,000 − 4 × 200)/100 = 2
    closed = adl.min_max_leverage_allocation(NOTIONAL_USD, EQUITY_USD, [10.0] * 3, PRICE_USD, 2)
    np.testing.assert_allclose(closed, [2.0, 0.0, 0.0], atol=1e-12)
    # A can give only 1 (stuck at 900/200 = 4.5x); B, C drain to L: 1 + (10 − 2.5L) + (10 − 5L)
    # = 11 → L = 4/3 → B 10 − 10/3 = 6.667, C 10 − 20/3 = 3.333
    closed = adl.min_max_leverage_allocation(NOTIONAL_USD, EQUITY_USD, [1.0, 10, 10], PRICE_USD, 11)
    np.testing.assert_allclose(closed, [1.0, 20 / 3, 10 / 3], rtol=1e-12)


def test_min_max_integer_lots_round_by_leverage_left() -> None:
    # continuous: 20 − 4.5 L = 6 → L = 3.111; A 3.778, B 2.222 → floors 3, 2 (5), 1 lot left;
    # leverage after floors: A 700/200 = 3.5, B 800/250 = 3.2 → the lot goes to A → [4, 2, 0]
    # max leverage: A 600/200 = 3.0, B 3.2 → 3.2 (vs 3.5 for [3, 3, 0]; queue: C 6 → 5.0)
    available = np.array([10, 10, 10])
    closed = adl.min_max_leverage_allocation(NOTIONAL_USD, EQUITY_USD, available, PRICE_USD, 6)
    np.testing.assert_array_equal(closed, [4, 2, 0])
    assert _max_leverage(closed) == pytest.approx(3.2)
    assert _max_leverage(adl.queue_allocation(QUEUE_SCORES, available, 6)) == 5.0


def test_min_max_rejects_non_positive_equity() -> None:
    with pytest.raises(ValueError, match=r"equity_usd.*-1\.0"):
        adl.min_max_leverage_allocation([1.0], [-1.0], [1.0], 1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# ranking scores
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "entry", "mark", "bankruptcy", "expected"),
    [
        (1, 100.0, 110.0, 90.0, 0.55),  # TV-X5: PnL% 0.10 × EffLev 110/20 = 5.5
        (1, 100.0, 110.0, 50.0, 0.1 * 110 / 60),  # EffLev 110/60 = 1.8333 → 0.18333
        (1, 100.0, 95.0, 90.0, -0.05 / 19),  # losing: −0.05 / (95/5 = 19) = −0.00263
        (-1, 100.0, 90.0, 110.0, 0.45),  # short: PnL% 0.10 × EffLev 90/|90 − 110| = 4.5
    ],
)
def test_bitmex_score_tv_x5(side, entry, mark, bankruptcy, expected) -> None:
    assert float(adl_scores.bitmex_score(side, entry, mark, bankruptcy)) == pytest.approx(expected)


def test_bitmex_score_tv_x5_rounded_values() -> None:
    marks, bankrupt = np.array([110.0, 110.0, 95.0]), np.array([90, 50, 90])
    scores = adl_scores.bitmex_score(1, 100.0, marks, bankrupt)
    np.testing.assert_allclose(scores, [0.55, 0.18333, -0.00263], atol=5e-6)


def test_bitmex_score_rejects_bad_side_and_mark_at_bankruptcy() -> None:
    with pytest.raises(ValueError, match=r"side.*0"):
        adl_scores.bitmex_score(0, 100.0, 110.0, 90.0)
    with pytest.raises(ValueError, match=r"bankruptcy_price.*110"):
        adl_scores.bitmex_score(1, 100.0, 110.0, 110.0)


def test_binance_leverage_pnl_tv_b11() -> None:
    # margin balance 4.27 + 40.2 = 44.47; MM = 0.1342 × 44.47 = 5.967874 → MarginRatio 13.42%
    # PnlPercent = 40.2 / max(1, 4.27) = 9.4145; score = 9.4145 × 0.1342 = 1.2634 ≈ 1.26
    score = adl_scores.binance_leverage_pnl_score(40.2, 4.27, 0.1342 * 44.47)
    assert float(score) == pytest.approx(40.2 / 4.27 * 0.1342)
    assert round(float(score), 2) == 1.26


def test_binance_leverage_pnl_edge_cases() -> None:
    # losing account: PnlPercent 0; bankrupt margin balance (WB + UPnL <= 0): MarginRatio 0;
    # wallet below 1: divide by 1 → 10 × 5/(0.5 + 10) = 4.7619
    pnl, wallet, mm = [-5.0, 3.0, 10.0], [10.0, -3.0, 0.5], [1.0, 1.0, 5.0]
    scores = adl_scores.binance_leverage_pnl_score(pnl, wallet, mm)
    np.testing.assert_allclose(scores, [0.0, 0.0, 10 * 5 / 10.5])
    assert ADL_SCORES == ("bitmex", "binance", "hyperliquid")  # the rules a run can choose


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
lots = st.lists(st.integers(0, 50), min_size=1, max_size=12)
usd = st.floats(1.0, 1e6, allow_nan=False)


@st.composite
def int_allocation_case(draw):
    available = np.array(draw(lots))
    scores = draw(st.lists(st.integers(-3, 3), min_size=len(available), max_size=len(available)))
    return np.array(scores, dtype=float), available, draw(st.integers(0, 700))


@st.composite
def leverage_case(draw, integer: bool):
    n = draw(st.integers(1, 8))
    price = draw(st.floats(1.0, 1e4))
    held = np.array(draw(st.lists(st.integers(0, 50), min_size=n, max_size=n)))
    equity = np.array(draw(st.lists(usd, min_size=n, max_size=n)))
    qty = draw(st.integers(0, int(held.sum()) + 3))
    available = held if integer else held.astype(float)
    return held * price, equity, available, price, qty


def _assert_feasible_exact(closed, available, qty) -> None:
    assert np.issubdtype(closed.dtype, np.integer)
    assert (closed >= 0).all() and (closed <= available).all()
    assert closed.sum() == min(qty, available.sum())


@given(int_allocation_case())
def test_integer_allocations_are_feasible_and_exact(case) -> None:
    scores, available, qty = case
    _assert_feasible_exact(adl.queue_allocation(scores, available, qty), available, qty)
    _assert_feasible_exact(adl.contract_pro_rata(available, qty), available, qty)


@given(leverage_case(integer=True))
def test_min_max_integer_is_exact_and_within_one_lot_of_continuous(case) -> None:
    notional, equity, available, price, qty = case
    closed = adl.min_max_leverage_allocation(notional, equity, available, price, qty)
    _assert_feasible_exact(closed, available, qty)
    continuous = adl.min_max_leverage_allocation(notional, equity, available * 1.0, price, qty)
    lev_int = adl.leverage_after_close(notional, equity, closed, price).max()
    lev_cont = adl.leverage_after_close(notional, equity, continuous, price).max()
    assert lev_int <= lev_cont + (price / equity).max() + 1e-9 * max(1.0, lev_cont)


@given(leverage_case(integer=False), st.data())
def test_min_max_float_never_worse_than_queue(case, data) -> None:
    notional, equity, available, price, qty = case
    closed = adl.min_max_leverage_allocation(notional, equity, available, price, qty)
    assert (closed >= 0).all() and (closed <= available).all()
    assert closed.sum() == pytest.approx(min(qty, available.sum()), abs=1e-9 * (1 + qty))
    scores = data.draw(st.lists(usd, min_size=len(available), max_size=len(available)))
    queue = adl.queue_allocation(scores, available, qty)
    lev_min_max = adl.leverage_after_close(notional, equity, closed, price).max()
    lev_queue = adl.leverage_after_close(notional, equity, queue, price).max()
    assert lev_min_max <= lev_queue + 1e-9 * max(1.0, lev_queue)


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=12),
    st.floats(0.0, 2e7),
    st.data(),
)
def test_haircuts_are_fractions_that_raise_the_budget(profits, budget, data) -> None:
    weights = np.maximum(profits, 0.0)
    caps = np.array(data.draw(st.lists(st.floats(0, 1), min_size=len(profits), max_size=12)))
    caps = caps[: len(profits)]
    for haircut, capacity in (
        (adl.pro_rata_haircut(profits, budget), weights.sum()),
        (adl.capped_pro_rata_haircut(profits, budget, caps), np.dot(caps, weights)),
    ):
        assert ((haircut >= 0) & (haircut <= 1)).all()
        assert haircut[weights == 0].sum() == 0
        expected = min(budget, capacity)
        assert np.dot(haircut, weights) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(
        adl.capped_pro_rata_haircut(profits, budget, np.ones(len(profits))),
        adl.pro_rata_haircut(profits, budget),
        rtol=1e-12,
    )


def test_tv_h3_hyperliquid_sorting_index():
    """TV-H3 (exchange-mechanics §5.4): a short entered at 4,000, mark 3,600, notional 36,000,
    account value 12,000. The docs' (mark/entry)·(notional/value) = 0.9 · 3 = 2.7 would rank a
    short's profit lower as it grows; the ratio is inverted for shorts, (4,000/3,600) · 3 =
    3.33. A long entered at 3,600 with mark 4,000, same notional and value: (4,000/3,600)·3."""
    np.testing.assert_allclose(
        adl_scores.hyperliquid_score([-1, 1], [4_000.0, 3_600.0], [3_600.0, 4_000.0],
                              36_000.0, 12_000.0),
        [4_000.0 / 3_600.0 * 3.0, 4_000.0 / 3_600.0 * 3.0],
    )  # fmt: skip
    with pytest.raises(ValueError, match="account_value_usd"):
        adl_scores.hyperliquid_score(1, 100.0, 100.0, 1_000.0, 0.0)


def test_naked_lots_is_the_part_of_a_position_its_owner_is_net_exposed_on():
    """Shorts of 10 lots (1 coin, mark 100): net short 400 USD → 4 naked; flat (hedged by
    1,000 of spot) → 0; net short 1,500 → all 10; a long of 3 with net long 250 → 2."""
    naked = adl.naked_lots([-10, -10, -10, 3], 1.0, 100.0, [-400.0, 0.0, -1_500.0, 250.0])
    assert naked.tolist() == [4, 0, 10, 2]


def test_hedges_broken_on_the_account_or_on_the_closed_leg():
    """Band 0.2, winners short, a long liquidated (side +1: the shorts are bought back).
    A: 10 coins of spot against a 10-coin short at 97: d = 0, g = 1,940; closing all (970)
    → d' = 970 > 0.2 · 970: broken. B: the same book, 1 coin closed (97) → d' = 97 ≤ 0.2 ·
    1,843 = 368.6: still hedged. C: a naked short (d = −970, g = 970), closed: never hedged.
    D: hedged as a whole (d = 100, g = 9,000) but its leg is naked (leg d = −900 = −g):
    closing 900 → whole d' = 1,000 ≤ 0.2 · 8,100 still, leg g' = 0: not hedged before or after
    on the leg, still hedged on the account: no break. E: D's account, its leg hedged (leg
    d = 0, g = 1,800), all 900 closed → leg d' = 900 = g': broken on the leg alone."""
    whole = ([0.0, 0.0, -970.0, 100.0, 100.0], [1_940.0, 1_940.0, 970.0, 9_000.0, 9_000.0])
    leg = ([0.0, 0.0, -970.0, -900.0, 0.0], [1_940.0, 1_940.0, 970.0, 900.0, 1_800.0])
    closed = [970.0, 97.0, 970.0, 900.0, 900.0]
    broken = adl.hedges_broken(whole, leg, closed, side=1, band=0.2)
    assert broken.tolist() == [True, False, False, False, True]


def test_hedges_broken_refuses_a_negative_close_naming_it():
    with pytest.raises(ValueError, match="closed_usd"):
        adl.hedges_broken(([0.0], [1.0]), ([0.0], [1.0]), [-1.0], side=1, band=0.2)


def test_portfolio_allocation_takes_naked_lots_first_then_hedges_by_score():
    """Scores 3, 2, 1; held 5, 5, 5; naked 0, 5, 2. Closing 9: naked first by score → B 5,
    C 2 (7); the hedged rest by score → A 2. Closing 4: B 4 only; A's hedge untouched."""
    np.testing.assert_array_equal(
        adl.portfolio_allocation([3.0, 2.0, 1.0], [5, 5, 5], [0, 5, 2], 9), [2, 5, 2]
    )
    np.testing.assert_array_equal(
        adl.portfolio_allocation([3.0, 2.0, 1.0], [5, 5, 5], [0, 5, 2], 4), [0, 4, 0]
    )
