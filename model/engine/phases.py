"""Per-step phases of the exchange: index and marks, premium and funding, liquidation, unwind.

A mixin of `Exchange` (model/engine/exchange.py); funding is paid through the ledger, in one
vectorised transfer per settlement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.engine.events import Funding
from model.engine.funding import funding_payments_usd
from model.engine.types import FloatArray


class MarketPhases:
    """Prices, funding, liquidation and system-position unwind (mixed into `Exchange`)."""

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
        return self.prices.update_marks(self.t, self.perp_mids())

    def remark(self) -> FloatArray:
        """Recompute marks after fills (liquidation rounds) without a new basis sample."""
        return self.prices.remark(self.t)

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

        payment = qty · mark · F (positive F: longs pay shorts), from the wallet for cross
        positions and from the isolated margin for isolated ones (Binance).
        """
        due = self.prices.due_for_funding(self.t)
        acc = self.accounts
        for k in due:
            rate = self.prices.close_interval(k)
            mark = float(self.prices.mark_usd[k])
            qty = acc.qty_lots[:, k] * self.perps[k].lot_size
            pay = funding_payments_usd(qty, mark, rate)
            self.ledger.pay_funding(k, pay)
            self.events.add(
                Funding(
                    t=self.t,
                    market=k,
                    rate=rate,
                    mark_usd=mark,
                    paid_by_longs_usd=float(pay[qty > 0].sum()),
                    paid_by_shorts_usd=float(pay[qty < 0].sum()),
                )
            )
        return due

    # ----------------------------------------------------------------- liquidation phase
    def liquidate(self) -> int:
        """Run the liquidation loop (liquidation.py); return the number of units closed."""
        return self.liquidator.run()

    def unwind_system_positions(self) -> None:
        """Pools and vault sell a fraction of what they took over back into the books."""
        frac = self.liquidator.cfg.pool_unwind_fraction
        pools = self.liquidator.pools
        holders = [*pools.accounts, *([pools.vault] if pools.vault is not None else [])]
        for acct in holders:
            for k in np.flatnonzero(self.accounts.qty_lots[acct]):
                lots = int(self.accounts.qty_lots[acct, k])
                n = max(1, int(abs(lots) * frac)) if frac > 0 else 0
                side = -1 if lots > 0 else 1
                mark = float(self.prices.mark_usd[k])
                if n:
                    self.forced_ioc(
                        acct,
                        int(k),
                        side,
                        n,
                        mark * (1 + side * self.market_order_band),
                        is_liquidation=False,
                    )
        pools.record_step()

    def spot_price_usd(self) -> FloatArray:
        """USD value of one coin of each spot asset: the index of its perp (NaN if none)."""
        out = np.full(len(self.spots), np.nan)
        for k, a in enumerate(self.spot_of_perp):
            if a >= 0:
                out[a] = self.prices.index_usd[k]
        return out

    def delta_usd(self, account: int) -> tuple[float, float]:
        """Return (net USD delta, gross USD exposure) of an account over spot and perps."""
        perp = self.accounts.qty_lots[account] * self.perp_lot_sizes * self.prices.mark_usd
        spot = np.nan_to_num(
            self.accounts.spot_lots[account] * self.spot_lot_sizes * self.spot_price_usd()
        )
        return float(perp.sum() + spot.sum()), float(np.abs(perp).sum() + np.abs(spot).sum())
