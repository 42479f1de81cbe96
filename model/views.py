"""Read-only snapshots handed to agents: one market view per step, account arrays as views."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.types import FloatArray


@dataclass(frozen=True, slots=True)
class MarketView:
    """What every agent sees at the start of a step (arrays are per asset, read-only).

    Prices are USD; NaN where a book side is empty. Asset a's perp is perp market a and its
    spot is spot asset a.
    """

    t: int
    """Minute of the run (the step about to be decided)."""
    symbols: tuple[str, ...]
    fundamental_usd: FloatArray
    """Exogenous fundamental value (what value traders pull spot toward)."""
    index_usd: FloatArray
    mark_usd: FloatArray
    spot_bid_usd: FloatArray
    spot_ask_usd: FloatArray
    perp_bid_usd: FloatArray
    perp_ask_usd: FloatArray
    funding_rate: FloatArray
    """Last settled funding rate per 8 h interval (fraction)."""
    premium: FloatArray
    """Current premium index of the perp over the index (fraction)."""
    return_15m: FloatArray
    """Log return of the index over the last 15 minutes (momentum signal)."""
    vol_1h: FloatArray
    """Standard deviation of one-minute log index returns over the last hour."""
    risk_off: float
    """Market-maker risk-off factor in [0, 1] from the macro shocks (0 = calm)."""
    exo_sell_usd: FloatArray
    """Exogenous sell flow of this minute per asset, USD (macro shock)."""
    perp_tick: FloatArray
    perp_lot: FloatArray
    spot_tick: FloatArray
    spot_lot: FloatArray
    max_leverage: FloatArray
    """Tier-1 maximum leverage of each perp."""

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def spot_mid_usd(self) -> FloatArray:
        return 0.5 * (self.spot_bid_usd + self.spot_ask_usd)

    @property
    def perp_mid_usd(self) -> FloatArray:
        return 0.5 * (self.perp_bid_usd + self.perp_ask_usd)


@dataclass(frozen=True, slots=True)
class AccountsView:
    """Read-only views of the exchange's account arrays (rows = account ids)."""

    collateral_usd: FloatArray
    qty: FloatArray
    """Signed perp position in coins, (accounts, assets)."""
    entry_price_usd: FloatArray
    spot_qty: FloatArray
    """Spot holdings in coins, (accounts, assets)."""
    equity_usd: FloatArray
    """Wallet + isolated margins + unrealised PnL at the marks."""
    is_isolated: np.ndarray


def accounts_view(ex) -> AccountsView:
    """Read-only copies of an exchange's account arrays, in coins and USD (what agents get)."""
    acc = ex.accounts
    view = AccountsView(
        collateral_usd=acc.collateral_usd.copy(),
        qty=acc.qty_lots * ex.perp_lot_sizes,
        entry_price_usd=acc.entry_price_usd.copy(),
        spot_qty=acc.spot_lots * ex.spot_lot_sizes,
        equity_usd=ex.equity_usd(),
        is_isolated=acc.is_isolated.copy(),
    )
    for arr in (
        view.collateral_usd,
        view.qty,
        view.entry_price_usd,
        view.spot_qty,
        view.equity_usd,
        view.is_isolated,
    ):
        arr.flags.writeable = False
    return view
