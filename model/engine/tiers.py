"""Notional-bracket ("tier") tables: maintenance-margin rates, leverage caps and the derived
maintenance amounts (cum), plus the documented tables used by the default markets.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from model.engine.types import FloatArray

IntpArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class TierTable:
    """Notional brackets: floor of each bracket (USD), MMR, max leverage; cum derived.

    Bracket k covers notionals in [floors_usd[k], floors_usd[k + 1]); the last bracket is
    open-ended (venue position caps are not modelled here). Maintenance margin in bracket k is
    ``N * mmr[k] - cum_usd[k]`` with Binance's maintenance-amount recursion
    ``cum_1 = 0; cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1}``, which makes it continuous
    in N (Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts";
    Hyperliquid uses the same recursion for its "deduction", exchange-mechanics.md §5.1).

    Attributes:
        floors_usd: Lower edge of each bracket, USD notional; starts at 0, strictly increasing.
        mmr: Maintenance-margin rate per bracket, fractions in (0, 1), non-decreasing.
        max_leverage: Leverage cap per bracket, >= 1, non-increasing, with
            ``mmr[k] < 1 / max_leverage[k]`` (maintenance below the initial margin rate).
        floors: ``floors_usd`` as a read-only float64 array.
        mmr_arr: ``mmr`` as a read-only float64 array.
        max_leverage_arr: ``max_leverage`` as a read-only float64 array.
        imr_arr: Initial-margin rate at max leverage, ``1 / max_leverage``, read-only.
        cum_usd: Maintenance amount of each bracket (USD), read-only.
        clearance_fee: The symbol's liquidation clearance fee, a fraction of the amount
            liquidated in [0, 0.1) (Binance lists it per symbol with the brackets:
            `liquidationFee` in /fapi/v1/exchangeInfo); None when the table does not say.
    """

    floors_usd: tuple[float, ...]
    mmr: tuple[float, ...]
    max_leverage: tuple[float, ...]
    clearance_fee: float | None = None
    floors: FloatArray = field(init=False, repr=False, compare=False)
    mmr_arr: FloatArray = field(init=False, repr=False, compare=False)
    max_leverage_arr: FloatArray = field(init=False, repr=False, compare=False)
    imr_arr: FloatArray = field(init=False, repr=False, compare=False)
    cum_usd: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        floors = _as_floats("floors_usd", self.floors_usd)
        mmr = _as_floats("mmr", self.mmr)
        lev = _as_floats("max_leverage", self.max_leverage)
        _validate(floors, mmr, lev)
        fee = self.clearance_fee
        if fee is not None and not (isinstance(fee, int | float) and 0.0 <= fee < 0.1):
            raise ValueError(f"TierTable.clearance_fee must be a fraction in [0, 0.1), got {fee!r}")
        # Store normalised tuples so equal tables compare and hash equal.
        object.__setattr__(self, "floors_usd", floors)
        object.__setattr__(self, "mmr", mmr)
        object.__setattr__(self, "max_leverage", lev)
        object.__setattr__(self, "floors", _read_only(floors))
        object.__setattr__(self, "mmr_arr", _read_only(mmr))
        object.__setattr__(self, "max_leverage_arr", _read_only(lev))
        object.__setattr__(self, "imr_arr", _read_only(tuple(1.0 / x for x in lev)))
        object.__setattr__(self, "cum_usd", _read_only(_maintenance_amounts(floors, mmr)))

    @property
    def n_brackets(self) -> int:
        """Return the number of brackets."""
        return len(self.floors_usd)

    def bracket(self, notional_usd: float | FloatArray) -> np.intp | IntpArray:
        """Return the index of the bracket containing each notional.

        k = searchsorted(floors, N, side="right") - 1, so a notional exactly on a floor belongs
        to the bracket that starts there.

        Args:
            notional_usd: Position notional(s), USD, >= 0.

        Returns:
            Bracket index (numpy integer for scalar input, else an array of the input's shape).

        Raises:
            ValueError: If any notional is negative or NaN.
        """
        n = np.asarray(notional_usd, dtype=np.float64)
        bad = n[~(n >= 0.0)]
        if bad.size:
            raise ValueError(
                f"notional_usd must be >= 0 and not NaN, got {bad[0]!r} ({bad.size} bad value(s))"
            )
        return np.searchsorted(self.floors, n, side="right") - 1

    def mmr_at(self, notional_usd: float | FloatArray) -> float | FloatArray:
        """Return the maintenance-margin rate of the bracket containing each notional."""
        return self.mmr_arr[self.bracket(notional_usd)]

    def cum_at(self, notional_usd: float | FloatArray) -> float | FloatArray:
        """Return the maintenance amount (USD) of the bracket containing each notional."""
        return self.cum_usd[self.bracket(notional_usd)]

    def max_leverage_at(self, notional_usd: float | FloatArray) -> float | FloatArray:
        """Return the leverage cap of the bracket containing each notional.

        One Python float (the order-entry check) takes the bracket by bisection on the floors,
        the same bracket as `bracket` (floors[k] <= N < floors[k + 1]).
        """
        if type(notional_usd) is float and notional_usd >= 0.0:
            return self.max_leverage[bisect_right(self.floors_usd, notional_usd) - 1]
        return self.max_leverage_arr[self.bracket(notional_usd)]

    def scaled(self, factor: float) -> TierTable:
        """The same table with every bracket floor multiplied by `factor` (> 0).

        A scaled-down replica's account stands for a cohort of real accounts, and a venue's
        brackets apply to each real account: a model position `factor` times a real one sits
        in the bracket the real one would. The maintenance amounts scale with the floors
        (cum_n = floor_n · ΔMMR + cum_{n−1}), so MM(factor · N) = factor · MM(N).
        Example: BTCUSDT_2025.scaled(10) moves the 150x bracket's edge from 300k to 3M USD.
        """
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"tier scale must be a finite number > 0, got {factor!r}")
        floors = tuple(f * factor for f in self.floors_usd)
        return TierTable(floors, self.mmr, self.max_leverage, self.clearance_fee)


def _as_floats(name: str, values: object) -> tuple[float, ...]:
    """Convert a field to a tuple of floats, or raise naming the field."""
    try:
        out = tuple(float(x) for x in values)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(
            f"TierTable.{name} must be a sequence of numbers, got {values!r}"
        ) from None
    if not all(math.isfinite(x) for x in out):
        raise ValueError(f"TierTable.{name} must be finite (no NaN/inf), got {values!r}")
    return out


def _validate(floors: Sequence[float], mmr: Sequence[float], lev: Sequence[float]) -> None:
    """Raise ValueError naming the first rule a table breaks."""
    if not len(floors) == len(mmr) == len(lev) >= 1:
        raise ValueError(
            "TierTable fields must have equal length >= 1, got "
            f"floors_usd={len(floors)}, mmr={len(mmr)}, max_leverage={len(lev)}"
        )
    if floors[0] != 0.0 or any(b <= a for a, b in pairwise(floors)):
        raise ValueError(f"TierTable.floors_usd must be strictly increasing from 0, got {floors}")
    if any(not 0.0 < x < 1.0 for x in mmr):
        raise ValueError(f"TierTable.mmr must lie in (0, 1) (fractions), got {mmr}")
    if any(x < 1.0 for x in lev):
        raise ValueError(f"TierTable.max_leverage must be >= 1, got {lev}")
    if any(b < a for a, b in pairwise(mmr)):
        raise ValueError(f"TierTable.mmr must be non-decreasing, got {mmr}")
    if any(b > a for a, b in pairwise(lev)):
        raise ValueError(f"TierTable.max_leverage must be non-increasing, got {lev}")
    for k, (m, x) in enumerate(zip(mmr, lev, strict=True)):
        if m >= 1.0 / x:
            raise ValueError(
                f"TierTable.mmr[{k}]={m} is at or above the initial margin rate "
                f"1/max_leverage[{k}]={1.0 / x:.6g} (MMR at or above the initial margin rate); "
                "need mmr < 1/max_leverage"
            )


def _maintenance_amounts(floors: Sequence[float], mmr: Sequence[float]) -> tuple[float, ...]:
    """Return cum via cum_1 = 0, cum_n = floor_n * (MMR_n - MMR_{n-1}) + cum_{n-1} (Binance FAQ)."""
    # Decimal on each float's shortest repr, so documented tables give the published cum
    # exactly (in binary, 0.005 - 0.004 != 0.001).
    cum = [Decimal(0)]
    for k in range(1, len(floors)):
        step = Decimal(repr(floors[k])) * (Decimal(repr(mmr[k])) - Decimal(repr(mmr[k - 1])))
        cum.append(cum[-1] + step)
    return tuple(float(c) for c in cum)


def _read_only(values: Sequence[float]) -> FloatArray:
    arr = np.array(values, dtype=np.float64)
    arr.flags.writeable = False
    return arr


# Binance BTCUSDT, announcement "Updates to Leverage and Margin Tiers of Binance Futures Contracts"
# (2021-03-18); exchange-mechanics.md §2.1 Table A. Top bracket's 500M cap not modelled.
BTCUSDT_2021 = TierTable(
    floors_usd=(0, 50e3, 250e3, 1e6, 10e6, 20e6, 50e6, 100e6, 200e6, 300e6),
    mmr=(0.004, 0.005, 0.01, 0.025, 0.05, 0.10, 0.125, 0.15, 0.25, 0.50),
    max_leverage=(125, 100, 50, 20, 10, 5, 4, 3, 2, 1),
)

# Binance BTCUSDT c. 2025, /fapi/v1/leverageBracket snapshot hard-coded in public GitHub code;
# exchange-mechanics.md §2.1 Table B (re-pull before relying on it). Top cap (1.8B) not modelled.
# Clearance fee 1.25 %: a captured BTCUSDT exchangeInfo response (`liquidationFee` 0.012500,
# §2.3 item 5, §10 item 3).
BTCUSDT_2025 = TierTable(
    floors_usd=(0, 300e3, 800e3, 3e6, 12e6, 70e6, 100e6, 230e6, 480e6, 600e6, 800e6, 1.2e9),
    mmr=(0.004, 0.005, 0.0065, 0.01, 0.02, 0.025, 0.05, 0.10, 0.125, 0.15, 0.25, 0.50),
    max_leverage=(150, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1),
    clearance_fee=0.0125,
)

# Binance 50x small-cap template (XEM/COTI/CHR/MANA/HBAR/ALICE), same 2021-03-18 announcement;
# exchange-mechanics.md §2.1 Table C. Clearance fee 1 %: the value Binance's exchangeInfo API
# documentation shows for a symbol (`liquidationFee` 0.010000, §2.3 item 5); the low end of the
# 1–1.25 % seen, assumed for small caps today.
SMALL_CAP_50X = TierTable(
    floors_usd=(0, 5e3, 25e3, 100e3, 250e3, 1e6),
    mmr=(0.01, 0.025, 0.05, 0.10, 0.125, 0.50),
    max_leverage=(50, 20, 10, 5, 2, 1),
    clearance_fee=0.01,
)
