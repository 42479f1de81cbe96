"""Read-only snapshots handed to agents: one market view per step, account arrays as views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from model.engine.types import FloatArray

LAZY_MIN_ACCOUNTS = 5_000
"""From this many accounts a lazy view (rows on demand) is cheaper than copying every array."""


@dataclass(frozen=True, slots=True)
class MarketView:
    """What every agent sees at the start of a step (arrays are per asset, read-only).

    Prices are USD; NaN where a book side is empty. Asset a's perp is perp market a and its
    spot is spot asset a.
    """

    t: int
    """Minute of the run (the step about to be decided)."""
    symbols: tuple[str, ...]
    fundamental_usd: FloatArray
    """Exogenous fundamental value (what value traders pull spot toward)."""
    index_usd: FloatArray
    mark_usd: FloatArray
    spot_bid_usd: FloatArray
    spot_ask_usd: FloatArray
    perp_bid_usd: FloatArray
    perp_ask_usd: FloatArray
    funding_rate: FloatArray
    """Last settled funding rate per 8 h interval (fraction)."""
    premium: FloatArray
    """Current premium index of the perp over the index (fraction)."""
    return_15m: FloatArray
    """Log return of the index over the last 15 minutes (momentum signal)."""
    vol_1h: FloatArray
    """Standard deviation of one-minute log index returns over the last hour."""
    risk_off: float
    """Market-maker risk-off factor in [0, 1] from the macro shocks (0 = calm)."""
    exo_sell_usd: FloatArray
    """Exogenous sell flow of this minute per asset, USD (macro shock)."""
    perp_tick: FloatArray
    perp_lot: FloatArray
    spot_tick: FloatArray
    spot_lot: FloatArray
    max_leverage: FloatArray
    """Tier-1 maximum leverage of each perp."""

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def spot_mid_usd(self) -> FloatArray:
        return 0.5 * (self.spot_bid_usd + self.spot_ask_usd)

    @property
    def perp_mid_usd(self) -> FloatArray:
        return 0.5 * (self.perp_bid_usd + self.perp_ask_usd)


@dataclass(frozen=True, slots=True)
class AccountsView:
    """Read-only views of the exchange's account arrays (rows = account ids)."""

    collateral_usd: FloatArray
    qty: FloatArray
    """Signed perp position in coins, (accounts, assets)."""
    entry_price_usd: FloatArray
    spot_qty: FloatArray
    """Spot holdings in coins, (accounts, assets)."""
    equity_usd: FloatArray
    """Wallet + isolated margins + unrealised PnL at the marks."""
    is_isolated: np.ndarray


def accounts_view(ex, *, lazy: bool = False) -> AccountsView:
    """Read-only copies of an exchange's account arrays, in coins and USD (what agents get).

    With `lazy=True` (and at least `LAZY_MIN_ACCOUNTS` accounts) each array is a `LazyRows`:
    rows are computed when an agent indexes them (the crowd reads a few thousand rows of a
    million each minute), from the engine's state at that moment, which is the snapshot's
    as long as the engine has not written since; reading it after a write raises.
    """
    if lazy and ex.accounts.n >= LAZY_MIN_ACCOUNTS:
        return _lazy_accounts_view(ex)
    acc = ex.accounts
    view = AccountsView(
        collateral_usd=acc.collateral_usd.copy(),
        qty=acc.qty_lots * ex.perp_lot_sizes,
        entry_price_usd=acc.entry_price_usd.copy(),
        spot_qty=acc.spot_lots * ex.spot_lot_sizes,
        equity_usd=ex.equity_usd(),
        is_isolated=acc.is_isolated.copy(),
    )
    for arr in (
        view.collateral_usd,
        view.qty,
        view.entry_price_usd,
        view.spot_qty,
        view.equity_usd,
        view.is_isolated,
    ):
        arr.flags.writeable = False
    return view


class StaleViewError(RuntimeError):
    """A lazy accounts view was read after the exchange changed the accounts."""


class LazyRows(NDArrayOperatorsMixin):
    """A read-only (accounts, ...) array whose rows are computed on first use.

    Indexing by an account id, a 1-D array of ids, or either followed by one column index
    (an int, `:`, or a 1-D array of the same length: element pairs) computes only those rows,
    with the same operations as the whole array, so the values are the same. Any other use
    (other keys, numpy functions, attributes, operators) computes the whole array once.

    Args:
        compute: rows (int array) -> the array's values on those rows.
        guard: Called before every read; raises `StaleViewError` once the source changed.
    """

    __slots__ = ("_compute", "_full", "_guard")

    def __init__(self, compute: Callable[[np.ndarray], np.ndarray], guard: Callable[[], None]):
        self._compute = compute
        self._guard = guard
        self._full: np.ndarray | None = None

    def full(self) -> np.ndarray:
        """The whole array (computed once), read-only."""
        self._guard()
        if self._full is None:
            self._full = _read_only(self._compute(slice(None)))
        return self._full

    def __getitem__(self, key):
        self._guard()
        if self._full is None:
            rows, rest = (key[0], key[1:]) if type(key) is tuple and key else (key, ())
            if isinstance(rows, int | np.integer) and not isinstance(rows, bool | np.bool_):
                return _read_only(self._compute(np.array([rows], dtype=np.int64))[(0, *rest)])
            if _is_index_vector(rows) and (not rest or _is_column_key(rest, len(rows))):
                block = self._compute(rows)
                return _read_only(block[(np.arange(len(rows)), *rest)] if rest else block)
        return self.full()[key]

    def __array__(self, dtype=None, copy=None):
        full = self.full()
        return full if dtype is None else full.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(x.full() if isinstance(x, LazyRows) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __len__(self) -> int:
        return len(self.full())

    def __iter__(self):
        return iter(self.full())

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full(), name)


def _is_index_vector(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype.kind in "iu"


def _is_column_key(rest: tuple, n_rows: int) -> bool:
    if len(rest) != 1:
        return False
    col = rest[0]
    if isinstance(col, int | np.integer) and not isinstance(col, bool | np.bool_):
        return True
    if isinstance(col, slice):
        return col == slice(None)
    return _is_index_vector(col) and len(col) == n_rows


def _read_only(x):
    if isinstance(x, np.ndarray):
        x.flags.writeable = False
    return x


def _lazy_accounts_view(ex) -> AccountsView:
    acc, writes, n = ex.accounts, ex.writes, ex.accounts.n

    def guard() -> None:
        if ex.writes != writes or ex.accounts.n != n:
            raise StaleViewError(
                "this accounts view was taken before the exchange's last write; "
                "take a new one (model.accounts_view())"
            )

    def rows_of(name: str) -> Callable[[np.ndarray], np.ndarray]:
        return lambda rows: getattr(acc, name)[rows].copy()

    return AccountsView(
        collateral_usd=LazyRows(rows_of("collateral_usd"), guard),
        qty=LazyRows(lambda rows: acc.qty_lots[rows] * ex.perp_lot_sizes, guard),
        entry_price_usd=LazyRows(rows_of("entry_price_usd"), guard),
        spot_qty=LazyRows(lambda rows: acc.spot_lots[rows] * ex.spot_lot_sizes, guard),
        equity_usd=LazyRows(ex.equity_usd, guard),
        is_isolated=LazyRows(rows_of("is_isolated"), guard),
    )
