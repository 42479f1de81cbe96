"""RetailCohort: trait draws, entries, stops, take-profits and re-entry requests, from views.

No exchange is needed: a hand-built MarketView for two perps (BTC-like and a cheap alt) and an
AccountsView built from numpy arrays (read-only, so an accidental write would raise).
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.retail import FUNDING_AWARE_MAX_RATE, RetailCohort, stop_triggers
from model.config import RetailConfig
from model.orders import Order
from model.types import OrderKind
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
    cfg.setdefault("warmup_minutes", 1)  # the whole opening burst at t = 0
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
    """Orders of a t=0 opening burst and three busy minutes."""
    n = 300
    cohort = make_cohort(n, seed, trade_prob=0.2, reentry_prob=0.5, stop_loss_share=0.5)
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
def test_leverage_mixture_share_matches_high_leverage_share() -> None:
    cohort = make_cohort(N_STAT, high_leverage_share=0.2, low_leverage=(3.0, 20.0))

    is_high = cohort.leverages >= 50.0  # low range (3, 20) and high (50, 100) do not overlap

    assert abs(is_high.mean() - 0.2) < BAND
    np.testing.assert_array_equal(is_high, cohort.has_high_leverage)
    assert np.all((cohort.leverages[is_high] >= 50.0) & (cohort.leverages[is_high] <= 100.0))
    low = cohort.leverages[~is_high]
    assert np.all((low >= 3.0) & (low <= 20.0))


def test_trait_shares_and_home_assets_follow_config() -> None:
    cohort = make_cohort(
        N_STAT, stop_loss_share=0.1, isolated_share=0.3, funding_aware_share=0.2, long_bias=0.7
    )

    assert abs(cohort.has_stop.mean() - 0.1) < BAND
    assert abs(cohort.is_isolated.mean() - 0.3) < BAND
    assert abs(cohort.is_funding_aware.mean() - 0.2) < BAND
    assert abs(cohort.is_long_biased.mean() - 0.7) < BAND
    assert abs(np.mean(cohort.home_assets == BTC) - 0.6) < BAND


def test_wrong_number_of_asset_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="asset_weights"):
        make_cohort(10, n_assets=3)


# ------------------------------------------------------------------------------ opening burst
def test_open_at_start_share_enters_at_t0_and_only_once() -> None:
    cohort = make_cohort(N_STAT, open_at_start=0.8, trade_prob=0.0, reentry_prob=0.0)
    accounts = make_accounts(N_STAT)

    opening = cohort.decide(make_view(t=0), accounts)
    later = cohort.decide(make_view(t=1), accounts)

    accounts_entering = {o.account for o in entries(opening)}
    assert len(accounts_entering) == len(entries(opening))
    assert abs(len(accounts_entering) / N_STAT - 0.8) < BAND
    assert later == []


def test_warmup_spreads_the_opening_entries_over_its_minutes() -> None:
    cohort = make_cohort(N_STAT, open_at_start=1.0, warmup_minutes=10, trade_prob=0.0)
    accounts = make_accounts(N_STAT)

    per_minute = [len(entries(cohort.decide(make_view(t=t), accounts))) for t in range(10)]

    # each minute takes about a tenth of the accounts
    assert all(abs(n / N_STAT - 0.1) < BAND for n in per_minute)
    assert sum(per_minute) == N_STAT


def test_positive_momentum_pulls_in_longs() -> None:
    # p_long = clip(0.7 + 20 × 0.01, 0, 1) = 0.9
    cohort = make_cohort(
        N_STAT, open_at_start=1.0, long_bias=0.7, momentum=20.0, funding_aware_share=0.0
    )

    orders = cohort.decide(make_view(t=0, return_15m=np.full(2, 0.01)), make_accounts(N_STAT))

    assert abs(long_share(orders) - 0.9) < BAND


def test_negative_momentum_pushes_to_shorts() -> None:
    # p_long = clip(0.7 + 20 × (−0.05), 0, 1) = 0
    cohort = make_cohort(2_000, open_at_start=1.0, long_bias=0.7, momentum=20.0)

    orders = cohort.decide(make_view(t=0, return_15m=np.full(2, -0.05)), make_accounts(2_000))

    assert len(entries(orders)) == 2_000
    assert long_share(orders) == 0.0


def test_funding_aware_accounts_open_no_longs_when_funding_is_high() -> None:
    n = 4_000
    high_funding = np.full(2, 2 * FUNDING_AWARE_MAX_RATE)
    cohort = make_cohort(n, open_at_start=1.0, long_bias=0.7, funding_aware_share=0.5)

    orders = cohort.decide(make_view(t=0, funding_rate=high_funding), make_accounts(n))

    aware = cohort.is_funding_aware
    aware_sides = [o.side for o in entries(orders) if aware[cohort_index(cohort, o)]]
    blind_sides = [o.side for o in entries(orders) if not aware[cohort_index(cohort, o)]]
    assert aware_sides and all(side < 0 for side in aware_sides)
    assert len(aware_sides) == np.sum(aware & ~cohort.is_long_biased)  # longs skipped, no flip
    assert np.mean(np.array(blind_sides) > 0) > 0.6


def test_funding_aware_accounts_go_long_when_funding_is_normal() -> None:
    n = 4_000
    cohort = make_cohort(n, open_at_start=1.0, long_bias=0.7, funding_aware_share=1.0)

    orders = cohort.decide(make_view(t=0), make_accounts(n))

    assert len(entries(orders)) == n
    assert abs(long_share(orders) - 0.7) < 0.04


# ------------------------------------------------------------------------------ sizing
def test_entry_size_golden_number() -> None:
    cohort = make_cohort(
        1,
        open_at_start=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
        position_fraction=0.6,
        stop_loss_share=0.0,
        isolated_share=1.0,
    )

    (order,) = cohort.decide(make_view(t=0), make_accounts(1, equity_usd=10_000.0))

    # 10,000 USD × 0.6 × 10 / 100,000 USD = 0.6 BTC = 600 lots of 0.001
    assert order == Order(FIRST_ID, BTC, 1, pytest.approx(0.6), leverage=10.0, isolated=True)


def test_quantities_are_lot_multiples_and_leverage_is_capped() -> None:
    n = 2_000
    cohort = make_cohort(n, open_at_start=1.0, high_leverage_share=0.5, high_leverage=(60.0, 150.0))
    equity = np.random.default_rng(1).lognormal(np.log(2_000.0), 1.0, n)

    orders = entries(cohort.decide(make_view(t=0), make_accounts(n, equity_usd=equity)))

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
        open_at_start=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
    )

    assert cohort.decide(make_view(t=0), make_accounts(1, equity_usd=1.0)) == []


def test_empty_book_side_sizes_off_the_mark() -> None:
    """Setup: t = 0, books empty in the snapshot (makers quote in the same minute)."""
    cohort = make_cohort(
        1,
        open_at_start=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
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
    cohort = make_cohort(100, open_at_start=1.0)
    nan = np.full(2, np.nan)
    view = make_view(t=0, perp_ask_usd=nan, perp_bid_usd=nan, mark_usd=nan)

    assert cohort.decide(view, make_accounts(100)) == []


# ------------------------------------------------------------------------------ stops
def test_stop_orders_exist_exactly_for_entries_of_accounts_with_stops() -> None:
    n = 2_000
    cohort = make_cohort(n, open_at_start=1.0, stop_loss_share=0.3, stop_loss=0.5)

    orders = cohort.decide(make_view(t=0), make_accounts(n))

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
    cohort = make_cohort(
        1,
        open_at_start=1.0,
        long_bias=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(7.0, 7.0),
        high_leverage_share=0.0,
        stop_loss_share=1.0,
        stop_loss=0.5,
    )

    _, stop = cohort.decide(make_view(t=0), make_accounts(1))

    # 100,000 × (1 − 0.5 / 7) = 92,857.142857…, rounded up to the 0.1 tick = 92,857.2
    assert stop.kind == OrderKind.STOP_MARKET and stop.side == -1
    assert stop.price_usd == pytest.approx(92_857.2)


def test_short_stop_trigger_golden_number() -> None:
    cohort = make_cohort(
        1,
        open_at_start=1.0,
        long_bias=0.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(7.0, 7.0),
        high_leverage_share=0.0,
        stop_loss_share=1.0,
        stop_loss=0.5,
    )

    _, stop = cohort.decide(make_view(t=0), make_accounts(1))

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
        open_at_start=0.0,
        trade_prob=1.0,
        take_profit=1.0,
        asset_weights=(1.0, 0.0),
        low_leverage=(10.0, 10.0),
        high_leverage_share=0.0,
    )
    view = make_view(mark_usd=np.array([110_000.0, ALT_MARK]))
    accounts = make_accounts(n, qty=qty, entry_price_usd=entry)
    cohort.decide(make_view(t=0), accounts)  # opening burst: open_at_start = 0, nothing

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
    cohort = make_cohort(n, trade_prob=0.0, reentry_prob=1.0, open_at_start=0.0)
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
    cohort = make_cohort(n, trade_prob=0.0, reentry_prob=0.1, open_at_start=0.0)
    cohort.decide(make_view(t=0), make_accounts(n))

    cohort.decide(make_view(t=1), make_accounts(n, equity_usd=0.0))

    assert abs(len(cohort.deposit_requests) / n - 0.1) < BAND


def test_explicit_initial_deposits_are_used() -> None:
    ids = np.array([FIRST_ID, FIRST_ID + 1])
    cfg = RetailConfig(trade_prob=0.0, reentry_prob=1.0, asset_weights=(0.6, 0.4))
    cohort = RetailCohort(
        mesa.Model(rng=0),
        ids,
        np.random.default_rng(0),
        cfg,
        2,
        initial_deposit_usd=np.array([3_000.0, 40_000.0]),
    )
    broke = make_accounts(2, equity_usd=0.0)

    cohort.decide(make_view(t=3), broke)  # first call: opening burst, too poor for a lot
    cohort.decide(make_view(t=4), broke)

    assert cohort.deposit_requests == [(FIRST_ID, 3_000.0), (FIRST_ID + 1, 40_000.0)]
