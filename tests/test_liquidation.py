"""Liquidation engine (model/engine/liquidation.py, insurance.py): trigger, close, pools, rounds.

Scenario tests on a fee-free perp with one bracket (MMR 1 %, max 50x, see `_market`) and an
index-rule mark, so `set_index` sets the mark exactly and the margin arithmetic in each docstring
can be checked by hand. Every position opens at ENTRY = 100 USD against a named counterparty.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.risk_config import POLICIES, POOL_MODES, LiquidationConfig
from model.engine.specs import MarketSpec
from model.engine.tiers import TierTable
from model.engine.types import BUY, SELL, OrderKind
from tests.conftest import open_pair

ENTRY = 100.0
"""USD; every position in this file opens here."""
MMR = 0.01
"""Maintenance-margin rate of the one bracket of `_market` (max leverage 50x)."""
RICH_USD = 1_000_000.0
"""Deposit of counterparties and makers that never come near maintenance."""


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------
def _market(
    symbol: str = "TESTUSDT",
    *,
    mmr: float = MMR,
    max_leverage: float = 50.0,
    liquidation_fee: float = 0.0,
    mark_rule: str = "index",
) -> MarketSpec:
    """A linear perp, 1 coin per lot, tick 0.01, no trading fees, one maintenance bracket."""
    return MarketSpec(
        symbol,
        tick_size=0.01,
        lot_size=1.0,
        tiers=TierTable((0.0,), (mmr,), (max_leverage,)),
        maker_fee=0.0,
        taker_fee=0.0,
        liquidation_fee=liquidation_fee,
        mark_rule=mark_rule,
    )


def _exchange(
    n_markets: int = 1,
    *,
    mmr: float = MMR,
    max_leverage: float = 50.0,
    liquidation_fee: float = 0.0,
    mark_rule: str = "index",
    **liquidation: object,
) -> Exchange:
    """Exchange on `n_markets` copies of `_market` at ENTRY; one shared pool, no partials."""
    cfg = {"pool_mode": "shared", "partial_rule": "none", **liquidation}
    perps = [
        _market(
            f"M{k}USDT",
            mmr=mmr,
            max_leverage=max_leverage,
            liquidation_fee=liquidation_fee,
            mark_rule=mark_rule,
        )
        for k in range(n_markets)
    ]
    return Exchange(
        perps,
        [ENTRY] * n_markets,
        liquidation=LiquidationConfig(**cfg),  # type: ignore[arg-type]
        rng=np.random.default_rng(0),
    )


def _trade(
    ex: Exchange, long_acct: int, short_acct: int, qty: float, *, price: float = ENTRY, **kwargs
) -> None:
    """Open `qty` coins long for one account and short for the other (default at ENTRY)."""
    open_pair(ex, long_acct, short_acct, qty, price, **kwargs)


def _bids(ex: Exchange, maker: int, levels: list[tuple[float, float]], market: int = 0) -> None:
    """Rest `maker`'s buy orders [(price_usd, qty), ...]."""
    for price, qty in levels:
        out = ex.submit(Order(maker, market, BUY, qty, OrderKind.LIMIT, price))
        assert out.accepted and out.rested_qty == qty, out


def _marks(ex: Exchange, *prices: float) -> None:
    """Move every index (= mark under the index rule) and advance the clock one step."""
    ex.t += 1
    ex.set_index(list(prices))


def _liquidation_kinds(ex: Exchange, account: int) -> dict[str, float]:
    """Coins closed per liquidation kind (book, partial, pool_takeover, policy) for one account."""
    liq = ex.events.frame("liquidation")
    return liq[liq.account == account].groupby("kind").qty.sum().to_dict()


# ---------------------------------------------------------------------------------------------
# trigger at the mark
# ---------------------------------------------------------------------------------------------
TRIGGER_DEPOSIT = 60.0  # USD
TRIGGER_QTY = 10.0  # coins, long at ENTRY with 20x (initial margin 1,000 / 20 = 50)
ABOVE_MAINTENANCE = 95.0
BELOW_MAINTENANCE = 94.9


@pytest.mark.parametrize(
    ("mark", "is_liquidated"), [(ABOVE_MAINTENANCE, False), (BELOW_MAINTENANCE, True)]
)
def test_cross_account_is_liquidated_once_the_mark_crosses_maintenance(mark, is_liquidated):
    """Setup: cross long 10 @ 100 with a 60 USD deposit; MMR 1 %.

    equity(P) = 60 + 10·(P − 100); maintenance(P) = 0.01·10·P; equal at P = 940 / 9.9 = 94.95.
    ABOVE 95.00: equity 60 − 50 = 10.00 ≥ maintenance 9.50, left alone.
    BELOW 94.90: equity 60 − 51 =  9.00 < maintenance 9.49, liquidated (the whole position: no
    partial rule). A bid at 99 is above both marks: the trigger is the mark, not the book.
    """
    ex = _exchange()
    trader, short, maker = (ex.open_account(d) for d in (TRIGGER_DEPOSIT, RICH_USD, RICH_USD))
    _trade(ex, trader, short, TRIGGER_QTY, long_leverage=20.0)
    _bids(ex, maker, [(99.0, TRIGGER_QTY)])
    _marks(ex, mark)

    units = ex.liquidate()

    assert units == int(is_liquidated)
    assert ex.accounts.qty_lots[trader, 0] == (0 if is_liquidated else TRIGGER_QTY)
    liq = ex.events.frame("liquidation")
    assert list(liq.account) == ([trader] if is_liquidated else [])
    ex.check_invariants()


ISO_MARGIN = 100.0  # USD: 10 coins at ENTRY with 10x, moved out of the wallet
ISO_DEPOSIT = 1_000.0
ISO_CRASH = 85.0


def test_isolated_position_is_liquidated_on_its_own_margin_and_leaves_the_wallet_alone():
    """Setup: one account, deposit 1,000: isolated long 10 @ 100 at 10x in M0 (margin 100),
    cross long 1 @ 100 in M1; wallet 1,000 − 100 = 900. A twin account holds the same M0
    position in cross margin.

    M0 falls to 85: isolated equity 100 + 10·(85 − 100) = −50 < maintenance 8.5, liquidated;
    bankruptcy price 85 + 50/10 = 90. The pool (1M) takes the 10 coins at 90, so the position
    loses exactly its margin, 10·(90 − 100) = −100, and the wallet stays at 900.
    The cross twin: equity 1,000 − 150 = 850 ≥ maintenance 8.5, not liquidated.
    """
    ex = _exchange(2, pool_initial_usd=RICH_USD)
    trader, twin, short = (ex.open_account(d) for d in (ISO_DEPOSIT, ISO_DEPOSIT, RICH_USD))
    _trade(ex, trader, short, 10.0, long_isolated=True)
    _trade(ex, trader, short, 1.0, market=1)
    _trade(ex, twin, short, 10.0)
    wallet = float(ex.accounts.collateral_usd[trader])
    assert wallet == ISO_DEPOSIT - ISO_MARGIN
    assert ex.accounts.isolated_margin_usd[trader, 0] == ISO_MARGIN
    _marks(ex, ISO_CRASH, ENTRY)

    ex.liquidate()

    assert ex.accounts.qty_lots[trader].tolist() == [0, 1]  # only the isolated position went
    assert ex.accounts.isolated_margin_usd[trader, 0] == 0.0
    assert ex.accounts.collateral_usd[trader] == pytest.approx(wallet, abs=1e-9)
    liq = ex.events.frame("liquidation")
    assert set(liq.account) == {trader}
    assert liq.bankruptcy_price_usd.tolist() == pytest.approx([90.0])  # 85 + 50 / 10
    assert ex.accounts.qty_lots[twin, 0] == 10
    ex.check_invariants()


ISO_WALLET = 10.0  # USD left in the wallet next to an isolated long 10 @ 100 at 10x
ISO_PARTIAL_MARK = 90.5  # isolated equity 100 − 95 = 5 < maintenance 9.05; BP 90.5 − 0.5 = 90
ISO_PARTIAL_BID = 86.0  # below BP, inside the 5 % band (85.975)


@pytest.mark.parametrize("partial_rule", ["binance", "chunks"])
def test_regression_isolated_partial_liquidation_never_charges_the_cross_wallet(partial_rule):
    """Setup: deposit 110, isolated long 10 @ 100 at 10x (margin 100, wallet 10); fee 0.5 %;
    mark 90.5; empty pool; one bid of 9 at 86; the short counterparty is rich.

    The isolated position's bankruptcy price is 90: it can lose its 100 of margin and no more,
    so the wallet must stay at 10 and the account cannot end below 0.
    Bug: the partial IOC is limited by the 5 % band, not by the BP, so it sells below 90
    (binance: 9 coins, f = (9.05 − 5)/(9.05 − 4.525) = 0.895; chunks: 20 % = 2 coins) and
    Ledger.perp_fill books realised loss − released margin = 9·(86 − 100) + 90 = −36 (binance)
    into the cross wallet; the empty pool cannot refund it, so the wallet ends at 10 − 36.
    """
    ex = _exchange(
        liquidation_fee=PARTIAL_FEE,
        partial_rule=partial_rule,
        chunk_threshold_usd=500.0,
        pool_initial_usd=0.0,
    )
    trader = ex.open_account(ISO_MARGIN + ISO_WALLET)
    short, maker = ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    _trade(ex, trader, short, 10.0, long_isolated=True)
    assert ex.accounts.collateral_usd[trader] == ISO_WALLET
    _marks(ex, ISO_PARTIAL_MARK)
    _bids(ex, maker, [(ISO_PARTIAL_BID, 9.0)])

    ex.liquidate()

    ex.check_invariants()
    assert ex.accounts.qty_lots[trader, 0] == 0
    assert ex.accounts.collateral_usd[trader] == pytest.approx(ISO_WALLET, abs=1e-9)
    assert ex.equity_usd()[trader] >= -1e-9
    assert ex.events.count("bad_debt") == 0


# ---------------------------------------------------------------------------------------------
# TV-X1: BitMEX insurance accounting (exchange-mechanics.md §3.2)
# ---------------------------------------------------------------------------------------------
X1_QTY = 10.0  # coins; BitMEX's "1 contract" scaled by 10
X1_MARGIN = 10.0  # USD = 1 per coin at 100x, so the bankruptcy price is 100 − 10/10 = 99
X1_MARK = 99.4  # between the bankruptcy price 99 and the liquidation price 99.497
X1_FILL_A = 99.25
X1_FILL_B = 98.75


def test_tv_x1_pool_gains_on_a_good_fill_and_pays_on_a_bad_one():
    """TV-X1 on the engine: long 10 @ 100 at 100x (margin 10, MMR 0.5 %), bankruptcy price 99.

    Mark 99.4: equity 10 − 6 = 4 < maintenance 0.005·994 = 4.97, so it is liquidated; the
    liquidation price is 99 / 0.995 = 99.497 (BitMEX: 99.50). No fee, residual_to_pool = 1.
    Trader A sells into a bid at 99.25, better than BP: the pool gets 10·(99.25 − 99) = 2.50.
    Trader B, same position, meets a bid at 98.75: the pool pays 10·(99 − 98.75) = 2.50 and
    ends at 2.50 − 2.50 = 0, with no ADL.
    """
    ex = _exchange(mmr=0.005, max_leverage=100.0, pool_initial_usd=0.0, residual_to_pool=1.0)
    pools = ex.liquidator.pools
    pool = pools.account(0)
    short, maker = ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    trader_a = ex.open_account(X1_MARGIN)
    _trade(ex, trader_a, short, X1_QTY, long_leverage=100.0)
    _marks(ex, X1_MARK)
    _bids(ex, maker, [(X1_FILL_A, X1_QTY)])

    ex.liquidate()

    assert pools.equity_usd(pool) == pytest.approx(0.25 * X1_QTY)  # +2.50
    first = ex.events.frame("liquidation").iloc[0]
    assert (first.price_usd, first.bankruptcy_price_usd) == pytest.approx((X1_FILL_A, 99.0))
    assert ex.equity_usd()[trader_a] == pytest.approx(0.0, abs=1e-9)

    _marks(ex, ENTRY)
    trader_b = ex.open_account(X1_MARGIN)
    _trade(ex, trader_b, short, X1_QTY, long_leverage=100.0)
    _marks(ex, X1_MARK)
    _bids(ex, maker, [(X1_FILL_B, X1_QTY)])

    ex.liquidate()

    assert pools.equity_usd(pool) == pytest.approx(0.0, abs=1e-9)  # 2.50 − 2.50
    second = ex.events.frame("liquidation").iloc[1]
    assert second.account == trader_b
    assert second.shortfall_usd == pytest.approx(0.25 * X1_QTY)  # the pool paid 2.50
    assert ex.equity_usd()[trader_b] == pytest.approx(0.0, abs=1e-9)
    assert ex.events.count("adl") == 0
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# partial liquidation
# ---------------------------------------------------------------------------------------------
PARTIAL_FEE = 0.005  # liquidation fee rate (Binance majors)
PARTIAL_BIDS = [(94.8, 5.0), (94.7, 5.0), (94.6, 5.0)]


def _partial_setup(**liquidation: object) -> tuple[Exchange, int]:
    """The trigger scenario at BELOW_MAINTENANCE with a bid ladder from 94.8 down."""
    ex = _exchange(liquidation_fee=PARTIAL_FEE, **liquidation)
    trader, short, maker = (ex.open_account(d) for d in (TRIGGER_DEPOSIT, RICH_USD, RICH_USD))
    _trade(ex, trader, short, TRIGGER_QTY, long_leverage=20.0)
    _marks(ex, BELOW_MAINTENANCE)
    _bids(ex, maker, PARTIAL_BIDS)
    return ex, trader


def test_binance_partial_closes_only_what_restores_maintenance():
    """Setup: the trigger long (10 @ 100, deposit 60) at mark 94.9; fee 0.5 %.

    E = 9.00, MM = 9.49, N = 949. Fraction f = (MM − E) / (MM − N·fee)
    = 0.49 / (9.49 − 4.745) = 0.1033 → ceil(0.1033 · 10) = 2 coins sold at 94.8.
    Wallet 60 + 2·(94.8 − 100) − 0.5 %·189.6 = 60 − 10.4 − 0.948 = 48.652;
    equity 48.652 + 8·(94.9 − 100) = 7.852 ≥ maintenance 0.01·8·94.9 = 7.592.
    """
    ex, trader = _partial_setup(partial_rule="binance")

    ex.liquidate()

    assert ex.accounts.qty_lots[trader, 0] == 8
    r = ex.risk_arrays()
    assert r["cross_equity_usd"][trader] == pytest.approx(7.852)
    assert r["cross_mm_usd"][trader] == pytest.approx(7.592)
    assert r["cross_equity_usd"][trader] >= r["cross_mm_usd"][trader]
    assert _liquidation_kinds(ex, trader) == {"partial": 2.0}
    fee = ex.events.frame("liquidation").fee_usd.iloc[0]
    assert fee == pytest.approx(0.948)  # 0.5 % of 2 · 94.8
    assert ex.liquidator.pools.balances_usd() == pytest.approx([1_000_000.0 + 0.948])
    ex.check_invariants()


def test_without_a_partial_rule_the_whole_position_is_closed():
    """Same account with partial_rule="none": all 10 coins go, 5 at 94.8 and 5 at 94.7."""
    ex, trader = _partial_setup(partial_rule="none")

    ex.liquidate()

    assert ex.accounts.qty_lots[trader, 0] == 0
    assert _liquidation_kinds(ex, trader) == {"book": 10.0}
    ex.check_invariants()


CHUNK_FRACTION = 0.5
CHUNK_THRESHOLD_USD = 500.0


@pytest.mark.parametrize(
    ("threshold_usd", "qty_left"),
    [(CHUNK_THRESHOLD_USD, 5), (1_000.0, 0)],
    ids=["notional-above-threshold", "notional-below-threshold"],
)
def test_chunks_rule_slices_only_positions_above_the_threshold(threshold_usd, qty_left):
    """Setup: the trigger long at mark 94.9, notional 10 · 94.9 = 949 USD; chunk 50 %.

    Threshold 500 < 949: one chunk of 0.5 · 10 = 5 coins goes at 94.8; equity then
    60 + 5·(94.8 − 100) − 0.5 %·474 + 5·(94.9 − 100) = 60 − 26 − 2.37 − 25.5 = 6.13
    ≥ maintenance 4.745, so the other 5 stay. Threshold 1,000 > 949: no chunking, closed in full.
    """
    ex, trader = _partial_setup(
        partial_rule="chunks",
        chunk_fraction=CHUNK_FRACTION,
        chunk_threshold_usd=threshold_usd,
    )

    ex.liquidate()

    assert ex.accounts.qty_lots[trader, 0] == qty_left
    kinds = _liquidation_kinds(ex, trader)
    assert kinds == ({"partial": 5.0} if qty_left else {"book": 10.0})
    ex.check_invariants()


CHUNK_BIG_QTY, CHUNK_SMALL_QTY = 20.0, 1.0  # coins long at ENTRY: 2,000 and 100 USD notional


def _chunk_setup(deposit_usd: float) -> tuple[Exchange, int]:
    """A cross account long 20 coins of M0 and 1 of M1 at 100 (20x), marks at 95; chunks of
    20 % above 500 USD (Hyperliquid, §5.2); deep bids at 94.9 in both books."""
    ex = _exchange(
        2, liquidation_fee=PARTIAL_FEE, partial_rule="chunks", chunk_fraction=0.2,
        chunk_threshold_usd=500.0,
    )  # fmt: skip
    trader, short, maker = (ex.open_account(d) for d in (deposit_usd, RICH_USD, RICH_USD))
    for k, qty in ((0, CHUNK_BIG_QTY), (1, CHUNK_SMALL_QTY)):
        open_pair(ex, trader, short, qty, ENTRY, market=k, long_leverage=20.0)
    _marks(ex, 95.0, 95.0)
    for k in (0, 1):
        _bids(ex, maker, [(94.9, 50.0)], market=k)
    return ex, trader


@pytest.mark.parametrize(
    ("deposit_usd", "lots_left", "kinds"),
    [(124.0, [16, 0], {"partial": 5.0}), (122.0, [0, 0], {"partial": 5.0, "book": 16.0})],
    ids=["healthy-after-the-slice", "still-below-so-whole-position"],
)
def test_regression_chunks_slice_each_large_position_not_the_whole_account(
    deposit_usd, lots_left, kinds
):
    """Issue 16, defect 3: the 20 % rule is per position (Hyperliquid §5.2).

    At mark 95 equity = deposit − 21·5 < maintenance 0.01·1,995 = 19.95 for both deposits.
    M1's 95 USD is under the 500 threshold: closed whole. M0's 1,900 is above it: one slice of
    20 % = 4 coins (the account-wide rule closed all 20 because one leg was small). After it:
    realised 5·(94.9 − 100) = −25.5, fees 0.5 %·474.5 = 2.37, M0's 16 coins carry −80:
    equity = deposit − 107.87 against maintenance 0.01·1,520 = 15.2. Deposit 124: 16.13, healthy,
    16 coins stay. Deposit 122: 14.13, still below; during the 30 s cooldown Hyperliquid's
    orders are for the whole position, and one step is longer: the 16 coins close in the book.
    """
    ex, trader = _chunk_setup(deposit_usd)

    ex.liquidate()

    assert ex.accounts.qty_lots[trader].tolist() == lots_left  # lots of one coin
    assert _liquidation_kinds(ex, trader) == kinds
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# liquidation orders hit the book
# ---------------------------------------------------------------------------------------------
def test_liquidation_sells_walk_the_bids_and_move_the_last_price():
    """Setup: the trigger long (10 @ 100) at mark 94.9; bids 5 @ 94.8, 5 @ 94.7, 5 @ 94.6.

    The full close sells 10 coins: it takes both top levels, so the last price goes from
    100 (the opening trade) to 94.7 and the bid depth drops from 15 to 5 coins.
    """
    ex, trader = _partial_setup(partial_rule="none")
    book = ex.perp_books[0]
    depth_before = book.depth_usd(0.05, side=BUY)
    assert ex.prices.last_usd[0] == ENTRY

    ex.liquidate()

    assert ex.prices.last_usd[0] == pytest.approx(94.7)
    assert book.levels(BUY) == [(9460, 5)]  # 94.6 in ticks of 0.01
    assert book.depth_usd(0.05, side=BUY) < depth_before
    fills = ex.events.frame("fill")
    liq_fills = fills[fills.is_liquidation]
    assert set(liq_fills.taker) == {trader}
    assert liq_fills.qty.sum() == TRIGGER_QTY
    assert liq_fills.taker_fee_usd.sum() == 0.0  # the clearance fee is charged separately


# ---------------------------------------------------------------------------------------------
# pool takeover, then the policy
# ---------------------------------------------------------------------------------------------
TAKEOVER_DEPOSIT = 50.0  # USD: long 10 @ 100 at 20x
TAKEOVER_CRASH = 95.25  # equity 50 − 47.5 = 2.5 < maintenance 9.525; BP 95.25 − 2.5/10 = 95
TAKEOVER_BP = 95.0
CAPACITY_POOL_USD = 475.0  # room for 475 // 95 = 5 coins at BP with ratio 1


def _takeover_setup(**liquidation: object) -> tuple[Exchange, int, int]:
    """A long that must be closed with an empty book: only the pool or the policy can take it."""
    ex = _exchange(**liquidation)
    trader, short = ex.open_account(TAKEOVER_DEPOSIT), ex.open_account(RICH_USD)
    _trade(ex, trader, short, 10.0, long_leverage=20.0)
    _marks(ex, TAKEOVER_CRASH)
    return ex, trader, short


def test_pool_takes_the_position_at_the_bankruptcy_price_and_no_adl_fires():
    """Setup: long 10 @ 100 (deposit 50), mark 95.25, empty book, pool 1M.

    Bankruptcy price 95.25 − 2.5/10 = 95: the pool buys all 10 coins there, no ADL.
    The trader ends at 50 + 10·(95 − 100) = 0; the pool at 1M + 10·(95.25 − 95) = 1M + 2.5.
    """
    ex, trader, _ = _takeover_setup(pool_initial_usd=RICH_USD)
    pools = ex.liquidator.pools
    pool = pools.account(0)

    ex.liquidate()

    assert ex.accounts.qty_lots[pool, 0] == 10
    assert ex.accounts.entry_price_usd[pool, 0] == pytest.approx(TAKEOVER_BP)
    assert _liquidation_kinds(ex, trader) == {"pool_takeover": 10.0}
    assert ex.events.count("adl") == 0
    assert ex.equity_usd()[trader] == pytest.approx(0.0, abs=1e-9)
    assert pools.equity_usd(pool) == pytest.approx(RICH_USD + 2.5)
    ex.check_invariants()


def test_empty_pool_hands_the_position_straight_to_the_policy():
    """Same long with a pool of 0: no takeover, the queue closes the short's 10 coins at 95."""
    ex, trader, short = _takeover_setup(pool_initial_usd=0.0)

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert adl.account.tolist() == [short]
    assert adl.qty.sum() == 10.0
    assert adl.price_usd.tolist() == pytest.approx([TAKEOVER_BP])
    assert "pool_takeover" not in _liquidation_kinds(ex, trader)
    ex.check_invariants()


def test_pool_first_up_to_its_capacity_then_adl_for_the_rest():
    """Setup: same long; pool 475 USD, pool_max_position_ratio = 1.

    Capacity: 1 · 475 / 95 = 5 coins at BP. The pool takes 5, the queue closes the other 5
    against the short at 95. Afterwards the pool is full: equity 475 + 5·0.25 = 476.25 and
    it holds 5 · 95.25 = 476.25 of notional, so it can take 0 more lots.
    """
    ex, trader, short = _takeover_setup(
        pool_initial_usd=CAPACITY_POOL_USD, pool_max_position_ratio=1.0
    )
    pools = ex.liquidator.pools
    pool = pools.account(0)

    ex.liquidate()

    assert _liquidation_kinds(ex, trader) == {"pool_takeover": 5.0, "adl_queue": 5.0}
    assert ex.accounts.qty_lots[pool, 0] == 5
    adl = ex.events.frame("adl")
    assert (adl.account.tolist(), adl.qty.sum()) == ([short], 5.0)
    assert pools.equity_usd(pool) == pytest.approx(476.25)
    assert pools.takeover_lots(pool, 0, 1.0, TAKEOVER_BP) == 0  # full when ADL started
    ex.check_invariants()


@pytest.mark.parametrize("insurance_enabled", [True, False])
def test_insurance_switch_decides_between_takeover_and_policy(insurance_enabled):
    """Same long with a 1M pool. Insurance on: the pool takes it, no ADL. Off: no takeover,
    the policy (queue) applies at once and the pool balance does not move."""
    ex, trader, _ = _takeover_setup(pool_initial_usd=RICH_USD, insurance_enabled=insurance_enabled)
    pools = ex.liquidator.pools

    ex.liquidate()

    kinds = _liquidation_kinds(ex, trader)
    if insurance_enabled:
        assert kinds == {"pool_takeover": 10.0}
        assert ex.events.count("adl") == 0
    else:
        assert kinds == {"adl_queue": 10.0}
        assert ex.events.frame("adl").qty.sum() == 10.0
        assert pools.balances_usd() == [RICH_USD]
    assert ex.accounts.qty_lots[trader, 0] == 0
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# rounds: liquidate → re-mark → rescan
# ---------------------------------------------------------------------------------------------
CASCADE_TRIGGER = 94.0  # first trade price: below A's liquidation price 94.95
CASCADE_BIDS = [(94.0, 1.0), (90.0, 5.0), (85.0, 100.0)]


def _cascade_setup(max_rounds: int) -> tuple[Exchange, int, int]:
    """Two longs, last-price marks, a thin book; a 1-coin sell into the 94 bid starts the fall.

    A: long 10 @ 100, deposit 60 (20x): liquidated below 940 / 9.9 = 94.95.
    B: long 10 @ 100, deposit 100 (10x): liquidated below 900 / 9.9 = 90.91.
    """
    ex = _exchange(mark_rule="last", max_rounds=max_rounds, pool_initial_usd=RICH_USD)
    a, b = ex.open_account(TRIGGER_DEPOSIT), ex.open_account(100.0)
    short, maker, seller = (ex.open_account(RICH_USD) for _ in range(3))
    _trade(ex, a, short, 10.0, long_leverage=20.0)
    _trade(ex, b, short, 10.0, long_leverage=10.0)
    _bids(ex, maker, CASCADE_BIDS)
    out = ex.submit(Order(seller, 0, SELL, 1.0, OrderKind.LIMIT, CASCADE_TRIGGER))
    assert out.filled_qty == 1.0 and out.avg_price_usd == CASCADE_TRIGGER
    return ex, a, b


def test_first_round_fills_move_the_mark_and_a_second_round_liquidates_another_account():
    """Setup: see `_cascade_setup`; mark = last trade = 94.

    Round 1: A (equity 60 − 60 = 0, BP 94) sells 5 into the bid at 90 (band 5 % → 89.3), the
    pool pays 5·(94 − 90) = 20 and takes the other 5 at 94. The last price is now 90.
    Round 2: mark 90, B's equity 100 − 100 = 0 < maintenance 9: B goes (pool takes it at 90).
    """
    ex, a, b = _cascade_setup(max_rounds=10)

    units = ex.liquidate()

    assert units == 2
    assert ex.prices.mark_usd[0] == 90.0
    liq = ex.events.frame("liquidation")
    assert (liq["round"] >= 1).all()
    assert set(liq[liq["round"] == 1].account) == {a}
    assert set(liq[liq["round"] == 2].account) == {b}
    assert ex.accounts.qty_lots[[a, b], 0].tolist() == [0, 0]
    ex.check_invariants()


def test_round_cap_of_one_stops_after_the_first_round():
    """Same cascade with max_rounds = 1: only A is liquidated; B stays open, below maintenance
    at the new last price 90, until the next call."""
    ex, a, b = _cascade_setup(max_rounds=1)

    units = ex.liquidate()

    assert units == 1
    liq = ex.events.frame("liquidation")
    assert set(liq.account) == {a}
    assert set(liq["round"]) == {1}
    assert ex.accounts.qty_lots[b, 0] == 10
    ex.update_marks()
    r = ex.risk_arrays()
    assert r["cross_equity_usd"][b] < r["cross_mm_usd"][b]  # 0 < 9: waiting for next step
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# liquidation fee and residual margin
# ---------------------------------------------------------------------------------------------
FEE_BID = 94.8


@pytest.mark.parametrize(
    ("residual_to_pool", "pool_gain", "trader_keeps"),
    [(0.0, 4.74, 3.26), (1.0, 8.0, 0.0)],
    ids=["fee-only", "fee-and-residual"],
)
def test_liquidation_fee_and_residual_margin_go_to_the_pool(
    residual_to_pool, pool_gain, trader_keeps
):
    """Setup: the trigger long (10 @ 100, deposit 60) at mark 94.9, a 10-coin bid at 94.8,
    liquidation fee 0.5 %, no partial.

    Book close: 10 · 94.8 = 948; margin left 60 + 10·(94.8 − 100) = 8.
    Fee 0.5 %·948 = 4.74 to the pool; residual 8 − 4.74 = 3.26 stays with the trader
    (residual_to_pool 0) or also goes to the pool (residual_to_pool 1, pool +8).
    """
    ex = _exchange(liquidation_fee=PARTIAL_FEE, residual_to_pool=residual_to_pool)
    trader, short, maker = (ex.open_account(d) for d in (TRIGGER_DEPOSIT, RICH_USD, RICH_USD))
    _trade(ex, trader, short, TRIGGER_QTY, long_leverage=20.0)
    _marks(ex, BELOW_MAINTENANCE)
    _bids(ex, maker, [(FEE_BID, TRIGGER_QTY)])
    pools = ex.liquidator.pools

    ex.liquidate()

    assert pools.balances_usd()[0] - RICH_USD == pytest.approx(pool_gain)
    assert ex.equity_usd()[trader] == pytest.approx(trader_keeps)
    ins = ex.events.frame("insurance")
    assert ins.delta_usd.tolist() == pytest.approx([pool_gain])
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# the master switch
# ---------------------------------------------------------------------------------------------
SWITCH_CRASH = 90.0  # long 10 @ 100 with deposit 50: equity 50 − 100 = −50


@pytest.mark.parametrize("enabled", [True, False])
def test_liquidation_switch(enabled):
    """Setup: long 10 @ 100, deposit 50 (20x); mark 90 → equity −50, bankruptcy price 95.

    On: the pool (1M) takes the position at 95, the trader ends at 0, the pool pays the 50.
    Off: liquidate() does nothing and the account runs negative at −50.
    """
    ex = _exchange(enabled=enabled, pool_initial_usd=RICH_USD)
    trader, short = ex.open_account(TAKEOVER_DEPOSIT), ex.open_account(RICH_USD)
    _trade(ex, trader, short, 10.0, long_leverage=20.0)
    _marks(ex, SWITCH_CRASH)
    ex.update_marks()  # liquidate() re-marks only when enabled; a model step re-marks anyway

    units = ex.liquidate()

    if enabled:
        assert units == 1
        assert ex.accounts.qty_lots[trader, 0] == 0
        assert ex.equity_usd()[trader] == pytest.approx(0.0, abs=1e-9)
        assert ex.events.frame("liquidation").bankruptcy_price_usd.tolist() == [95.0]
    else:
        assert units == 0
        assert ex.accounts.qty_lots[trader, 0] == 10
        assert ex.equity_usd()[trader] == pytest.approx(-50.0)
        assert ex.events.count("liquidation") == ex.events.count("adl") == 0
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# pool layout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pool_mode", "pool_of_market"),
    [("shared", (0, 0, 0, 0)), ("per_market", (0, 1, 2, 3)), ("grouped", (0, 1, 2, 2))],
)
def test_pool_modes_map_markets_to_pools(pool_mode, pool_of_market):
    """Four perps; majors (0, 1) own their pools in grouped mode, markets 2 and 3 share one."""
    ex = _exchange(4, pool_mode=pool_mode, pool_initial_usd=100.0)
    pools = ex.liquidator.pools

    assert pools.pool_of_market == pool_of_market
    assert len(pools.accounts) == max(pool_of_market) + 1
    assert pools.balances_usd() == [100.0] * len(pools.accounts)
    assert all(ex.is_system[pools.accounts])
    assert [pools.account(k) for k in range(4)] == [pools.accounts[p] for p in pool_of_market]


TAIL_POOLS_USD = (1_000.0, 1_000.0, 1_000.0)  # BTC-like, ETH-like, shared long tail


def test_long_tail_loss_drains_only_the_tail_pool():
    """Setup: four perps, grouped pools (1,000 each); long 10 @ 100 (deposit 50) in tail
    market 3; mark 90 → equity −50, BP 95; one bid of 10 at 90 (inside the 5 % band, 85.5).

    The pool of markets 2 and 3 pays 10·(95 − 90) = 50 to let the order fill at 90; the two
    major pools do not move.
    """
    ex = _exchange(4, pool_mode="grouped", pool_initial_usd=TAIL_POOLS_USD)
    trader, short, maker = (ex.open_account(d) for d in (TAKEOVER_DEPOSIT, RICH_USD, RICH_USD))
    _trade(ex, trader, short, 10.0, market=3, long_leverage=20.0)
    _marks(ex, ENTRY, ENTRY, ENTRY, SWITCH_CRASH)
    _bids(ex, maker, [(90.0, 10.0)], market=3)

    ex.liquidate()

    assert ex.liquidator.pools.balances_usd() == pytest.approx([1_000.0, 1_000.0, 950.0])
    liq = ex.events.frame("liquidation")
    assert liq.shortfall_usd.sum() == pytest.approx(50.0)
    assert ex.equity_usd()[trader] == pytest.approx(0.0, abs=1e-9)
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# drawdown trigger (OKX / Bybit, exchange-mechanics.md §4)
# ---------------------------------------------------------------------------------------------
DRAWDOWN_POOL_USD = 100.0
FIRST_CRASH = 90.0  # A: long 10 @ 100, deposit 50 → equity −50, BP 95; bid 10 @ 90
SECOND_CRASH = 60.25  # B: long 10 @ 100, deposit 400 → equity 2.5 < MM 6.025, BP 60


@pytest.mark.parametrize("drawdown_trigger", [None, 0.3])
def test_drawdown_trigger_sends_losses_to_adl_while_the_pool_still_has_money(drawdown_trigger):
    """Setup: pool 100 (peak recorded at step 0), capacity ratio 100; two longs.

    Step 1, mark 90: A's order fills at 90 with the pool paying 10·(95 − 90) = 50 → pool 50,
    a 50 % drawdown from the peak 100.
    Step 2, mark 60.25, empty book: B (BP 60) must be taken over.
    No trigger: the pool (50 > 0, room 100·50 = 5,000) takes B's 10 coins at 60, no ADL.
    Trigger 30 %: 50 < 0.7·100 = 70, the pool is off even with 50 USD left, so the queue
    closes B against the shorts at 60 and the pool stays at 50.
    """
    ex = _exchange(
        pool_initial_usd=DRAWDOWN_POOL_USD,
        pool_max_position_ratio=100.0,
        drawdown_trigger=drawdown_trigger,
    )
    pools = ex.liquidator.pools
    pool = pools.account(0)
    a, b = ex.open_account(TAKEOVER_DEPOSIT), ex.open_account(400.0)
    short, maker = ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    _trade(ex, a, short, 10.0, long_leverage=20.0)
    _trade(ex, b, short, 10.0, long_leverage=10.0)
    ex.unwind_system_positions()  # records the pool's peak (100)
    _marks(ex, FIRST_CRASH)
    _bids(ex, maker, [(FIRST_CRASH, 10.0)])
    ex.liquidate()
    ex.unwind_system_positions()
    assert pools.equity_usd(pool) == pytest.approx(50.0)
    assert ex.events.count("adl") == 0
    _marks(ex, SECOND_CRASH)

    ex.liquidate()

    kinds = _liquidation_kinds(ex, b)
    if drawdown_trigger is None:
        assert kinds == {"pool_takeover": 10.0}
        assert ex.events.count("adl") == 0
        assert ex.accounts.qty_lots[pool, 0] == 10
    else:
        assert kinds == {"adl_queue": 10.0}
        adl = ex.events.frame("adl")
        assert (adl.account.tolist(), adl.price_usd.tolist()) == ([short], [60.0])
        assert ex.accounts.qty_lots[pool, 0] == 0
        assert pools.equity_usd(pool) == pytest.approx(50.0)
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# the pool sells what it took over back into the book
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("unwind_fraction", "pool_lots_left"), [(0.5, 5), (0.0, 10)])
def test_pool_unwinds_a_fraction_of_its_position_into_the_book(unwind_fraction, pool_lots_left):
    """Setup: the pool took a long 10 at 95 (takeover scenario); a bid of 10 at 95.2 arrives.

    unwind_fraction 0.5: the pool sells 0.5·10 = 5 into the bid (a fill with the pool as
    taker) and keeps 5. Fraction 0: it keeps all 10 and nothing trades.
    """
    ex, _, _ = _takeover_setup(pool_initial_usd=RICH_USD, pool_unwind_fraction=unwind_fraction)
    pool = ex.liquidator.pools.account(0)
    ex.liquidate()
    assert ex.accounts.qty_lots[pool, 0] == 10
    maker = ex.open_account(RICH_USD)
    _bids(ex, maker, [(95.2, 10.0)])
    fills_before = ex.events.count("fill")

    ex.unwind_system_positions()

    assert ex.accounts.qty_lots[pool, 0] == pool_lots_left
    fills = ex.events.frame("fill").iloc[fills_before:]
    assert fills.taker.tolist() == ([pool] if pool_lots_left < 10 else [])
    assert fills.qty.sum() == 10 - pool_lots_left
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# bad configuration
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"policy": "fifo"}, ["liquidation.policy", "'fifo'", *map(repr, POLICIES)]),
        ({"pool_mode": "global"}, ["liquidation.pool_mode", "'global'", *map(repr, POOL_MODES)]),
        ({"partial_rule": "half"}, ["liquidation.partial_rule", "'half'", "'binance'"]),
        ({"pool_initial_usd": -1.0}, ["liquidation.pool_initial_usd", "-1.0", "[0.0, inf]"]),
        (
            {"pool_initial_usd": (5.0, -2.0)},
            ["liquidation.pool_initial_usd[1]", "-2.0", "[0.0, inf]"],
        ),
        ({"max_rounds": 0}, ["liquidation.max_rounds", "0", "[1, inf]"]),
        ({"price_band": 0.0}, ["liquidation.price_band", "0.0", "(0.0, 1.0)"]),
        ({"price_band": 1.0}, ["liquidation.price_band", "1.0", "(0.0, 1.0)"]),
        ({"drawdown_trigger": 1.0}, ["liquidation.drawdown_trigger", "1.0", "(0.0, 1.0)"]),
    ],
    ids=lambda x: repr(x)[:40],
)
def test_bad_liquidation_config_names_field_value_and_valid_range(kwargs, expected):
    with pytest.raises(ValueError) as err:
        LiquidationConfig(**kwargs)
    message = str(err.value)
    for part in expected:
        assert part in message, f"{part!r} missing from {message!r}"


def test_grouped_pool_balances_must_match_the_number_of_pools():
    """Grouped mode on four perps has three pools; two balances is an error naming both."""
    with pytest.raises(ValueError, match=r"needs 3 balances .* got \(1\.0, 2\.0\)"):
        _exchange(4, pool_mode="grouped", pool_initial_usd=(1.0, 2.0))
