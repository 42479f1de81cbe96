"""The checks every order passes before it touches a book: account, market, kind, size on the
lot grid, price on the tick grid, leverage; a failed check is a reason code, never an error."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from model.engine.ledger import Ledger
from model.engine.margin import worst_close_price
from model.engine.orderbook import OrderBook
from model.engine.orders import Order
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.types import OrderKind, RejectReason, Venue

KINDS = tuple(OrderKind)
INTEGERS = (int, np.integer)  # for isinstance, built once (not `int | np.integer` per call)


def reject_reason(
    order: Order,
    ledger: Ledger,
    perps: Sequence[MarketSpec],
    spots: Sequence[SpotSpec],
    perp_books: list[OrderBook],
    spot_books: list[OrderBook],
) -> RejectReason | None:
    """Why `order` must be refused before matching (None: it may go on).

    Unknown or system account, unknown market or kind, quantity off the lot grid, price off
    the tick grid, a leverage that is not a positive number, a spot stop or a resting
    reduce-only order, a post-only order that would cross.
    """
    if not ledger.is_account(order.account) or ledger.is_system[order.account]:
        return RejectReason.UNKNOWN_ACCOUNT
    if order.venue not in (Venue.PERP, Venue.SPOT):
        return RejectReason.UNKNOWN_MARKET
    specs = perps if order.venue == Venue.PERP else spots
    if not isinstance(order.market, INTEGERS) or not 0 <= order.market < len(specs):
        return RejectReason.UNKNOWN_MARKET
    if order.side not in (1, -1) or order.kind not in KINDS:
        return RejectReason.INVALID_KIND
    if not is_positive_number(order.qty):
        return RejectReason.INVALID_QTY
    if to_lots(order.qty, specs[order.market].lot_size) is None:
        return RejectReason.OFF_LOT
    needs_price = order.kind != OrderKind.MARKET
    if needs_price and not is_positive_number(order.price_usd):
        return RejectReason.INVALID_PRICE
    if needs_price and to_ticks(order.price_usd, specs[order.market].tick_size) is None:
        return RejectReason.OFF_TICK
    if order.leverage is not None and not is_positive_number(order.leverage):
        return RejectReason.INVALID_LEVERAGE
    is_resting = order.kind == OrderKind.LIMIT and not order.ioc
    # stops follow the perp mark; a resting reduce-only order could open a position later
    if (order.kind == OrderKind.STOP_MARKET and order.venue == Venue.SPOT) or (
        order.reduce_only and is_resting
    ):
        return RejectReason.INVALID_KIND
    if order.post_only and is_resting:
        book = (perp_books if order.venue == Venue.PERP else spot_books)[order.market]
        best = book.best_ask() if order.side > 0 else book.best_bid()
        limit = to_ticks(order.price_usd, specs[order.market].tick_size)
        if best is not None and order.side * (limit - best) >= 0:
            return RejectReason.POST_ONLY_WOULD_CROSS
    return None


def is_positive_number(x: object) -> bool:
    if type(x) is float:  # the common case, without numpy's scalar machinery
        return x > 0 and math.isfinite(x)
    return (
        isinstance(x, int | float | np.number)
        and not isinstance(x, bool)
        and np.isfinite(x)
        and x > 0
    )


def to_lots(qty: float, lot_size: float) -> int | None:
    """Return qty in whole lots, or None if it is not a positive multiple of the lot size."""
    lots = round(qty / lot_size)
    if lots <= 0 or abs(lots * lot_size - qty) > 1e-9 * max(abs(qty), lot_size):
        return None
    return int(lots)


def to_ticks(price: float, tick_size: float) -> int | None:
    """Return a price in ticks, or None if it is off the tick grid."""
    ticks = round(price / tick_size)
    if ticks <= 0 or abs(ticks * tick_size - price) > 1e-9 * max(abs(price), tick_size):
        return None
    return int(ticks)


def solvent_close_ticks(
    side: int,
    qty: float,
    equity_usd: float,
    mark_usd: float,
    spec: MarketSpec,
    limit_ticks: int,
    *,
    resting: bool,
) -> int | None:
    """The limit (ticks) of an order closing `qty` coins of a position of `side`, moved no
    worse than margin.worst_close_price for the unit's equity; None when the unit is bankrupt
    at the mark (equity ≤ 0) or a resting order is priced past that point."""
    if equity_usd <= 0:
        return None
    worst = worst_close_price(side, qty, equity_usd, mark_usd, spec.taker_fee) / spec.tick_size
    bound = math.ceil(worst - 1e-9) if side > 0 else math.floor(worst + 1e-9)
    if side * (bound - limit_ticks) <= 0:
        return limit_ticks
    return None if resting or bound < 1 else bound
