"""Per-step price and funding phases: index, marks, premium sampling, funding settlement.

`MarketPhases` is handed the prices, the perp books and the ledger (composition); funding is
paid through the ledger, in one vectorised transfer per settlement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.engine.events import EventLog, Funding
from model.engine.funding import funding_payments_usd
from model.engine.ledger import Ledger
from model.engine.marks import MarketPrices
from model.engine.orderbook import OrderBook
from model.engine.specs import MarketSpec, SpotSpec
from model.engine.types import Clock, FloatArray


class MarketPhases:
    """Index and marks, premium and funding of every perp; USD values of spot and deltas."""

    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        perps: Sequence[MarketSpec],
        spots: Sequence[SpotSpec],
        perp_books: list[OrderBook],
        prices: MarketPrices,
        events: EventLog,
        spot_of_perp: tuple[int, ...],
    ) -> None:
        self.ledger, self.clock = ledger, clock
        self.perps, self.spots, self.perp_books = perps, spots, perp_books
        self.prices, self.events, self.spot_of_perp = prices, events, spot_of_perp
        self._spot_lot_sizes = np.array([s.lot_size for s in spots])

    # ------------------------------------------------------------------ prices & funding
    def set_index(self, index_usd: Sequence[float]) -> None:
        """Set the index price of every perp (an input until spot feeds it)."""
        idx = np.asarray(index_usd, dtype=float)
        if idx.shape != self.prices.index_usd.shape or np.any(~(idx > 0)):
            raise ValueError(
                f"index_usd must be {len(self.perps)} positive prices, got {index_usd!r}"
            )
        self.prices.index_usd[:] = idx

    def update_index(self, index_usd: FloatArray) -> None:
        """Take each perp's new index where it is a finite price > 0; elsewhere (an empty
        book, no trade yet) the previous index stands."""
        idx = np.asarray(index_usd, dtype=float)
        if idx.shape != self.prices.index_usd.shape:
            raise ValueError(f"index_usd must hold {len(self.perps)} prices, got {index_usd!r}")
        ok = np.isfinite(idx) & (idx > 0)
        self.prices.index_usd[ok] = idx[ok]

    def perp_mids(self) -> FloatArray:
        """Mid price of each perp book (NaN where one side is empty)."""
        return np.array(
            [b.mid_price() if b.mid_price() is not None else np.nan for b in self.perp_books]
        )

    def update_marks(self) -> FloatArray:
        """Sample the perp basis (once a step) and recompute marks from index, last and basis."""
        return self.prices.update_marks(self.clock.t, self.perp_mids())

    def remark(self) -> FloatArray:
        """Recompute marks after fills (liquidation rounds) without a new basis sample."""
        return self.prices.remark(self.clock.t)

    def sample_premium(self) -> None:
        """Sample each perp's premium index from its impact bid/ask (once per step)."""
        bids, asks = [], []
        for spec, book in zip(self.perps, self.perp_books, strict=True):
            bid = book.impact_price(-1, spec.impact_usd)
            ask = book.impact_price(1, spec.impact_usd)
            bids.append(np.nan if bid is None else bid)
            asks.append(np.nan if ask is None else ask)
        self.prices.sample_premium(np.array(bids), np.array(asks))

    def settle_funding(self) -> list[int]:
        """Settle funding in every market whose interval ends now; return those markets.

        payment = qty · price · rate (positive: longs pay shorts), price the mark (Binance) or
        the oracle, our index (Hyperliquid, `FundingSpec.price`); from the wallet for cross
        positions and from the isolated margin for isolated ones (Binance).
        """
        due = self.prices.due_for_funding(self.clock.t)
        acc = self.ledger
        for k in due:
            rate = self.prices.close_interval(k)
            on_oracle = self.perps[k].funding.price == "oracle"
            mark = float((self.prices.index_usd if on_oracle else self.prices.mark_usd)[k])
            qty = acc.qty_lots[:, k] * self.perps[k].lot_size
            pay = funding_payments_usd(qty, mark, rate)
            self.ledger.pay_funding(k, pay)
            self.events.add(
                Funding(
                    t=self.clock.t,
                    market=k,
                    rate=rate,
                    mark_usd=mark,
                    paid_by_longs_usd=float(pay[qty > 0].sum()),
                    paid_by_shorts_usd=float(pay[qty < 0].sum()),
                )
            )
        return due

    def spot_price_usd(self) -> FloatArray:
        """USD value of one coin of each spot asset: the index of its perp (NaN if none)."""
        out = np.full(len(self.spots), np.nan)
        for k, a in enumerate(self.spot_of_perp):
            if a >= 0:
                out[a] = self.prices.index_usd[k]
        return out

    def delta_usd(self, account: int) -> tuple[float, float]:
        """Return (net USD delta, gross USD exposure) of an account over spot and perps."""
        net, gross = self.deltas_usd(np.array([account]))
        return float(net[0]), float(gross[0])

    def leg_delta_usd(self, account: int, k: int) -> tuple[float, float]:
        """(net USD delta, gross USD exposure) of one account in perp k's asset."""
        net, gross = self.leg_deltas_usd(np.array([account]), k)
        return float(net[0]), float(gross[0])

    def leg_deltas_usd(self, rows: np.ndarray, k: int) -> tuple[FloatArray, FloatArray]:
        """(net USD delta, gross USD exposure) in perp k's asset of each account of `rows`: the
        perp position at the mark plus the coins of its spot (if it has one) at the index."""
        perp_usd = self.ledger.qty_lots[rows, k] * self.ledger.perp_lot_sizes[k]
        perp_usd = perp_usd * float(self.prices.mark_usd[k])
        spot_usd = np.zeros(len(rows))
        a = self.spot_of_perp[k]
        if a >= 0:
            coins = self.ledger.spot_lots[rows, a] * self._spot_lot_sizes[a]
            spot_usd = coins * float(self.prices.index_usd[k])
        return perp_usd + spot_usd, np.abs(perp_usd) + np.abs(spot_usd)

    def deltas_usd(self, rows: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """(net USD delta, gross USD exposure) of each account of `rows` over spot and perps:
        Σ perp coins · mark + Σ spot coins · the asset's index (`spot_price_usd`)."""
        perp = self.ledger.qty_lots[rows] * self.ledger.perp_lot_sizes * self.prices.mark_usd
        spot = np.nan_to_num(
            self.ledger.spot_lots[rows] * self._spot_lot_sizes * self.spot_price_usd()
        )
        net = perp.sum(axis=1) + spot.sum(axis=1)
        return net, np.abs(perp).sum(axis=1) + np.abs(spot).sum(axis=1)
