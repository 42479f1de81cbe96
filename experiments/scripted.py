"""A scripted cascade on the bare engine: a thin long-tail book, crowded 50x longs, a 12 % drop.

Shows the liquidation engine at work without agents: liquidations drain the book, the
insurance pool runs dry, and the chosen loss-absorption policy fires.
"""

from __future__ import annotations

import numpy as np

from model.engine.exchange import Exchange
from model.engine.orders import Order
from model.engine.risk_config import LiquidationConfig
from model.engine.specs import small_cap_perp
from model.engine.types import OrderKind

PRICE_USD = 1.0
CRASH = 0.12
N_LONGS = 40
POOL_USD = 100.0
POOL_CAPACITY = 10.0  # the pool may hold 10x its equity (Binance: 1x), so it visibly runs dry


def build(policy: str = "adl_queue", pool_usd: float = POOL_USD, seed: int = 0) -> Exchange:
    """Long-tail perp at $1: a thin maker ladder, 40 leveraged longs, 40 shorts of 3x."""
    spec = small_cap_perp("TAILUSDT", mark_rule="index")
    cfg = LiquidationConfig(
        policy=policy,
        pool_mode="shared",
        pool_initial_usd=pool_usd,
        vault_initial_usd=2_000.0,
        partial_rule="none",
        pool_max_position_ratio=POOL_CAPACITY,
    )
    ex = Exchange([spec], [PRICE_USD], liquidation=cfg, rng=np.random.default_rng(seed))
    maker = ex.open_account(1_000_000.0)
    for i in range(1, 21):  # ±0.1 %-spaced ladder, 1,000 coins a level, then a thin tail
        ex.submit(Order(maker, 0, -1, 1_000.0, OrderKind.LIMIT, round(PRICE_USD + i * 0.001, 4)))
        ex.submit(Order(maker, 0, 1, 1_000.0, OrderKind.LIMIT, round(PRICE_USD - i * 0.001, 4)))
    for i in range(3, 16):  # 1 %-spaced bids of 300 coins from −3 % to −15 %
        ex.submit(Order(maker, 0, 1, 300.0, OrderKind.LIMIT, round(PRICE_USD * (1 - i / 100), 4)))
    rng = np.random.default_rng(seed)
    for _ in range(N_LONGS):
        lev = float(rng.choice([10, 20, 50]))
        long_, short = ex.open_account(100.0), ex.open_account(2_000.0)
        qty = float(round(100.0 * lev * 0.95 / PRICE_USD))
        ex.submit(Order(short, 0, -1, qty, OrderKind.LIMIT, PRICE_USD, leverage=3.0))
        ex.submit(Order(long_, 0, 1, qty, OrderKind.LIMIT, PRICE_USD, leverage=lev))
    return ex


def crash_steps(ex: Exchange):
    """Drop the index by CRASH in three one-minute steps, liquidating after each; yield t."""
    for t, drop in enumerate((0.04, 0.08, CRASH), start=1):
        ex.t = t
        ex.set_index([PRICE_USD * (1 - drop)])
        ex.liquidate()
        ex.unwind_system_positions()
        ex.check_invariants()
        yield t


def run(policy: str = "adl_queue", pool_usd: float = POOL_USD, seed: int = 0) -> Exchange:
    """Build the scene, run the whole crash and return the exchange."""
    ex = build(policy, pool_usd, seed)
    for _ in crash_steps(ex):
        pass
    return ex


def step_table(policy: str = "adl_queue", pool_usd: float = POOL_USD, seed: int = 0):
    """One row per crash step: prices, liquidations by kind, ADL, pool, depth left."""
    import pandas as pd

    ex = build(policy, pool_usd, seed)
    depth0 = ex.perp_books[0].depth_usd(0.05, side=1)
    rows = []
    for t in crash_steps(ex):
        liq = ex.events.frame("liquidation").query("t == @t")
        adl = ex.events.frame("adl").query("t == @t")
        cut = ex.events.frame("haircut").query("t == @t")
        by_kind = liq.groupby("kind").notional_usd.sum()
        rows.append(
            {
                "minute": t,
                "index_usd": ex.prices.index_usd[0],
                "accounts_liquidated": liq.account.nunique(),
                "rounds": int(liq["round"].max()) if len(liq) else 0,
                "book_usd": by_kind.get("book", 0.0) + by_kind.get("partial", 0.0),
                "pool_takeover_usd": by_kind.get("pool_takeover", 0.0),
                "policy_usd": by_kind.get(policy, 0.0),
                "adl_closes": len(adl),
                "adl_taken_usd": adl.value_taken_usd.sum(),
                "haircuts_usd": cut.haircut_usd.sum(),
                "pool_usd": ex.liquidator.pools.balances_usd()[0],
                "bid_depth_5pct_left": ex.perp_books[0].depth_usd(0.05, side=1) / depth0,
            }
        )
    return pd.DataFrame(rows)


def policy_table(pool_usd: float = POOL_USD, seed: int = 0):
    """The same crash under every loss-absorption policy, side by side."""
    import pandas as pd

    from model.engine.risk_config import POLICIES

    rows = []
    for policy in POLICIES:
        ex = run(policy, pool_usd, seed)
        liq, adl = ex.events.frame("liquidation"), ex.events.frame("adl")
        rows.append(
            {
                "policy": policy,
                "liquidated_usd": liq.notional_usd.sum(),
                "adl_closes": len(adl),
                "adl_needed_usd": adl.needed_usd.sum(),
                "adl_taken_usd": adl.value_taken_usd.sum(),
                "haircuts_usd": ex.events.frame("haircut").haircut_usd.sum(),
                "hedge_breaks": int(adl.is_hedge_break.sum()),
                "bad_debt_usd": ex.events.frame("bad_debt").amount_usd.sum(),
                "pool_end_usd": ex.liquidator.pools.balances_usd()[0],
                "min_user_equity_usd": ex.equity_usd()[~ex.is_system].min(),
            }
        )
    return pd.DataFrame(rows)
