"""Depth and impact arithmetic over a book's levels, walked from the best price outward.

Pure integer arithmetic on (price_ticks, lots) pairs as `OrderBook.walk` yields them; the book
validates the query and turns ticks and lots into USD. A band [lo, hi] around the reference
price holds a prefix of the walk, so every sum stops at the first level outside it.
"""

from collections.abc import Iterable

BAND_REL_TOL = 1e-9
"""Keeps depth bands inclusive at their edges despite float rounding (relative to the reference)."""

Levels = Iterable[tuple[int, int]]


def band_edges(ref_ticks: float, pct: float) -> tuple[float, float]:
    """[ref · (1 − pct), ref · (1 + pct)] in ticks, widened by BAND_REL_TOL · ref on each side."""
    tol_ticks = BAND_REL_TOL * ref_ticks
    return ref_ticks * (1 - pct) - tol_ticks, ref_ticks * (1 + pct) + tol_ticks


def reference_ticks(bid_ticks: int | None, ask_ticks: int | None) -> float | None:
    """The mid in ticks, or the best price of the only non-empty side; None if both are empty."""
    if bid_ticks is not None and ask_ticks is not None:
        return (bid_ticks + ask_ticks) / 2
    return bid_ticks if bid_ticks is not None else ask_ticks


def band_tick_lots(levels: Levels, lo_ticks: float, hi_ticks: float) -> int:
    """Σ price_ticks · lots over the levels inside [lo, hi], stopping at the first outside.

    Example: levels (100, 2), (99, 3), (90, 5), band [98, 102] → 100·2 + 99·3 = 497.
    """
    total = 0
    for price, lots in levels:
        if not lo_ticks <= price <= hi_ticks:
            break
        total += price * lots
    return total


def bands_tick_lots(levels: Levels, bands: list[tuple[float, float]]) -> list[int]:
    """`band_tick_lots` for every band, narrowest first, in one walk: a running sum read off as
    each band ends. Example: the levels above, bands [99.5, 100.5] and [98, 102] → [200, 497]."""
    totals, running, j = [], 0, 0
    for price, lots in levels:
        while j < len(bands) and not bands[j][0] <= price <= bands[j][1]:
            totals.append(running)
            j += 1
        if j == len(bands):
            break
        running += price * lots
    return totals + [running] * (len(bands) - j)


def depth_bands_tick_lots(
    bids: Levels, asks: Levels, ref_ticks: float, pcts: tuple[float, ...]
) -> list[int]:
    """Both sides' `band_tick_lots` within ±p of `ref_ticks` for every p in `pcts` (in their
    order), in one walk of each side: the bands sorted narrowest first."""
    order = sorted(range(len(pcts)), key=pcts.__getitem__)
    bands = [band_edges(ref_ticks, pcts[i]) for i in order]
    per_side = [bands_tick_lots(levels, bands) for levels in (bids, asks)]
    out = [0] * len(pcts)
    for j, i in enumerate(order):
        out[i] = per_side[0][j] + per_side[1][j]
    return out


def impact_lots(levels: Levels, tick_lots: float) -> float | None:
    """Lots a taker receives for a notional of `tick_lots` (price_ticks · lots), walking the
    levels; the last level gives the fraction remaining / price. None if the levels run out.

    Example: levels (100, 2), (101, 4), notional 402 → 2 + 202 / 101 = 4 lots.
    """
    taken_lots = 0.0
    for price, lots in levels:
        if tick_lots <= price * lots:
            return taken_lots + tick_lots / price
        tick_lots -= price * lots
        taken_lots += lots
    return None
