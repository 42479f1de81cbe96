"""RetailCohort: trait draws, entries, stops, take-profits and re-entry requests, from views.

No exchange is needed: a hand-built MarketView for two perps (BTC-like and a cheap alt) and an
AccountsView built from numpy arrays (read-only, so an accidental write would raise). There is
no warm-up: the positions held from minute 0 come from `opening_positions` (the model opens
them, tests/test_opening.py). Each minute the flat accounts drawn with entry_prob enter
(entry_prob = 1: all of them) and the accounts in a position drawn with trade_prob check their
take-profit (trade_prob = 1: all of them).
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.retail import FUNDING_AWARE_MAX_RATE, LEVERAGE_GROUPS, RetailCohort, stop_triggers
from model.config import ModelConfig
from model.engine.orders import Order
from model.engine.types import OrderKind
from model.overrides import with_overrides
from model.trader_config import RetailConfig
from model.views import AccountsView, MarketView

BTC, ALT = 0, 1
BTC_ASK, BTC_BID, BTC_MARK = 100_000.0, 99_990.0, 99_995.0
ALT_ASK, ALT_BID, ALT_MARK = 2.0, 1.999, 1.9995
TICKS = np.array([0.1, 0.001])
LOTS = np.array([0.001, 1.0])
MAX_LEVERAGE = np.array([125.0, 50.0])
DEPOSIT_USD = 10_000.0
FIRST_ID = 5
"""Cohort ids start here, so a row/column mix-up between cohort index and account id shows."""
N_STAT = 20_000
BAND = 0.015
"""Statistical band for shares over 20,000 accounts (≥ 4 σ: √(0.25/20,000) ≈ 0.0035)."""


def make_view(t: int = 1, **overrides: object) -> MarketView:
    """A two-asset snapshot (BTC-like, alt) with every field filled; keyword overrides."""
    fields = {
        "t": t,
        "symbols": ("BTC", "ALT"),
        "fundamental_usd": np.array([BTC_MARK, ALT_MARK]),
        "index_usd": np.array([BTC_MARK, ALT_MARK]),
        "mark_usd": np.array([BTC_MARK, ALT_MARK]),
        "spot_bid_usd": np.array([BTC_BID, ALT_BID]),
        "spot_ask_usd": np.array([BTC_ASK, ALT_ASK]),
        "perp_bid_usd": np.array([BTC_BID, ALT_BID]),
        "perp_ask_usd": np.array([BTC_ASK, ALT_ASK]),
        "funding_rate": np.array([0.0001, 0.0001]),
        "premium": np.zeros(2),
        "return_15m": np.zeros(2),
        "vol_1h": np.full(2, 0.001),
        "risk_off": 0.0,
        "exo_sell_usd": np.zeros(2),
        "perp_tick": TICKS,
        "perp_lot": LOTS,
        "spot_tick": TICKS,
        "spot_lot": LOTS,
        "max_leverage": MAX_LEVERAGE,
    }
    fields.update(overrides)
    return MarketView(**fields)  # type: ignore[arg-type]


def make_accounts(
    n: int,
    equity_usd: float | np.ndarray = DEPOSIT_USD,
    qty: np.ndarray | None = None,
    entry_price_usd: np.ndarray | None = None,
) -> AccountsView:
    """Read-only account arrays for ids 0..FIRST_ID + n − 1 (rows below FIRST_ID unused)."""
    rows = FIRST_ID + n
    equity = np.zeros(rows)
    equity[FIRST_ID:] = equity_usd
    arrays = {
        "collateral_usd": equity.copy(),
        "qty": np.zeros((rows, 2)) if qty is None else qty,
        "entry_price_usd": np.zeros((rows, 2)) if entry_price_usd is None else entry_price_usd,
        "spot_qty": np.zeros((rows, 2)),
        "equity_usd": equity,
        "is_isolated": np.zeros((rows, 2), dtype=bool),
    }
    for arr in arrays.values():
        arr.flags.writeable = False
    return AccountsView(**arrays)


def make_cohort(n: int, seed: int = 0, n_assets: int = 2, **cfg: object) -> RetailCohort:
    """A cohort over ids FIRST_ID.. with `RetailConfig` overrides; weights 0.6/0.4 by default."""
    cfg.setdefault("asset_weights", (0.6, 0.4))
    ids = np.arange(FIRST_ID, FIRST_ID + n)
    return RetailCohort(
        mesa.Model(rng=0), ids, np.random.default_rng(seed), RetailConfig(**cfg), n_assets
    )


def entries(orders: list) -> list[Order]:
    """Opening market orders."""
    return [o for o in orders if o.kind == OrderKind.MARKET and not o.reduce_only]


def stops(orders: list) -> list[Order]:
    """Stop-market orders."""
    return [o for o in orders if o.kind == OrderKind.STOP_MARKET]


def long_share(orders: list) -> float:
    """Share of entries that buy."""
    sides = np.array([o.side for o in entries(orders)])
    return float(np.mean(sides > 0))


def cohort_index(cohort: RetailCohort, order: Order) -> int:
    """Position of an order's account in the cohort arrays."""
    return order.account - FIRST_ID


# ------------------------------------------------------------------------------ determinism
def run_minutes(seed: int) -> list:
    """Orders of four busy minutes, t = 0 included."""
    n = 300
    cohort = make_cohort(
        n, seed, entry_prob=0.2, trade_prob=0.2, reentry_prob=0.5, stop_loss_share=0.5
    )
    accounts = make_accounts(n)
    out = list(cohort.decide(make_view(t=0), accounts))
    for t in (1, 2, 3):
        out += cohort.decide(make_view(t=t), accounts)
        out += cohort.deposit_requests
    return out


def test_same_seed_gives_identical_orders() -> None:
    assert run_minutes(seed=7) == run_minutes(seed=7)


def test_another_seed_gives_different_orders() -> None:
    assert run_minutes(seed=7) != run_minutes(seed=8)


# ------------------------------------------------------------------------------ traits
def test_leverage_groups_follow_their_shares_and_ranges() -> None:
    # the four ranges do not overlap, so a leverage names its group
    cohort = make_cohort(
        N_STAT,
        high_leverage_share=0.2,
        mid_leverage_share=0.3,
        moderate_leverage_share=0.25,
        low_leverage=(1.0, 3.0),
        moderate_leverage=(4.0, 7.0),
        mid_leverage=(8.0, 25.0),
        high_leverage=(50.0, 100.0),
    )
    lev = cohort.leverages

    is_high, is_mid = lev >= 50.0, (lev >= 8.0) & (lev <= 25.0)
    is_moderate, is_low = (lev >= 4.0) & (lev <= 7.0), lev <= 3.0

    assert abs(is_high.mean() - 0.2) < BAND
    assert abs(is_mid.mean() - 0.3) < BAND
    assert abs(is_moderate.mean() - 0.25) < BAND
    assert abs(is_low.mean() - 0.25) < BAND
    assert np.all(is_high | is_mid | is_moderate | is_low)
    assert np.all((lev >= 1.0) & (lev <= 100.0))
    np.testing.assert_array_equal(is_high, cohort.has_high_leverage)
    names = np.array(LEVERAGE_GROUPS)[cohort.leverage_groups]
    for name, member in (("high", is_high), ("mid", is_mid), ("moderate", is_moderate)):
        np.testing.assert_array_equal(names == name, member)


def test_only_high_leverage_accounts_use_the_small_margin_fraction() -> None:
    cohort = make_cohort(
        2_000, high_leverage_share=0.3, position_fraction=0.6, high_leverage_fraction=0.1
    )

    want = np.where(cohort.has_high_leverage, 0.1, 0.6)

    np.testing.assert_array_equal(cohort.margin_fractions, want)
    assert 0 < cohort.has_high_leverage.sum() < 2_000


def test_trait_shares_and_home_assets_follow_config() -> None:
    cohort = make_cohort(
        N_STAT,
        stop_loss_share=0.1,
        isolated_share=0.3,
        funding_aware_share=0.2,
        long_bias=0.7,
        open_at_start=0.8,
    )

    assert abs(cohort.has_stop.mean() - 0.1) < BAND
    assert abs(cohort.is_isolated.mean() - 0.3) < BAND
    assert abs(cohort.is_funding_aware.mean() - 0.2) < BAND
    assert abs(cohort.is_long_biased.mean() - 0.7) < BAND
    assert abs(cohort.is_open_at_start.mean() - 0.8) < BAND
    assert abs(np.mean(cohort.home_assets == BTC) - 0.6) < BAND


def test_wrong_number_of_asset_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="asset_weights"):
        make_cohort(10, n_assets=3)


def test_deposit_scales_multiply_the_deposits_by_home_asset() -> None:
    # deposit 10,000 USD: 10,000 × 1 on BTC, 10,000 × 0.25 = 2,500 on ALT
    n = 400
    cohort = RetailCohort(
        mesa.Model(rng=0),
        np.arange(FIRST_ID, FIRST_ID + n),
        np.random.default_rng(0),
        RetailConfig(asset_weights=(0.6, 0.4)),
        2,
        initial_deposit_usd=np.full(n, DEPOSIT_USD),
        deposit_scales=np.array([1.0, 0.25]),
    )

    want = np.where(cohort.home_assets == BTC, 10_000.0, 2_500.0)

    np.testing.assert_array_equal(cohort.initial_deposit_usd, want)
    assert set(np.unique(cohort.home_assets).tolist()) == {BTC, ALT}


# ------------------------------------------------------------------------------ opening book
def test_no_opening_entries_any_more_the_model_opens_the_book() -> None:
    # every account is open at the start, but nobody acts: no order at t = 0 or later (the
    # positions are opened by the model, matched, before minute 0)
    cohort = make_cohort(2_000, open_at_start=1.0, entry_prob=0.0, trade_prob=0.0, reentry_prob=0.0)
    accounts = make_accounts(2_000)

    assert cohort.decide(make_view(t=0), accounts) == []
    assert cohort.decide(make_view(t=1), accounts) == []


def test_opening_positions_golden_numbers() -> None:
    """Setup: two BTC accounts open at the start, both long, deposits 10,000 and 4,000 USD.

    account 0: 10x, f = 0.6 → 10,000 × 0.6 × 10 = 60,000 USD long
    account 1: 10x, capped at 5x by max_leverage → 4,000 × 0.6 × 5 = 12,000 USD long
    """
    ids = np.array([FIRST_ID, FIRST_ID + 1])
    cfg = RetailConfig(
        asset_weights=(1.0, 0.0),
        open_at_start=1.0,
        long_bias=1.0,
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        mid_leverage_share=0.0,
        position_fraction=0.6,
        isolated_share=1.0,
    )
    cohort = RetailCohort(
        mesa.Model(rng=0), ids, np.random.default_rng(0), cfg, 2, np.array([10_000.0, 4_000.0])
    )
    cohort.leverages = np.array([10.0, 10.0])

    got_ids, assets, signed_usd, leverage, isolated = cohort.opening_positions(
        np.array([100_000.0, 2.0]), np.array([125.0, 50.0])
    )
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(assets, [BTC, BTC])
    np.testing.assert_allclose(signed_usd, [60_000.0, 24_000.0])  # no cap at 125x
    np.testing.assert_allclose(leverage, [10.0, 10.0])
    assert isolated.tolist() == [True, True]

    _, _, capped_usd, capped_lev, _ = cohort.opening_positions(
        np.array([100_000.0, 2.0]), np.array([5.0, 50.0])
    )
    np.testing.assert_allclose(capped_lev, [5.0, 5.0])
    np.testing.assert_allclose(capped_usd, [30_000.0, 12_000.0])


def test_opening_positions_follow_the_traits() -> None:
    n = 4_000
    cohort = make_cohort(
        n, open_at_start=0.8, long_bias=0.7, high_leverage_share=0.1, mid_leverage_share=0.2
    )
    cohort.initial_deposit_usd = np.random.default_rng(3).lognormal(np.log(5_000.0), 1.0, n)

    ids, assets, signed_usd, leverage, isolated = cohort.opening_positions(
        np.array([100_000.0, 2.0]), MAX_LEVERAGE
    )

    members = np.flatnonzero(cohort.is_open_at_start)
    np.testing.assert_array_equal(ids, cohort.account_ids[members])
    np.testing.assert_array_equal(assets, cohort.home_assets[members])
    # long iff the side quantile is under long_bias (momentum plays no part before minute 0)
    np.testing.assert_array_equal(signed_usd > 0, cohort.is_long_biased[members])
    want_lev = np.minimum(cohort.leverages[members], MAX_LEVERAGE[assets])  # 125x BTC, 50x ALT
    np.testing.assert_array_equal(leverage, want_lev)
    assert np.any(want_lev < cohort.leverages[members]), "some 50–100x ALT accounts are capped"
    want_usd = cohort.initial_deposit_usd[members] * cohort.margin_fractions[members] * leverage
    np.testing.assert_allclose(np.abs(signed_usd), want_usd)
    np.testing.assert_array_equal(isolated, cohort.is_isolated[members])
    assert abs(len(ids) / n - 0.8) < 0.04 and abs(np.mean(signed_usd > 0) - 0.7) < 0.04


def _opening_cohort(n: int, **cfg: object) -> RetailCohort:
    cfg = {
        "asset_weights": (1.0, 0.0),
        "low_leverage": (7.0, 7.0),
        "high_leverage_share": 0.0,
        "mid_leverage_share": 0.0,
        "stop_loss": 0.5,
        "entry_prob": 0.0,
        "trade_prob": 0.0,
        "reentry_prob": 0.0,
        **cfg,
    }
    return make_cohort(n, **cfg)


def test_opening_positions_place_their_stops_at_minute_zero_only() -> None:
    """Setup: four BTC accounts, all with stops, 7x, f = 0.6, sized as the opening book sizes
    them at 100,000: deposit 10,000 → 10,000 × 0.6 × 7 / 100,000 = 0.42 BTC long; deposit
    5,000 → 0.21 BTC short; a flat one; and a 0.42 BTC long not open at the start (a later
    entry sets its own stop). Each holds 7x: 0.42 × 100,000 / 6,000 = 0.21 × 100,000 / 3,000."""
    cohort = _opening_cohort(4, stop_loss_share=1.0, open_at_start=1.0)
    cohort.is_open_at_start = np.array([True, True, True, False])
    qty = np.zeros((FIRST_ID + 4, 2))
    entry = np.zeros((FIRST_ID + 4, 2))
    qty[FIRST_ID:, BTC] = [0.42, -0.21, 0.0, 0.42]
    entry[FIRST_ID:, BTC] = [100_000.0, 100_000.0, 0.0, 100_000.0]
    equity = np.array([10_000.0, 5_000.0, 10_000.0, 10_000.0])
    accounts = make_accounts(4, equity_usd=equity, qty=qty, entry_price_usd=entry)

    at_start = cohort.decide(make_view(t=0), accounts)
    later = cohort.decide(make_view(t=1), accounts)

    # long: 100,000 × (1 − 0.5 / 7) = 92,857.142… → up to the 0.1 tick = 92,857.2
    # short: 100,000 × (1 + 0.5 / 7) = 107,142.857… → down to the 0.1 tick = 107,142.8
    assert at_start == [
        Order(
            FIRST_ID,
            BTC,
            -1,
            pytest.approx(0.42),
            OrderKind.STOP_MARKET,
            pytest.approx(92_857.2),
            reduce_only=True,
        ),
        Order(
            FIRST_ID + 1,
            BTC,
            1,
            pytest.approx(0.21),
            OrderKind.STOP_MARKET,
            pytest.approx(107_142.8),
            reduce_only=True,
        ),
    ]
    assert later == []


def test_opening_stops_use_the_leverage_a_capped_position_holds() -> None:
    """Setup: one BTC account chosen at 7x, deposit 10,000, f = 0.6 (margin 6,000), whose
    bracket capped its opening position to 0.3 BTC at 100,000: it holds
    0.3 × 100,000 / 6,000 = 5x, not 7x."""
    cohort = _opening_cohort(1, stop_loss_share=1.0, open_at_start=1.0, long_bias=1.0)
    qty = np.zeros((FIRST_ID + 1, 2))
    entry = np.zeros((FIRST_ID + 1, 2))
    qty[FIRST_ID, BTC], entry[FIRST_ID, BTC] = 0.3, 100_000.0

    (stop,) = cohort.decide(make_view(t=0), make_accounts(1, qty=qty, entry_price_usd=entry))

    # 100,000 × (1 − 0.5 / 5) = 90,000 exactly (at 7x it would be 92,857.2)
    assert stop == Order(
        FIRST_ID,
        BTC,
        -1,
        pytest.approx(0.3),
        OrderKind.STOP_MARKET,
        pytest.approx(90_000.0),
        reduce_only=True,
    )


def test_opening_positions_without_stops_place_none() -> None:
    cohort = _opening_cohort(3, stop_loss_share=0.0, open_at_start=1.0)
    qty = np.zeros((FIRST_ID + 3, 2))
    qty[FIRST_ID:, BTC] = [0.6, -0.3, 1.0]
    entry = np.full((FIRST_ID + 3, 2), 100_000.0)

    assert cohort.decide(make_view(t=0), make_accounts(3, qty=qty, entry_price_usd=entry)) == []


# ------------------------------------------------------------------------------ entries
def test_positive_momentum_pulls_in_longs() -> None:
    # p_long = clip(0.7 + 20 × 0.01, 0, 1) = 0.9
    cohort = make_cohort(
        N_STAT, entry_prob=1.0, long_bias=0.7, momentum=20.0, funding_aware_share=0.0
    )

    orders = cohort.decide(make_view(return_15m=np.full(2, 0.01)), make_accounts(N_STAT))

    assert abs(long_share(orders) - 0.9) < BAND


def test_negative_momentum_pushes_to_shorts() -> None:
    # p_long = clip(0.7 + 20 × (−0.05), 0, 1) = 0
    cohort = make_cohort(2_000, entry_prob=1.0, long_bias=0.7, momentum=20.0)

    orders = cohort.decide(make_view(return_15m=np.full(2, -0.05)), make_accounts(2_000))

    assert len(entries(orders)) == 2_000
    assert long_share(orders) == 0.0


def test_entry_prob_sets_the_share_of_flat_accounts_entering_trade_prob_of_held_acting() -> None:
    """Setup: 2 × 20,000 accounts, every other one long a lot of its home asset at half the
    mark, so each held account that acts takes its profit (gain = mark / 2 per coin ≥ margin =
    entry / L for L ≥ 1); the flat ones have 10,000 USD and always afford a lot. The two
    probabilities differ, so swapping them shows."""
    n = 2 * N_STAT
    cohort = make_cohort(
        n, entry_prob=0.1, trade_prob=0.3, take_profit=1.0, open_at_start=1.0, reentry_prob=0.0
    )
    is_held = np.arange(n) % 2 == 1
    qty = np.zeros((FIRST_ID + n, 2))
    entry = np.zeros((FIRST_ID + n, 2))
    qty[FIRST_ID:][is_held] = LOTS  # whichever its home asset is
    entry[FIRST_ID:][is_held] = np.array([BTC_MARK, ALT_MARK]) / 2
    accounts = make_accounts(n, qty=qty, entry_price_usd=entry)

    for t in range(3):
        orders = cohort.decide(make_view(t=t), accounts)
        entering = [cohort_index(cohort, o) for o in entries(orders)]
        closing = [
            cohort_index(cohort, o) for o in orders if o.kind == OrderKind.MARKET and o.reduce_only
        ]

        # only flat accounts enter and only held ones take profit, each at most once
        assert not is_held[entering].any() and len(set(entering)) == len(entering)
        assert is_held[closing].all() and len(set(closing)) == len(closing)
        # about a tenth of the flat accounts enter, about 0.3 of the held ones act
        assert abs(len(entering) / N_STAT - 0.1) < BAND
        assert abs(len(closing) / N_STAT - 0.3) < BAND


def test_funding_aware_accounts_open_no_longs_when_funding_is_high() -> None:
    n = 4_000
    high_funding = np.full(2, 2 * FUNDING_AWARE_MAX_RATE)
    cohort = make_cohort(n, entry_prob=1.0, long_bias=0.7, funding_aware_share=0.5)

    orders = cohort.decide(make_view(funding_rate=high_funding), make_accounts(n))

    aware = cohort.is_funding_aware
    aware_sides = [o.side for o in entries(orders) if aware[cohort_index(cohort, o)]]
    blind_sides = [o.side for o in entries(orders) if not aware[cohort_index(cohort, o)]]
    assert aware_sides and all(side < 0 for side in aware_sides)
    assert len(aware_sides) == np.sum(aware & ~cohort.is_long_biased)  # longs skipped, no flip
    assert np.mean(np.array(blind_sides) > 0) > 0.6


def test_funding_aware_accounts_go_long_when_funding_is_normal() -> None:
    n = 4_000
    cohort = make_cohort(n, entry_prob=1.0, long_bias=0.7, funding_aware_share=1.0)

    orders = cohort.decide(make_view(), make_accounts(n))

    assert len(entries(orders)) == n
    assert abs(long_share(orders) - 0.7) < 0.04


# ------------------------------------------------------------------------------ sizing
def test_entry_size_golden_number() -> None:
    cohort = make_cohort(
        1,
        entry_prob=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        mid_leverage_share=0.0,
        position_fraction=0.6,
        stop_loss_share=0.0,
        isolated_share=1.0,
    )

    (order,) = cohort.decide(make_view(), make_accounts(1, equity_usd=10_000.0))

    # 10,000 USD × 0.6 × 10 / 100,000 USD = 0.6 BTC = 600 lots of 0.001
    assert order == Order(FIRST_ID, BTC, 1, pytest.approx(0.6), leverage=10.0, isolated=True)


def test_high_leverage_entry_uses_the_high_leverage_fraction() -> None:
    cohort = make_cohort(
        1,
        entry_prob=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        high_leverage_share=1.0,
        high_leverage=(50.0, 50.0),
        high_leverage_fraction=0.1,
        position_fraction=0.6,
        stop_loss_share=0.0,
        isolated_share=0.0,
    )

    (order,) = cohort.decide(make_view(), make_accounts(1, equity_usd=10_000.0))

    # 10,000 USD × 0.1 × 50 / 100,000 USD = 0.5 BTC (not 10,000 × 0.6 × 50 / 100,000 = 3 BTC)
    assert order == Order(FIRST_ID, BTC, 1, pytest.approx(0.5), leverage=50.0, isolated=False)


def test_quantities_are_lot_multiples_and_leverage_is_capped() -> None:
    n = 2_000
    cohort = make_cohort(n, entry_prob=1.0, high_leverage_share=0.5, high_leverage=(60.0, 150.0))
    equity = np.random.default_rng(1).lognormal(np.log(2_000.0), 1.0, n)

    orders = entries(cohort.decide(make_view(), make_accounts(n, equity_usd=equity)))

    assert len(orders) > 0.9 * n
    for o in orders:
        lots = o.qty / LOTS[o.market]
        assert lots >= 1 and abs(lots - round(lots)) < 1e-9
        assert o.leverage <= MAX_LEVERAGE[o.market]
        assert o.leverage == min(cohort.leverages[cohort_index(cohort, o)], MAX_LEVERAGE[o.market])


def test_equity_too_small_for_one_lot_places_nothing() -> None:
    # 1 USD × 0.6 × 10 / 100,000 = 0.00006 BTC < one lot of 0.001
    cohort = make_cohort(
        1,
        entry_prob=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        mid_leverage_share=0.0,
    )

    assert cohort.decide(make_view(), make_accounts(1, equity_usd=1.0)) == []


def test_empty_book_side_sizes_off_the_mark() -> None:
    """Setup: books empty in the snapshot (as at t = 0, makers quote in the same minute)."""
    cohort = make_cohort(
        1,
        entry_prob=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        mid_leverage_share=0.0,
        stop_loss_share=1.0,
        stop_loss=0.5,
    )
    view = make_view(t=0, perp_ask_usd=np.full(2, np.nan), perp_bid_usd=np.full(2, np.nan))

    entry, stop = cohort.decide(view, make_accounts(1))

    # 10,000 × 0.6 × 10 / 99,995 = 0.60003 BTC → 600 lots = 0.6 BTC
    # trigger 99,995 × (1 − 0.5 / 10) = 94,995.25 → up to the 0.1 tick = 94,995.3
    assert entry.qty == pytest.approx(0.6) and entry.side == 1
    assert stop.price_usd == pytest.approx(94_995.3)


def test_no_price_at_all_places_nothing() -> None:
    cohort = make_cohort(100, entry_prob=1.0)
    nan = np.full(2, np.nan)
    view = make_view(perp_ask_usd=nan, perp_bid_usd=nan, mark_usd=nan)

    assert cohort.decide(view, make_accounts(100)) == []


# ------------------------------------------------------------------------------ stops
def test_stop_orders_exist_exactly_for_entries_of_accounts_with_stops() -> None:
    n = 2_000
    cohort = make_cohort(n, entry_prob=1.0, stop_loss_share=0.3, stop_loss=0.5)

    orders = cohort.decide(make_view(), make_accounts(n))

    entry_by_account = {o.account: o for o in entries(orders)}
    stop_by_account = {o.account: o for o in stops(orders)}
    with_stop = {a for a in entry_by_account if cohort.has_stop[a - FIRST_ID]}
    assert set(stop_by_account) == with_stop and len(stops(orders)) == len(with_stop)
    for acct, stop in stop_by_account.items():
        entry = entry_by_account[acct]
        assert stop.reduce_only and stop.side == -entry.side and stop.qty == entry.qty
        assert stop.market == entry.market
        price = BTC_ASK if entry.side > 0 else BTC_BID
        price = price if entry.market == BTC else (ALT_ASK if entry.side > 0 else ALT_BID)
        exact = price * (1 - entry.side * 0.5 / entry.leverage)
        tick = TICKS[entry.market]
        assert abs(stop.price_usd - exact) <= tick + 1e-9  # within a tick, toward the entry
        assert entry.side * (stop.price_usd - exact) >= -1e-9
        assert abs(stop.price_usd / tick - round(stop.price_usd / tick)) < 1e-6


def test_long_stop_trigger_golden_number() -> None:
    cohort = _opening_cohort(1, entry_prob=1.0, long_bias=1.0, stop_loss_share=1.0)

    _, stop = cohort.decide(make_view(), make_accounts(1))

    # 100,000 × (1 − 0.5 / 7) = 92,857.142857…, rounded up to the 0.1 tick = 92,857.2
    assert stop.kind == OrderKind.STOP_MARKET and stop.side == -1
    assert stop.price_usd == pytest.approx(92_857.2)


def test_short_stop_trigger_golden_number() -> None:
    cohort = _opening_cohort(1, entry_prob=1.0, long_bias=0.0, stop_loss_share=1.0)

    _, stop = cohort.decide(make_view(), make_accounts(1))

    # 99,990 × (1 + 0.5 / 7) = 107,132.142857…, rounded down to the 0.1 tick = 107,132.1
    assert stop.side == 1 and stop.price_usd == pytest.approx(107_132.1)


def test_stop_trigger_stays_on_the_loss_side_and_above_zero() -> None:
    # long at 2.000, L = 1000: exact 2 × (1 − 0.5/1000) = 1.999 → one tick below: 1.999;
    # long at 1.0, L = 1, stop_loss 1: exact 0 → clamped to one tick = 0.001
    triggers = stop_triggers(
        np.array([2.0, 1.0]),
        np.array([1000.0, 1.0]),
        np.array([1, 1]),
        np.array([0.5, 1.0]),
        np.array([0.01, 0.001]),
    )

    np.testing.assert_allclose(triggers, [1.99, 0.001])


# ------------------------------------------------------------------------------ take profit
def test_take_profit_closes_only_winners_above_threshold() -> None:
    """Setup: four BTC positions at leverage 10, mark 110,000, take_profit = 1 (gain ≥ margin).

    long  entry  99,000: gain 11,000 ≥ margin  9,900 per coin → close
    long  entry 100,500: gain  9,500 <  margin 10,050 per coin → hold
    short entry 121,000: gain 11,000 <  margin 12,100 per coin → hold
    short entry 125,000: gain 15,000 ≥ margin 12,500 per coin → close
    """
    n = 4
    qty = np.zeros((FIRST_ID + n, 2))
    entry = np.zeros((FIRST_ID + n, 2))
    qty[FIRST_ID:, BTC] = [0.5, 0.5, -0.25, -0.25]
    entry[FIRST_ID:, BTC] = [99_000.0, 100_500.0, 121_000.0, 125_000.0]
    cohort = make_cohort(
        n,
        trade_prob=1.0,
        entry_prob=1.0,  # every account is drawn to enter too, but none is flat
        take_profit=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        mid_leverage_share=0.0,
    )
    view = make_view(mark_usd=np.array([110_000.0, ALT_MARK]))
    accounts = make_accounts(n, qty=qty, entry_price_usd=entry)

    orders = cohort.decide(view, accounts)

    assert orders == [
        Order(FIRST_ID, BTC, -1, pytest.approx(0.5), reduce_only=True),
        Order(FIRST_ID + 3, BTC, 1, pytest.approx(0.25), reduce_only=True),
    ]


# ------------------------------------------------------------------------------ re-entry
def test_deposit_requests_only_for_ruined_flat_accounts() -> None:
    """Setup: deposits 10,000 USD; ruin = flat and equity < 1,000 USD.

    account 0: flat, equity   500 → ruined, request 10,000
    account 1: flat, equity 1,500 → fine
    account 2: in a position, equity 500 → not ruined (still in the game)
    """
    n = 3
    qty = np.zeros((FIRST_ID + n, 2))
    qty[FIRST_ID + 2, :] = 0.01  # whichever its home asset is
    cohort = make_cohort(n, entry_prob=0.0, trade_prob=0.0, reentry_prob=1.0)
    cohort.decide(make_view(t=0), make_accounts(n))  # records the 10,000 USD deposits
    ruined = make_accounts(n, equity_usd=np.array([500.0, 1_500.0, 500.0]), qty=qty)

    orders = cohort.decide(make_view(t=1), ruined)
    requests = cohort.deposit_requests
    cohort.decide(make_view(t=2), make_accounts(n))  # deposit credited: equity back

    assert orders == []
    assert requests == [(FIRST_ID, DEPOSIT_USD)]
    assert cohort.deposit_requests == []


def test_reentry_probability_thins_requests() -> None:
    n = N_STAT
    cohort = make_cohort(n, entry_prob=0.0, trade_prob=0.0, reentry_prob=0.1)
    cohort.decide(make_view(t=0), make_accounts(n))

    cohort.decide(make_view(t=1), make_accounts(n, equity_usd=0.0))

    assert abs(len(cohort.deposit_requests) / n - 0.1) < BAND


def test_explicit_initial_deposits_are_used() -> None:
    ids = np.array([FIRST_ID, FIRST_ID + 1])
    cfg = RetailConfig(entry_prob=0.0, trade_prob=0.0, reentry_prob=1.0, asset_weights=(0.6, 0.4))
    cohort = RetailCohort(
        mesa.Model(rng=0),
        ids,
        np.random.default_rng(0),
        cfg,
        2,
        initial_deposit_usd=np.array([3_000.0, 40_000.0]),
    )
    broke = make_accounts(2, equity_usd=0.0)

    cohort.decide(make_view(t=3), broke)  # first call: nobody trades, deposits recorded
    cohort.decide(make_view(t=4), broke)

    assert cohort.deposit_requests == [(FIRST_ID, 3_000.0), (FIRST_ID + 1, 40_000.0)]


def test_leverage_group_shares_above_one_are_refused_naming_them():
    # 0.6 + 0.5 = 1.1 of the accounts cannot be at high or mid leverage
    with pytest.raises(ValueError, match=r"high_leverage_share \+ retail\.mid_leverage_share"):
        with_overrides(
            ModelConfig(), {"retail.high_leverage_share": 0.6, "retail.mid_leverage_share": 0.5}
        )
    # 0.2 + 0.3 + 0.6 = 1.1 with the 3–7x group; the message gives the three values
    with pytest.raises(ValueError, match=r"moderate_leverage_share must be at most 1, got 0.2 "):
        with_overrides(
            ModelConfig(),
            {"retail.high_leverage_share": 0.2, "retail.mid_leverage_share": 0.3,
             "retail.moderate_leverage_share": 0.6},
        )  # fmt: skip
