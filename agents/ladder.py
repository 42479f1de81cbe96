"""A maker's quote ladder as pure functions: depth per level, spacing, inventory and basis
skew, and the rounding of one side onto the tick and lot grid."""

from __future__ import annotations

import math

import numpy as np

from model.engine.types import FloatArray

DEPTH_EXPONENT = math.log(4.7) / math.log(10.0)
"""γ ≈ 0.672 of cumulative depth D(x) ∝ x^γ: 10× the distance holds 4.7× the depth
(Binance BTC spot, Amberdata 2025; exchange-mechanics.md §8)."""
RISK_OFF_WIDEN = 4.0
"""Spacing multiplier per unit risk-off: full risk-off quotes 5× wider (assumed; stressed
books only populate ±4–10 % bands, §7.1)."""
MAX_SKEW_LEVELS = 20.0
"""Inventory skew is capped at this many level spacings (assumed)."""
MAX_BASIS = 0.005
"""Cap on the perp ladder's basis shift over spot, a fraction (assumed; arbitrage trades
the perp–spot gap from `background.arb_threshold` = 0.2 % on)."""
MAX_VOL_WIDEN = 10.0
"""Cap on the volatility factor (1 + vol_widen · vol_1h) of the spacing (assumed)."""
_FLOAT_MAX = float(np.finfo(float).max)


def level_weights(levels: int) -> FloatArray:
    """Return each level's share of one side's depth, summing to one.

    Notes:
        w_k = (k/L)^γ − ((k−1)/L)^γ, k = 1..L, so the cumulative depth out to level k is
        (k/L)^γ of the total: concave in distance (γ = DEPTH_EXPONENT), with the most size
        at the touch. Source: exchange-mechanics.md §8 (10× distance → 4.7× depth).
    """
    edges = (np.arange(levels + 1) / levels) ** DEPTH_EXPONENT
    return np.diff(edges)


def spacing_fraction(
    spread_bps: FloatArray, vol_1h: FloatArray, risk_off: float, vol_widen: float
) -> FloatArray:
    """Return the distance between ladder levels as a fraction of the reference price.

    Notes:
        spacing = spread_bps · 1e-4 · min(1 + vol_widen · vol_1h, MAX_VOL_WIDEN)
        · (1 + RISK_OFF_WIDEN · risk_off); NaN volatility (start of the run) counts as zero.
    """
    vol = np.nan_to_num(np.asarray(vol_1h, dtype=float))
    widen = np.minimum(1.0 + vol_widen * vol, MAX_VOL_WIDEN)
    return spread_bps * 1e-4 * widen * (1.0 + RISK_OFF_WIDEN * risk_off)


def skew_fraction(
    inventory_usd: FloatArray, depth_usd: FloatArray, spacing: FloatArray, inventory_skew: float
) -> FloatArray:
    """Return the shift of both ladder sides, a fraction of the reference price (+ = up).

    Notes:
        skew = −inventory_skew · inventory_usd / depth_usd · spacing, clipped to
        ±MAX_SKEW_LEVELS · spacing: a long maker lowers bids and asks (Avellaneda–Stoikov
        reservation price, linearised).
    """
    raw = -inventory_skew * inventory_usd / depth_usd * spacing
    cap = MAX_SKEW_LEVELS * spacing
    return np.clip(raw, -cap, cap)


def basis_fraction(
    perp_inventory_usd: FloatArray, depth_usd: FloatArray, basis_skew_bps: float
) -> FloatArray:
    """Return the perp ladder's shift over the spot ladder, a fraction (+ = perp richer).

    Notes:
        basis = −basis_skew_bps · 1e-4 · perp_inventory_usd / depth_usd, clipped to
        ±MAX_BASIS. A maker short perp against a crowd of longs (hedged long in spot, so its
        net inventory is flat) carries a basis position and charges for it by quoting the
        perp rich: the premium that makes funding positive when longs crowd in (the seeds'
        "funding shows crowding first"; He, Manela et al. 2022 on perp premia and demand).
    """
    raw = -basis_skew_bps * 1e-4 * perp_inventory_usd / depth_usd
    return np.clip(raw, -MAX_BASIS, MAX_BASIS)


def grid_value(units: float, step: float, rounding: int) -> float:
    """Return units·step nudged by ulps so the exchange's floor (-1) or ceil (+1) gives `units`.

    Notes:
        x = units · step, then up to 4 times x → nextafter(x, +∞) while x / step < units
        (rounding −1), or nextafter(x, −∞) while x / step > units (+1). Once x / step is on
        the right side x no longer moves, so stopping there gives the same float.
    """
    x = units * step
    for _ in range(4):
        if rounding < 0:
            if not x / step < units:
                break
            x = math.nextafter(x, math.inf)
        else:
            if not x / step > units:
                break
            x = math.nextafter(x, -math.inf)
    return x


def side_ladder(
    prices_usd: list[float], sizes_usd: list[float], tick: float, lot: float, side: int, cap: float
) -> tuple[tuple[float, float], ...]:
    """Round one side onto the grid (away from mid), size in whole lots, total ≤ cap coins.

    Notes:
        Per level, in Python floats (the same operations in the same order as the numpy
        reference in tests/test_fast_paths.py): ticks = ceil (asks) / floor (bids) of
        nan_to_num(price / tick) ∓ 1e-9, levels with ticks ≤ 0 or size ≤ 0 dropped; lots =
        floor(usd / price / lot + 1e-9); the running total of lots is capped at floor(cap /
        lot + 1e-9), each level keeping what the cap leaves it; levels left with no lots are
        dropped; price = grid_value(ticks, tick, side), qty = grid_value(lots, lot, −1).
    """
    rounder = math.ceil if side > 0 else math.floor
    nudge = side * 1e-9
    cap = float(cap)
    max_lots = _floor(max(cap, 0.0) / lot + 1e-9) if math.isfinite(cap) else math.inf
    out: list[tuple[float, float]] = []
    total = capped_before = 0.0
    for raw, usd in zip(prices_usd, sizes_usd, strict=True):
        ticks = float(rounder(_nan_to_num(raw / tick) - nudge))
        if not (ticks > 0 and usd > 0):
            continue
        price = grid_value(ticks, tick, side)
        total += _floor(usd / price / lot + 1e-9)
        capped = min(total, max_lots)
        lots = capped - capped_before
        capped_before = capped
        if lots > 0:
            out.append((price, grid_value(lots, lot, -1)))
    return tuple(out)


def _floor(x: float) -> float:
    # np.floor for one float: a float, and ±inf / NaN pass through (math.floor raises)
    return float(math.floor(x)) if math.isfinite(x) else x


def _nan_to_num(x: float) -> float:
    # np.nan_to_num for one float: NaN → 0, ±inf → ± the largest float
    if math.isfinite(x):
        return x
    return 0.0 if math.isnan(x) else math.copysign(_FLOAT_MAX, x)
