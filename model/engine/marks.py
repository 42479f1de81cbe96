"""Per-market price state of the perp venue: index (an input), last trade, mark and funding.

Holds no money. The exchange feeds it each step; `mark_usd` is what margin is computed on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.engine.funding import PremiumAccumulator, funding_rate, premium_index
from model.engine.pricing import BasisAverager, mark_price
from model.engine.specs import MarketSpec
from model.engine.types import FloatArray

BASIS_WINDOW_MINUTES = 5
"""Binance USDⓈ-M "Moving Average (5-minute Basis)" (exchange-mechanics.md §2.4)."""


class MarketPrices:
    """Index, last, mark, average basis, premium samples and last funding rate per perp."""

    def __init__(self, specs: Sequence[MarketSpec], index_usd: FloatArray, step_minutes: int = 1):
        self.specs = tuple(specs)
        n = len(self.specs)
        self.step_minutes = step_minutes
        self.index_usd = np.asarray(index_usd, dtype=np.float64).copy()
        self.last_usd = np.full(n, np.nan)
        self.mark_usd = self.index_usd.copy()
        self.funding_rate = np.array([s.funding.interest_rate for s in self.specs])
        self.interval_minutes = np.array([s.funding.interval_minutes for s in self.specs])
        self._basis = BasisAverager(n, max(1, BASIS_WINDOW_MINUTES // step_minutes))
        self._premium = [PremiumAccumulator(1) for _ in self.specs]
        self.premium = np.zeros(n)
        rules = sorted({s.mark_rule for s in self.specs})  # a fixed order in every process
        self._rule_cols = [
            (rule, np.array([k for k, s in enumerate(self.specs) if s.mark_rule == rule]))
            for rule in rules
        ]

    def minutes_to_funding(self, t: int) -> FloatArray:
        """Minutes until each market's next settlement at step t."""
        elapsed = (t * self.step_minutes) % self.interval_minutes
        return (self.interval_minutes - elapsed).astype(np.float64)

    def update_marks(self, t: int, mid_usd: FloatArray) -> FloatArray:
        """Sample the basis from the perp mids (once a step) and recompute every mark."""
        self._basis.update(mid_usd, self.index_usd)
        return self.remark(t)

    def remark(self, t: int) -> FloatArray:
        """Recompute every mark from the index, last trades and the basis average so far.

        Used between liquidation rounds: fills moved the last price, but no new basis sample
        is taken, so the 5-minute average keeps its five one-minute samples.
        """
        to_funding = self.minutes_to_funding(t)
        for rule, cols in self._rule_cols:
            self.mark_usd[cols] = mark_price(
                rule,
                index_usd=self.index_usd[cols],
                last_price_usd=self.last_usd[cols],
                last_funding_rate=self.funding_rate[cols],
                minutes_to_funding=to_funding[cols],
                interval_minutes=self.interval_minutes[cols],
                ma_basis_usd=self._basis.value[cols],
            )
        return self.mark_usd

    def sample_premium(self, impact_bid_usd: FloatArray, impact_ask_usd: FloatArray) -> None:
        """Add this step's premium index (impact prices against the index) per market."""
        premium = premium_index(impact_bid_usd, impact_ask_usd, self.index_usd)
        self.premium = np.asarray(premium, dtype=np.float64)
        for k, acc in enumerate(self._premium):
            acc.add(premium[k])

    def due_for_funding(self, t: int) -> list[int]:
        """Markets whose funding interval ends at step t (never at t = 0)."""
        minutes = t * self.step_minutes
        return [
            k
            for k, s in enumerate(self.specs)
            if s.funding.enabled and minutes > 0 and minutes % s.funding.interval_minutes == 0
        ]

    def close_interval(self, k: int) -> float:
        """Return market k's funding rate for the interval just ended and start a new one."""
        f = self.specs[k].funding
        avg = float(self._premium[k].average()[0])
        if f.rate_share == 1.0:
            rate = float(funding_rate(avg, f.interest_rate, f.clamp, f.cap))
        else:  # a share of the 8-hour rate each interval, capped per interval (Hyperliquid)
            full = float(funding_rate(avg, f.interest_rate, f.clamp, np.inf))
            rate = min(max(full * f.rate_share, -f.cap), f.cap)
        self.funding_rate[k] = rate
        self._premium[k].reset()
        return rate
