"""Resting stop-market orders, checked against the mark price in one vectorised pass."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.orders import Order
from model.types import FloatArray, OrderKind


class StopBook:
    """Stop-market orders waiting for their trigger.

    A sell stop fires when mark ≤ trigger, a buy stop when mark ≥ trigger (Binance
    STOP_MARKET with workingType MARK_PRICE); a fired stop is sent as a market order.
    """

    def __init__(self) -> None:
        self._orders: list[Order | None] = []
        self._market = np.zeros(0, dtype=np.int64)
        self._side = np.zeros(0, dtype=np.int64)
        self._trigger = np.zeros(0)
        self._live = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return int(self._live.sum())

    def add(self, order: Order) -> int:
        """Store a stop order; return its stop id."""
        self._orders.append(order)
        self._market = np.append(self._market, order.market)
        self._side = np.append(self._side, order.side)
        self._trigger = np.append(self._trigger, float(order.price_usd))
        self._live = np.append(self._live, True)
        return len(self._orders) - 1

    def cancel_account(self, account: int) -> int:
        """Cancel every live stop of an account; return how many."""
        hits = [i for i, o in enumerate(self._orders) if o is not None and o.account == account]
        for i in hits:
            self._orders[i] = None
        self._live[hits] = False
        return len(hits)

    def pop_triggered(self, mark_usd: FloatArray) -> list[Order]:
        """Remove and return the stops whose trigger the mark has reached, as market orders."""
        if not self._live.any():
            return []
        mark = mark_usd[self._market]
        hit = self._live & (
            ((self._side < 0) & (mark <= self._trigger))
            | ((self._side > 0) & (mark >= self._trigger))
        )
        fired = []
        for i in np.flatnonzero(hit):
            fired.append(replace(self._orders[i], kind=OrderKind.MARKET, price_usd=None))
            self._orders[i] = None
        self._live[hit] = False
        return fired
