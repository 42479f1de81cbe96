"""Small shared builders for engine tests: an exchange, a seeded book and balance snapshots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.engine.exchange import Exchange
from model.engine.orders import Order, OrderOutcome
from model.engine.specs import MarketSpec, SpotSpec, btc_perp
from model.engine.types import BUY, SELL, OrderKind, Venue

MAKER_DEPOSIT_USD = 100_000_000.0
"""A maker this rich never hits a margin check in the scenarios (100M USD)."""

BALANCE_FIELDS = (
    "collateral_usd",
    "isolated_margin_usd",
    "qty_lots",
    "entry_price_usd",
    "spot_lots",
)
"""Per-account arrays that hold money, contracts or coins."""


def make_exchange(
    perps: Sequence[MarketSpec] = (),
    index: Sequence[float] = (100_000.0,),
    spots: Sequence[SpotSpec] = (),
    **kwargs: object,
) -> Exchange:
    """Build an exchange; with no perps given, one BTCUSDT perp (2025 brackets)."""
    return Exchange(tuple(perps) or (btc_perp(),), index, spots, **kwargs)  # type: ignore[arg-type]


def open_maker(ex: Exchange, deposit_usd: float = MAKER_DEPOSIT_USD) -> int:
    """Open a well-capitalised market-maker account."""
    return ex.open_account(deposit_usd)


def seed_book(
    ex: Exchange,
    market: int,
    maker: int,
    bids: Sequence[tuple[float, float]] = (),
    asks: Sequence[tuple[float, float]] = (),
    venue: Venue = Venue.PERP,
) -> list[OrderOutcome]:
    """Rest `maker`'s limit orders [(price_usd, qty), ...] through `Exchange.submit`.

    Raises AssertionError if any seeding order is not accepted, or trades instead of resting.
    """
    outcomes = []
    for side, levels in ((BUY, bids), (SELL, asks)):
        for price_usd, qty in levels:
            order = Order(maker, market, side, qty, OrderKind.LIMIT, price_usd, venue=venue)
            out = ex.submit(order)
            assert out.accepted and out.rested_qty == qty, f"seeding {order} gave {out}"
            outcomes.append(out)
    return outcomes


def limit(
    account: int, side: int, qty: float, price_usd: float, market: int = 0, **kw: object
) -> Order:
    """A perp limit order (keyword overrides: leverage, isolated, post_only, venue, ...)."""
    return Order(account, market, side, qty, OrderKind.LIMIT, price_usd, **kw)  # type: ignore[arg-type]


def market_order(account: int, side: int, qty: float, market: int = 0, **kw: object) -> Order:
    """A market order (keyword overrides: reduce_only, leverage, isolated, venue, ...)."""
    return Order(account, market, side, qty, OrderKind.MARKET, **kw)  # type: ignore[arg-type]


def balances(ex: Exchange, *, with_reserves: bool = False) -> dict[str, np.ndarray]:
    """Copy every money/contract/coin array of every account (and order reserves on request)."""
    snap = {name: getattr(ex.accounts, name).copy() for name in BALANCE_FIELDS}
    if with_reserves:
        snap["order_margin_usd"] = ex.order_margin_usd[: ex.accounts.n].copy()
        snap["spot_reserved_lots"] = ex.spot_reserved_lots[: ex.accounts.n].copy()
    return snap


def changed_accounts(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[int]:
    """Ids of the accounts whose row differs in any snapshot array."""
    rows: set[int] = set()
    for name, old in before.items():
        diff = after[name] != old
        rows |= {int(i) for i in np.flatnonzero(diff.reshape(len(old), -1).any(axis=1))}
    return rows


def assert_same_balances(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> None:
    """Assert two `balances` snapshots are identical, naming the first array that differs."""
    for name, old in before.items():
        np.testing.assert_array_equal(after[name], old, err_msg=f"{name} changed")


def assert_invariants(ex: Exchange) -> None:
    """Assert `check_invariants` passes and no wallet or isolated margin is NaN/inf."""
    ex.check_invariants()
    assert np.all(np.isfinite(ex.accounts.collateral_usd)), "non-finite collateral"
    assert np.all(np.isfinite(ex.accounts.isolated_margin_usd)), "non-finite isolated margin"


def hidden_deficits(
    ex: Exchange, tol_usd: float = 1e-6, *, flat_only: bool = False
) -> dict[int, float]:
    """Accounts below zero beyond the bad debt recorded against them: {account: equity}.

    A flat account's equity is its wallet, so this covers "no user wallet negative without
    recorded bad debt" and "no pool (or vault) with negative equity without a recorded
    deficit" (issue 16); an account still in a position counts by its total equity, unless
    `flat_only` (between liquidation passes, an account in a position may be awaiting one).
    """
    equity = ex.equity_usd()
    recorded = np.zeros(len(equity))
    for row in ex.events.rows["bad_debt"]:
        recorded[row.account] += row.amount_usd
    below = equity < -recorded - tol_usd
    if flat_only:
        below &= ~(ex.accounts.qty_lots != 0).any(axis=1)
    hidden = np.flatnonzero(below)
    return {int(a): float(equity[a]) for a in hidden}


def open_pair(
    ex: Exchange,
    long_acct: int,
    short_acct: int,
    qty: float,
    price: float,
    *,
    market: int = 0,
    long_leverage: float = 10.0,
    short_leverage: float = 10.0,
    long_isolated: bool | None = None,
) -> None:
    """Open `qty` coins long for one account and short for the other at `price` (asserted)."""
    rest = ex.submit(
        Order(short_acct, market, SELL, qty, OrderKind.LIMIT, price, leverage=short_leverage)
    )
    take = ex.submit(
        Order(
            long_acct,
            market,
            BUY,
            qty,
            OrderKind.LIMIT,
            price,
            leverage=long_leverage,
            isolated=long_isolated,
        )
    )
    assert rest.accepted and take.accepted and take.filled_qty == qty, (rest, take)


def writable(readonly: np.ndarray) -> np.ndarray:
    """The ledger's own buffer behind one of its read-only account arrays (same row indices).

    Only tests that corrupt the books on purpose, or build a state no transfer can reach, use
    it: everything else writes through the ledger's transfers.
    """
    assert not readonly.flags.writeable and readonly.base.flags.writeable
    return readonly.base
