"""The margin state of accounts at the current marks, vectorised: what the liquidator, the
policies and the pools read (the ledger's arrays and the marks; it writes nothing).

Unrealised PnL and notional come from margin.py, maintenance from the tier tables
(margin.maintenance_margin); the liquidation scan's block kernel is held equal to
`risk_arrays` by tests/test_fast_paths.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.engine.collateral import Collateral
from model.engine.ledger import Ledger
from model.engine.margin import maintenance_margin, notional_usd, unrealized_pnl_usd
from model.engine.marks import MarketPrices
from model.engine.specs import MarketSpec
from model.engine.types import FloatArray


class RiskView:
    """Equity, unrealised PnL, notional and maintenance of every account at the marks."""

    def __init__(
        self,
        ledger: Ledger,
        prices: MarketPrices,
        perps: Sequence[MarketSpec],
        collateral: Collateral | None = None,
    ) -> None:
        self.ledger, self.prices, self.perps = ledger, prices, perps
        self.collateral = collateral

    def risk_arrays(self, rows: slice | np.ndarray = slice(None)) -> dict[str, np.ndarray]:
        """Vectorised margin state of every account (or of `rows`) at the current marks.

        Returns a dict of arrays: `upnl_usd` (n, m), `notional_usd` (n, m), `mm_usd` (n, m),
        `cross_equity_usd` (n,), `cross_mm_usd` (n,), `cross_im_usd` (n,), `iso_equity_usd`
        (n, m), `is_cross` (n, m), n = number of rows. Equity = wallet + unrealised PnL at the
        mark (+ the collateral coins' value after haircut, `Collateral.value_usd`, when
        collateral assets are configured); maintenance = tiered notional·MMR − cum
        (margin.maintenance_margin).
        """
        acc = self.ledger
        mark = self.prices.mark_usd
        lots = acc.qty_lots[rows]
        qty = lots * self.ledger.perp_lot_sizes
        upnl = unrealized_pnl_usd(qty, acc.entry_price_usd[rows], mark)
        notional = notional_usd(qty, mark)
        mm = np.empty_like(notional)
        for k, spec in enumerate(self.perps):
            mm[:, k] = maintenance_margin(notional[:, k], spec.tiers)
        is_cross = (lots != 0) & ~acc.is_isolated[rows]
        cross_equity = acc.collateral_usd[rows] + (upnl * is_cross).sum(axis=1)
        if self.collateral is not None and self.collateral.enabled:
            cross_equity = cross_equity + self.collateral.value_usd(rows)
        return {
            "upnl_usd": upnl,
            "notional_usd": notional,
            "mm_usd": mm,
            "is_cross": is_cross,
            "cross_equity_usd": cross_equity,
            "cross_mm_usd": (mm * is_cross).sum(axis=1),
            "cross_im_usd": (notional / acc.leverage[rows] * is_cross).sum(axis=1),
            "iso_equity_usd": acc.isolated_margin_usd[rows] + upnl,
        }

    def upnl_usd(self, rows: slice | np.ndarray | int = slice(None)) -> FloatArray:
        """Unrealised PnL per (account, market) at the marks: q · (mark − entry)."""
        acc = self.ledger
        qty = acc.qty_lots[rows] * self.ledger.perp_lot_sizes
        return unrealized_pnl_usd(qty, acc.entry_price_usd[rows], self.prices.mark_usd)

    def equity_usd(self, rows: slice | np.ndarray = slice(None)) -> FloatArray:
        """Total equity per account: wallet + isolated margins + all unrealised PnL."""
        return self.ledger.equity_usd(self.prices.mark_usd, rows)
