"""Why a validation target is missed: measured diagnoses, written from the run's own numbers.

Each function reads the diagnostics the validation runs record (per-seed medians, the leverage
and stylized tables) and returns one or two sentences naming the mechanism behind a miss, or
None when it has nothing to say for that side of the band. The numbers are live, so the text
stays true when the calibration moves.
"""

from __future__ import annotations

from experiments.validation.calm_diagnoses import (
    aggregation,
    calm_liquidations,
    clustering,
    gaussian_at_1x,
    heavy_tails,
    hourly_acf,
    leverage_trend,
    liquidation_side,
    return_acf,
)
from experiments.validation.oct_diagnoses import (
    adl_location,
    drawdown,
    endogenous,
    liquidated_after_shock,
    long_share,
    oi_depth,
    oi_drop,
    pool_exhaustion,
    pool_order,
    pre_shock_churn,
    time_concentration,
)
from experiments.validation.readings import Diagnosis
from experiments.validation.tables import Results
from experiments.validation.targets import LEVERAGE_ASSETS, TAIL_ASSETS

DIAGNOSES: dict[str, Diagnosis] = {
    "liq_long_share": long_share,
    **{f"drawdown_{s}": drawdown(s) for s in ("BTC", "ETH", *TAIL_ASSETS)},
    **{f"endogenous_share_{s}": endogenous(s) for s in ("BTC", *TAIL_ASSETS)},
    "liq_over_oi_after_shock": liquidated_after_shock,
    "pre_shock_liq_share": pre_shock_churn,
    "worst40_share": time_concentration,
    "adl_thin_concentration": adl_location,
    "tail_pool_loss": pool_exhaustion,
    "tail_pool_first": pool_order,
    "oi_drop_frac": oi_drop,
    **{f"oi_over_depth_{s}": oi_depth(s) for s in ("BTC", *TAIL_ASSETS)},
    **{f"lev_kurt_min_{a}": gaussian_at_1x(a) for a in LEVERAGE_ASSETS},
    **{f"lev_{m}_{a}": leverage_trend(a) for m in ("kurt_rise", "hill_max", "hill_fall")
       for a in LEVERAGE_ASSETS},
    "acf1_1m_z": return_acf,
    "acf_in_band_1m": return_acf,
    "acf1_1h_z": hourly_acf,
    "abs_acf_sig_lags_1m": clustering,
    "abs_acf1_1h_z": clustering,
    "kurt_60m": aggregation,
    "kurt_ratio_60_1": aggregation,
    "hill_1m": heavy_tails,
    "kurt_1m": heavy_tails,
    "liq_long_short_ratio": liquidation_side,
    "liq_oi_long_daily": calm_liquidations,
    "liq_oi_short_daily": calm_liquidations,
}  # fmt: skip
"""target key → diagnosis (targets without one get a plain "no diagnosis yet")."""


def diagnose(res: Results, key: str, side: str) -> str:
    """The measured diagnosis of a missed target, or a plain note when there is none."""
    fn = DIAGNOSES.get(key)
    try:
        text = fn(res, side) if fn else None
    except (KeyError, IndexError, ValueError, ZeroDivisionError):
        text = None  # a diagnostic the run did not record (e.g. a study without runs)
    return text or "No diagnosis recorded for this side of the band yet."
