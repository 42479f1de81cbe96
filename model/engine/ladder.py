"""A maker's ladder, fitted to the grid, the book and the budget before it rests."""

from __future__ import annotations

import math

from model.engine.specs import MarketSpec, SpotSpec


def fit_ladder(
    spec: MarketSpec | SpotSpec,
    is_perp: bool,
    leverage: float,
    side: int,
    levels: tuple[tuple[float, float], ...],
    best: int | None,
    budget: float,
    coins: int,
) -> tuple[list[tuple[int, int]], list[float], int]:
    """Return the (lots, ticks) and costs of one side's levels that fit, and coins left.

    Notes:
        ticks = floor(price / tick + 1e-9) (bids) or ceil(price / tick − 1e-9) (asks),
        lots = int(qty / lot + 1e-9); levels off the grid's positive range or crossing
        `best` are skipped. cost = lots · lot · ticks · tick / leverage (perp),
        × (1 + taker fee) (spot bids), 0 for spot asks, whose lots are clipped to `coins`;
        the first level whose cost exceeds what is left of `budget` ends the ladder.
    """
    tick, lot = spec.tick_size, spec.lot_size
    buy_cost = 1 + spec.taker_fee if not is_perp else None
    room = budget
    rests: list[tuple[int, int]] = []
    costs: list[float] = []
    for price, qty in levels:
        ratio = price / tick  # 1e-9 absorbs float error of n·tick
        ticks = math.floor(ratio + 1e-9) if side > 0 else math.ceil(ratio - 1e-9)
        lots = int(qty / lot + 1e-9)
        if ticks <= 0 or lots <= 0 or (best is not None and side * (ticks - best) >= 0):
            continue
        notional = lots * lot * ticks * tick
        if is_perp:
            cost = notional / leverage
        elif side > 0:
            cost = notional * buy_cost
        else:
            lots, cost = min(lots, coins), 0.0
            coins -= lots
        if lots <= 0 or cost > room:
            break
        room -= cost
        rests.append((lots, ticks))
        costs.append(cost)
    return rests, costs, coins
