"""The account book: every account's cash, positions and spot holdings as arrays.

Struct of arrays indexed by account id (rows) and market (columns). Only the `Ledger` holds
one and writes it; everyone else reads the ledger's read-only views. Capacity doubles when full, so
opening an account is amortised O(1).
"""

from __future__ import annotations

import numpy as np

from model.engine.types import BoolArray, FloatArray, IntArray

_PER_ACCOUNT = {"collateral_usd": np.float64, "is_open": np.bool_}
_PER_POSITION = {
    "qty_lots": np.int64,  # signed: + long, − short
    "entry_price_usd": np.float64,  # volume-weighted average entry
    "isolated_margin_usd": np.float64,  # margin locked in an isolated position
    "is_isolated": np.bool_,
    "leverage": np.float64,  # the account's leverage setting for the market
    "realized_pnl_usd": np.float64,
    "fees_paid_usd": np.float64,
    "funding_paid_usd": np.float64,  # positive = paid
}
_PER_SPOT = {"spot_lots": np.int64}


class AccountBook:
    """Collateral per account; per (account, market) position state; spot holdings.

    Args:
        n_markets: Number of perp markets.
        n_spot: Number of spot assets.
        capacity: Initial row capacity.
        default_leverage: Leverage setting of a new account in every market.
    """

    collateral_usd: FloatArray
    is_open: BoolArray
    qty_lots: IntArray
    entry_price_usd: FloatArray
    isolated_margin_usd: FloatArray
    is_isolated: BoolArray
    leverage: FloatArray
    realized_pnl_usd: FloatArray
    fees_paid_usd: FloatArray
    funding_paid_usd: FloatArray
    spot_lots: IntArray

    def __init__(
        self, n_markets: int, n_spot: int = 0, capacity: int = 64, default_leverage: float = 10.0
    ) -> None:
        self.n_markets = n_markets
        self.n_spot = n_spot
        self.n = 0
        self.default_leverage = default_leverage
        self._cap = 0
        self._grow(max(capacity, 1))

    # -- capacity ------------------------------------------------------------------------
    def _grow(self, new_cap: int) -> None:
        shapes = (
            [(k, dt, ()) for k, dt in _PER_ACCOUNT.items()]
            + [(k, dt, (self.n_markets,)) for k, dt in _PER_POSITION.items()]
            + [(k, dt, (self.n_spot,)) for k, dt in _PER_SPOT.items()]
        )
        for name, dtype, tail in shapes:
            new = np.zeros((new_cap, *tail), dtype=dtype)
            if self._cap:
                new[: self.n] = getattr(self, "_" + name)[: self.n]
            setattr(self, "_" + name, new)
        self._leverage[self.n :] = self.default_leverage
        self._cap = new_cap
        self._refresh_views()

    def add(self, count: int = 1) -> IntArray:
        """Append `count` empty accounts and return their ids."""
        if self.n + count > self._cap:
            self._grow(max(2 * self._cap, self.n + count))
        ids = np.arange(self.n, self.n + count, dtype=np.int64)
        self._is_open[ids] = True
        self.n += count
        self._refresh_views()
        return ids

    # -- writable arrays (the ledger only) ----------------------------------------------------
    # Each name (collateral_usd, is_open, qty_lots, entry_price_usd, isolated_margin_usd,
    # is_isolated, leverage, realized_pnl_usd, fees_paid_usd, funding_paid_usd, spot_lots) is
    # a view of the first `n` rows of its buffer, refreshed whenever `n` or the buffer changes
    # (a plain attribute, not a property: the engine reads these a few times per fill).
    NAMES = (*_PER_ACCOUNT, *_PER_POSITION, *_PER_SPOT)

    def _refresh_views(self) -> None:
        for name in self.NAMES:
            setattr(self, name, getattr(self, "_" + name)[: self.n])

    def view(self, name: str) -> np.ndarray:
        """Return a read-only view of one array (what agents and recorders get)."""
        arr = getattr(self, name).view()
        arr.flags.writeable = False
        return arr
