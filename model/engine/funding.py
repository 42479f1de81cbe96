"""Funding: premium index, the time-weighted premium average, the clamped rate and payments.

Pure, deterministic functions vectorised over markets; `PremiumAccumulator` is the one stateful
helper. Rates are fractions per funding interval; time `t` is in integer steps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from model.engine.types import FloatArray

DEFAULT_INTEREST_RATE = 0.0001
"""I = 0.01 % per 8 h interval (Binance default; Hyperliquid's I per 8 h is the same)."""
DEFAULT_CLAMP = 0.0005
"""Band on (I − P): ±0.05 % (Binance §2.5, Hyperliquid §5.6)."""
DEFAULT_CAP = 0.003
"""Cap/floor on F: ±0.3 %, Binance BTCUSDT (many alts ±2 % or ±3 %; Hyperliquid 4 %/h)."""


def _as_float(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatArray:
    # 0-d results come back as np.float64 scalars, so scalar inputs give scalar outputs.
    return x[()] if x.ndim == 0 else x


def premium_index(
    impact_bid_usd: npt.ArrayLike, impact_ask_usd: npt.ArrayLike, index_usd: npt.ArrayLike
) -> FloatArray:
    """Return the premium index P of the perp over its index, per market.

    P = [max(0, ImpactBid − Index) − max(0, Index − ImpactAsk)] / Index
    (exchange-mechanics.md §2.5 Binance [DOC]; §5.6 Hyperliquid, with the oracle as index).
    TV-H4: impact bid 10,100, index 10,000 → (100 − 0) / 10,000 = 1 %.

    Choice: a NaN impact price (the book is too thin to fill the impact notional on that side)
    contributes 0 — the side with no depth exerts no pull. A NaN index gives NaN.

    Args:
        impact_bid_usd: Average fill price to sell the impact notional, in USD (NaN = thin).
        impact_ask_usd: Average fill price to buy the impact notional, in USD (NaN = thin).
        index_usd: Index (or oracle) price in USD.

    Returns:
        Premium as a fraction (0.01 = 1 %), broadcast over the inputs.
    """
    index = _as_float(index_usd)
    # np.fmax returns the non-NaN operand, so a NaN impact price contributes 0.
    bid_pull = np.fmax(_as_float(impact_bid_usd) - index, 0.0)
    ask_pull = np.fmax(index - _as_float(impact_ask_usd), 0.0)
    return _out((bid_pull - ask_pull) / index)


def funding_rate(
    avg_premium: npt.ArrayLike,
    interest_rate: npt.ArrayLike = DEFAULT_INTEREST_RATE,
    clamp: npt.ArrayLike = DEFAULT_CLAMP,
    cap: npt.ArrayLike = DEFAULT_CAP,
) -> FloatArray:
    """Return the funding rate for one interval from the average premium.

    F = P + clamp(I − P, −clamp, +clamp),  then  F = clamp(F, −cap, +cap)
    (exchange-mechanics.md §2.5 Binance [DOC], §3.5 BitMEX, §5.6 Hyperliquid).
    Hence F = I whenever P ∈ [I − clamp, I + clamp]; e.g. I = 0.01 %: P = 0.20 % →
    0.20 % + (−0.05 %) = 0.15 %. Positive F: longs pay shorts.

    Hyperliquid pays hourly at F/8 of this 8-hour rate; scale in the caller (§5.6, §10 item 5).

    Args:
        avg_premium: Time-weighted average premium P (fraction), per market; NaN gives NaN.
        interest_rate: Interest rate I per interval (fraction), scalar or per market.
        clamp: Half-width of the band on I − P (fraction, >= 0), scalar or per market.
        cap: Cap and floor on |F| (fraction, > 0), scalar or per market; np.inf for none.
            Binance's rule is cap = k · MMR of tier 1 with k = 0.75 or 1, or a published
            per-symbol value; the default is BTCUSDT's ±0.3 %.

    Returns:
        Funding rate F as a fraction per interval, broadcast over the inputs.

    Raises:
        ValueError: If clamp < 0 or cap <= 0 (or either is NaN).
    """
    band = _as_float(clamp)
    limit = _as_float(cap)
    if np.any(~(band >= 0)):
        raise ValueError(f"clamp={clamp!r} is out of range; allowed: [0, inf)")
    if np.any(~(limit > 0)):
        raise ValueError(f"cap={cap!r} is out of range; allowed: (0, inf]")
    premium = _as_float(avg_premium)
    rate = premium + np.clip(_as_float(interest_rate) - premium, -band, band)
    return _out(np.clip(rate, -limit, limit))


class PremiumAccumulator:
    """Time-weighted average of the premium over one funding interval, per market.

    avg = Σ_i w_i · P_i / Σ_i w_i,  w_i = i  (i = 1..n, the sample's step in the interval), so
    samples nearer the funding time weigh more (exchange-mechanics.md §2.5 Binance [DOC]:
    "weights 1..n increasing toward the funding time"). One sample per step (one minute here,
    instead of Binance's 5 s). A NaN premium (index missing) is skipped for that market; the
    other samples keep their time weights. O(n_markets) per sample; call `reset` after each
    settlement.

    Args:
        n_markets: Number of markets (>= 1).

    Raises:
        ValueError: If n_markets is not an integer >= 1.
    """

    def __init__(self, n_markets: int) -> None:
        if isinstance(n_markets, bool) or not isinstance(n_markets, int | np.integer):
            raise ValueError(f"n_markets={n_markets!r} is out of range; allowed: integer >= 1")
        if n_markets < 1:
            raise ValueError(f"n_markets={n_markets!r} is out of range; allowed: integer >= 1")
        self.n_markets = int(n_markets)
        self._step = 0
        self._weighted_sum = np.zeros(self.n_markets)
        self._weight_sum = np.zeros(self.n_markets)

    def add(self, premium: npt.ArrayLike) -> None:
        """Record this step's premium per market (call once per step).

        Args:
            premium: Premium index (fraction), shape (n_markets,) or scalar; NaN = no sample.

        Raises:
            ValueError: If premium does not broadcast to (n_markets,).
        """
        shape = (self.n_markets,)
        try:
            sample = np.broadcast_to(_as_float(premium), shape)
        except ValueError as err:
            raise ValueError(f"premium must broadcast to shape {shape} (n_markets)") from err
        self._step += 1
        is_valid = ~np.isnan(sample)
        self._weighted_sum[is_valid] += self._step * sample[is_valid]
        self._weight_sum[is_valid] += self._step

    def average(self) -> FloatArray:
        """Return the weighted average premium per market; 0 where no sample was recorded.

        Choice: 0 for an empty interval means "no evidence of a premium", so F = I.
        """
        return self._weighted_sum / np.where(self._weight_sum > 0, self._weight_sum, 1.0)

    @property
    def n_steps(self) -> int:
        """Number of `add` calls since the last reset."""
        return self._step

    def reset(self) -> None:
        """Start a new funding interval."""
        self._step = 0
        self._weighted_sum.fill(0.0)
        self._weight_sum.fill(0.0)


def funding_payments_usd(
    qty: npt.ArrayLike, mark_price_usd: npt.ArrayLike, rate: npt.ArrayLike
) -> FloatArray:
    """Return the USD each position pays at a settlement (positive pays, negative receives).

    payment[a, m] = qty[a, m] · (mark[m] · F[m])   (exchange-mechanics.md §2.5 Binance [DOC]:
    FundingAmount = PositionNotional(at mark) · F; positive F: longs pay shorts).
    TV-B10: 0.01 % on a $20,000 long → $2 per settlement, $6 a day over 3 settlements.
    Hyperliquid pays on the oracle price (§5.6): pass the oracle as mark_price_usd.

    Zero-sum: net open interest per market is zero (Σ_a qty[a, m] = 0), so the exact payments
    sum to zero. The per-market factor c = fl(mark · F) is computed once and shared, so each
    payment is qty·c·(1 + δ) with |δ| ≤ u = 2⁻⁵³ and the exact sum of the rounded payments is
    Σ qty·c·δ. With the summation error this gives, per market, to first order in u,
    |Σ_a payment| ≤ n · u · Σ_a |payment|  (n = number of accounts; numpy's pairwise sum is
    usually far tighter), plus |c · Σ_a qty| if the quantities themselves do not net to zero.

    Args:
        qty: Signed position size in coins (+ long, − short), shape (n_accounts, n_markets)
            or (n_markets,).
        mark_price_usd: Mark price in USD per market, shape (n_markets,) or scalar.
        rate: Funding rate F (fraction per interval) per market, shape (n_markets,) or scalar.

    Returns:
        USD paid by each position, same shape as the broadcast of qty over the last axis.
    """
    per_coin_usd = _as_float(mark_price_usd) * _as_float(rate)
    return _out(_as_float(qty) * per_coin_usd)


def is_funding_time(
    t: npt.ArrayLike, interval_steps: int, offset: int = 0
) -> bool | npt.NDArray[np.bool_]:
    """Tell whether funding settles at step t.

    Settlement steps are t = offset + k · interval_steps, k = 0, 1, 2, …  (e.g. an 8 h interval
    with one-minute steps is interval_steps = 480; Binance settles at 00/08/16 UTC, §2.5).
    With offset = 0, t = 0 is a settlement step; an engine whose first step is t = 1 (Mesa's
    ``model.steps``) first settles at t = interval_steps.

    Args:
        t: Step number(s), integer.
        interval_steps: Steps per funding interval (integer >= 1).
        offset: Step of the first settlement (integer >= 0).

    Returns:
        True where t >= offset and (t − offset) is a multiple of interval_steps.

    Raises:
        ValueError: If interval_steps < 1 or offset < 0 (or either is not an integer).
    """
    for name, value, low in (("interval_steps", interval_steps, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name}={value!r} is out of range; allowed: integer >= {low}")
    steps = np.asarray(t)
    is_due = (steps >= offset) & ((steps - offset) % interval_steps == 0)
    return bool(is_due) if is_due.ndim == 0 else is_due
