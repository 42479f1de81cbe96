"""Unit aliases and the small enums shared by the engine, the agents and the recorders."""

from __future__ import annotations

from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

Usd = float
"""US dollars (stablecoin), the settlement currency of every market."""
Coins = float
"""Base-asset units; one contract is one coin in the linear perps modelled here."""
Rate = float
"""A fraction (0.005 means 0.5 %), per funding interval where it is a funding rate."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LONG, SHORT = 1, -1
BUY, SELL = 1, -1


class Venue(StrEnum):
    """Which book an order goes to."""

    PERP = "perp"
    SPOT = "spot"


class OrderKind(StrEnum):
    """Order types the exchange accepts."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"


class RejectReason(IntEnum):
    """Why an order was refused; every rejection is counted and logged, never raised."""

    INVALID_QTY = 1
    UNKNOWN_ACCOUNT = 2
    UNKNOWN_MARKET = 3
    INVALID_PRICE = 4
    OFF_TICK = 5
    OFF_LOT = 6
    INVALID_LEVERAGE = 7
    LEVERAGE_ABOVE_TIER_MAX = 8
    INSUFFICIENT_MARGIN = 9
    REDUCE_ONLY_WOULD_INCREASE = 10
    POST_ONLY_WOULD_CROSS = 11
    NO_LIQUIDITY = 12
    INSUFFICIENT_SPOT = 13
    INVALID_KIND = 14
    ACCOUNT_IN_LIQUIDATION = 15
    PRICE_OUTSIDE_BAND = 16
    LEVERAGE_CHANGE_WITH_OPEN_ORDERS = 17


class Clock:
    """The engine's minute, shared by the parts that stamp events with it."""

    def __init__(self) -> None:
        self.t = 0
