"""A scripted cascade on the bare engine: a thin long-tail book, crowded 50x longs, a 12 % drop.

Shows the liquidation engine at work without agents: liquidations drain the book, the
insurance pool runs dry, and the chosen loss-absorption policy fires.
"""

from __future__ import annotations

import numpy as np

from model.exchange import Exchange
from model.orders import Order
from model.risk_config import LiquidationConfig
from model.specs import small_cap_perp
from model.types import OrderKind

PRICE_USD = 1.0
CRASH = 0.12
N_LONGS = 40


def build(policy: str = "adl_queue", pool_usd: float = 300.0, seed: int = 0) -> Exchange:
    """Long-tail perp at $1: a thin maker ladder, 40 leveraged longs, 40 shorts of 3x."""
    spec = small_cap_perp("TAILUSDT", mark_rule="index")
    cfg = LiquidationConfig(
        policy=policy,
        pool_mode="shared",
        pool_initial_usd=pool_usd,
        vault_initial_usd=2_000.0,
        partial_rule="none",
    )
    ex = Exchange([spec], [PRICE_USD], liquidation=cfg, rng=np.random.default_rng(seed))
    maker = ex.open_account(1_000_000.0)
    for i in range(1, 31):  # ±0.1 %-spaced ladder, 1,000 coins a level
        ex.submit(Order(maker, 0, -1, 1_000.0, OrderKind.LIMIT, round(PRICE_USD + i * 0.001, 4)))
        ex.submit(Order(maker, 0, 1, 1_000.0, OrderKind.LIMIT, round(PRICE_USD - i * 0.001, 4)))
    rng = np.random.default_rng(seed)
    for _ in range(N_LONGS):
        lev = float(rng.choice([10, 20, 50]))
        long_, short = ex.open_account(100.0), ex.open_account(2_000.0)
        qty = float(round(100.0 * lev * 0.95 / PRICE_USD))
        ex.submit(Order(short, 0, -1, qty, OrderKind.LIMIT, PRICE_USD, leverage=3.0))
        ex.submit(Order(long_, 0, 1, qty, OrderKind.LIMIT, PRICE_USD, leverage=lev))
    return ex


def run(policy: str = "adl_queue", pool_usd: float = 300.0, seed: int = 0):
    """Drop the index by CRASH in three steps, liquidating after each; return the exchange."""
    ex = build(policy, pool_usd, seed)
    for t, drop in enumerate((0.04, 0.08, CRASH), start=1):
        ex.t = t
        ex.set_index([PRICE_USD * (1 - drop)])
        ex.liquidate()
        ex.check_invariants()
    return ex
