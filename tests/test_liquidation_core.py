"""Liquidation engine, pools and policies: reference vectors and scenarios with named constants."""

import numpy as np
import pytest

from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.risk_config import POLICIES, LiquidationConfig
from model.engine.specs import small_cap_perp
from model.engine.tiers import BTCUSDT_2025
from model.engine.types import OrderKind
from tests.conftest import hidden_deficits

ENTRY = 100.0
LOT = 1.0


def _exchange(pool_usd: float = 0.0, tiers=None, **cfg) -> Exchange:
    extra = {"tiers": tiers} if tiers is not None else {}
    spec = small_cap_perp(
        "TEST", tick_size=0.01, lot_size=LOT, mark_rule="index", liquidation_fee=0.0, **extra
    )
    config = LiquidationConfig(
        **{"pool_mode": "shared", "pool_initial_usd": pool_usd, "partial_rule": "none", **cfg}
    )
    return Exchange([spec], [ENTRY], liquidation=config, rng=np.random.default_rng(0))


def _open_pair(
    ex: Exchange, long_margin: float, qty: float, price: float = ENTRY, leverage: float = 50.0
) -> tuple[int, int]:
    """A long with `long_margin` and a well-funded short trade `qty` at `price`."""
    long_, short = ex.open_account(long_margin), ex.open_account(1e6)
    ex.submit(Order(short, 0, -1, qty, OrderKind.LIMIT, price, leverage=2.0))
    out = ex.submit(Order(long_, 0, 1, qty, OrderKind.LIMIT, price, leverage=leverage))
    assert out.filled_qty == qty
    return long_, short


def _bid(ex: Exchange, price: float, qty: float) -> None:
    maker = ex.open_account(1e6)
    ex.submit(Order(maker, 0, 1, qty, OrderKind.LIMIT, price, leverage=2.0))


def _crash(ex: Exchange, price: float) -> None:
    ex.t += 1
    ex.set_index([price])
    ex.update_marks()
    ex.liquidate()
    ex.check_invariants()


def test_x1_insurance_accounting():
    """TV-X1 (BitMEX): long 1 at 100x, margin 1 → bankruptcy price 99 (BTC tiers allow 100x).

    Index 99.3: equity 1 − 0.7 = 0.3 < maintenance 0.4 % · 99.3 = 0.397 → liquidated.
    Trader A closes into a bid at 99.25: the pool gains (99.25 − 99)·1 = 0.25.
    Trader B (entry 99.5, margin 1 → bankruptcy 98.5) at index 98.8 closes into a bid at 98.25:
    the pool pays (98.5 − 98.25)·1 = 0.25 and ends at 0; no ADL.
    """
    ex = _exchange(pool_usd=0.0, tiers=BTCUSDT_2025, residual_to_pool=1.0)
    pool = ex.liquidator.pools.accounts[0]
    a, _ = _open_pair(ex, long_margin=1.0 + 0.05, qty=1.0, leverage=100.0)  # + 0.05 taker fee
    _bid(ex, 99.25, 1.0)
    _crash(ex, 99.3)
    assert ex.accounts.qty_lots[a, 0] == 0
    assert ex.liquidator.pools.equity_usd(pool) == pytest.approx(0.25)
    b, _ = _open_pair(ex, long_margin=1.0 + 0.04975, qty=1.0, price=99.5, leverage=100.0)
    _bid(ex, 98.25, 1.0)
    _crash(ex, 98.8)
    assert ex.accounts.qty_lots[b, 0] == 0
    assert ex.liquidator.pools.equity_usd(pool) == pytest.approx(0.0, abs=1e-9)
    assert ex.events.count("adl") == 0


def test_r1_contract_space_adl_takes_750_from_each_long():
    """TV-R1: a 2 ETH short bankrupt with a $1,500 deficit against two 1 ETH longs.

    Short 2 @ 2,000 with 500 margin; mark jumps to 3,000: equity 500 − 2·1,000 = −1,500,
    bankruptcy price 2,000 + 500/2 = 2,250. No book, no pool: the queue closes each long's
    1 ETH at 2,250 instead of 3,000, taking 750 from each.
    """
    spec = small_cap_perp(
        "ETH", tick_size=0.01, lot_size=1.0, mark_rule="index", liquidation_fee=0.0
    )
    ex = Exchange(
        [spec],
        [2_000.0],
        liquidation=LiquidationConfig(
            pool_mode="shared", pool_initial_usd=0.0, partial_rule="none"
        ),
    )
    short = ex.open_account(500.0 + 2.0)
    longs = [ex.open_account(10_000.0), ex.open_account(10_000.0)]
    for acct in longs:
        ex.submit(Order(acct, 0, 1, 1.0, OrderKind.LIMIT, 2_000.0, leverage=5.0))
    ex.submit(Order(short, 0, -1, 2.0, leverage=10.0))
    ex.t = 1
    ex.set_index([3_000.0])
    ex.liquidate()
    ex.check_invariants()
    adl = ex.events.frame("adl")
    assert sorted(adl.account) == sorted(longs)
    assert adl.value_taken_usd.tolist() == pytest.approx([750.0, 750.0], rel=1e-3)
    assert ex.accounts.qty_lots[short, 0] == 0


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_keeps_invariants_and_no_negative_equity(policy):
    """Setup: 6 longs at ~50x (margin 2.05 for 1 @ 100), only a 1-lot bid at 97, pool 0.5.

    CRASH to 95 puts every long past bankruptcy (98); the book takes 1 lot, the pool a
    little, the policy the rest. Contract-space policies leave nobody below zero; wealth
    pro-rata closes winners at the mark, so the profit left to haircut shrinks with each
    close and the last deficit can outrun it: that rest is recorded bad debt, never taken
    from a winner's deposit (it was, until issue 16).
    """
    ex = _exchange(pool_usd=0.5, vault_initial_usd=50.0, policy=policy)
    longs = [_open_pair(ex, 2.05, 1.0)[0] for _ in range(6)]
    _bid(ex, 97.0, 1.0)
    _crash(ex, 95.0)
    assert all(ex.accounts.qty_lots[a, 0] == 0 for a in longs)
    assert hidden_deficits(ex) == {}
    equity = ex.equity_usd()[~ex.is_system]
    if policy not in ("socialized_loss", "adl_pro_rata"):
        assert equity.min() > -1e-6
    kinds = set(ex.events.frame("liquidation").kind)
    assert policy in kinds


def test_pool_first_then_policy():
    """With a large pool (capacity 100 % of equity) no ADL; with an empty pool ADL fires."""
    rich = _exchange(pool_usd=10_000.0)
    poor = _exchange(pool_usd=0.0)
    for ex in (rich, poor):
        for _ in range(4):
            _open_pair(ex, 2.05, 1.0)
        _crash(ex, 95.0)
    assert rich.events.count("adl") == 0
    assert set(rich.events.frame("liquidation").kind) == {"pool_takeover"}
    assert poor.events.count("adl") > 0


def test_liquidation_switched_off_leaves_accounts_negative():
    on, off = _exchange(pool_usd=0.0), _exchange(pool_usd=0.0, enabled=False)
    for ex in (on, off):
        long_, _ = _open_pair(ex, 2.05, 1.0)
        _crash(ex, 95.0)
    assert on.accounts.qty_lots[long_, 0] == 0
    assert off.accounts.qty_lots[long_, 0] == 1
    assert off.equity_usd()[long_] < 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"policy": "adl_lottery"}, "liquidation.policy"),
        ({"pool_mode": "global"}, "liquidation.pool_mode"),
        ({"pool_initial_usd": -1.0}, "liquidation.pool_initial_usd"),
        ({"max_rounds": 0}, "liquidation.max_rounds"),
        ({"price_band": 0.0}, "liquidation.price_band"),
        ({"price_band": 1.0}, "liquidation.price_band"),
    ],
)
def test_bad_liquidation_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        LiquidationConfig(**kwargs)


def test_a_partial_close_that_takes_every_lot_with_dust_equity_ends_the_unit(monkeypatch):
    """Regression (an oct-2025 run, minute 1,033): a 1-lot isolated long, partially liquidated,
    closes its only lot; its equity is then a rounding error below zero (−1.8e-15). The engine
    used to go on to a full close and split that equity over no notional (ZeroDivisionError).

    Long 1 at 100, 50x, isolated margin 2. Index 98.5: equity 2 − 1.5 = 0.5 below maintenance;
    the Binance partial rule closes ceil(f · 1) = 1 lot into the bid at 98.2 (above the
    bankruptcy price 98.0): flat, equity 0.2, here forced to −1.8e-15 as in that run.
    """
    from model.engine import liquidation

    ex = _exchange(partial_rule="binance")
    long_, short = ex.open_account(2.0 + 0.05), ex.open_account(1e6)
    ex.submit(Order(short, 0, -1, 1.0, OrderKind.LIMIT, ENTRY, leverage=2.0))
    ex.submit(Order(long_, 0, 1, 1.0, OrderKind.LIMIT, ENTRY, leverage=50.0, isolated=True))
    _bid(ex, 98.2, 1.0)
    real = liquidation.unit_state

    def dust_when_flat(ex, acct, iso_market):
        equity, mm, notional = real(ex, acct, iso_market)
        return (-1.8e-15 if not any(notional.values()) else equity), mm, notional

    monkeypatch.setattr(liquidation, "unit_state", dust_when_flat)
    _crash(ex, 98.5)
    assert ex.accounts.qty_lots[long_, 0] == 0
    assert ex.events.count("adl") == 0 and ex.events.count("bad_debt") == 0
    kinds = [row[-1] for row in ex.events.rows["liquidation"]]
    assert kinds == ["partial"]  # the one partial close, nothing after it


@pytest.mark.parametrize("forced_closes", ["book", "off_book"])
def test_forced_closes_off_the_book_fill_at_the_mark_and_leave_the_book_alone(forced_closes):
    """Setup: a long 1 @ 100 at 50x (wallet 2.00 after the 0.05 fee: bankruptcy 98), one bid
    of 1 at 97, a pool of 10. CRASH to 98.5: equity 2 − 1.5 = 0.5 < maintenance 1 % · 98.5.

    book: no bid at or above 98; the pool pays the gap (98 − 97) · 1 = 1 to sell into the 97
    bid: pool 10 − 1 = 9, last price 97, the bid gone.
    off_book: the sink takes it at the mark 98.5 (≥ 98); the residual 2 − 1.5 = 0.5 goes to
    the pool: 10.5; the 97 bid rests on, the last price stays at 100.
    """
    ex = _exchange(pool_usd=10.0, forced_closes=forced_closes)
    pool = ex.liquidator.pools.accounts[0]
    long_, _ = _open_pair(ex, long_margin=2.05, qty=1.0)
    _bid(ex, 97.0, 1.0)

    _crash(ex, 98.5)

    assert ex.accounts.qty_lots[long_, 0] == 0
    fills = ex.events.frame("fill")
    forced = fills[fills.is_liquidation]
    if forced_closes == "book":
        assert ex.sink is None
        assert forced.price_usd.tolist() == [97.0] and set(forced.venue) == {"perp"}
        assert ex.liquidator.pools.equity_usd(pool) == pytest.approx(9.0)
        assert ex.perp_books[0].best_bid() is None
        assert ex.prices.last_usd[0] == 97.0
    else:
        assert forced.price_usd.tolist() == [98.5] and set(forced.venue) == {"off_book"}
        assert forced.maker.tolist() == [ex.sink]
        assert ex.accounts.qty_lots[ex.sink, 0] == 1
        assert ex.liquidator.pools.equity_usd(pool) == pytest.approx(10.5)
        assert ex.perp_books[0].best_bid() * 0.01 == pytest.approx(97.0)
        assert ex.prices.last_usd[0] == ENTRY
