"""Index and mark prices: the robust spot index, the mark-price rules and the basis average.

Pure, deterministic functions vectorised over markets; `BasisAverager` and `EwmVolatility`
are the stateful helpers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from model.engine.types import FloatArray

MARK_RULES = ("binance", "index", "last")
"""Mark-price rules `mark_price` accepts."""


def _as_float(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatArray:
    # 0-d results come back as np.float64 scalars, so scalar inputs give scalar outputs.
    return x[()] if x.ndim == 0 else x


def robust_index(sources_usd: npt.ArrayLike, max_deviation: float = 0.05) -> FloatArray:
    """Combine several spot prices into one index price, robust to a bad source.

    Binance rule (exchange-mechanics.md §2.4, [DOC via finandy copy]), with equal weights:

    1. m = median of the available sources (NaN = source missing or stale).
    2. A source with |p_i − m| > max_deviation · m gets weight 0.
    3. If more than one source deviates, the index is m (median of all available sources);
       otherwise it is the mean of the remaining sources.

    Example: [100, 100.2, 160] → m = 100.2, 160 deviates 60 % → mean(100, 100.2) = 100.1.

    Args:
        sources_usd: Spot prices in USD, shape (n_sources,) or (n_markets, n_sources);
            NaN marks a missing source. Prices are assumed positive.
        max_deviation: Relative deviation from the median above which a source is dropped
            (a fraction; 0.05 = 5 %). Exactly max_deviation is kept.

    Returns:
        Index price in USD: a scalar for 1-D input, shape (n_markets,) for 2-D input.
        NaN where no source is available.

    Raises:
        ValueError: If max_deviation is not > 0 or sources_usd is not 1-D or 2-D.
    """
    if not (np.isfinite(max_deviation) and max_deviation > 0):
        raise ValueError(f"max_deviation={max_deviation!r} is out of range; allowed: (0, inf)")
    prices = _as_float(sources_usd)
    if prices.ndim not in (1, 2) or prices.shape[-1] == 0:
        raise ValueError(
            f"sources_usd has shape {prices.shape}; allowed: (n_sources,) or "
            "(n_markets, n_sources) with n_sources >= 1"
        )
    rows = np.atleast_2d(prices)
    is_valid = ~np.isnan(rows)
    n_valid = is_valid.sum(axis=1)
    # Median of the valid entries without nanmedian's all-NaN warning: sort puts NaN last.
    ordered = np.sort(rows, axis=1)
    lo = np.maximum((n_valid - 1) // 2, 0)[:, None]
    hi = np.maximum(n_valid // 2, 0)[:, None]
    median = (
        0.5
        * (np.take_along_axis(ordered, lo, axis=1) + np.take_along_axis(ordered, hi, axis=1))[:, 0]
    )
    with np.errstate(invalid="ignore"):
        is_outlier = is_valid & (np.abs(rows - median[:, None]) > max_deviation * median[:, None])
    is_kept = is_valid & ~is_outlier
    n_kept = is_kept.sum(axis=1)
    kept_sum = np.where(is_kept, rows, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kept_mean = kept_sum / n_kept
    index = np.where(is_outlier.sum(axis=1) > 1, median, kept_mean)
    index = np.where(n_valid == 0, np.nan, index)
    return index[0] if prices.ndim == 1 else index


def funding_basis_price(
    index_usd: npt.ArrayLike,
    funding_rate: npt.ArrayLike,
    minutes_to_funding: npt.ArrayLike,
    interval_minutes: npt.ArrayLike,
) -> FloatArray:
    """Return the funding-basis price, Binance's Price1 (and its whole 2019 mark price).

    Price1 = Index · (1 + F · τ),  τ = minutes_to_funding / interval_minutes
    (exchange-mechanics.md §2.4 [DOC]; BitMEX fair price §3.5).
    TV-B9: F = 0.03 %, 4 h of an 8 h interval, Index 10,000 → 10,000 · 1.00015 = 10,001.5.

    Args:
        index_usd: Index price in USD, per market.
        funding_rate: Last funding rate F as a fraction per funding interval, per market.
        minutes_to_funding: Minutes until the next settlement, in [0, interval_minutes].
        interval_minutes: Length of the funding interval in minutes (> 0).

    Returns:
        Price1 in USD, broadcast over the inputs.

    Raises:
        ValueError: If interval_minutes <= 0 or minutes_to_funding is outside
            [0, interval_minutes].
    """
    interval = _as_float(interval_minutes)
    to_funding = _as_float(minutes_to_funding)
    if np.any(~(interval > 0)):
        raise ValueError(f"interval_minutes={interval_minutes!r} is out of range; allowed: > 0")
    if np.any(~((to_funding >= 0) & (to_funding <= interval))):
        raise ValueError(
            f"minutes_to_funding={minutes_to_funding!r} is out of range; "
            f"allowed: [0, interval_minutes={interval_minutes!r}]"
        )
    tau = to_funding / interval
    return _out(_as_float(index_usd) * (1.0 + _as_float(funding_rate) * tau))


def mark_price_binance(
    index_usd: npt.ArrayLike,
    last_funding_rate: npt.ArrayLike,
    minutes_to_funding: npt.ArrayLike,
    interval_minutes: npt.ArrayLike,
    ma_basis_usd: npt.ArrayLike,
    last_price_usd: npt.ArrayLike,
) -> FloatArray:
    """Return Binance's perpetual mark price, the median of three prices.

    Mark = Median(Price1, Price2, Last),  Price1 = Index · (1 + F · τ),
    Price2 = Index + MA_basis  (exchange-mechanics.md §2.4 [DOC]);
    e.g. if Price1 < Price2 < Last then Mark = Price2.

    Choice: with no trade yet (Last is NaN) the mark is the median of the two available
    prices, i.e. (Price1 + Price2) / 2, so one missing input never drops a whole leg. A
    Price2 that is not a positive price (a USD basis sampled before the index fell below
    it) is dropped as a missing leg is: the mark is then the median of Price1 and Last, or
    Price1 alone, so a mark is never <= 0 (issue 16).

    Args:
        index_usd: Index price in USD, per market.
        last_funding_rate: Last funding rate F (fraction per interval), per market.
        minutes_to_funding: Minutes until the next settlement, in [0, interval_minutes].
        interval_minutes: Funding interval in minutes (> 0).
        ma_basis_usd: Moving average of (mid − index) in USD (see `BasisAverager`).
        last_price_usd: Last traded perp price in USD; NaN if the market has not traded.

    Returns:
        Mark price in USD, broadcast over the inputs; NaN where the index is NaN.

    Raises:
        ValueError: As `funding_basis_price`.
    """
    index = _as_float(index_usd)
    price1 = _as_float(
        funding_basis_price(index, last_funding_rate, minutes_to_funding, interval_minutes)
    )
    price2 = index + _as_float(ma_basis_usd)
    last = _as_float(last_price_usd)
    median3 = np.maximum(np.minimum(price1, price2), np.minimum(np.maximum(price1, price2), last))
    mark = np.where(np.isnan(last), 0.5 * (price1 + price2), median3)
    without_price2 = np.where(np.isnan(last), price1, 0.5 * (price1 + last))
    return _out(np.where(price2 > 0, mark, without_price2))


def mark_price(
    rule: str,
    *,
    index_usd: npt.ArrayLike,
    last_price_usd: npt.ArrayLike | None = None,
    last_funding_rate: npt.ArrayLike | None = None,
    minutes_to_funding: npt.ArrayLike | None = None,
    interval_minutes: npt.ArrayLike | None = None,
    ma_basis_usd: npt.ArrayLike | None = None,
) -> FloatArray:
    """Return the mark price under a named rule (mark-price design is a research lever).

    Rules (exchange-mechanics.md §2.4; DESIGN.md §2.3):

    - ``"binance"``: `mark_price_binance` (all keyword inputs required).
    - ``"index"``: Mark = Index.
    - ``"last"``: Mark = Last traded price; Index where the market has not traded (NaN or
      last_price_usd omitted).

    Args:
        rule: One of `MARK_RULES`.
        index_usd: Index price in USD, per market.
        last_price_usd: Last traded perp price in USD (NaN = no trade yet).
        last_funding_rate: Last funding rate (fraction per interval); "binance" only.
        minutes_to_funding: Minutes until the next settlement; "binance" only.
        interval_minutes: Funding interval in minutes; "binance" only.
        ma_basis_usd: Moving-average basis in USD; "binance" only.

    Returns:
        Mark price in USD, per market.

    Raises:
        ValueError: If the rule is unknown or an input the rule needs is missing.
    """
    if rule not in MARK_RULES:
        raise ValueError(f"rule={rule!r} is not a mark-price rule; allowed: {MARK_RULES}")
    index = _as_float(index_usd)
    if rule == "index":
        return _out(index.copy())
    if rule == "last":
        if last_price_usd is None:
            return _out(index.copy())
        last = _as_float(last_price_usd)
        return _out(np.where(np.isnan(last), index, last))
    needed = {
        "last_price_usd": last_price_usd,
        "last_funding_rate": last_funding_rate,
        "minutes_to_funding": minutes_to_funding,
        "interval_minutes": interval_minutes,
        "ma_basis_usd": ma_basis_usd,
    }
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise ValueError(f"rule='binance' needs {', '.join(missing)}; got None")
    return mark_price_binance(
        index, last_funding_rate, minutes_to_funding, interval_minutes, ma_basis_usd, last_price_usd
    )


class BasisAverager:
    """Moving average of the basis (mid − index) per market over the last valid samples.

    MA_basis = Σ_{last w valid samples} (mid_i − index_i) / w   (exchange-mechanics.md §2.4:
    Binance USDⓈ-M "Moving Average (5-minute Basis)"; with one-minute steps, window_steps = 5).
    A sample whose mid or index is NaN (empty book) is skipped: it is not counted and does not
    push an older sample out. Fixed-size numpy ring buffer; each update is O(n_markets).

    Args:
        n_markets: Number of markets (>= 1).
        window_steps: Number of valid samples averaged per market (>= 1).

    Raises:
        ValueError: If n_markets or window_steps is not an integer >= 1.
    """

    def __init__(self, n_markets: int, window_steps: int) -> None:
        for name, value in (("n_markets", n_markets), ("window_steps", window_steps)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} is out of range; allowed: integer >= 1")
        self.n_markets = int(n_markets)
        self.window_steps = int(window_steps)
        self._samples = np.zeros((self.window_steps, self.n_markets))
        self._next_slot = np.zeros(self.n_markets, dtype=np.int64)
        self._counts = np.zeros(self.n_markets, dtype=np.int64)
        self._columns = np.arange(self.n_markets)

    def update(self, mid_usd: npt.ArrayLike, index_usd: npt.ArrayLike) -> None:
        """Record one basis sample (mid_usd − index_usd) per market; NaN samples are skipped.

        Args:
            mid_usd: Perp mid price (best bid + best ask) / 2 in USD, shape (n_markets,);
                NaN where the book has no two-sided quote.
            index_usd: Index price in USD, shape (n_markets,).

        Raises:
            ValueError: If the inputs do not broadcast to (n_markets,).
        """
        shape = (self.n_markets,)
        try:
            basis = np.broadcast_to(_as_float(mid_usd) - _as_float(index_usd), shape)
        except ValueError as err:
            raise ValueError(
                f"mid_usd/index_usd must broadcast to shape {shape} (n_markets)"
            ) from err
        is_valid = ~np.isnan(basis)
        slots = self._next_slot[is_valid]
        self._samples[slots, self._columns[is_valid]] = basis[is_valid]
        self._next_slot[is_valid] = (slots + 1) % self.window_steps
        self._counts[is_valid] = np.minimum(self._counts[is_valid] + 1, self.window_steps)

    @property
    def value(self) -> FloatArray:
        """Mean basis in USD over the last window_steps valid samples; 0 where there are none."""
        # Unfilled slots hold 0, so the column sum is the sum of the valid samples.
        return self._samples.sum(axis=0) / np.maximum(self._counts, 1)

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        """Number of valid samples in each market's window (0..window_steps)."""
        return self._counts.copy()

    def reset(self) -> None:
        """Forget all samples."""
        self._samples.fill(0.0)
        self._next_slot.fill(0)
        self._counts.fill(0)


class EwmVolatility:
    """Exponentially weighted mean and variance of per-minute log returns, per asset.

    Notes:
        With α = 2 / (span + 1) and d = r − μ: μ ← μ + α·d, v ← (1 − α)·(v + α·d²)
        (Finch 2009, "Incremental calculation of weighted mean and variance"); the reported
        std is sqrt(v / (1 − (1 − α)^n)) after n returns (the start-up weight), 0 before two.
        NaN returns (no index yet) count as 0.
    """

    def __init__(self, n_assets: int, span_minutes: float) -> None:
        self.alpha = 2.0 / (span_minutes + 1.0)
        self.mean = np.zeros(n_assets)
        self.var = np.zeros(n_assets)
        self.n = 0

    def update(self, returns: np.ndarray) -> None:
        """Fold in one minute's log returns."""
        d = np.nan_to_num(returns) - self.mean
        self.mean += self.alpha * d
        self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d)
        self.n += 1

    @property
    def std(self) -> np.ndarray:
        """The current volatility per asset (a fresh array)."""
        if self.n < 2:
            return np.zeros_like(self.var)
        return np.sqrt(self.var / (1.0 - (1.0 - self.alpha) ** self.n))
