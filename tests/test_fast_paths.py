"""The fast paths of issue 8 give the reference results: the blocked and incremental risk scans,
the incremental ADL queue, lazy account views, the stop book's index."""

from __future__ import annotations

import numpy as np
import pytest

from agents import ladder
from experiments.bench.risk import risk_book
from model import CascadeModel
from model.engine import adl_rank
from model.engine.orderbook import OrderBook
from model.engine.orders import Order
from model.engine.risk_scan import RiskScanner
from model.engine.stops import StopBook
from model.engine.types import OrderKind
from model.views import StaleViewError, _lazy_accounts_view, accounts_view
from tests.conftest import writable


@pytest.mark.parametrize("move", [0.0, -0.02, 0.03, -0.08])
def test_full_scan_equals_the_reference_scan(move):
    ex, _ = risk_book(5_000, seed=2)
    ex.set_index(ex.prices.index_usd * (1 + move))
    ex.remark()
    units = ex.liquidator.scanner.full_scan()
    assert units == ex.liquidator.scan_reference()
    assert units  # the fixture has accounts below maintenance at every move


def test_incremental_scan_equals_the_reference_through_moves_and_trades():
    ex, ids = risk_book(4_000, seed=3)
    scanner = RiskScanner(ex, min_incremental=0)
    rng = np.random.default_rng(0)
    for step in range(40):
        ex.set_index(ex.prices.index_usd * np.exp(rng.normal(0, 0.004, len(ex.perps))))
        ex.remark()
        if step % 7 == 3:  # a write the scanner must see: cash into a few accounts
            for acct in rng.choice(ids, 20).tolist():
                ex.deposit(acct, 50.0)
        assert scanner.scan() == ex.liquidator.scan_reference()
    assert scanner.incremental_scans > 0


def test_incremental_scan_in_a_shock_run(monkeypatch):
    monkeypatch.setattr(RiskScanner, "verify", True)  # every scan checked against the reference
    model = CascadeModel(
        scenario="shock",
        rng=4,
        # positions are open from minute 0 (no warm-up), so the shock can come early
        **{"retail.n_accounts": 400, "horizon_minutes": 150, "shocks.0.start_minute": 60},
    )
    scanner = model.exchange.liquidator.scanner
    scanner.min_incremental = 0
    model.run()
    assert scanner.incremental_scans > 100
    assert model.exchange.events.count("liquidation") > 0
    model.exchange.check_invariants()


@pytest.mark.parametrize("policy", ["adl_queue", "backstop_vault"])
def test_incremental_adl_queue_equals_the_full_ranking(monkeypatch, policy):
    monkeypatch.setattr(adl_rank, "MIN_ACCOUNTS", 0)  # the incremental queue on a small book
    monkeypatch.setattr(adl_rank.AdlRanking, "verify", True)  # each take checked
    model = CascadeModel(
        scenario="oct-2025",
        rng=2,
        **{
            "retail.n_accounts": 600,
            "horizon_minutes": 90,  # no warm-up: the book is open from minute 0
            "shocks.0.start_minute": 30,
            "liquidation.policy": policy,
            "liquidation.vault_initial_usd": 300_000.0,
            "liquidation.insurance_enabled": False,  # every shortfall goes to the policy
        },
    )
    model.run()
    assert model.exchange.events.count("adl") > 10
    model.exchange.check_invariants()


def test_lazy_view_rows_equal_the_copied_view():
    model = CascadeModel(scenario="shock", rng=5, **{"retail.n_accounts": 300})
    for _ in range(30):
        model.step()
    ex = model.exchange
    eager, lazy = accounts_view(ex), _lazy_accounts_view(ex)
    rows = np.array([3, 0, 17, 17, 250])
    cols = np.array([0, 5, 2, 2, 1])
    for name in ("collateral_usd", "qty", "entry_price_usd", "spot_qty", "equity_usd"):
        e, z = getattr(eager, name), getattr(lazy, name)
        assert np.array_equal(z[rows], e[rows])
        assert np.array_equal(z[7], e[7])
        if e.ndim == 2:
            assert np.array_equal(z[rows, cols], e[rows, cols])
            assert np.array_equal(z[rows, 2], e[rows, 2])
            assert np.array_equal(z[rows, :], e[rows, :])
            assert z[7, 1] == e[7, 1]
        assert np.array_equal(np.asarray(z), e)
        assert np.array_equal(z[e.shape[0] - 1 :], e[e.shape[0] - 1 :])  # any other key
    fresh = _lazy_accounts_view(ex)
    for block in (fresh.qty[7], fresh.equity_usd[rows], fresh.qty[rows, cols]):
        with pytest.raises(ValueError):
            block[0] = 1.0  # read-only, like the copied view's rows
    ex.deposit(int(rows[0]), 1.0)
    with pytest.raises(StaleViewError):
        lazy.equity_usd[rows]


def test_stop_book_cancels_by_account_and_fires_in_order():
    book = StopBook()
    orders = [
        Order(a, 0, -1, 1.0, OrderKind.STOP_MARKET, price, reduce_only=True)
        for a, price in [(1, 90.0), (2, 95.0), (1, 80.0), (3, 99.0)] * 10
    ]
    for o in orders:
        book.add(o)
    assert len(book) == 40
    assert book.cancel_account(2) == 10 and book.cancel_account(2) == 0
    fired = book.pop_triggered(np.array([92.0]))  # sells fire at mark ≤ trigger
    assert [o.account for o in fired] == [3] * 10
    assert all(o.kind == OrderKind.MARKET and o.price_usd is None for o in fired)
    assert len(book) == 20 and book.cancel_account(1) == 20 and len(book) == 0


def test_regression_a_flat_isolated_unit_with_negative_dust_is_left_alone():
    """Found at 1M accounts: an isolated unit flagged at the start of a round, closed by ADL
    before its turn, kept −1e-13 of margin; its equity-share weights were all zero."""
    ex, ids = risk_book(10, seed=4)
    acct = int(ids[0])
    # a state no transfer reaches on its own, so written into the ledger's buffers directly
    writable(ex.accounts.qty_lots)[acct, 0] = 0
    writable(ex.accounts.is_isolated)[acct, 0] = True
    writable(ex.accounts.isolated_margin_usd)[acct, 0] = -1e-13
    wallet = float(ex.accounts.collateral_usd[acct])
    ex.liquidator._liquidate(acct, 0)  # raised ZeroDivisionError
    assert ex.accounts.collateral_usd[acct] == wallet
    assert ex.events.count("liquidation") == 0


def test_depth_bands_equal_depth_usd_per_band():
    rng = np.random.default_rng(7)
    for _ in range(300):
        book = OrderBook(0.5, 0.1)
        for _ in range(rng.integers(0, 40)):
            side = 1 if rng.random() < 0.5 else -1
            price = int(1_000 - side * rng.integers(-5, 60))  # some cross and trade
            book.submit(int(rng.integers(0, 5)), side, int(rng.integers(1, 50)), price)
        pcts = tuple(float(p) for p in rng.choice([0.0, 0.001, 0.01, 0.02, 0.5], 3))
        assert book.depth_usd_bands(pcts) == [book.depth_usd(p) for p in pcts]


def test_cancelling_an_owners_orders_at_once_equals_one_by_one():
    rng = np.random.default_rng(8)
    for _ in range(200):
        books = [OrderBook(1.0, 1.0), OrderBook(1.0, 1.0)]
        for _ in range(rng.integers(1, 60)):
            owner, side = int(rng.integers(0, 3)), 1 if rng.random() < 0.5 else -1
            price, lots = int(100 - side * rng.integers(1, 8)), int(rng.integers(1, 9))
            for book in books:
                book.submit(owner, side, lots, price)
        ids = books[0].open_orders(1)
        for oid in ids:
            books[0].cancel(oid)
        assert books[1].cancel_orders_of(1) == ids
        for side in (1, -1):
            assert books[0].levels(side) == books[1].levels(side)
        assert books[0].open_orders(0) == books[1].open_orders(0)
        assert books[0].n_orders == books[1].n_orders


def _grid_values_reference(units, step, rounding):
    # the numpy form `grid_value` replaced on the makers' path (agents/ladder.py): the
    # oracle the fast path must equal
    x = units * step
    for _ in range(4):
        ratio = x / step
        if rounding < 0:
            x = np.where(ratio < units, np.nextafter(x, np.inf), x)
        else:
            x = np.where(ratio > units, np.nextafter(x, -np.inf), x)
    return x


def _side_ladder_reference(prices_usd, sizes_usd, tick, lot, side, cap):
    # the numpy form of `_side_ladder` before the makers' ladders moved to Python floats
    rounder = np.ceil if side > 0 else np.floor
    ticks = rounder(np.nan_to_num(prices_usd / tick) - side * 1e-9)
    ok = (ticks > 0) & (sizes_usd > 0)
    ticks, usd = ticks[ok], sizes_usd[ok]
    price = _grid_values_reference(ticks, tick, side)
    lots = np.floor(usd / price / lot + 1e-9)
    max_lots = np.floor(max(cap, 0.0) / lot + 1e-9) if np.isfinite(cap) else np.inf
    lots = np.diff(np.minimum(np.cumsum(lots), max_lots), prepend=0.0)
    qty = _grid_values_reference(lots, lot, -1)
    return tuple((float(p), float(q)) for p, q, n in zip(price, qty, lots, strict=True) if n > 0)


def test_grid_value_equals_the_numpy_grid_values():
    rng = np.random.default_rng(9)
    for step in (0.1, 0.01, 0.001, 1e-5, 0.5, 1.0, 0.3, 7e-7):
        units = np.floor(rng.uniform(0, 5e6, 400))
        for rounding in (-1, 1):
            fast = [ladder.grid_value(u, step, rounding) for u in units.tolist()]
            assert fast == _grid_values_reference(units, step, rounding).tolist()


def test_side_ladder_equals_the_numpy_reference():
    rng = np.random.default_rng(10)
    odd = [np.nan, np.inf, -np.inf, 0.0, -5.0]
    for _ in range(3_000):
        tick = float(rng.choice([0.1, 0.01, 1e-5, 0.5, 1e-3]))
        lot = float(rng.choice([0.001, 0.1, 1.0, 1e-4]))
        mid = float(rng.uniform(0.05, 120_000))
        prices = mid * (1 + rng.normal(0, 0.01, 6))
        sizes = rng.uniform(0, 5e5, 6) * (rng.random(6) > 0.1)
        if rng.random() < 0.2:
            prices[rng.integers(6)] = rng.choice(odd)
        if rng.random() < 0.1:
            sizes[rng.integers(6)] = rng.choice([np.nan, -1.0, 0.0])
        cap = float(rng.choice([np.inf, np.nan, -1.0, 0.0, rng.uniform(0, 50)]))
        for side in (-1, 1):
            fast = ladder.side_ladder(prices.tolist(), sizes.tolist(), tick, lot, side, cap)
            with np.errstate(over="ignore", invalid="ignore"):  # the inf prices
                assert fast == _side_ladder_reference(prices, sizes, tick, lot, side, cap)


def test_rest_ladder_equals_rest_many_and_one_by_one():
    rng = np.random.default_rng(11)
    for _ in range(200):
        books = [OrderBook(1.0, 1.0) for _ in range(3)]
        for _ in range(rng.integers(0, 30)):  # some resting orders of other owners
            owner, side = int(rng.integers(0, 3)), 1 if rng.random() < 0.5 else -1
            price, lots = int(100 - side * rng.integers(1, 10)), int(rng.integers(1, 9))
            for book in books:
                book.submit(owner, side, lots, price)
        for side in (1, -1):
            best = books[0].best_ask() if side > 0 else books[0].best_bid()
            edge = best if best is not None else 100
            ladder = [(int(rng.integers(1, 9)), int(edge - side * rng.integers(1, 12)))]
            ladder += [(int(rng.integers(1, 9)), ladder[0][1] - side * k) for k in range(1, 5)]
            ladder = [(q, t) for q, t in ladder if t > 0]
            ids = [
                books[0].rest_ladder(7, side, ladder),
                books[1].rest_many(7, side, ladder),
                [books[2].rest(7, side, q, t) for q, t in ladder],
            ]
            assert ids[0] == ids[1] == ids[2]
        for side in (1, -1):
            assert books[0].levels(side) == books[1].levels(side) == books[2].levels(side)
        for owner in (0, 1, 2, 7):
            assert books[0].open_orders(owner) == books[1].open_orders(owner)
            assert books[0].open_orders(owner) == books[2].open_orders(owner)
        for book in books:  # FIFO queues too: sweep each side and compare the fills
            book.submit(99, 1, 10_000)
            book.submit(99, -1, 10_000)
        fills = [books[i].submit(98, 1, 5, 200).fills for i in range(3)]
        assert fills[0] == fills[1] == fills[2]
