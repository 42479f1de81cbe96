"""Margin assets other than USD: spot coins that count toward an account's cross equity.

Each collateral asset is a spot market of the venue. Its coins add
lots · lot size · price · (1 − haircut) to the cross equity of the account holding them
(Binance multi-assets mode: margin value = amount × price × collateral value ratio). The price
is, by the valuation switch, the venue's own spot book ("venue": its last trade, which is how
USDe printed 0.65 and wBETH/BNSOL depegged on Binance on 10 Oct 2025 while they held their
value elsewhere) or an outside reference the run sets ("reference": what Binance moved to
afterwards). No collateral assets by default, so a run without them is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.engine import validate as v
from model.engine.ledger import InvariantError, Ledger
from model.engine.orderbook import OrderBook
from model.engine.specs import SpotSpec
from model.engine.types import FloatArray

VALUATIONS = ("venue", "reference")
"""venue: the asset's last trade on the venue's own spot book; reference: an outside price."""


@dataclass(frozen=True)
class CollateralAsset:
    """One spot asset accepted as cross margin.

    Attributes:
        symbol: The spot market's symbol (a `SpotSpec.symbol` of the exchange).
        haircut: Fraction of the value not counted, in [0, 1) (Binance's collateral value
            ratio is 1 − haircut: 0.9–0.95 for USDe- and BNB-type assets in 2025, assumed
            from its multi-assets mode tables).
        reference_usd: The outside reference price (USD per coin) used with
            valuation="reference"; the run may move it (`Collateral.set_reference`).
    """

    symbol: str
    haircut: float
    reference_usd: float


@dataclass(frozen=True)
class CollateralConfig:
    """Which spot assets count as cross margin, and how they are valued.

    Attributes:
        assets: The collateral assets (none by default: USD is the only margin).
        valuation: "venue" (last trade on the venue's spot book) or "reference".
    """

    assets: tuple[CollateralAsset, ...] = ()
    valuation: str = "venue"

    def __post_init__(self) -> None:
        v.one_of("collateral.valuation", self.valuation, VALUATIONS)
        if not isinstance(self.assets, tuple):
            raise ValueError(
                f"collateral.assets must be a tuple of CollateralAsset, got {self.assets!r}"
            )
        seen: set[str] = set()
        for i, asset in enumerate(self.assets):
            name = f"collateral.assets[{i}]"
            if not isinstance(asset, CollateralAsset):
                raise ValueError(f"{name} must be a CollateralAsset, got {asset!r}")
            if not isinstance(asset.symbol, str) or not asset.symbol:
                raise ValueError(f"{name}.symbol must be a non-empty string, got {asset.symbol!r}")
            if asset.symbol in seen:
                raise ValueError(f"{name}.symbol {asset.symbol!r} is listed twice")
            seen.add(asset.symbol)
            v.in_range(f"{name}.haircut", asset.haircut, 0.0, 1.0, open_hi=True)
            v.positive(f"{name}.reference_usd", asset.reference_usd)


def lots_to_raise(
    bids: Sequence[tuple[float, int]], lot_size: float, need_usd: float, max_lots: int
) -> tuple[int, float]:
    """How many lots a sale into `bids` [(price USD, lots), best first] needs to raise
    `need_usd`, at most `max_lots`; returns (lots, worst price reached). (0, nan) if none."""
    lots, proceeds, worst = 0, 0.0, math.nan
    for price, level_lots in bids:
        if lots >= max_lots or proceeds >= need_usd:
            break
        per_lot = price * lot_size
        take = min(level_lots, max_lots - lots, math.ceil((need_usd - proceeds) / per_lot))
        lots, proceeds, worst = lots + take, proceeds + take * per_lot, price
    return lots, worst


class Collateral:
    """Values every account's collateral coins; reads the ledger, the spot books and their
    last trades (writes nothing).

    Args:
        cfg: The collateral configuration.
        spots: The exchange's spot markets.
        spot_books: Their order books.
        spot_last_usd: Last trade price of each spot asset (NaN before the first trade),
            the order desk's array, updated in place by every spot fill.
        ledger: The accounts.

    Raises:
        ValueError: A collateral symbol that is not one of the exchange's spot markets.
    """

    def __init__(
        self,
        cfg: CollateralConfig,
        spots: Sequence[SpotSpec],
        spot_books: Sequence[OrderBook],
        spot_last_usd: FloatArray,
        ledger: Ledger,
    ) -> None:
        symbols = [s.symbol for s in spots]
        for i, asset in enumerate(cfg.assets):
            if asset.symbol not in symbols:
                raise ValueError(
                    f"collateral.assets[{i}].symbol must be a spot market of the exchange "
                    f"({', '.join(symbols) or 'none'}), got {asset.symbol!r}"
                )
        self.cfg, self.ledger = cfg, ledger
        self.spot_books, self.spot_last_usd = spot_books, spot_last_usd
        self.assets = [symbols.index(a.symbol) for a in cfg.assets]
        """Spot asset index of each collateral asset, in the configuration's order."""
        self.lot_sizes = [spots[a].lot_size for a in self.assets]
        self.ticks = [spots[a].tick_size for a in self.assets]
        self.haircuts = [float(a.haircut) for a in cfg.assets]
        self.reference_usd = np.array([float(a.reference_usd) for a in cfg.assets])
        self.enabled = bool(self.assets)

    def set_reference(self, symbol: str, price_usd: float) -> None:
        """Move one collateral asset's outside reference price (USD per coin, > 0)."""
        symbols = [a.symbol for a in self.cfg.assets]
        if symbol not in symbols:
            raise ValueError(
                f"unknown collateral symbol {symbol!r}; collateral assets: "
                f"{', '.join(symbols) or 'none'}"
            )
        self.reference_usd[symbols.index(symbol)] = v.positive(
            f"collateral[{symbol!r}].reference_usd", price_usd
        )

    def venue_price_usd(self, j: int) -> float:
        """Price of collateral asset j on the venue's spot book: its last trade, else the
        book's mid, else (no trade, no two-sided book yet) its reference."""
        last = float(self.spot_last_usd[self.assets[j]])
        if math.isfinite(last) and last > 0:
            return last
        mid = self.spot_books[self.assets[j]].mid_price()
        return float(mid) if mid is not None and mid > 0 else float(self.reference_usd[j])

    def prices_usd(self) -> FloatArray:
        """Price per coin of each collateral asset under the valuation switch."""
        if self.cfg.valuation == "reference":
            return self.reference_usd.copy()
        return np.array([self.venue_price_usd(j) for j in range(len(self.assets))])

    def lot_values_usd(self) -> list[float]:
        """Margin value of one lot of each collateral asset: lot · price · (1 − haircut)."""
        prices = self.prices_usd().tolist()
        return [
            lot * p * (1.0 - h)
            for lot, p, h in zip(self.lot_sizes, prices, self.haircuts, strict=True)
        ]

    def value_usd(self, rows: int | slice | np.ndarray = slice(None)) -> float | FloatArray:
        """Collateral value of each account of `rows` (or of one account): Σ over the
        collateral assets, in configuration order, of lots · lot · price · (1 − haircut).

        The one formula behind the cross equity of `risk_arrays`, the available balance, the
        liquidation scan and the liquidator (the same operations in the same order, so their
        results are equal to the last bit).
        """
        if not self.enabled:
            return 0.0
        held = self.ledger.spot_lots[rows]
        out = None
        for a, w in zip(self.assets, self.lot_values_usd(), strict=True):
            term = held[..., a] * w
            out = term if out is None else out + term
        return out

    def lots_to_sell(self, j: int, need_usd: float, max_lots: int) -> tuple[int, float]:
        """(lots, worst price) of collateral asset j a sale into its book's bids needs to
        raise `need_usd`, at most `max_lots` (`lots_to_raise`)."""
        a, tick = self.assets[j], self.ticks[j]
        bids = [(ticks * tick, n) for ticks, n in self.spot_books[a].levels(1)]
        return lots_to_raise(bids, self.lot_sizes[j], need_usd, max_lots)

    def check(self) -> None:
        """Raise `InvariantError` naming the asset if any account holds negative coins of one
        (with Σ holdings == coins deposited, checked by the ledger for every spot asset)."""
        for a, asset in zip(self.assets, self.cfg.assets, strict=True):
            if np.any(self.ledger.spot_lots[:, a] < 0):
                raise InvariantError(
                    f"collateral {asset.symbol!r}: an account holds negative coins"
                )
