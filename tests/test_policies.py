"""Loss-absorption policies (model/engine/absorption.py) driven through the liquidation engine.

A scripted crash like experiments/scripted.py (smaller, named constants) for every policy,
reference vector TV-R1 on the engine, one engineered scenario per policy rule, hedge breaks,
regressions, and a hypothesis property: random books, positions and crashes keep every
invariant under every policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.risk_config import POLICIES, LiquidationConfig
from model.engine.specs import MarketSpec, SpotSpec, small_cap_perp
from model.engine.tiers import TierTable
from model.engine.types import BUY, SELL, OrderKind
from model.summary import adl_summary
from tests.conftest import hidden_deficits, open_pair

RICH_USD = 1_000_000.0
"""Deposit of counterparties and makers that never come near maintenance."""
ADL_POLICIES = ("adl_queue", "adl_pro_rata", "adl_min_max_leverage")
CONTRACT_SPACE = ("adl_queue", "adl_min_max_leverage", "backstop_vault")
"""Policies that close winners at the bankruptcy price and never leave a user below zero."""


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------
def _market(symbol: str = "TESTUSDT", *, lot_size: float = 1.0, mmr: float = 0.01) -> MarketSpec:
    """A fee-free linear perp, tick 0.01, one bracket (MMR 1 %, max 50x), index marks."""
    return MarketSpec(
        symbol,
        tick_size=0.01,
        lot_size=lot_size,
        tiers=TierTable((0.0,), (mmr,), (50.0,)),
        maker_fee=0.0,
        taker_fee=0.0,
        liquidation_fee=0.0,
        mark_rule="index",
    )


def _exchange(
    perps: list[MarketSpec], index: list[float], spots: tuple = (), **liquidation: object
) -> Exchange:
    """Exchange with one shared pool (empty unless given), no partial liquidation."""
    cfg = {"pool_mode": "shared", "partial_rule": "none", "pool_initial_usd": 0.0, **liquidation}
    return Exchange(
        perps,
        index,
        spots,
        liquidation=LiquidationConfig(**cfg),  # type: ignore[arg-type]
        rng=np.random.default_rng(0),
    )


_trade = open_pair


def _user_equity(ex: Exchange) -> np.ndarray:
    """Total equity of every user (non-system) row."""
    return ex.equity_usd()[~ex.is_system]


def _leverage(ex: Exchange, accounts: list[int], market: int = 0) -> np.ndarray:
    """Notional / cross equity of each account (0 once its position is gone)."""
    r = ex.risk_arrays()
    return r["notional_usd"][accounts, market] / r["cross_equity_usd"][accounts]


def _spy_on_adl(ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record every ADL close the policy makes: candidates, scores, allocation, rows logged."""
    policy, calls = ex.liquidator.policy, []
    original = policy._close_against

    def spy(acct, cands, alloc, k, side, price, scores, rnd):
        first_row = ex.events.count("adl")
        held = np.abs(ex.accounts.qty_lots[cands, k]).copy()
        original(acct, cands, alloc, k, side, price, scores, rnd)
        calls.append(
            {
                "cands": np.asarray(cands).copy(),
                "alloc": np.asarray(alloc).copy(),
                "held": held,
                "scores": np.asarray(scores, dtype=float).copy(),
                "rows": slice(first_row, ex.events.count("adl")),
            }
        )

    monkeypatch.setattr(policy, "_close_against", spy)
    return calls


# ---------------------------------------------------------------------------------------------
# the scripted crash, every policy
# ---------------------------------------------------------------------------------------------
PRICE = 1.0
"""USD; every position opens at this price (a long-tail perp, as in experiments/scripted.py)."""
DROPS = (0.04, 0.12)
"""Index falls 4 %, then 12 % from PRICE, with a liquidation pass after each step."""
LEVERAGES = (10.0, 20.0, 50.0, 10.0, 20.0, 50.0)
LONG_USD = 100.0
SHORT_USD = 2_000.0
SHORT_LEVERAGE = 3.0
BID_LEVELS = 10
BID_QTY = 500.0
BID_STEP = 0.002
POOL_USD = 50.0
POOL_CAPACITY = 10.0
VAULT_USD = 500.0


@dataclass
class Crash:
    """The scripted crash: the exchange after each step, and who is who."""

    ex: Exchange
    longs: list[int]
    shorts: list[int]
    qty: list[float]


def _scripted_crash(policy: str, monkeypatch: pytest.MonkeyPatch | None = None) -> Crash:
    """Setup: TAILUSDT (small-cap tiers, MMR 1 % below 5k, fees 2/5 bp, clearance fee 1 %).

    Six longs deposit 100 each and buy 100·lev·0.95 coins at 1.00: 950 (10x), 1,900 (20x),
    4,750 (50x), twice over; six shorts (deposit 2,000, 3x) sell them the same sizes.
    Bankruptcy drop ≈ wallet after the taker fee / qty: 50x ≈ 97.6/4,750 = 2.1 %;
    20x ≈ 99.05/1,900 = 5.2 %; 10x ≈ 99.5/950 = 10.5 %.
    Maker bids: 10 levels of 500 coins from 0.998 down to 0.980 (5,000 coins in all).
    Pool 50 USD, may hold 10x its equity; vault 500 USD (backstop_vault only).

    Step 1, −4 %: both 50x longs (9,500 coins) are past bankruptcy; the book takes 5,000, the
    pool ≈ 976/0.98 ≈ 996, the policy the rest. Step 2, −12 %: the 20x and 10x longs go, the
    book and pool are spent, the policy takes everything.
    """
    spec = small_cap_perp("TAILUSDT", mark_rule="index")
    ex = _exchange(
        [spec],
        [PRICE],
        policy=policy,
        pool_initial_usd=POOL_USD,
        pool_max_position_ratio=POOL_CAPACITY,
        vault_initial_usd=VAULT_USD,
    )
    maker = ex.open_account(RICH_USD)
    for i in range(1, BID_LEVELS + 1):
        price = round(PRICE - i * BID_STEP, 4)
        assert ex.submit(Order(maker, 0, BUY, BID_QTY, OrderKind.LIMIT, price)).accepted
    crash = Crash(ex, [], [], [])
    for lev in LEVERAGES:
        long_, short = ex.open_account(LONG_USD), ex.open_account(SHORT_USD)
        qty = float(round(LONG_USD * lev * 0.95 / PRICE))
        _trade(ex, long_, short, qty, PRICE, long_leverage=lev, short_leverage=SHORT_LEVERAGE)
        crash.longs.append(long_)
        crash.shorts.append(short)
        crash.qty.append(qty)
    return crash


def _run_crash(crash: Crash) -> None:
    """Apply DROPS, liquidating and checking every invariant after each step."""
    ex = crash.ex
    for t, drop in enumerate(DROPS, start=1):
        ex.t = t
        ex.set_index([PRICE * (1 - drop)])
        ex.liquidate()
        ex.check_invariants()
        if ex.liquidator.policy.name == "socialized_loss":
            assert min(ex.liquidator.pools.balances_usd()) >= -1e-6  # clawed back each round


@pytest.mark.parametrize("policy", POLICIES)
def test_scripted_crash_keeps_every_invariant(policy):
    """Every long is closed out, money and open interest balance after each step, and under
    the contract-space policies (and wealth pro-rata, whose winners have ample profit here) no
    user ends below zero."""
    crash = _scripted_crash(policy)

    _run_crash(crash)

    ex = crash.ex
    assert ex.accounts.qty_lots[crash.longs, 0].tolist() == [0] * len(crash.longs)
    liq = ex.events.frame("liquidation")
    assert set(liq.account) == set(crash.longs)
    assert (liq["round"] >= 1).all()
    assert policy in set(liq.kind)  # the book and the pool ran out: the policy fired
    if policy != "socialized_loss":
        assert _user_equity(ex).min() >= -1e-6


@pytest.mark.parametrize("policy", POLICIES)
def test_scripted_crash_logs_every_liquidated_coin_once(policy):
    """Each long's liquidation rows (book, partial, pool_takeover, vault, policy) add up to the
    position it held: 950, 1,900 or 4,750 coins.

    Bug (backstop_vault): the liquidator logs the whole remainder under kind "backstop_vault"
    before calling absorb(), and BackstopVault.absorb logs the vault's share again as "vault",
    so the vault's coins are counted twice (step 1: 3,504 + 1,531 for a 3,504-coin rest).
    """
    crash = _scripted_crash(policy)

    _run_crash(crash)

    liq = crash.ex.events.frame("liquidation")
    logged = liq.groupby("account").qty.sum()
    assert [logged[a] for a in crash.longs] == crash.qty


def test_scripted_crash_queue_closes_the_highest_scores_first(monkeypatch):
    """adl_queue: in every ADL event, a candidate is touched only once every candidate with a
    higher score is closed in full, the closes are at the bankruptcy price (value taken =
    needed budget), and the rows carry the scores the queue used."""
    crash = _scripted_crash("adl_queue")
    calls = _spy_on_adl(crash.ex, monkeypatch)

    _run_crash(crash)

    adl = crash.ex.events.frame("adl")
    assert len(calls) > 0 and len(adl) > 0
    for call in calls:
        alloc, held, scores = call["alloc"], call["held"], call["scores"]
        for i in np.flatnonzero(alloc > 0):
            assert (alloc[scores > scores[i]] == held[scores > scores[i]]).all()
        rows = adl.iloc[call["rows"]]
        assert rows.account.tolist() == call["cands"][alloc > 0].tolist()
        assert rows.score.tolist() == pytest.approx(scores[alloc > 0].tolist())
    assert adl.value_taken_usd.to_numpy() == pytest.approx(adl.needed_usd.to_numpy())
    assert set(adl.account) <= set(crash.shorts)
    assert crash.ex.events.count("haircut") == 0


def test_scripted_crash_pro_rata_closes_at_the_mark_and_haircuts_the_deficit():
    """adl_pro_rata (wealth): ADL closes are at the mark (nothing taken in price), the value
    comes from haircuts on the shorts' profit; the haircuts never exceed the budget they were
    needed for, and a long left below zero (profit ran out) is recorded as bad debt."""
    crash = _scripted_crash("adl_pro_rata")

    _run_crash(crash)

    ex = crash.ex
    adl, cuts = ex.events.frame("adl"), ex.events.frame("haircut")
    assert len(adl) > 0 and len(cuts) > 0
    assert adl.price_usd.to_numpy() == pytest.approx(adl.mark_usd.to_numpy())
    assert set(cuts.account) <= set(crash.shorts)
    assert adl.value_taken_usd.sum() == adl.needed_usd.sum() == 0.0
    assert (cuts.haircut_usd <= cuts.needed_usd + 1e-9).all() and cuts.haircut_usd.sum() > 0
    assert hidden_deficits(ex) == {}


def test_scripted_crash_min_max_leverage_closes_in_contract_space():
    """adl_min_max_leverage: ADL at the bankruptcy price (value taken = needed), only shorts."""
    crash = _scripted_crash("adl_min_max_leverage")

    _run_crash(crash)

    adl = crash.ex.events.frame("adl")
    assert len(adl) > 0
    assert adl.value_taken_usd.to_numpy() == pytest.approx(adl.needed_usd.to_numpy())
    assert set(adl.account) <= set(crash.shorts)


def test_scripted_crash_socialized_loss_claws_back_from_winners_without_adl():
    """socialized_loss: no ADL; the pool takes every remainder uncapped, and its negative
    equity is clawed back from accounts in profit (the shorts), never from the system rows."""
    crash = _scripted_crash("socialized_loss")

    _run_crash(crash)

    ex = crash.ex
    cuts = ex.events.frame("haircut")
    assert ex.events.count("adl") == 0
    assert len(cuts) > 0
    assert set(cuts.account) <= set(crash.shorts)
    assert "takeover_uncapped" in set(ex.events.frame("insurance").cause)
    assert ex.liquidator.pools.balances_usd()[0] >= -1e-6


def test_scripted_crash_backstop_vault_takes_positions_within_capacity():
    """backstop_vault, step 1 (−4 %): the two 50x longs (2 · 4,750 = 9,500 coins) go. The book
    takes 5,000, the pool ≈ 996; the vault (500 USD, may hold 3 · 500 = 1,500 of notional)
    takes what its capacity allows at the bankruptcy price, and the queue the rest."""
    crash = _scripted_crash("backstop_vault")
    ex = crash.ex
    vault = ex.liquidator.pools.vault

    ex.t = 1
    ex.set_index([PRICE * (1 - DROPS[0])])
    ex.liquidate()

    ex.check_invariants()
    liq = ex.events.frame("liquidation")
    by_kind = liq.groupby("kind").qty.sum()
    assert by_kind["vault"] > 0
    assert ex.accounts.qty_lots[vault, 0] == by_kind["vault"]
    assert by_kind["vault"] * ex.prices.mark_usd[0] <= 3.0 * VAULT_USD  # capacity at takeover
    adl = ex.events.frame("adl")
    assert set(adl.account) <= set(crash.shorts)
    closed = by_kind["book"] + by_kind["pool_takeover"] + by_kind["vault"] + adl.qty.sum()
    assert closed == 2 * 4_750.0


# ---------------------------------------------------------------------------------------------
# TV-R1: contract-space ADL (exchange-mechanics.md §7.3, Thogiti/Robinson critique)
# ---------------------------------------------------------------------------------------------
R1_ENTRY = 2_000.0
R1_MARK = 3_000.0
R1_SHORT_MARGIN = 500.0  # 2 ETH short at 8x
R1_BP = 2_250.0  # 2,000 + 500 / 2


def test_tv_r1_queue_takes_750_from_each_long_at_the_bankruptcy_price():
    """Setup: ETH perp (lot 0.01). Short 2 ETH @ 2,000, margin 500; longs A and B 1 ETH each
    @ 2,000 with margins 500 and 1,000. Mark jumps to 3,000; empty book, empty pool.

    Short equity 500 + 2·(2,000 − 3,000) = −1,500; BP 2,000 + 500/2 = 2,250.
    A: equity 500 + 1,000 = 1,500 on 3,000 (2x), own BP 1,500 → score 0.5 · 3,000/1,500 = 1.0;
    B: equity 2,000 (1.5x), own BP 1,000 → score 0.5 · 3,000/2,000 = 0.75. The queue closes
    A's 1 ETH then B's at 2,250: each bears 3,000 − 2,250 = 750 of the 1,500 deficit.
    A keeps 1,500 − 750 = 750, B 2,000 − 750 = 1,250, the short ends at exactly 0.
    """
    ex = _exchange([_market("ETHUSDT", lot_size=0.01)], [R1_ENTRY], policy="adl_queue")
    short = ex.open_account(R1_SHORT_MARGIN)
    a, b = ex.open_account(500.0), ex.open_account(1_000.0)
    _trade(ex, a, short, 1.0, R1_ENTRY, short_leverage=8.0)
    _trade(ex, b, short, 1.0, R1_ENTRY, short_leverage=8.0)
    ex.set_index([R1_MARK])

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert adl.account.tolist() == [a, b]
    assert adl.score.tolist() == pytest.approx([1.0, 0.75])
    assert adl.price_usd.tolist() == pytest.approx([R1_BP, R1_BP])
    assert adl.value_taken_usd.tolist() == pytest.approx([750.0, 750.0])
    assert adl.needed_usd.sum() == pytest.approx(1_500.0)
    assert ex.equity_usd()[[short, a, b]] == pytest.approx([0.0, 750.0, 1_250.0])
    assert ex.events.count("bad_debt") == 0
    ex.check_invariants()


ENTRY = 100.0
"""USD; the engineered scenarios below open every position here."""
X5_MARK = 110.0


def test_tv_x5_adl_rows_carry_the_bitmex_score_of_each_winner():
    """TV-X5 on the engine (exchange-mechanics.md §3.4): score = PnL% × mark / |mark − BP|.

    Setup: short S 2 @ 100 (deposit 10, 20x); longs A and B 1 @ 100 with deposits 10 and 50.
    Mark 110: S equity 10 − 20 = −10 (BP 105), so both longs are deleveraged.
    A: equity 10 + 10 = 20 → own BP 110 − 20 = 90 → 0.10 · 110/20 = 0.55.
    B: equity 50 + 10 = 60 → own BP 50 → 0.10 · 110/60 = 0.1833. A is closed first.
    """
    ex = _exchange([_market()], [ENTRY], policy="adl_queue")
    short, a, b = ex.open_account(10.0), ex.open_account(10.0), ex.open_account(50.0)
    _trade(ex, a, short, 1.0, ENTRY, short_leverage=20.0)
    _trade(ex, b, short, 1.0, ENTRY, short_leverage=20.0, long_leverage=2.0)
    ex.set_index([X5_MARK])

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert adl.account.tolist() == [a, b]
    assert adl.score.tolist() == pytest.approx([0.55, 0.1 * 110.0 / 60.0])
    assert adl.price_usd.tolist() == pytest.approx([105.0, 105.0])  # the short's BP
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# one bankrupt long, three winners: each rule's allocation
# ---------------------------------------------------------------------------------------------
CRASH = 90.0
LOSER_USD = 30.0  # long 6 @ 100 at 20x: equity at 90 = 30 − 60 = −30, BP 90 + 30/6 = 95
LOSER_QTY = 6.0
LOSER_BP = 95.0
WINNER_USD = (40.0, 100.0, 300.0)  # three shorts of 6 @ 100; equity at 90: 100, 160, 360
WINNER_QTY = 6.0


def _one_loser_three_winners(policy: str, **liquidation: object) -> tuple[Exchange, int, list]:
    """Setup: one bankrupt long, three short winners of different leverage, one rich long.

    Loser: long 6 @ 100, deposit 30 (20x). Winners W1..W3: short 6 @ 100 each, deposits
    40, 100, 300. A rich long buys the other 12 coins. Crash to 90, empty book, no pool:
    loser equity −30, BP 95, so the policy must place 6 coins with a 30 USD deficit.
    At 90 the winners hold 540 of notional on equity 100, 160, 360: leverage 5.4, 3.375, 1.5.
    """
    ex = _exchange([_market()], [ENTRY], policy=policy, **liquidation)
    loser, rich = ex.open_account(LOSER_USD), ex.open_account(RICH_USD)
    winners = [ex.open_account(usd) for usd in WINNER_USD]
    _trade(ex, loser, winners[0], LOSER_QTY, ENTRY, long_leverage=20.0, short_leverage=20.0)
    for w in winners[1:]:
        _trade(ex, rich, w, WINNER_QTY, ENTRY, short_leverage=20.0)
    ex.set_index([CRASH])
    return ex, loser, winners


def test_queue_closes_the_top_scored_winner_in_full():
    """Queue: W1 has the highest score (PnL 10 % × effective leverage 90/(106.67 − 90) = 0.54)
    and holds exactly 6 coins, so it alone is closed at 95; W2, W3 are untouched."""
    ex, loser, winners = _one_loser_three_winners("adl_queue")

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert adl.account.tolist() == [winners[0]]
    assert adl.score.tolist() == pytest.approx([0.54])  # 0.1 · 90 / (100 + 100/6 − 90)
    assert adl.qty.tolist() == [LOSER_QTY]
    assert ex.accounts.qty_lots[winners, 0].tolist() == [0, -6, -6]
    assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
    ex.check_invariants()


def test_min_max_leverage_leaves_winner_leverage_more_equal_than_the_queue():
    """Same book. Queue: W1 closed in full → leverages after (0, 3.375, 1.5), max 3.375,
    spread 3.375. Water-filling: drain W1 to W2's level, then both: with equity held fixed
    L solves (540 − 100L)/90 + (540 − 160L)/90 = 6 → L = 2.08 > 1.5, so W3 is untouched and
    W1, W2 give ≈ 3.7 and 2.3 coins (whole lots 4 and 2, or 3 and 3). After the closes at 95
    every leverage is ≤ 2.5 and the spread is below 1."""
    results = {}
    for policy in ("adl_queue", "adl_min_max_leverage"):
        ex, loser, winners = _one_loser_three_winners(policy)
        ex.liquidate()
        ex.check_invariants()
        assert ex.events.frame("adl").qty.sum() == LOSER_QTY
        assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
        results[policy] = _leverage(ex, winners)
    queue, water = results["adl_queue"], results["adl_min_max_leverage"]

    assert queue == pytest.approx([0.0, 3.375, 1.5])
    assert water.max() < queue.max()
    assert np.ptp(water) < np.ptp(queue)
    assert water.max() <= 2.5
    assert water[2] == pytest.approx(1.5)  # W3 untouched


def test_pro_rata_wealth_closes_at_the_mark_and_haircuts_profit_pro_rata():
    """Wealth pro-rata: the 6 coins are closed against all 18 short coins pro rata (2 each)
    at the mark 90; the deficit 30 (= 6 · (95 − 90), the needed budget) is haircut from the
    winners' profit 60 each in proportion: 30/180 · 60 = 10 from each."""
    ex, loser, winners = _one_loser_three_winners("adl_pro_rata")

    ex.liquidate()

    adl, cuts = ex.events.frame("adl"), ex.events.frame("haircut")
    assert sorted(adl.account) == sorted(winners)
    assert adl.qty.tolist() == [2.0, 2.0, 2.0]
    assert adl.price_usd.tolist() == [CRASH] * 3
    assert sorted(cuts.account) == sorted(winners)
    assert cuts.haircut_usd.tolist() == pytest.approx([10.0, 10.0, 10.0])
    assert cuts.needed_usd.sum() == pytest.approx(30.0)  # the needed budget, all covered
    assert adl.needed_usd.sum() == adl.value_taken_usd.sum() == 0.0  # closes at the mark
    assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
    assert ex.equity_usd()[winners] == pytest.approx([90.0, 150.0, 350.0])  # each − 10
    ex.check_invariants()


def test_pro_rata_contract_space_closes_at_the_bankruptcy_price():
    """Contract-space pro-rata (Drift): 2 coins from each winner at BP 95, each bears
    2 · (95 − 90) = 10; no haircut events."""
    ex, loser, winners = _one_loser_three_winners("adl_pro_rata", pro_rata_space="contract")

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert sorted(adl.account) == sorted(winners)
    assert adl.qty.tolist() == [2.0, 2.0, 2.0]
    assert adl.price_usd.tolist() == pytest.approx([LOSER_BP] * 3)
    assert adl.value_taken_usd.tolist() == pytest.approx([10.0, 10.0, 10.0])
    assert ex.events.count("haircut") == 0
    assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
    ex.check_invariants()


def test_socialized_loss_pool_takes_beyond_capacity_and_claws_back():
    """Socialized loss with an empty pool: the pool takes the 6 coins at 95 anyway (equity
    0 + 6·(90 − 95) = −30), then claws 30 back from the accounts in profit pro rata to their
    profit: the three winners (60 each) pay 10 each; the rich long is at a loss and pays
    nothing. No ADL; the pool ends at 0."""
    ex, loser, winners = _one_loser_three_winners("socialized_loss")
    pool = ex.liquidator.pools.account(0)

    ex.liquidate()

    assert ex.events.count("adl") == 0
    assert ex.accounts.qty_lots[pool, 0] == LOSER_QTY
    cuts = ex.events.frame("haircut")
    assert sorted(cuts.account) == sorted(winners)
    assert cuts.haircut_usd.tolist() == pytest.approx([10.0, 10.0, 10.0])
    assert ex.liquidator.pools.equity_usd(pool) == pytest.approx(0.0, abs=1e-9)
    assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
    ex.check_invariants()


VAULT_CAPITAL = 1_000.0
VAULT_FLOOR = 900.0
VAULT_CRASHES = (90.0, 80.0)


def test_backstop_vault_takes_positions_until_below_its_floor_then_the_queue_applies():
    """Setup: vault 1,000 (floor 900, capacity 3x), empty pool. Long A 10 @ 100 deposit 50
    (20x), long B 10 @ 100 deposit 150 (10x); a rich short holds the other side.

    Step 1, mark 90: A equity −50, BP 95; the vault (room 3,000 − 0) buys A's 10 at 95. Its
    equity is then 1,000 + 10·(90 − 95) = 950 > 900. B: equity 150 − 100 = 50 ≥ 9, safe.
    Step 2, mark 80: vault equity 1,000 + 10·(80 − 95) = 850 < 900, so it takes nothing;
    B (equity −50, BP 85) goes to the queue and the short is closed at 85.
    """
    ex = _exchange(
        [_market()],
        [ENTRY],
        policy="backstop_vault",
        vault_initial_usd=VAULT_CAPITAL,
        vault_equity_floor_usd=VAULT_FLOOR,
    )
    pools = ex.liquidator.pools
    a, b, short = ex.open_account(50.0), ex.open_account(150.0), ex.open_account(RICH_USD)
    _trade(ex, a, short, 10.0, ENTRY, long_leverage=20.0)
    _trade(ex, b, short, 10.0, ENTRY, long_leverage=10.0)

    ex.t = 1
    ex.set_index([VAULT_CRASHES[0]])
    ex.liquidate()
    assert ex.accounts.qty_lots[pools.vault, 0] == 10
    assert pools.equity_usd(pools.vault) == pytest.approx(950.0)
    assert ex.events.count("adl") == 0

    ex.t = 2
    ex.set_index([VAULT_CRASHES[1]])
    ex.liquidate()

    assert pools.equity_usd(pools.vault) == pytest.approx(850.0)
    assert ex.accounts.qty_lots[pools.vault, 0] == 10  # took nothing more
    adl = ex.events.frame("adl")
    assert (adl.account.tolist(), adl.qty.sum()) == ([short], 10.0)
    assert adl.price_usd.tolist() == pytest.approx([85.0])
    liq = ex.events.frame("liquidation")
    assert set(liq[liq.kind == "vault"].t) == {1}
    assert ex.equity_usd()[[a, b]] == pytest.approx([0.0, 0.0], abs=1e-9)
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# hedge breaks
# ---------------------------------------------------------------------------------------------
def test_adl_on_the_short_leg_of_a_spot_hedge_is_logged_as_a_hedge_break():
    """Setup: perp 0 ↔ spot 0 (default mapping). HEDGER holds 10 coins spot and is short
    10 perp @ 100 (delta 0, gross 2,000: hedged); PLAIN is short 10 perp only. Two longs of
    10 @ 100 (deposit 50 each, 20x) are their counterparties. Mark 90: both longs are
    bankrupt (equity −50, BP 95); the queue closes both shorts at 95 (equal scores).

    HEDGER's short goes: delta = 10·90 spot, gross 900 → no longer hedged → is_hedge_break.
    PLAIN was never hedged → False.
    """
    ex = _exchange([_market()], [ENTRY], spots=(SpotSpec("TEST", 0.01, 1.0),))
    hedger, plain = ex.open_account(1_000.0), ex.open_account(1_000.0)
    ex.deposit_spot(hedger, 0, 10.0)
    for short in (hedger, plain):
        _trade(ex, ex.open_account(50.0), short, 10.0, ENTRY, long_leverage=20.0)
    policy = ex.liquidator.policy
    assert policy.is_hedged(hedger) and not policy.is_hedged(plain)
    ex.set_index([CRASH])

    ex.liquidate()

    adl = ex.events.frame("adl").set_index("account")
    assert adl.loc[hedger, "is_hedge_break"]
    assert not adl.loc[plain, "is_hedge_break"]
    assert ex.accounts.spot_lots[hedger, 0] == 10  # the spot leg is untouched
    ex.check_invariants()


def test_adl_on_one_leg_of_a_many_asset_basis_book_is_a_hedge_break():
    """A basis book hedged asset by asset: a broken leg is a break even when the account's
    total delta stays inside the band.

    Setup: five perps i ↔ spots i. BASIS holds 10 coins of each spot and is short 10 of each
    perp @ 100. Only in market 0 a long of 10 @ 100 (deposit 50, 20x) faces it; the other
    four shorts face rich longs. Index 90 in market 0: the long is bankrupt (BP 95), the
    queue closes BASIS's short 0 at 95.

    After: spot 0 is naked. Account: delta 10·90 = 900, gross 900 + 4·1,000 spot + 4·1,000
    perp = 8,900 → 10.1 % ≤ 20 %: still hedged as a whole. Asset 0: delta 900 = gross 900 →
    un-hedged: is_hedge_break. (Bug: only the account's delta was checked → False.)
    """
    n = 5
    spots = tuple(SpotSpec(f"S{i}", 0.01, 1.0) for i in range(n))
    ex = _exchange([_market(f"P{i}") for i in range(n)], [ENTRY] * n, spots=spots)
    basis = ex.open_account(RICH_USD)
    _trade(ex, ex.open_account(50.0), basis, 10.0, ENTRY, long_leverage=20.0)
    for i in range(n):
        ex.deposit_spot(basis, i, 10.0)
        if i:
            _trade(ex, ex.open_account(RICH_USD), basis, 10.0, ENTRY, market=i)
    ex.set_index([CRASH] + [ENTRY] * (n - 1))

    ex.liquidate()

    adl = ex.events.frame("adl")
    assert adl.account.tolist() == [basis] and adl.market.tolist() == [0]
    assert adl.is_hedge_break.tolist() == [True]
    assert ex.liquidator.policy.is_hedged(basis)  # the account as a whole still is
    ex.check_invariants()


# ---------------------------------------------------------------------------------------------
# regressions: pro-rata wealth accounting
# ---------------------------------------------------------------------------------------------
def test_regression_pro_rata_wealth_haircut_equals_the_deficit_of_a_two_market_account():
    """Setup: markets A, B at 100, empty pool. Trader X (deposit 100, cross): long 10 A at
    20x, short 2 B at 20x. Marks A 85, B 80: UPnL −150 and +40, equity 100 − 150 + 40 = −10.

    The winners must give up exactly the deficit, 10 (= the needed budget logged on the
    haircuts: 8.42 on A + 1.58 on B with BPs split by notional 850 : 160).
    Bug: AdlProRata.absorb haircuts −wallet after each leg is closed at the mark; after A it
    is 100 − 150 = −50, so 50 is taken from the A winner before B's +40 is booked; the extra
    40 then goes to the pool as "residual" margin.
    """
    ex = _exchange([_market("A"), _market("B")], [ENTRY, ENTRY], policy="adl_pro_rata")
    x = ex.open_account(100.0)
    a_short, b_long = ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    _trade(ex, x, a_short, 10.0, ENTRY, long_leverage=20.0)
    _trade(ex, b_long, x, 2.0, ENTRY, market=1, short_leverage=20.0)
    ex.set_index([85.0, 80.0])

    ex.liquidate()

    ex.check_invariants()
    cuts = ex.events.frame("haircut")
    assert cuts.needed_usd.sum() == pytest.approx(10.0)
    assert cuts.haircut_usd.sum() == pytest.approx(10.0)
    assert ex.liquidator.pools.balances_usd() == pytest.approx([0.0], abs=1e-9)
    assert ex.equity_usd()[x] == pytest.approx(0.0, abs=1e-9)


def test_regression_pro_rata_wealth_haircuts_winners_for_an_isolated_deficit():
    """Setup: empty pool. Trader X (deposit 1,000): isolated long 10 @ 100 at 10x (margin
    100, wallet 900). Mark 85: isolated equity 100 − 150 = −50, BP 90. A rich short is the
    only winner (profit 150).

    Expected: the 50 deficit is haircut from the short and X's wallet stays at 900 (an
    isolated position loses its margin, never the wallet).
    Bug: AdlProRata.absorb sizes the haircut by −wallet, which is 900 − 50 > 0, so nothing is
    haircut; the wallet pays the 50 and a 50 USD bad_debt event is logged although the account
    paid it.
    """
    ex = _exchange([_market()], [ENTRY], policy="adl_pro_rata")
    x, short = ex.open_account(1_000.0), ex.open_account(RICH_USD)
    _trade(ex, x, short, 10.0, ENTRY, long_isolated=True)
    assert ex.accounts.collateral_usd[x] == 900.0
    ex.set_index([85.0])

    ex.liquidate()

    ex.check_invariants()
    assert ex.accounts.qty_lots[x, 0] == 0
    assert ex.events.frame("haircut").haircut_usd.sum() == pytest.approx(50.0)
    assert ex.accounts.collateral_usd[x] == pytest.approx(900.0)
    assert ex.events.count("bad_debt") == 0


# ---------------------------------------------------------------------------------------------
# regressions: who ADL may touch
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["adl_queue", "backstop_vault"])
def test_regression_queue_adl_with_a_pool_on_the_opposite_side_does_not_crash(policy):
    """Setup: pool 475, capacity ratio 1; no vault capital. Long A 10 @ 100 (deposit 50,
    20x) and short S 10 @ 100 (deposit 50, 20x) against rich counterparties.

    Step 1, mark 95.25: A (equity 2.5, BP 95) → the pool takes 475/95 = 5 coins, the queue
    closes 5 against S (highest score). Pool: long 5 @ 95, full.
    Step 2, mark 116: S is short 5 with wallet 75 → equity 75 − 80 = −5, BP 115. The pool
    is full (equity 475 + 5·21 = 580 = its notional) so the queue runs over the longs:
    the rich long and the pool. Users come first, so the rich long is closed at 115.
    Regression: Policy.scores gave system rows a score of −inf, which adl.queue_allocation
    rejects: ValueError("scores must be finite, got -inf").
    """
    ex = _exchange(
        [_market()],
        [ENTRY],
        policy=policy,
        pool_initial_usd=475.0,
        pool_max_position_ratio=1.0,
    )
    pool = ex.liquidator.pools.account(0)
    a, s = ex.open_account(50.0), ex.open_account(50.0)
    rich_long, rich_short = ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    _trade(ex, a, rich_short, 10.0, ENTRY, long_leverage=20.0)
    _trade(ex, rich_long, s, 10.0, ENTRY, short_leverage=20.0)
    ex.set_index([95.25])
    ex.liquidate()
    assert ex.accounts.qty_lots[[pool, s], 0].tolist() == [5, -5]
    first_adl = ex.events.count("adl")
    ex.set_index([116.0])

    ex.liquidate()

    ex.check_invariants()
    adl = ex.events.frame("adl").iloc[first_adl:]
    assert adl.account.tolist() == [rich_long]
    assert ex.accounts.qty_lots[pool, 0] == 5
    assert ex.equity_usd()[s] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("policy", CONTRACT_SPACE)
def test_regression_adl_against_a_profitable_leg_cannot_bankrupt_its_counterparty(policy):
    """Setup: markets A, B at 100, empty pool, no vault capital. X (deposit 50, 40x) is short
    10 A and short 10 B. LA (rich) is long 10 A; LB (deposit 110, 10x) long 10 B.
    Marks A 120, B 90: X's UPnL −200 + 100, equity −50, so X is closed out in full.

    LB is a loser in B (equity 110 − 100 = 10 ≥ maintenance 9) and must not pay for X.
    Bug: _liquidate splits X's equity over both legs by notional (1,200 : 900), so the
    profitable B leg gets BP 90 − 50·(900/2,100)/10 = 87.86 < mark: LB's long is ADL'd at
    87.86, LB ends at 110 + 10·(87.86 − 100) = −11.43 with no position left and no bad_debt.
    """
    ex = _exchange([_market("A"), _market("B")], [ENTRY, ENTRY], policy=policy)
    x, la, lb = ex.open_account(50.0), ex.open_account(RICH_USD), ex.open_account(110.0)
    _trade(ex, la, x, 10.0, ENTRY, short_leverage=40.0)
    _trade(ex, lb, x, 10.0, ENTRY, market=1, short_leverage=40.0)
    ex.set_index([120.0, 90.0])

    ex.liquidate()

    ex.check_invariants()
    assert ex.accounts.qty_lots[x].tolist() == [0, 0]
    assert ex.equity_usd()[x] == pytest.approx(0.0, abs=1e-9)
    assert ex.equity_usd()[lb] >= 10.0 - 1e-9  # closed at a price no worse than the mark
    assert _user_equity(ex).min() >= -1e-6


def _first_in_permutation(first: int, n: int) -> int:
    """A seed whose `permutation(n)` starts with `first` (the liquidation processing order)."""
    return next(s for s in range(100) if np.random.default_rng(s).permutation(n)[0] == first)


@pytest.mark.parametrize("x_first", [True, False], ids=["X-processed-first", "Y-first"])
def test_regression_bankrupt_account_used_as_adl_counterparty_keeps_no_hidden_deficit(x_first):
    """Setup: markets A, B at 100, adl_queue, empty pool. X (deposit 50, 40x) is short 1 A
    and short 10 B; Y (deposit 5, 20x) is long 1 A, X's only counterparty in A; LB (rich) is
    long 10 B. Marks A 94, B 120.

    X: equity 50 + 6 − 200 = −144; Y: equity 5 − 6 = −1 (BP 95). Both are bankrupt; only LB
    holds profit, so it must end up paying the whole 145 and every user ends ≥ 0.
    Y first: Y is closed against X at 95 (Y → 0), X's deficit grows to 145 and its B leg is
    ADL'd against LB. X first (bug): X's A leg is ADL'd against Y, which then has no position
    left, is skipped by _liquidate and keeps its −1 (or worse) with no bad_debt event.
    """
    seed = _first_in_permutation(0 if x_first else 1, 2)
    ex = Exchange(
        [_market("A"), _market("B")],
        [ENTRY, ENTRY],
        liquidation=LiquidationConfig(
            pool_mode="shared", pool_initial_usd=0.0, partial_rule="none", policy="adl_queue"
        ),
        rng=np.random.default_rng(seed),
    )
    x, y, lb = ex.open_account(50.0), ex.open_account(5.0), ex.open_account(RICH_USD)
    assert x < y  # cross units are scanned in account order: X is unit 0, Y unit 1
    _trade(ex, y, x, 1.0, ENTRY, long_leverage=20.0, short_leverage=40.0)
    _trade(ex, lb, x, 10.0, ENTRY, market=1, short_leverage=40.0)
    ex.set_index([94.0, 120.0])

    ex.liquidate()

    ex.check_invariants()
    assert ex.accounts.qty_lots[[x, y]].tolist() == [[0, 0], [0, 0]]
    # Y first: everyone ends at 0 and LB pays the whole 145. X first: Y, closed against X
    # while bankrupt, keeps −1 — no longer hidden: it is logged as bad debt.
    negative = -np.minimum(ex.equity_usd()[[x, y]], 0.0).sum()
    logged = ex.events.frame("bad_debt").amount_usd.sum()
    assert negative == pytest.approx(logged, abs=1e-9)
    assert ex.equity_usd()[lb] == pytest.approx(RICH_USD + 200.0 - 145.0 + negative)


@pytest.mark.parametrize("policy", POLICIES)
def test_regression_a_pool_losing_past_its_equity_is_not_left_negative(policy):
    """`cascade-lab run cascade-demo` (experiments/scripted.py): the pool took lots over at
    bankruptcy prices, the index kept falling and it ended at −34.62 (socialized_loss:
    −18.39, after its last unwind) with no ADL and no bad debt (issue 16, defect 1). Now a
    pool below zero is bankrupt: its positions go to the policy at their bankruptcy price
    (socialized_loss claws the gap back), so no account is below zero unrecorded."""
    from experiments import scripted

    ex = scripted.run(policy, scripted.POOL_USD, seed=0)

    assert hidden_deficits(ex) == {}
    assert min(ex.liquidator.pools.balances_usd()) >= -1e-6


def test_regression_a_pool_flat_with_negative_cash_records_its_deficit_as_bad_debt():
    """Setup: fee-free perp at 1.00, pool 10 USD allowed 10x its equity, unwinds everything
    each step. A (deposit 10, 10x) is long 100 against S; no bids.
    Index 0.905: A's equity 10 − 9.5 = 0.5 < MM 0.905 → the pool takes the 100 coins over at
    BP = 0.905 − 0.5/100 = 0.90. Index 0.82, one bid of 100 at 0.78 (inside the 5 % band,
    0.82 · 0.95 = 0.779): the pool sells all 100 at 0.78, realising (0.78 − 0.90)·100 = −12,
    and is flat with cash 10 − 12 = −2. Nothing is left to deleverage: 2.00 is bad debt."""
    ex = _exchange(
        [_market()], [PRICE], pool_initial_usd=10.0, pool_max_position_ratio=10.0,
        pool_unwind_fraction=1.0,
    )  # fmt: skip
    a, s = ex.open_account(10.0), ex.open_account(RICH_USD)
    _trade(ex, a, s, 100.0, PRICE, long_leverage=10.0)
    pool = ex.liquidator.pools.accounts[0]
    ex.set_index([0.905])
    ex.liquidate()
    assert ex.accounts.qty_lots[pool, 0] == 100
    ex.set_index([0.82])
    ex.remark()
    maker = ex.open_account(RICH_USD)
    assert ex.submit(Order(maker, 0, BUY, 100.0, OrderKind.LIMIT, 0.78)).accepted

    ex.unwind_system_positions()

    ex.check_invariants()
    assert ex.accounts.qty_lots[pool, 0] == 0
    assert ex.accounts.collateral_usd[pool] == pytest.approx(-2.0, abs=1e-9)
    debt = ex.events.frame("bad_debt")
    assert debt.account.tolist() == [pool]
    assert debt.amount_usd.sum() == pytest.approx(2.0, abs=1e-9)
    assert hidden_deficits(ex) == {}


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("policy", ["adl_pro_rata", "socialized_loss"])
def test_regression_a_haircut_comes_out_of_profit_not_the_winners_wallet(policy, isolated):
    """Setup: fee-free perp, empty pool. W (deposit 22) is short 10 at 100 (50x: margin 20);
    at 21, L (deposit 42, 50x) buys 50 and R2 buys 950, both from V. Index 10.

    L: equity 42 − 50·(21 − 10) = −508, a deficit nobody's book takes. Winners' profit:
    W 10·(100 − 10) = 900, V 1,000·(21 − 10) = 11,000; the pro-rata haircut
    h = 508 / 11,900 takes 900·h = 38.42 from W (wealth-space ADL, or the socialised pool's
    clawback). W's wallet was 22 (cross) or 2 (isolated): taken from the wallet it went to
    −16.42 / −36.42 with no bad debt (issue 16, defects 2 and 7). Now the haircut lowers W's
    unrealised profit to 900 − 38.42 and leaves its wallet as it was."""
    ex = _exchange([_market()], [100.0], policy=policy)
    w, r = ex.open_account(22.0), ex.open_account(RICH_USD)
    assert ex.submit(Order(w, 0, SELL, 10.0, OrderKind.LIMIT, 100.0, leverage=50.0,
                           isolated=isolated)).accepted  # fmt: skip
    assert ex.submit(Order(r, 0, BUY, 10.0, OrderKind.LIMIT, 100.0)).filled_qty == 10.0
    wallet = float(ex.accounts.collateral_usd[w])
    assert wallet == pytest.approx(2.0 if isolated else 22.0)
    ex.set_index([21.0])
    ex.remark()
    loser, v, r2 = ex.open_account(42.0), ex.open_account(RICH_USD), ex.open_account(RICH_USD)
    _trade(ex, loser, v, 50.0, 21.0, long_leverage=50.0)
    _trade(ex, r2, v, 950.0, 21.0)
    ex.set_index([10.0])

    ex.liquidate()

    ex.check_invariants()
    cut = 900.0 * 508.0 / 11_900.0
    haircuts = ex.events.frame("haircut").set_index("account").haircut_usd
    assert haircuts[w] == pytest.approx(cut)
    assert ex.accounts.collateral_usd[w] == pytest.approx(wallet)
    assert ex.upnl_usd(w)[0] == pytest.approx(900.0 - cut)
    assert hidden_deficits(ex) == {}


def test_adl_of_a_unit_above_bankruptcy_hands_its_margin_to_the_winner_and_takes_nothing():
    """Setup: fee-free perp (MMR 1 %), empty pool, no bids. L (deposit 25, 40x) is long 10 at
    100 against S. Mark 98.4: L's equity 25 − 16 = 9 < MM 9.84, so L is liquidated while
    still above bankruptcy: BP = 98.4 − 9/10 = 97.5. The queue closes S's short at 97.5.

    Defect 5 (issue 16): this fill was logged with value taken 10·(97.5 − 98.4) = −9. Now,
    as Chitra (2025) measures: taken from the winner (vs a close at the mark) 0, deficit
    covered 0, and the margin handed to the winner q·(mark − BP) = 9, shown apart."""
    ex = _exchange([_market()], [ENTRY])
    loser, winner = ex.open_account(25.0), ex.open_account(RICH_USD)
    _trade(ex, loser, winner, 10.0, ENTRY, long_leverage=40.0)
    ex.set_index([98.4])

    ex.liquidate()

    ex.check_invariants()
    (row,) = ex.events.rows["adl"]
    assert (row.account, row.price_usd) == (winner, pytest.approx(97.5))
    assert row.value_taken_usd == row.needed_usd == 0.0
    assert row.margin_to_winner_usd == pytest.approx(9.0)
    summary = adl_summary(ex.events.rows["adl"], [], [])
    assert summary["adl_margin_to_winners_usd"] == pytest.approx(9.0)
    assert summary["adl_taken_usd"] == summary["adl_overshoot_usd"] == 0.0


def test_pool_capacity_is_per_symbol():
    """Setup: markets A, B at 100 (MMR 1 %), one shared pool of 1,000 allowed 1x its equity,
    no bids. L1 (deposit 25, 40x) long 9 A, L2 (deposit 25, 40x) long 5 B.
    A → 97: L1's equity 25 − 27 < 0: the pool takes 9 A at BP 97 + 2/9 = 97.22 (notional
    ≈ 873; pool equity 1,000 + 9·(97 − 97.22) = 998). B → 95.8 next: L2's equity
    25 − 21 = 4 < MM 4.79, BP 95.8 − 4/5 = 95; the pool's room in B is 1 × 998 − 0 held in
    B, so it takes all 5 B (475): no ADL. Before (issue 16, defect 6): capacity was gross
    over markets, room 998 − 873 ≈ 125, one lot, and ADL closed the other 4."""
    ex = _exchange([_market("A"), _market("B")], [ENTRY, ENTRY], pool_initial_usd=1_000.0,
                   pool_max_position_ratio=1.0)  # fmt: skip
    l1, l2, s = ex.open_account(25.0), ex.open_account(25.0), ex.open_account(RICH_USD)
    _trade(ex, l1, s, 9.0, ENTRY, long_leverage=40.0)
    _trade(ex, l2, s, 5.0, ENTRY, market=1, long_leverage=40.0)
    pool = ex.liquidator.pools.accounts[0]
    ex.set_index([97.0, ENTRY])
    ex.liquidate()
    assert ex.accounts.qty_lots[pool].tolist() == [9, 0]

    ex.set_index([97.0, 95.8])
    ex.liquidate()

    ex.check_invariants()
    assert ex.accounts.qty_lots[pool].tolist() == [9, 5]
    assert ex.events.count("adl") == 0


def _hyperliquid_exchange(vault_usd: float, **extra: object) -> Exchange:
    """Fee-free perp (MMR 1 %), no pool, a vault, Hyperliquid's path (HYPERLIQUID_PATH)."""
    return _exchange([_market()], [ENTRY], vault_initial_usd=vault_usd, **HYPERLIQUID_PATH,
                     **extra)  # fmt: skip


def test_hyperliquid_backstop_takes_a_unit_below_two_thirds_of_maintenance_whole():
    """Setup: vault 10,000; L (deposit 25, 40x) long 10 at 100 against S; a bid for 10 at 98.
    Mark 98.45: L's equity 25 − 15.5 = 9.5 < MM 9.845 but above 2/3 of it (6.56): the book
    takes the 10 at 98 (above BP 97.5). Mark 98.1: equity 6 < 2/3 · 9.81 = 6.54: the vault
    takes the whole position at BP = 98.1 − 6/10 = 97.5 whatever the book offers, and L ends
    at exactly 0 (Hyperliquid §5.2: the trader ends with 0, the vault keeps the margin)."""
    for mark, kind in ((98.45, "book"), (98.1, "vault")):
        ex = _hyperliquid_exchange(10_000.0)
        loser, winner = ex.open_account(25.0), ex.open_account(RICH_USD)
        _trade(ex, loser, winner, 10.0, ENTRY, long_leverage=40.0)
        maker = ex.open_account(RICH_USD)
        assert ex.submit(Order(maker, 0, BUY, 10.0, OrderKind.LIMIT, 98.0)).accepted
        vault = ex.liquidator.pools.vault
        ex.set_index([mark])

        ex.liquidate()

        ex.check_invariants()
        liq = ex.events.frame("liquidation")
        assert liq.kind.tolist() == [kind]
        assert ex.accounts.qty_lots[loser, 0] == 0
        assert ex.accounts.qty_lots[vault, 0] == (10 if kind == "vault" else 0)
        if kind == "vault":
            assert liq.bankruptcy_price_usd.iloc[0] == pytest.approx(97.5)
            assert ex.equity_usd()[loser] == pytest.approx(0.0, abs=1e-9)
        assert hidden_deficits(ex) == {}


def test_hyperliquid_adl_closes_winners_at_the_mark_and_leaves_the_deficit():
    """Setup: the vault is empty (0: below its floor, so no backstop), no pool, no bids.
    L (deposit 25, 40x) long 10 at 100 against S. Mark 97: L's equity 25 − 30 = −5, BP 97.5.
    ADL closes S's short at the mark 97, not at 97.5 (Hyperliquid §5.4): S takes nothing
    (value taken 0, no margin handed over) and L's deficit of 5 stays: recorded bad debt."""
    ex = _hyperliquid_exchange(0.0)
    loser, winner = ex.open_account(25.0), ex.open_account(RICH_USD)
    _trade(ex, loser, winner, 10.0, ENTRY, long_leverage=40.0)
    ex.set_index([97.0])

    ex.liquidate()

    ex.check_invariants()
    (row,) = ex.events.rows["adl"]
    assert (row.account, row.price_usd, row.value_taken_usd) == (winner, 97.0, 0.0)
    assert row.margin_to_winner_usd == 0.0
    assert ex.events.frame("bad_debt").amount_usd.sum() == pytest.approx(5.0)
    assert ex.equity_usd()[winner] == pytest.approx(RICH_USD + 30.0)
    assert hidden_deficits(ex) == {}


def test_a_backstop_ratio_needs_the_vault_policy():
    with pytest.raises(ValueError, match=r"backstop_equity_ratio=0\.5 needs liquidation\.policy"):
        LiquidationConfig(backstop_equity_ratio=0.5, policy="adl_queue")


def _hedger_and_naked(policy: str, *, replay: bool = False):
    """Setup: fee-free perp with a spot book, empty pool, no bids. H (10 coins of spot, a
    basis trade) and N (naked) each sell 5 to L (deposit 25, 40x) and 5 to a rich R, both at
    100: each winner is short 10; H at 10x, N at 2x. Then the mark goes to 97: L's equity
    25 − 30 < 0, the book is empty, its 10 lots go to ADL. Returns (exchange, H, N)."""
    spot = SpotSpec("TEST", tick_size=0.01, lot_size=1.0)
    ex = _exchange([_market()], [ENTRY], (spot,), policy=policy, adl_replay=replay)
    hedger, naked = ex.open_account(RICH_USD / 10), ex.open_account(RICH_USD)
    ex.deposit_spot(hedger, 0, 10)
    loser = ex.open_account(25.0)
    for winner, lev in ((hedger, 10.0), (naked, 2.0)):
        assert ex.submit(Order(winner, 0, SELL, 5.0, OrderKind.LIMIT, ENTRY, leverage=lev)).accepted
    assert (
        ex.submit(Order(loser, 0, BUY, 10.0, OrderKind.LIMIT, ENTRY, leverage=40.0)).filled_qty
        == 10.0
    )
    rest = ex.open_account(RICH_USD)
    for winner in (hedger, naked):
        assert ex.submit(Order(winner, 0, SELL, 5.0, OrderKind.LIMIT, ENTRY)).accepted
    assert (
        ex.submit(Order(rest, 0, BUY, 10.0, OrderKind.LIMIT, ENTRY, leverage=2.0)).filled_qty
        == 10.0
    )
    ex.set_index([97.0])
    ex.liquidate()
    ex.check_invariants()
    return ex, hedger, naked


@pytest.mark.parametrize(("policy", "broken"), [("adl_queue", 1), ("adl_portfolio", 0)])
def test_the_portfolio_aware_queue_takes_a_hedge_last(policy, broken):
    """Both winners gain the same per lot and H is more levered: the queue (BitMEX score)
    closes H's short, a hedge break; the portfolio-aware queue closes N's naked short and
    leaves H's hedge whole, N (the other winner) paying for it (`_hedger_and_naked`)."""
    ex, hedger, naked = _hedger_and_naked(policy)

    adl = ex.events.frame("adl")
    assert adl.qty.sum() == 10.0
    assert int(adl.is_hedge_break.sum()) == broken
    assert set(adl.account) == ({hedger} if broken else {naked})
    assert hidden_deficits(ex) == {}


@pytest.mark.parametrize("policy", ["adl_queue", "adl_portfolio"])
def test_the_replay_allocates_the_same_shortfall_both_ways_and_moves_nothing(policy):
    """The same 10 lots (`_hedger_and_naked`), replayed: the queue would close H's 10 lots,
    all hedged (H's net delta 10·97 − 10·97 = 0, so 0 naked lots), and break H's hedge; the
    portfolio-aware queue N's 10 naked lots, breaking nothing. Shifted onto N: 10 lots · 1
    coin · 97 = 970 USD of notional, and the value the ADL price takes on them, equal to
    what the queue run took from H. The run's own closes are those of the run without it."""
    ex, _, _ = _hedger_and_naked(policy, replay=True)
    plain, _, _ = _hedger_and_naked(policy)

    (row,) = ex.events.rows["adl_replay"]
    assert (row.lots, row.queue_hedged_lots, row.portfolio_hedged_lots) == (10, 10, 0)
    assert (row.queue_breaks, row.portfolio_breaks) == (1, 0)
    assert row.shifted_usd == pytest.approx(970.0)
    queue_run, _, _ = _hedger_and_naked("adl_queue")
    assert row.shifted_taken_usd == pytest.approx(
        queue_run.events.frame("adl").value_taken_usd.sum()
    )
    assert ex.events.rows["adl"] == plain.events.rows["adl"]
    assert plain.events.rows["adl_replay"] == []


def _assert_adl_signs(ex: Exchange) -> None:
    """Every ADL fill takes ≥ 0 and exactly the deficit it covers, or hands margin ≥ 0 to
    the winner; a haircut takes ≥ 0 and no more than the budget it was needed for."""
    for row in ex.events.rows["adl"]:
        assert row.value_taken_usd >= 0 and row.margin_to_winner_usd >= 0
        assert row.value_taken_usd == row.needed_usd
        assert row.value_taken_usd == 0 or row.margin_to_winner_usd == 0
    for row in ex.events.rows["haircut"]:
        assert 0 <= row.haircut_usd <= row.needed_usd * (1 + 1e-9)


# ---------------------------------------------------------------------------------------------
# property: random books, positions and crashes, every policy
# ---------------------------------------------------------------------------------------------
H_ENTRY = 100.0
HYPERLIQUID_PATH = {
    "policy": "backstop_vault", "backstop_equity_ratio": 2 / 3, "adl_price": "mark",
    "adl_score": "hyperliquid", "residual_to_pool": 0.0,
}  # fmt: skip


@dataclass(frozen=True)
class World:
    """A random market: who holds what, the book after the move, and the engine settings.

    legs: per trader, (market, side, qty, leverage, isolated) tuples, opened at H_ENTRY
    against a fresh 2x counterparty; buffer: deposit = initial margin × buffer + 1 USD;
    levels: (offset in 0.1 % steps, coins) quoted on both sides of each new index;
    moves: relative index move of each of the two perps.
    """

    policy: str
    partial_rule: str
    pool_mode: str
    pool_usd: float
    vault_usd: float
    legs: tuple[tuple[tuple[int, int, int, float, bool], ...], ...]
    buffers: tuple[float, ...]
    levels: tuple[tuple[int, int], ...]
    moves: tuple[float, float]
    unwinds: int
    hyperliquid: bool = False
    """Hyperliquid's path (model/venues.py): vault backstop below 2/3 of maintenance, ADL at
    the mark ranked by Hyperliquid's index (the policy drawn is then backstop_vault)."""


_legs = st.tuples(
    st.integers(0, 1),
    st.sampled_from((BUY, SELL)),
    st.integers(1, 40),
    st.sampled_from((5.0, 10.0, 20.0, 40.0)),
    st.booleans(),
)


@st.composite
def worlds(draw) -> World:
    legs = tuple(
        draw(st.lists(st.lists(_legs, min_size=1, max_size=2).map(tuple), min_size=1, max_size=6))
    )
    return World(
        policy=draw(st.sampled_from(POLICIES)),
        partial_rule=draw(st.sampled_from(("binance", "chunks", "none"))),
        pool_mode=draw(st.sampled_from(("shared", "per_market", "grouped"))),
        pool_usd=draw(st.sampled_from((0.0, 50.0, 5_000.0))),
        vault_usd=draw(st.sampled_from((0.0, 300.0, 3_000.0))),
        legs=legs,
        buffers=tuple(draw(st.floats(1.0, 1.3)) for _ in legs),
        levels=tuple(draw(st.lists(st.tuples(st.integers(1, 60), st.integers(1, 30)), max_size=8))),
        moves=tuple(  # type: ignore[arg-type]
            draw(st.sampled_from((1, -1))) * draw(st.sampled_from((0.03, 0.1, 0.2, 0.35, 0.5)))
            for _ in range(2)
        ),
        unwinds=draw(st.integers(0, 3)),
        hyperliquid=draw(st.booleans()),
    )


def _build_world(w: World) -> Exchange:
    """Two perps (one flat bracket, one small-cap table), the traders, then the move."""
    perps = [
        MarketSpec(
            "FLATUSDT",
            0.01,
            1.0,
            TierTable((0.0,), (0.01,), (50.0,)),
            liquidation_fee=0.005,
            mark_rule="index",
        ),
        small_cap_perp("TAILUSDT", tick_size=0.01, mark_rule="index"),
    ]
    path = HYPERLIQUID_PATH if w.hyperliquid else {"policy": w.policy}
    ex = _exchange(
        perps,
        [H_ENTRY, H_ENTRY],
        **path,
        partial_rule=w.partial_rule,
        pool_mode=w.pool_mode,
        pool_initial_usd=w.pool_usd,
        vault_initial_usd=w.vault_usd,
        chunk_threshold_usd=500.0,
    )
    for legs, buffer in zip(w.legs, w.buffers, strict=True):
        margin = sum(qty * H_ENTRY / lev for _, _, qty, lev, _ in legs)
        trader = ex.open_account(margin * buffer + 1.0)
        for k, side, qty, lev, iso in legs:
            other = ex.open_account(qty * H_ENTRY)
            ex.submit(Order(other, k, -side, float(qty), OrderKind.LIMIT, H_ENTRY, leverage=2.0))
            ex.submit(
                Order(trader, k, side, float(qty), OrderKind.LIMIT, H_ENTRY, leverage=lev,
                      isolated=iso)
            )  # fmt: skip
    index = [H_ENTRY * (1 + m) for m in w.moves]
    ex.set_index(index)
    maker = ex.open_account(1e7)
    for k, price in enumerate(index):
        for offset, qty in w.levels:
            for side in (BUY, SELL):
                quote = round(price * (1 - side * offset / 1_000), 2)
                ex.submit(Order(maker, k, side, float(qty), OrderKind.LIMIT, quote))
    return ex


# Shrunk counterexamples found by this property (kept so that the failures are deterministic):
_ISOLATED_CHUNK = World(  # isolated partial sells below its BP, the wallet pays (test_liquidation)
    "adl_queue", "chunks", "shared", 0.0, 0.0,
    (((0, BUY, 1, 5.0, False),), ((0, BUY, 11, 5.0, True),)), (1.0, 1.0), ((1, 1),),
    (-0.5, 0.0), 0,
)  # fmt: skip
_BANKRUPT_COUNTERPARTY = World(  # ADL closes a bankrupt account's profitable leg against
    # a loser that is bankrupt itself (and is pushed further below zero by the split BP)
    "adl_queue", "none", "shared", 0.0, 0.0,
    (((0, SELL, 12, 40.0, False), (1, SELL, 3, 10.0, False)), ((1, BUY, 3, 40.0, False),)),
    (1.0, 1.0), (), (0.2, -0.03), 0,
)  # fmt: skip
_VAULT_OPPOSITE = World(  # the vault's long is an ADL candidate (was: -inf score, ValueError)
    "backstop_vault", "binance", "shared", 0.0, 3_000.0,
    (
        ((0, BUY, 37, 40.0, False), (1, BUY, 1, 5.0, False)),
        *(((0, BUY, 1, 5.0, False),),) * 4,
        ((0, BUY, 1, 5.0, False), (1, SELL, 16, 40.0, False)),
    ),
    (1.25, 1.0, 1.0, 1.0, 1.0, 1.0), (), (-0.35, 0.2), 0,
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(w=worlds())
@example(w=_ISOLATED_CHUNK)
@example(w=_BANKRUPT_COUNTERPARTY)
@example(w=_VAULT_OPPOSITE)
def test_random_crashes_keep_every_invariant_under_every_policy(w):
    """After liquidate() and a few unwind + liquidate passes: money and open interest balance,
    no account (user, pool or vault) is below zero beyond the bad debt recorded against it,
    and under the contract-space policies no user ends below zero."""
    ex = _build_world(w)
    ex.check_invariants()

    ex.liquidate()
    ex.check_invariants()
    assert hidden_deficits(ex) == {}
    for _ in range(w.unwinds):
        ex.unwind_system_positions()
        assert hidden_deficits(ex) == {}
        ex.liquidate()
        ex.check_invariants()
        assert hidden_deficits(ex) == {}

    assert np.isfinite(ex.accounts.collateral_usd).all()
    _assert_adl_signs(ex)
    if w.policy in CONTRACT_SPACE and not w.hyperliquid:
        assert _user_equity(ex).min() >= -1e-6
