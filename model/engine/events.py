"""Typed event rows: one NamedTuple per event kind, appended to an `EventLog`.

Rows are tuples (cheap on the hot path), read by field name (`row.notional_usd`); `SCHEMAS`
gives each kind's columns, and `EventLog.frame` a pandas DataFrame of one kind.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple


class Fill(NamedTuple):
    """One match: the taker against one resting order (or the twin's sink, venue "off_book")."""

    t: int
    venue: str
    market: int
    taker: int
    maker: int
    taker_side: int
    price_usd: float
    qty: float
    taker_fee_usd: float
    maker_fee_usd: float
    is_liquidation: bool


class Reject(NamedTuple):
    """An order refused, with its reason code's name."""

    t: int
    account: int
    venue: str
    market: int
    reason: str


class Opening(NamedTuple):
    """The open interest a market starts with (positions opened before minute 0)."""

    t: int
    market: int
    accounts: int
    long_lots: int
    price_usd: float


class Funding(NamedTuple):
    """One market's funding settlement (positive rate: longs pay shorts); mark_usd is the price
    the payments were valued at (the mark, or the oracle under `FundingSpec.price`)."""

    t: int
    market: int
    rate: float
    mark_usd: float
    paid_by_longs_usd: float
    paid_by_shorts_usd: float


class Liquidation(NamedTuple):
    """One forced close (or part of one): how, at what price, and who paid."""

    t: int
    round: int
    account: int
    market: int
    side: int
    qty: float
    price_usd: float
    bankruptcy_price_usd: float
    notional_usd: float
    fee_usd: float
    shortfall_usd: float
    to_pool_usd: float
    kind: str


class Insurance(NamedTuple):
    """A change of an insurance pool's balance and its cause."""

    t: int
    round: int
    pool: int
    market: int
    delta_usd: float
    balance_usd: float
    cause: str


class Adl(NamedTuple):
    """One winner's position closed by a loss-absorption policy.

    With q the coins closed, s the liquidated side and p the close price (all ≥ 0):
    value_taken_usd = q·(s·(p − mark))_+, the winner's wealth removed against a close at the
    mark (Chitra 2025 "wealth removed"); needed_usd, the deficit this fill covers, equal to it
    (a close at the bankruptcy price beyond the mark covers exactly what it takes; a
    wealth-space close at the mark covers nothing, its haircut does); margin_to_winner_usd =
    q·(s·(mark − p))_+, what a close at the bankruptcy price of a unit still above bankruptcy
    hands the winner (Binance closes ADL at the liquidated order's bankruptcy price).
    """

    t: int
    round: int
    policy: str
    account: int
    market: int
    side: int
    qty: float
    price_usd: float
    mark_usd: float
    score: float
    value_taken_usd: float
    needed_usd: float
    is_hedge_break: bool
    margin_to_winner_usd: float

    @property
    def notional_usd(self) -> float:
        """ADL notional = qty closed × the price it was closed at (the one definition)."""
        return self.qty * self.price_usd


class Haircut(NamedTuple):
    """Money taken from one winner's unrealised profit by a haircut policy: haircut_usd =
    min(needed_usd, its profit), needed_usd its pro-rata share B·w_i/Σw of the budget B."""

    t: int
    round: int
    policy: str
    account: int
    market: int
    haircut_usd: float
    needed_usd: float


class AdlReplay(NamedTuple):
    """One shortfall sent to ADL, allocated on the same state by the queue and by the
    portfolio-aware queue (`liquidation.adl_replay`; analysis only, nothing is closed).

    hedged lots = Σ (lots closed − the winner's naked lots)_+ (`adl.naked_lots`); breaks =
    winners turned from hedged to not (`adl.hedges_broken`) not yet counted for that ranking
    in this market (`Policy.replay`). shifted_usd = (queue − portfolio
    hedged lots) · lot · mark, the notional the portfolio-aware queue moves off hedges onto
    naked positions; shifted_taken_usd the value the ADL price takes on those lots."""

    t: int
    round: int
    market: int
    lots: int
    queue_hedged_lots: int
    portfolio_hedged_lots: int
    queue_breaks: int
    portfolio_breaks: int
    shifted_usd: float
    shifted_taken_usd: float


class BadDebt(NamedTuple):
    """A deficit nobody covered."""

    t: int
    round: int
    account: int
    market: int
    amount_usd: float


Event = (
    Fill
    | Reject
    | Opening
    | Funding
    | Liquidation
    | Insurance
    | Adl
    | AdlReplay
    | Haircut
    | BadDebt
)
ROW_TYPES: dict[str, type] = {
    "fill": Fill,
    "reject": Reject,
    "opening": Opening,
    "funding": Funding,
    "liquidation": Liquidation,
    "insurance": Insurance,
    "adl": Adl,
    "adl_replay": AdlReplay,
    "haircut": Haircut,
    "bad_debt": BadDebt,
}
SCHEMAS: dict[str, tuple[str, ...]] = {kind: cls._fields for kind, cls in ROW_TYPES.items()}
_KIND_OF = {cls: kind for kind, cls in ROW_TYPES.items()}


class EventLog:
    """Append-only event rows, one list per event kind, and counters of rejections."""

    def __init__(self) -> None:
        self.rows: dict[str, list] = {name: [] for name in SCHEMAS}
        self.reject_counts: Counter[str] = Counter()

    def add(self, row: Event) -> None:
        """Append one typed event row to the list of its kind."""
        self.rows[_KIND_OF[type(row)]].append(row)

    def count(self, kind: str) -> int:
        """Return how many events of a kind were logged."""
        return len(self.rows[kind])

    def bad_debt_usd(self, account: int) -> float:
        """Σ bad debt recorded against one account (a deficit nobody covered)."""
        return sum(r.amount_usd for r in self.rows["bad_debt"] if r.account == account)

    def frame(self, kind: str):
        """Return the events of one kind as a pandas DataFrame with the schema's columns."""
        import pandas as pd

        return pd.DataFrame.from_records(self.rows[kind], columns=list(SCHEMAS[kind]))
