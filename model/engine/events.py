"""Event log with a fixed schema per event type: fills, rejections, funding, liquidations, ADL.

Rows are appended as tuples (cheap on the hot path) and turned into DataFrames on demand.
"""

from __future__ import annotations

from collections import Counter

SCHEMAS: dict[str, tuple[str, ...]] = {
    "fill": (
        "t",
        "venue",
        "market",
        "taker",
        "maker",
        "taker_side",
        "price_usd",
        "qty",
        "taker_fee_usd",
        "maker_fee_usd",
        "is_liquidation",
    ),
    "reject": ("t", "account", "venue", "market", "reason"),
    "opening": ("t", "market", "accounts", "long_lots", "price_usd"),
    "funding": ("t", "market", "rate", "mark_usd", "paid_by_longs_usd", "paid_by_shorts_usd"),
    "liquidation": (
        "t",
        "round",
        "account",
        "market",
        "side",
        "qty",
        "price_usd",
        "bankruptcy_price_usd",
        "notional_usd",
        "fee_usd",
        "shortfall_usd",
        "to_pool_usd",
        "kind",
    ),
    "insurance": ("t", "round", "pool", "market", "delta_usd", "balance_usd", "cause"),
    "adl": (
        "t",
        "round",
        "policy",
        "account",
        "market",
        "side",
        "qty",
        "price_usd",
        "mark_usd",
        "score",
        "value_taken_usd",
        "needed_usd",
        "is_hedge_break",
    ),
    "haircut": ("t", "round", "policy", "account", "market", "haircut_usd"),
    "bad_debt": ("t", "round", "account", "market", "amount_usd"),
}


class EventLog:
    """Append-only event rows, one list per event type, and counters of rejections."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {name: [] for name in SCHEMAS}
        self.reject_counts: Counter[str] = Counter()

    def add(self, kind: str, *values: object) -> None:
        """Append one event; the values follow `SCHEMAS[kind]` in order."""
        self.rows[kind].append(values)

    def count(self, kind: str) -> int:
        """Return how many events of a type were logged."""
        return len(self.rows[kind])

    def frame(self, kind: str):
        """Return the events of one type as a pandas DataFrame with the schema's columns."""
        import pandas as pd

        return pd.DataFrame.from_records(self.rows[kind], columns=list(SCHEMAS[kind]))
