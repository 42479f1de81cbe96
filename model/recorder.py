"""Per-minute, per-asset time series of a run, in preallocated arrays (no per-account work).

Liquidation and ADL notionals are aggregated from the event rows added since the last record,
so recording costs O(markets + new events) per step.
"""

from __future__ import annotations

import numpy as np

SERIES = (
    "fundamental_usd",
    "index_usd",
    "mark_usd",
    "last_usd",
    "funding_rate",
    "premium",
    "oi_long_usd",
    "liq_long_usd",
    "liq_short_usd",
    "adl_usd",
    "depth_1pct_usd",
    "depth_2pct_usd",
    "spread_bps",
    "broken_hedge_sold_usd",
)
"""Per (minute, asset) series; open interest is symmetric, so one side is recorded.
premium: the premium index sampled that minute, (impact bid/ask − index) / index
(`funding.premium_index`), the samples a funding rate averages over its interval.
broken_hedge_sold_usd: what orders answering a broken hedge filled that minute (the second
round: a basis trader's naked spot, a fund's alts; `Trader.broken_hedge_orders`)."""


class Recorder:
    """Collects the model-level series of one run."""

    def __init__(self, horizon: int, n_assets: int, n_pools: int) -> None:
        self.n = 0
        self.series = {name: np.full((horizon, n_assets), np.nan) for name in SERIES}
        self.pool_usd = np.full((horizon, n_pools), np.nan)
        self.vault_usd = np.full(horizon, np.nan)
        self.accounts_in_position = np.zeros(horizon, dtype=np.int64)
        self._seen = {"liquidation": 0, "adl": 0}

    def record(self, ex, fundamental_usd: np.ndarray, broken_hedge_usd: np.ndarray) -> None:
        """Append one minute from the exchange's state, the fundamentals and the USD sold
        because a hedge was broken."""
        t, s = self.n, self.series
        prices = ex.prices
        s["fundamental_usd"][t] = fundamental_usd
        s["broken_hedge_sold_usd"][t] = broken_hedge_usd
        s["index_usd"][t] = prices.index_usd
        s["mark_usd"][t] = prices.mark_usd
        s["last_usd"][t] = prices.last_usd
        s["funding_rate"][t] = prices.funding_rate
        s["premium"][t] = prices.premium
        s["oi_long_usd"][t] = ex.long_lots * ex.perp_lot_sizes * prices.mark_usd  # running
        for k, book in enumerate(ex.perp_books):
            s["depth_1pct_usd"][t, k], s["depth_2pct_usd"][t, k] = book.depth_usd_bands(
                (0.01, 0.02)
            )
            bid, ask = book.best_bid(), book.best_ask()
            s["spread_bps"][t, k] = (ask - bid) / (ask + bid) * 2e4 if bid and ask else np.nan
        self._aggregate_events(ex, t)
        pools = ex.liquidator.pools
        self.pool_usd[t] = pools.balances_usd()
        if pools.vault is not None:
            self.vault_usd[t] = pools.equity_usd(pools.vault)
        self.accounts_in_position[t] = ex.users_in_position  # a running count (ledger.py)
        self.n += 1

    def _aggregate_events(self, ex, t: int) -> None:
        s = self.series
        s["liq_long_usd"][t] = s["liq_short_usd"][t] = s["adl_usd"][t] = 0.0
        for row in ex.events.rows["liquidation"][self._seen["liquidation"] :]:
            side = "liq_long_usd" if row.side > 0 else "liq_short_usd"
            s[side][t, row.market] += row.notional_usd
        for row in ex.events.rows["adl"][self._seen["adl"] :]:
            s["adl_usd"][t, row.market] += row.notional_usd
        self._seen = {k: len(ex.events.rows[k]) for k in self._seen}

    def frame(self, symbols: tuple[str, ...]):
        """The series as a long pandas DataFrame: one row per (minute, asset)."""
        import pandas as pd

        n = self.n
        data = {
            "minute": np.repeat(np.arange(n), len(symbols)),
            "asset": np.tile(np.array(symbols), n),
        }
        for name, arr in self.series.items():
            data[name] = arr[:n].ravel()
        return pd.DataFrame(data)
