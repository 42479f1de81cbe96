"""Order intents agents hand to the exchange, and the outcome the exchange hands back."""

from __future__ import annotations

from dataclasses import dataclass

from model.engine.types import OrderKind, RejectReason, Venue


@dataclass(frozen=True, slots=True)
class Order:
    """One order intent. Agents build these; only the exchange acts on them.

    Attributes:
        account: Account id returned by `Exchange.open_account`.
        market: Index of the perp market (venue perp) or of the spot asset (venue spot).
        side: +1 buy, -1 sell.
        qty: Size in coins; must be a positive multiple of the market's lot size.
        kind: market, limit (rests until filled or cancelled) or stop_market (triggered by
            the mark price, then sent as a market order).
        price_usd: Limit price (limit) or trigger price (stop_market); on the tick grid.
        leverage: Leverage for the opening part; None keeps the account's setting.
        reduce_only: Only reduce an existing position (clipped to its size).
        post_only: Limit orders only; refused if it would cross.
        ioc: Limit orders only; an unfilled remainder expires instead of resting.
        isolated: Margin mode for a new position (None keeps the account's setting).
        venue: perp or spot.
    """

    account: int
    market: int
    side: int
    qty: float
    kind: OrderKind = OrderKind.MARKET
    price_usd: float | None = None
    leverage: float | None = None
    reduce_only: bool = False
    post_only: bool = False
    ioc: bool = False
    isolated: bool | None = None
    venue: Venue = Venue.PERP


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What happened to one order: accepted or rejected, and how much traded."""

    accepted: bool
    reason: RejectReason | None = None
    order_id: int = -1
    filled_qty: float = 0.0
    avg_price_usd: float = float("nan")
    rested_qty: float = 0.0
    expired_qty: float = 0.0


@dataclass(frozen=True, slots=True)
class Quotes:
    """A maker's full ladder for one book; it replaces that account's orders in the book.

    Prices are rounded onto the tick grid away from the mid (bids down, asks up) and sizes
    down to whole lots; levels that would cross the opposite side are skipped (post-only).

    Attributes:
        account: Maker account id.
        market: Perp market or spot asset index.
        bids: (price_usd, qty) per level, best first.
        asks: (price_usd, qty) per level, best first.
        leverage: Leverage setting for perp quotes.
        venue: perp or spot.
    """

    account: int
    market: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    leverage: float = 5.0
    venue: Venue = Venue.PERP
