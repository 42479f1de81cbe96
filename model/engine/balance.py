"""An account's available balance (what a new order or a ladder may use) and what it may
withdraw.

available = cross equity − cross initial margin − margin reserved by resting orders, with
cross equity = wallet + Σ cross UPnL at the marks (+ collateral coins after haircut,
`Collateral.value_usd`, when configured) and initial margin = notional / leverage
(Binance "available balance"; margin.unrealized_pnl_usd, margin.notional_usd).
"""

from __future__ import annotations

import numpy as np

from model.engine.collateral import Collateral
from model.engine.ledger import Ledger
from model.engine.margin import notional_usd, unrealized_pnl_usd
from model.engine.marks import MarketPrices
from model.engine.reserves import OrderReserves


class Balances:
    """Reads the ledger, the marks and the reserves; writes nothing."""

    collateral: Collateral | None = None
    """Collateral coins counted in cross equity (set by the exchange; None: USD only)."""

    def __init__(self, ledger: Ledger, prices: MarketPrices, reserves: OrderReserves) -> None:
        self.ledger, self.prices, self.reserves = ledger, prices, reserves
        self._lot_list = ledger.perp_lot_sizes.tolist()

    def _row_state(self, account: int) -> tuple[float, float]:
        """Return (cross equity, cross initial margin) of one account at the marks."""
        equity, im = self._usd_state(account)
        if self.collateral is not None and self.collateral.enabled:
            equity = float(equity + self.collateral.value_usd(account))  # as `risk_arrays`
        return equity, im

    def _usd_state(self, account: int) -> tuple[float, float]:
        """(wallet + Σ cross UPnL, cross initial margin) of one account at the marks."""
        acc = self.ledger
        lots = acc.qty_lots[account]
        if len(lots) < 8:  # in Python floats: numpy adds fewer than 8 terms in this order
            return self._row_state_small(account, lots.tolist())
        if not lots.any():
            return float(acc.collateral_usd[account]), 0.0
        mark = self.prices.mark_usd
        qty = lots * self.ledger.perp_lot_sizes
        cross = (lots != 0) & ~acc.is_isolated[account]
        upnl = unrealized_pnl_usd(qty, acc.entry_price_usd[account], mark)
        im = notional_usd(qty, mark) / acc.leverage[account]
        return float(acc.collateral_usd[account] + upnl[cross].sum()), float(im[cross].sum())

    def _row_state_small(self, account: int, lots: list[int]) -> tuple[float, float]:
        """`_row_state` with the same float operations, on Python floats (a few markets): the
        fast path of margin.unrealized_pnl_usd and notional / leverage, held equal to
        `risk_arrays` by tests/test_fast_paths.py."""
        acc = self.ledger
        wallet = acc.collateral_usd[account]
        if not any(lots):
            return float(wallet), 0.0
        iso = acc.is_isolated[account].tolist()
        entry = acc.entry_price_usd[account].tolist()
        lev = acc.leverage[account].tolist()
        mark = self.prices.mark_usd.tolist()
        upnl_sum = im_sum = 0.0
        for k, n in enumerate(lots):
            if n and not iso[k]:
                q = n * self._lot_list[k]
                upnl_sum += q * (mark[k] - entry[k])
                im_sum += abs(q) * mark[k] / lev[k] if lev[k] else np.inf
        return float(wallet + upnl_sum), im_sum

    def unit_equity_usd(self, account: int, market: int) -> float:
        """Equity of the liquidation unit holding `account`'s position in `market`: the
        isolated margin + its UPnL for an isolated position, else the cross equity."""
        acc = self.ledger
        if not acc.is_isolated[account, market]:
            return self._row_state(account)[0]
        qty = int(acc.qty_lots[account, market]) * float(acc.perp_lot_sizes[market])
        entry = float(acc.entry_price_usd[account, market])
        upnl = unrealized_pnl_usd(qty, entry, float(self.prices.mark_usd[market]))
        return float(acc.isolated_margin_usd[account, market]) + float(upnl)

    def available_usd(self, account: int) -> float:
        """Available balance: cross equity − cross initial margin − margin reserved by orders."""
        equity, im = self._row_state(account)
        return equity - im - self.reserves.margin_of(account)

    def usd_available_usd(self, account: int) -> float:
        """The available balance without collateral coins: what a spot buy may spend (the
        coins back perp margin, they do not buy more coins on credit)."""
        equity, im = self._usd_state(account)
        return equity - im - self.reserves.margin_of(account)

    def withdrawable_usd(self, account: int) -> float:
        """What may leave the account: min(wallet, cross equity) − cross initial margin −
        margin reserved by orders. Unrealised losses reduce it, unrealised profit does not
        add to it (Binance: unrealised profit is not transferable)."""
        equity, im = self._row_state(account)
        wallet = float(self.ledger.collateral_usd[account])
        return min(wallet, equity) - im - self.reserves.margin_of(account)
