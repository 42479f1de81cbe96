"""What resting orders hold back: margin (perp orders, spot bids) and coins (spot asks).

A resting order reserves `reserve per lot × lots resting` USD of its account's available
balance (perp: price / leverage per lot; spot bid: price × (1 + taker fee)), or its coins for
a spot ask. Each fill or cancel releases its share; float dust below 1e-9 USD is cleared.
This is not money (nothing moves between accounts), so it lives beside the ledger.
"""

from __future__ import annotations

import numpy as np

from model.engine.ledger import resize
from model.engine.types import FloatArray, Venue

DUST_USD = 1e-9


class OrderReserves:
    """Resting orders by (venue, market, order id) and each account's reserves.

    Args:
        n_spot: Number of spot assets.
    """

    def __init__(self, n_spot: int) -> None:
        # (venue, market, order id) -> [account, side, reserve per lot, lots resting]
        self.orders: dict[tuple, list] = {}
        self._margin_usd = np.zeros(0)
        self._spot_lots = np.zeros((0, n_spot), dtype=np.int64)
        self.n = 0

    def grow(self, n: int) -> None:
        """Room for `n` accounts."""
        self._margin_usd = resize(self._margin_usd, n, 0.0)
        self._spot_lots = resize(self._spot_lots, n, 0)
        self.n = n

    @property
    def margin_usd(self) -> FloatArray:
        """Margin (USD) reserved by each account's resting orders."""
        return self._margin_usd[: self.n]

    @property
    def spot_lots(self) -> np.ndarray:
        """Spot lots reserved by each account's resting sell orders."""
        return self._spot_lots[: self.n]

    def margin_of(self, account: int) -> float:
        """Margin one account's resting orders hold back."""
        return float(self._margin_usd[account])

    def owner(self, key: tuple) -> int | None:
        """The account of a resting order (None if it holds no reserve)."""
        rec = self.orders.get(key)
        return None if rec is None else rec[0]

    # ------------------------------------------------------------------------- one order
    def remember(
        self, venue: Venue, market: int, oid: int, account: int, side: int, lots: int,
        reserve_per_lot: float,
    ) -> None:  # fmt: skip
        """Record a resting order and reserve its margin (perp, spot buy) or coins (spot sell)."""
        key = (venue, market, oid)
        self.orders[key] = [account, side, reserve_per_lot, 0]
        self._reserve(key, lots)

    def _reserve(self, key: tuple, lots: int) -> None:
        """Add `lots` (negative to release) to a resting order's reserve."""
        rec = self.orders[key]
        acct, side, per_lot = rec[0], rec[1], rec[2]
        rec[3] += lots
        margin = self._margin_usd  # the buffer: acct < n
        margin[acct] += lots * per_lot
        if key[0] == Venue.SPOT and side < 0:
            self._spot_lots[acct, key[1]] += lots
        if rec[3] <= 0:
            del self.orders[key]
            if abs(margin[acct]) < DUST_USD:
                margin[acct] = 0.0

    def forget(self, venue: Venue, market: int, oid: int, lots: int | None) -> None:
        """Release the reserve of `lots` of a resting order (all that is left when None)."""
        rec = self.orders.get((venue, market, oid))
        if rec is not None:
            self._reserve((venue, market, oid), -(rec[3] if lots is None else min(lots, rec[3])))

    # ------------------------------------------------------------------------ a ladder
    def release_ladder(self, acct: int, venue: Venue, m: int, cancelled: list[int]) -> float:
        """Release the reserves of `acct`'s cancelled orders in one book; return its margin
        still reserved.

        Each order's reserve is released as `forget` does, in Python floats (the same
        subtractions in the same order, float dust cleared after each).
        """
        orders, margin = self.orders, self._margin_usd
        held, released_lots = float(margin[acct]), 0
        is_spot = venue == Venue.SPOT
        for oid in cancelled:
            rec = orders.pop((venue, m, oid), None)
            if rec is None:  # nothing reserved
                continue
            if rec[0] != acct:  # another account's record: put it back, release it plainly
                orders[(venue, m, oid)] = rec
                margin[acct] = held
                self.forget(venue, m, oid, None)
                held = float(margin[acct])
                continue
            held += -rec[3] * rec[2]
            if is_spot and rec[1] < 0:
                released_lots += rec[3]
            if -DUST_USD < held < DUST_USD:
                held = 0.0
        margin[acct] = held
        if released_lots:
            self._spot_lots[acct, m] -= released_lots
        return held

    def rest_ladder(
        self, acct: int, venue: Venue, m: int, side: int, oids: list[int],
        rests: list[tuple[int, int]], costs: list[float], held: float,
    ) -> float:  # fmt: skip
        """Record one side of a posted ladder (`rests` = (lots, ticks), `costs` its reserve
        per level); return the account's reserved margin with it (`remember`, in floats)."""
        orders = self.orders
        for oid, (lots, _), cost in zip(oids, rests, costs, strict=True):
            per_lot = cost / lots
            orders[(venue, m, oid)] = [acct, side, per_lot, lots]
            held += lots * per_lot
        if venue == Venue.SPOT and side < 0:
            self._spot_lots[acct, m] += sum(lots for lots, _ in rests)
        return held

    def set_margin(self, acct: int, held: float) -> None:
        """Store an account's reserved margin after a ladder was posted."""
        self._margin_usd[acct] = held
