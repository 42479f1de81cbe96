"""The liquidation map: open interest by liquidation price, side and leverage bucket, a
function of a position snapshot (`model.snapshots.position_snapshot`; no model imports).

`liquidation_map_stacks` gives the numbers, `liquidation_map` draws one market (into `ax` if
given), `liquidation_maps` a row of markets; the teaching page draws the same stacks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from experiments.analysis.plots import axes_or_new
from experiments.analysis.returns import require_columns

LEVERAGE_BUCKETS = ((0.0, 10.0, "<10x"), (10.0, 25.0, "10–25x"), (25.0, 50.0, "25–50x"))
LEVERAGE_BUCKETS += ((50.0, np.inf, "50–100x"),)
"""(low, high, label): leverage settings in [low, high) fall in the bucket."""
BUCKET_COLORS = ("#9ecae1", "#4292c6", "#fd8d3c", "#d62728")
SNAPSHOT_NEEDS = ("market", "side", "notional_usd", "leverage", "liquidation_price_usd")


def liquidation_map_stacks(
    snapshot: pd.DataFrame, market: int, price_usd: float, width: float = 0.3, n_bins: int = 40
) -> tuple[np.ndarray, list[tuple[int, str, np.ndarray]]]:
    """The liquidation map's numbers: price bin edges and notional per bin, side and bucket.

    Positions with no liquidation price or one outside price·(1 ± width) are left out.

    Args:
        snapshot: `model.snapshots.position_snapshot` table (`SNAPSHOT_NEEDS` columns).
        market: Market index.
        price_usd: The current price (the mark), USD; the window is centred on it.
        width: Half-width of the price window, as a fraction of `price_usd`.
        n_bins: Number of price bins over the window.

    Returns:
        (edges, stacks): `n_bins + 1` edges in USD; one (side, bucket label, USD per bin) per
        side (+1 longs, then −1 shorts) and leverage bucket (`LEVERAGE_BUCKETS` order).

    Raises:
        ValueError: On missing columns, price_usd <= 0 or width outside (0, 1).
    """
    require_columns(snapshot, SNAPSHOT_NEEDS, "position snapshot")
    if not price_usd > 0 or not 0 < width < 1:
        raise ValueError(f"need price_usd > 0 and 0 < width < 1, got {price_usd!r}, {width!r}")
    one = snapshot[(snapshot.market == market) & snapshot.liquidation_price_usd.notna()]
    edges = np.linspace(price_usd * (1 - width), price_usd * (1 + width), n_bins + 1)
    stacks = []
    for side in (1, -1):
        for lo, hi, label in LEVERAGE_BUCKETS:
            pick = one[(one.side == side) & (one.leverage >= lo) & (one.leverage < hi)]
            usd, _ = np.histogram(pick.liquidation_price_usd, edges, weights=pick.notional_usd)
            stacks.append((side, label, usd))
    return edges, stacks


def liquidation_map(
    snapshot: pd.DataFrame,
    market: int,
    price_usd: float,
    ax: Axes | None = None,
    width: float = 0.3,
    n_bins: int = 40,
) -> Figure:
    """Open interest by liquidation price and leverage bucket around the current price.

    Stacked bars of `liquidation_map_stacks`: notional (USD at the mark) whose liquidation
    price falls in each bin, one stack per leverage bucket (`LEVERAGE_BUCKETS`); longs (solid)
    liquidate below the price, shorts (hatched) above; a vertical line marks `price_usd`.

    Args:
        snapshot: `model.snapshots.position_snapshot` table (`SNAPSHOT_NEEDS` columns).
        market: Market index to draw.
        price_usd: The current price (the mark), USD.
        ax: Axes to draw into; default a new figure.
        width: Half-width of the price window, as a fraction of `price_usd`.
        n_bins: Number of price bins over the window.

    Returns:
        The Figure: 2 × len(LEVERAGE_BUCKETS) bar series (longs then shorts), n_bins bars each.
    """
    edges, stacks = liquidation_map_stacks(snapshot, market, price_usd, width, n_bins)
    fig, ax = axes_or_new(ax, (7, 3.5))
    centers, bin_w = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    bottom = np.zeros(n_bins)
    for i, (side, label, usd) in enumerate(stacks):
        if i == len(LEVERAGE_BUCKETS):
            bottom = np.zeros(n_bins)  # the shorts stack from zero
        hatch = None if side > 0 else "//"
        ax.bar(
            centers,
            usd / 1e3,
            bin_w * 0.9,
            bottom=bottom,
            color=BUCKET_COLORS[i % len(LEVERAGE_BUCKETS)],
            hatch=hatch,
            edgecolor="white" if hatch is None else "0.3",
            label=f"{'longs' if side > 0 else 'shorts'} {label}" if usd.any() else None,
            lw=0.3,
        )
        bottom = bottom + usd / 1e3
    ax.axvline(price_usd, color="k", lw=1.0, ls="--", label="current price")
    one = snapshot[snapshot.market == market]
    symbol = one.symbol.iloc[0] if "symbol" in one and len(one) else f"market {market}"
    ax.set_title(f"{symbol}: open interest by liquidation price")
    ax.set_xlabel("liquidation price, USD")
    ax.set_ylabel("open interest, k USD")
    ax.legend(fontsize=7, ncols=2, loc="upper left")
    return fig


def liquidation_maps(snapshot: pd.DataFrame, markets: Sequence[int], width: float = 0.3) -> Figure:
    """`liquidation_map` for several markets side by side, each around its own mark
    (the snapshot's ``mark_usd``)."""
    require_columns(snapshot, (*SNAPSHOT_NEEDS, "mark_usd"), "position snapshot")
    fig = Figure(figsize=(6 * len(markets), 3.6), layout="constrained")
    for ax, k in zip(np.atleast_1d(fig.subplots(1, len(markets))), markets, strict=True):
        one = snapshot[snapshot.market == k]
        if one.empty:
            raise ValueError(f"no open position in market {k} in the snapshot")
        liquidation_map(snapshot, k, float(one.mark_usd.iloc[0]), ax=ax, width=width)
    return fig


# ------------------------------------------------------------------------- one run
