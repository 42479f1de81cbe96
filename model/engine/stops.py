"""Resting stop-market orders, checked against the mark price in one vectorised pass."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from model.engine.orders import Order
from model.engine.types import FloatArray, OrderKind


class StopBook:
    """Stop-market orders waiting for their trigger.

    A sell stop fires when mark ≤ trigger, a buy stop when mark ≥ trigger (Binance
    STOP_MARKET with workingType MARK_PRICE); a fired stop is sent as a market order.
    Arrays grow by doubling (adding a stop is amortised O(1)); each account's stop ids are
    indexed, so cancelling an account's stops does not walk the whole book.
    """

    def __init__(self) -> None:
        self._orders: list[Order | None] = []
        self._market = np.zeros(16, dtype=np.int64)
        self._side = np.zeros(16, dtype=np.int64)
        self._trigger = np.zeros(16)
        self._live = np.zeros(16, dtype=bool)
        self._by_account: dict[int, list[int]] = {}
        self._n_live = 0

    def __len__(self) -> int:
        return self._n_live

    def add(self, order: Order) -> int:
        """Store a stop order; return its stop id."""
        i = len(self._orders)
        if i == len(self._live):
            for name in ("_market", "_side", "_trigger", "_live"):
                old = getattr(self, name)
                new = np.zeros(2 * len(old), dtype=old.dtype)
                new[:i] = old
                setattr(self, name, new)
        self._orders.append(order)
        self._market[i] = order.market
        self._side[i] = order.side
        self._trigger[i] = float(order.price_usd)
        self._live[i] = True
        self._by_account.setdefault(order.account, []).append(i)
        self._n_live += 1
        return i

    def cancel_account(self, account: int) -> int:
        """Cancel every live stop of an account; return how many."""
        hits = [i for i in self._by_account.pop(account, ()) if self._orders[i] is not None]
        for i in hits:
            self._orders[i] = None
        self._live[hits] = False
        self._n_live -= len(hits)
        return len(hits)

    def pop_triggered(self, mark_usd: FloatArray) -> list[Order]:
        """Remove and return the stops whose trigger the mark has reached, as market orders."""
        if not self._n_live:
            return []
        n = len(self._orders)
        side, trigger = self._side[:n], self._trigger[:n]
        mark = mark_usd[self._market[:n]]
        hit = self._live[:n] & (((side < 0) & (mark <= trigger)) | ((side > 0) & (mark >= trigger)))
        fired = []
        for i in np.flatnonzero(hit).tolist():
            fired.append(replace(self._orders[i], kind=OrderKind.MARKET, price_usd=None))
            self._orders[i] = None
        self._live[:n][hit] = False
        self._n_live -= len(fired)
        return fired
