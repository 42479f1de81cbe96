"""Validation against reality: targets as data, the runs that measure them, the pass/miss table.

Three studies, each run over seeds from one root `SeedSequence` (common random numbers):

- ``oct-2025``: the 10–11 October 2025 case study (literature.md §2.4, exchange-mechanics.md
  §7–8.1, DESIGN.md §1). Every seed runs with its counterfactual twin (`model.twin`: the same
  seed with forced closes routed off the book), so each fall is split into what the news did
  and what the market's own forced selling made (DESIGN.md §2.3).
- ``leverage``: leverage causes fat tails (Thurner, Farmer & Geanakoplos 2012, literature.md
  §1.1): the calm scenario with Gaussian fundamentals and the maximum leverage available to
  retail swept.
- ``stylized``: stylized facts of one-minute and hourly returns in the calm scenario as
  configured, over five days (Cont 2001; literature.md §3) and daily liquidations / open
  interest (Cheng et al. 2021, §2.5).

A target passes when the median over seeds lies inside its band. `run_studies` runs and
evaluates; `experiments.validation_report.validate` also writes ``results/validation/`` and is
what `cascade-lab validate` calls; `experiments.validation_diagnoses` explains each miss.

oct-2025 targets changed with the endogenous cascade (issue "The endogenous cascade", item 5):

- added: the endogenous share of BTC's (≥ 50 %) and the long tail's (≥ 70 %) falls, next to
  their drawdowns (a fall in the band that the news alone made is not the mechanism);
  ≤ 15 % of the day's liquidated notional before the shock; open interest / ±1 % depth
  before the shock, 50–250, for BTC and the long tail (exchange-mechanics §8.1);
- ``liq_over_oi`` (the day's liquidations / OI) became ``liq_over_oi_after_shock``: runs start
  with an opening book, and what the calm hours liquidate is its own target (pre-shock share);
- ``worst40_event_share`` (worst 40 minutes of the 370 after the shock) became
  ``worst40_share`` (worst 40 minutes of the whole run, ≥ 60 %): with the pre-shock churn held
  to ≤ 15 %, the day's concentration is the issue's target and needs no window after the shock;
- the OI drop's band moved from 20–60 % to 30–60 % (BTC and ETH OI halved in a day, §8.1).
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from experiments.analysis import autocorrelation, excess_kurtosis, hill_tail_index, log_returns
from experiments.catalogue import DEFAULT_ROOT_SEED
from experiments.design import replicate_seeds
from experiments.runner import local_workers

INF = math.inf
STUDIES = ("oct-2025", "leverage", "stylized")
DEPTH_BASELINE_MINUTES = 60
"""Minutes before the shock over which pre-shock book depth is averaged."""
WORST_WINDOW_MINUTES = 40
EVENT_WINDOW_MINUTES = 370
"""Amberdata (literature §2.4): $6.93B of the $9.89B liquidated from 20:50 to 03:00 UTC (370
minutes) came in the 40 minutes from 20:50: 70 % of that window, 36 % of the 24-hour $19.1B."""
RETURN_LAGS = 10
ABS_RETURN_LAGS = 60
Z95 = 1.96
"""Two-sided 95 % band of a sample autocorrelation under no correlation: ±1.96/√n."""
CALM_SKIP_MINUTES = 60
"""Minutes at the start of a calm run left out of its statistics: the opening book is placed
at minute 0 and the makers' ladders and the value investors' latent book settle around it in
the first hour (assumed)."""
ROUTE_OF_KIND = {"book": "book", "partial": "book", "pool_takeover": "pool", "vault": "vault"}
"""Where a liquidation event's `kind` closed the position; any other kind is the
loss-absorption policy's (ADL variants, socialised loss: DESIGN §2.4), route "policy"."""
ROUTES = ("book", "pool", "vault", "policy")


@dataclass(frozen=True)
class Target:
    """One validation target: what is measured, the reality band, and where it comes from.

    Attributes:
        key: Column of the study's per-seed table that holds the metric.
        study: One of `STUDIES`.
        name: What reality shows, in a few words.
        metric: How the model's value is measured.
        lo: Lower end of the band (inclusive; -inf for none).
        hi: Upper end of the band (inclusive; inf for none).
        reality: The observed or published value.
        source: Where it comes from (literature.md section; [I] marks an operationalisation).
        unit: "pct" (a fraction shown in %), "num" or "count".
    """

    key: str
    study: str
    name: str
    metric: str
    lo: float
    hi: float
    reality: str
    source: str
    unit: str = "pct"


def _t(*args: Any, **kwargs: Any) -> Target:
    return Target(*args, **kwargs)


OCT = "oct-2025"
LEVERAGE_ASSETS = ("BTC", "TAILA")
"""The leverage study's assets: the first major and the first long-tail perp."""
TAIL_ASSETS = ("TAILA", "TAILB")
"""The default universe's long-tail perps (DESIGN §2.3)."""
FALL = "fall from the pre-shock mark to its low within 240 minutes of the shock"
ENDOGENOUS = "1 − twin drawdown / drawdown (twin: same seed, forced closes off the book)"
OI_OVER_DEPTH = "OI just before the shock / mean depth within ±1 % over the hour before"
TARGETS: tuple[Target, ...] = (
    _t("liq_long_share", OCT, "Long share of liquidated notional",
       "long liquidated notional / all liquidated notional, the day", 0.85, 0.90,
       "85–90 % (Amberdata 83.9 %, press 86–87 %)", "DESIGN §1; literature §2.4 [D2]"),
    _t("drawdown_BTC", OCT, "BTC drawdown", FALL, 0.10, 0.15,
       "−14.5 % (122,574 → 104,783)", "DESIGN §1; exchange-mechanics §8.1 [NEWS]"),
    _t("endogenous_share_BTC", OCT, "BTC fall made inside the market", ENDOGENOUS, 0.50, INF,
       "≈ 2/3: news justified ≈ 4–5 % of −14 %", "exchange-mechanics §8.1 [INF]; DESIGN §2.3"),
    _t("drawdown_ETH", OCT, "ETH drawdown", FALL, 0.10, 0.20,
       "−12 % to −21 %", "DESIGN §1; exchange-mechanics §7.1; issue 9"),
    *(_t(f"drawdown_{a}", OCT, f"Long-tail drawdown ({a})", FALL, 0.50, 0.80,
         "50–80 % (average Binance coin −63 %)", "DESIGN §1; literature §2.4 [D2]")
      for a in TAIL_ASSETS),
    *(_t(f"endogenous_share_{a}", OCT, f"Long-tail fall made inside the market ({a})",
         ENDOGENOUS, 0.70, INF, "≈ 75–90 %: −63 % on average vs ≈ 5–15 % news (beta 1–3)",
         "exchange-mechanics §8.1 [INF]; DESIGN §2.3")
      for a in TAIL_ASSETS),
    _t("liq_over_oi_after_shock", OCT, "Open interest liquidated after the shock",
       "liquidated notional from the shock on / open interest just before it", 0.05, 0.15,
       "≈ 8 % ($19.1B of ≈ $236B); BTC ≈ 7–8 %", "exchange-mechanics §7.1, §8.1 [I]"),
    _t("pre_shock_liq_share", OCT, "Little liquidated before the shock",
       "liquidated notional before the shock / the day's", 0.0, 0.15,
       "≈ 1–3 %: an ordinary day liquidates $0.4–0.5B, the day $19.1B",
       "exchange-mechanics §7.1, §8 (base rate) [I]"),
    _t("worst40_share", OCT, "Time concentration",
       "share of the day's liquidated notional in its worst 40 minutes", 0.60, INF,
       "70 % ($6.93B of $9.89B, 20:50–03:00 UTC)", "Amberdata via literature §2.4 [D2]"),
    _t("adl_thin_concentration", OCT, "ADL concentrated in thin markets",
       "alts' and tails' share of ADL notional / their share of pre-shock OI", 1.0, INF,
       "ADL fired above all in thin markets", "DESIGN §1; literature §2.4", "num"),
    _t("tail_pool_loss", OCT, "Long-tail insurance pool exhausted",
       "largest fall of the long-tail pool, share of its start", 0.99, 1.0,
       "insurance funds overwhelmed", "DESIGN §1; issue 9"),
    _t("tail_pool_first", OCT, "Long-tail pool drained before the majors'",
       "long-tail pool's fall − largest major pool's fall (share of start)", 1e-9, 1.0,
       "long-tail pools exhausted first", "DESIGN §1; issue 9"),
    _t("oi_drop_frac", OCT, "Open interest falls",
       "1 − lowest OI after the shock / OI just before it", 0.30, 0.60,
       "BTC $67B → $33B, ETH $38B → $19B; BTC/ETH/SOL/XRP −33.5 %",
       "exchange-mechanics §8.1 (ARK); literature §2.4 [D2]"),
    _t("depth_collapse", OCT, "Market-maker depth collapse",
       "1 − depth within ±1 % at the worst minute / pre-shock hour's mean, all perps", 0.90, 1.0,
       "> 90 %", "DESIGN §1; literature §2.4"),
    _t("oi_over_depth_BTC", OCT, "Open interest / ±1 % depth (BTC)", OI_OVER_DEPTH, 50.0,
       250.0, "≈ 230× ($67B OI / $290M depth)", "exchange-mechanics §8.1; DESIGN §2.3", "num"),
    *(_t(f"oi_over_depth_{a}", OCT, f"Open interest / ±1 % depth ({a})", OI_OVER_DEPTH, 50.0,
         250.0, "BTC's band (no long-tail data) [I]", "exchange-mechanics §8.1; DESIGN §2.3",
         "num")
      for a in TAIL_ASSETS),
    *(_t(f"lev_kurt_min_{a}", "leverage", f"≈ Gaussian without leverage ({a})",
         "excess kurtosis of 1-min mark returns at max leverage 1x", -1.0, 1.0,
         "λ_max = 1: ≈ normal", "Thurner et al. 2012, literature §1.1 [D]", "num")
      for a in LEVERAGE_ASSETS),
    *(_t(f"lev_kurt_rise_{a}", "leverage", f"Kurtosis rises with leverage ({a})",
         "excess kurtosis at the top max leverage − at 1x (paired seeds)", 1e-9, INF,
         "tails fatten as λ_max rises", "Thurner et al. 2012, literature §1.1 [D]", "num")
      for a in LEVERAGE_ASSETS),
    *(_t(f"lev_hill_max_{a}", "leverage", f"Tail index at high leverage ({a})",
         "Hill index (top 5 %) of 1-min mark returns at the top max leverage", 2.0, 3.0,
         reality, "Thurner et al. 2012 [D2]; issue 9", "num")
      for a, reality in zip(LEVERAGE_ASSETS, ("≈ 3 near λ_max ≈ 7.5; 2–3", "2–3"), strict=True)),
    *(_t(f"lev_hill_fall_{a}", "leverage", f"Tail index falls with leverage ({a})",
         "Hill index at 1x − at the top max leverage (paired seeds)", 1e-9, INF,
         "α falls as λ_max rises", "Thurner et al. 2012, literature §1.1 [D]", "num")
      for a in LEVERAGE_ASSETS),
    _t("acf1_1m_z", "stylized", "No linear autocorrelation, 1 min (BTC)",
       "lag-1 ACF of 1-min returns in units of its 95 % band 1.96/√n", -1.0, 1.0,
       "|ρ(1)| insignificant", "Cont 2001; literature §3 SF1 [I]", "num"),
    _t("acf_in_band_1m", "stylized", "No linear autocorrelation, lags 1–10 (BTC)",
       "share of lags 1–10 of the 1-min return ACF inside ±1.96/√n", 0.9, 1.0,
       "≈ 0 beyond a few minutes", "literature §3 SF1 [I]"),
    _t("acf1_1h_z", "stylized", "No linear autocorrelation, hourly (BTC)",
       "lag-1 ACF of hourly returns in units of its 95 % band", -1.0, 1.0,
       "insignificant", "Cont 2001; literature §3 SF1 [I]", "num"),
    _t("abs_acf_sig_lags_1m", "stylized", "Volatility clustering, 1 min (BTC)",
       "lags of 1–60 where the ACF of |1-min returns| exceeds 1.96/√n", 50, 60,
       "significant up to k ≥ 50", "Takaishi 2020; literature §3 SF3 [I]", "count"),
    _t("abs_acf1_1h_z", "stylized", "Volatility clustering, hourly (BTC)",
       "lag-1 ACF of |hourly returns| in units of its 95 % band", 1.0, INF,
       "significant, slowly decaying", "literature §3 SF3 [I]", "num"),
    _t("hill_1m", "stylized", "Heavy tails: tail index (BTC)",
       "Hill index (top 5 %) of 1-min returns", 2.0, 4.0,
       "BTC ≈ 2–2.5 (2018), ≈ 3 (recent)", "Begušić 2018, Takaishi 2020; literature §3 SF2",
       "num"),
    _t("kurt_1m", "stylized", "Heavy tails: kurtosis (BTC)", "excess kurtosis of 1-min returns",
       3.0, INF, "far above 0", "Takaishi 2018; literature §3 SF2 [I]", "num"),
    _t("kurt_60m", "stylized", "Aggregational Gaussianity is slow (BTC)",
       "excess kurtosis of hourly returns", 1e-9, INF, "still > 0 at 1 h",
       "Takaishi 2018; literature §3 SF5 [I]", "num"),
    _t("kurt_ratio_60_1", "stylized", "Kurtosis falls with aggregation (BTC)",
       "excess kurtosis at 60 min / at 1 min", 0.0, 1.0, "monotone decrease",
       "Cont 2001; literature §3 SF5 [I]", "num"),
    _t("liq_oi_long_daily", "stylized", "Daily long liquidations / OI",
       "long liquidated notional per day / mean OI, after the first hour", 0.01, 0.06,
       "3.51 % (BitMEX)", "Cheng et al. 2021; literature §2.5 [D]"),
    _t("liq_oi_short_daily", "stylized", "Daily short liquidations / OI",
       "short liquidated notional per day / mean OI, after the first hour", 0.005, 0.04,
       "1.89 % (BitMEX)", "Cheng et al. 2021; literature §2.5 [D]"),
    _t("liq_long_short_ratio", "stylized", "More long than short liquidations",
       "long / short daily liquidation ratios", 1.0, INF, "3.51 / 1.89 ≈ 1.9",
       "Cheng et al. 2021; literature §2.5 [D]", "num"),
)  # fmt: skip


@dataclass(frozen=True)
class Size:
    """How much to run: seeds per study, leverage levels and run overrides.

    Attributes:
        oct_seeds: Seeds of the oct-2025 study.
        calm_seeds: Seeds of every leverage level and of the stylized study.
        levels: Maximum leverage levels of the sweep; the lowest (1) is the unlevered reference.
        oct_overrides: Overrides of every oct-2025 run (e.g. a shortened day).
        calm_overrides: Overrides of every leverage-sweep run.
        stylized_overrides: Overrides of the stylized study's calm runs (a longer horizon:
            hourly statistics need many hours).
    """

    oct_seeds: int
    calm_seeds: int
    levels: tuple[float, ...]
    oct_overrides: Mapping[str, Any] = field(default_factory=dict)
    calm_overrides: Mapping[str, Any] = field(default_factory=dict)
    stylized_overrides: Mapping[str, Any] = field(default_factory=dict)


QUICK_OCT = {"horizon_minutes": 360, "shocks.0.start_minute": 120}
"""Quick oct-2025: two calm hours from the opening book (one for the pre-shock depth), then
the shock and the 240 minutes over which a fall is measured (`model.summary.drawdown`).

Quick runs keep the default crowd (`retail.n_accounts` 10,000): with 2,000 accounts a run
and its twin were only ≈ 8 % faster (6.6 s against 7.1 s, measured here), while each account,
5× larger to keep the open interest, makes liquidations 5× lumpier against the book."""
QUICK_CALM = {"horizon_minutes": 420}
"""Quick calm: six hours after the first hour (`CALM_SKIP_MINUTES`), the default crowd."""
SIZES: dict[str, Size] = {
    "quick": Size(3, 2, (1.0, 100.0), QUICK_OCT, QUICK_CALM, QUICK_CALM),
    "default": Size(
        20,
        6,
        (1.0, 5.0, 10.0, 25.0, 50.0, 100.0),
        {},
        {"horizon_minutes": 2880},
        {"horizon_minutes": 7200},
    ),
}
"""quick: seconds, for the test suite (directions only); default: `cascade-lab validate`."""


# --------------------------------------------------------------------------- pure metrics
def worst_window_share(per_minute: np.ndarray, window: int = WORST_WINDOW_MINUTES) -> float:
    """Largest share of the total that falls in any `window` consecutive minutes.

    max_t Σ_{u=t}^{t+window−1} x_u / Σ_u x_u; 0 when the total is 0.
    """
    x = np.nan_to_num(np.asarray(per_minute, dtype=float))
    total = x.sum()
    if total <= 0:
        return 0.0
    c = np.concatenate([[0.0], np.cumsum(x)])
    w = min(window, len(x))
    return float(np.max(c[w:] - c[:-w]) / total)


def depth_collapse(depth: np.ndarray, shock_start: int) -> float:
    """1 − (total depth at the worst minute from the shock on) / (mean over the hour before).

    Args:
        depth: Depth within ±1 % per (minute, market), USD.
        shock_start: Minute of the shock.
    """
    total = np.nansum(depth, axis=1)
    pre = total[max(0, shock_start - DEPTH_BASELINE_MINUTES) : shock_start]
    if len(pre) == 0 or np.mean(pre) <= 0:
        return float("nan")
    return float(1.0 - np.min(total[shock_start:]) / np.mean(pre))


def pre_shock_depth_usd(depth_usd: np.ndarray, shock_start: int) -> np.ndarray:
    """Mean depth within ±1 % per market over the `DEPTH_BASELINE_MINUTES` before the shock.

    Args:
        depth_usd: Depth within ±1 % per (minute, market), USD.
        shock_start: Minute of the shock.

    Returns:
        USD per market; NaN when the run has no minute before the shock.
    """
    depth = np.asarray(depth_usd, dtype=float)
    window = depth[max(0, shock_start - DEPTH_BASELINE_MINUTES) : shock_start]
    if len(window) == 0:
        return np.full(depth.shape[1], np.nan)
    return np.nanmean(window, axis=0)


def guarded_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise; where the denominator is ≤ 0: inf when the
    numerator is > 0 (open interest against an empty book), NaN otherwise."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(num > 0, INF, np.nan))


def oi_over_depth(oi_usd: np.ndarray, depth_usd: np.ndarray, shock_start: int) -> np.ndarray:
    """Open interest just before the shock in units of the pre-shock ±1 % depth, per market.

    OI_k(s0 − 1) / mean_{t ∈ [s0 − 60, s0)} depth_k(t) (`pre_shock_depth_usd`, guarded by
    `guarded_ratio`). Reality: BTC ≈ $67B OI / ≈ $290M 1 % depth ≈ 230× (exchange-mechanics
    §8.1); DESIGN §2.3 calibrates majors at 100–250×.
    """
    before = np.asarray(oi_usd, dtype=float)[max(0, shock_start - 1)]
    return guarded_ratio(before, pre_shock_depth_usd(depth_usd, shock_start))


def liquidation_routes(kinds: np.ndarray, notional_usd: np.ndarray) -> dict[str, float]:
    """Share of liquidated notional by where it was closed: book, pool, vault or policy.

    Σ notional of the events whose `kind` maps to the route (`ROUTE_OF_KIND`; any other kind
    is the policy's: ADL, socialised loss) / Σ notional; keys ``liq_<route>_share``, NaN when
    nothing was liquidated. Book closes move prices; the others close off the book.
    """
    routes = np.array([ROUTE_OF_KIND.get(str(k), "policy") for k in kinds], dtype=object)
    usd = np.asarray(notional_usd, dtype=float)
    total = float(np.nansum(usd))
    return {
        f"liq_{r}_share": float(np.nansum(usd[routes == r]) / total) if total > 0 else np.nan
        for r in ROUTES
    }


def forced_sell_usd(liquidations: pd.DataFrame, n_markets: int, since_minute: int) -> np.ndarray:
    """Forced selling in the book per market from `since_minute` on, USD: the notional of the
    long positions' liquidations closed in the book (route "book", side +1; a short's is a buy).

    Args:
        liquidations: The exchange's liquidation events (`EventLog.frame("liquidation")`).
        n_markets: Number of perp markets.
        since_minute: First minute counted (the shock).
    """
    rows = liquidations[(liquidations["t"] >= since_minute) & (liquidations["side"] > 0)]
    in_book = rows["kind"].map(lambda k: ROUTE_OF_KIND.get(str(k), "policy")) == "book"
    by_market = rows[in_book].groupby("market")["notional_usd"].sum()
    out = np.zeros(n_markets)
    out[by_market.index.to_numpy(dtype=int)] = by_market.to_numpy(dtype=float)
    return out


def adl_thin_concentration(
    adl_usd: np.ndarray, oi_before: np.ndarray, is_thin: np.ndarray
) -> float:
    """Thin markets' share of ADL notional over their share of open interest (NaN: no ADL).

    > 1: ADL hits thin markets more than their size; 1: in proportion.
    """
    adl = np.nansum(adl_usd, axis=0)
    if adl.sum() <= 0 or oi_before.sum() <= 0 or oi_before[is_thin].sum() <= 0:
        return float("nan")
    return float((adl[is_thin].sum() / adl.sum()) / (oi_before[is_thin].sum() / oi_before.sum()))


def pool_losses(pool_usd: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Largest fall of each pool over the run as a share of its start, clipped to [0, 1]."""
    start = np.maximum(np.asarray(initial, dtype=float), 1e-9)
    return np.clip(1.0 - np.nanmin(pool_usd, axis=0) / start, 0.0, 1.0)


def daily_ratio(liq_usd: np.ndarray, oi_usd: np.ndarray) -> float:
    """Liquidated notional per day / mean open interest, over the minutes given."""
    mean_oi = float(np.nanmean(oi_usd)) if len(oi_usd) else 0.0
    if mean_oi <= 0:
        return float("nan")
    return float(np.nansum(liq_usd) / mean_oi * 1440.0 / len(liq_usd))


def acf_z(x: np.ndarray, lag: int = 1) -> float:
    """Autocorrelation at `lag` in units of its 95 % band under no correlation (1.96/√n)."""
    if len(x) <= lag + 2:
        return float("nan")
    return float(autocorrelation(x, [lag])[0] / (Z95 / np.sqrt(len(x))))


def return_stats(prices: np.ndarray) -> dict[str, float]:
    """Stylized-fact statistics of one price path per minute (one seed, one asset)."""
    r1, r60 = log_returns(prices, 1), log_returns(prices, 60)
    band = Z95 / np.sqrt(max(len(r1), 1))
    acf = autocorrelation(r1, RETURN_LAGS)
    abs_acf = autocorrelation(np.abs(r1), ABS_RETURN_LAGS)
    k1, k60 = excess_kurtosis(r1), excess_kurtosis(r60)
    return {
        "acf1_1m": float(acf[0]),
        "acf1_1m_z": acf_z(r1),
        "acf_in_band_1m": float(np.mean(np.abs(acf) <= band)),
        "acf1_1h_z": acf_z(r60),
        "abs_acf1_1m": float(abs_acf[0]),
        "abs_acf_sig_lags_1m": float(np.sum(abs_acf > band)),
        "abs_acf1_1h_z": acf_z(np.abs(r60)),
        "hill_1m": hill_tail_index(r1),
        "kurt_1m": k1,
        "kurt_5m": excess_kurtosis(log_returns(prices, 5)),
        "kurt_15m": excess_kurtosis(log_returns(prices, 15)),
        "kurt_60m": k60,
        "kurt_ratio_60_1": k60 / k1 if k1 > 0 else float("nan"),
        "variance_ratio_60": float(np.var(r60) / (60 * np.var(r1))) if np.var(r1) > 0 else np.nan,
    }


# ------------------------------------------------------------------------------ workers
OCT_SUMMARY_KEYS = (
    "liq_long_share",
    "oi_drop_frac",
    "liq_over_oi",
    "liq_over_oi_after_shock",
    "twin_liq_over_oi_after_shock",
    "mean_endogenous_share",
    "mean_cascade_amplification",
    "peak_minute_liq_share",
    "adl_notional_usd",
    "liq_notional_usd",
)
"""Scalars of the run's summary (with its twin's attribution) each oct-2025 seed records."""
OCT_ASSET_KEYS = (
    "drawdown",
    "fundamental_drop",
    "twin_drawdown",
    "endogenous_share",
    "cascade_amplification",
)
"""Per-asset keys of that summary (suffixed ``_<SYMBOL>``) each oct-2025 seed records."""


def oct_run(seed: int, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """One oct-2025 run and its twin (in a worker): per-seed metrics and per-minute paths.

    The run is stepped here, not through `model.twin.run_pair`, to read who holds the open
    interest at the shock and the value investors' spent budget minute by minute; the twin
    and the attribution are `run_pair`'s own (`twin_config`, `with_twin`).
    """
    from model import CascadeModel
    from model.twin import twin_config, with_twin

    m = CascadeModel(scenario=OCT, rng=int(seed), **dict(overrides))
    holders, latent_spent = _step_through(m)
    twin = CascadeModel(scenario=twin_config(m.cfg), rng=int(seed))
    summary = with_twin(m.summary(), twin.run(), m.symbols)
    n, s0 = m.recorder.n, m.shock_start
    s = {k: v[:n] for k, v in m.recorder.series.items()}
    pools = m.recorder.pool_usd[:n]
    kinds = np.array([a.kind for a in m.cfg.assets])
    pool_of = np.array(m.exchange.liquidator.pools.pool_of_market)
    metrics = {k: float(summary[k]) for k in OCT_SUMMARY_KEYS}
    for key in OCT_ASSET_KEYS:
        metrics.update({f"{key}_{sym}": float(summary[f"{key}_{sym}"]) for sym in m.symbols})
    metrics["crowding_within_5pct"] = float(summary["liquidatable_oi_within_5pct"])
    metrics.update({f"long_oi_share_{k}": v for k, v in holders.items()})
    spent = zip(m.symbols, latent_spent, strict=True)
    metrics.update({f"latent_spent_{sym}": float(x) for sym, x in spent})
    metrics.update(cascade_metrics(s, s0, kinds))
    metrics.update(pool_metrics(pools, m.initial_pools, pool_of, kinds, s["adl_usd"], s0))
    metrics.update(book_metrics(s, s0, m.symbols, m.exchange.events.frame("liquidation")))
    depth = np.nansum(s["depth_1pct_usd"], axis=1)
    pre_depth = max(float(np.nanmean(depth[max(0, s0 - DEPTH_BASELINE_MINUTES) : s0])), 1e-9)
    twin_mark = twin.recorder.series["mark_usd"][: twin.recorder.n]
    paths = {
        "liq_long": s["liq_long_usd"].sum(axis=1),
        "liq_short": s["liq_short_usd"].sum(axis=1),
        "mark_rel": s["mark_usd"] / s["mark_usd"][max(0, s0 - 1)],
        "twin_mark_rel": twin_mark / twin_mark[max(0, s0 - 1)],
        "depth_rel": depth / pre_depth,
        "pool_rel": pools / np.maximum(m.initial_pools, 1e-9),
    }
    served = [[sym for sym, q in zip(m.symbols, pool_of, strict=True) if q == p] for p in
              range(pools.shape[1])]  # fmt: skip
    info = {"shock_start": s0, "symbols": m.symbols, "kinds": tuple(kinds)}
    info["pools"] = tuple("+".join(names) or f"pool {p}" for p, names in enumerate(served))
    return {"seed": int(seed), "metrics": metrics, "paths": paths, "info": info}


def _step_through(model) -> tuple[dict[str, float], np.ndarray]:
    """Run `model` to its horizon; return the long-OI holders at the shock and, per asset, the
    largest share of the value investors' latent bids spent from the shock on."""
    holders: dict[str, float] = {}
    spent = np.zeros(len(model.symbols))
    while model.running:
        if model.t == model.shock_start:
            holders = long_oi_holders(model)
        model.step()
        if model.t > model.shock_start:
            spent = np.fmax(spent, latent_spent(model))
    return holders or long_oi_holders(model), spent


def latent_spent(model) -> np.ndarray:
    """Share of the value investors' latent bids spent now, per asset: 1 − Σ stock / Σ cap
    over spot and perp and every level (`agents.value.ValueInvestors`); NaN without them."""
    from agents.value import ValueInvestors

    investors = [t for t in model.traders if isinstance(t, ValueInvestors)]
    if not investors:
        return np.full(len(model.symbols), np.nan)
    stock = sum(t.stock_usd.sum(axis=(0, 2)) for t in investors)
    caps = sum(t.caps_usd.sum(axis=(0, 2)) for t in investors)
    return 1.0 - guarded_ratio(stock, caps)


def book_metrics(
    s: Mapping[str, np.ndarray], s0: int, symbols: tuple[str, ...], liquidations: pd.DataFrame
) -> dict[str, float]:
    """The cascade against the book: open interest and forced selling in depths, routes.

    Per asset: ``oi_before_usd``, ``depth_before_usd`` (mean ±1 % depth of the hour before
    the shock), ``oi_over_depth`` (`oi_over_depth`), ``forced_sell_depths`` (`forced_sell_usd`
    from the shock on / that depth) and the route shares of its notional liquidated from the
    shock on (``liq_<route>_share_<S>``, `liquidation_routes`). Overall: the route shares and
    the long share of the notional liquidated from the shock on.
    """
    depth = pre_shock_depth_usd(s["depth_1pct_usd"], s0)
    oi = s["oi_long_usd"][max(0, s0 - 1)]
    forced = guarded_ratio(forced_sell_usd(liquidations, len(symbols), s0), depth)
    ratio = oi_over_depth(s["oi_long_usd"], s["depth_1pct_usd"], s0)
    after = liquidations[liquidations["t"] >= s0]
    out: dict[str, float] = {}
    for k, sym in enumerate(symbols):
        out[f"oi_before_usd_{sym}"] = float(oi[k])
        out[f"depth_before_usd_{sym}"] = float(depth[k])
        out[f"oi_over_depth_{sym}"] = float(ratio[k])
        out[f"forced_sell_depths_{sym}"] = float(forced[k])
        mine = after[after["market"] == k]
        routes = liquidation_routes(mine["kind"].to_numpy(), mine["notional_usd"].to_numpy())
        out.update({f"{key}_{sym}": x for key, x in routes.items()})
    out.update(liquidation_routes(after["kind"].to_numpy(), after["notional_usd"].to_numpy()))
    long_ = float(s["liq_long_usd"][s0:].sum())
    total = long_ + float(s["liq_short_usd"][s0:].sum())
    out["liq_long_share_after_shock"] = long_ / total if total > 0 else float("nan")
    return out


def long_oi_holders(model) -> dict[str, float]:
    """Who holds the long open interest now: share of Σ long notional per trader type.

    Keys: ``retail_high`` (the 50–100x accounts), ``retail_mid`` (the others levered above
    the top of `retail.low_leverage`: the 8–25x layer), ``retail_low`` and each other
    trader's class name in lower case; shares sum to 1 over the traders (pools and the vault
    aside).
    """
    ex = model.exchange
    notional = ex.accounts.qty_lots * ex.perp_lot_sizes * ex.prices.mark_usd
    long_usd = np.where(notional > 0, notional, 0.0).sum(axis=1)
    total = float(long_usd.sum())
    out: dict[str, float] = {}
    for trader in model.traders:
        ids = np.asarray(trader.account_ids)
        if hasattr(trader, "has_high_leverage"):
            groups = _retail_groups(ids, trader, model.cfg.retail.low_leverage[1])
        else:
            groups = {type(trader).__name__.lower(): ids}
        for name, members in groups.items():
            share = float(long_usd[members].sum()) / total if total > 0 else float("nan")
            out[name] = out.get(name, 0.0) + share
    return out


def _retail_groups(ids: np.ndarray, cohort, low_top: float) -> dict[str, np.ndarray]:
    high = np.asarray(cohort.has_high_leverage)
    mid = ~high & (np.asarray(cohort.leverages) > low_top)
    return {"retail_high": ids[high], "retail_mid": ids[mid], "retail_low": ids[~high & ~mid]}


def cascade_metrics(s: Mapping[str, np.ndarray], s0: int, kinds: np.ndarray) -> dict[str, float]:
    """Time concentration, depth, ADL location and the diagnostics that explain them.

    Args:
        s: Recorded series per (minute, market) (`Recorder.series`, cut to the run).
        s0: Minute of the shock.
        kinds: Kind of each market (major, alt, tail).
    """
    liq = (s["liq_long_usd"] + s["liq_short_usd"]).sum(axis=1)
    post = liq[s0:]
    total = float(liq.sum())
    cum = np.cumsum(post) / post.sum() if post.sum() > 0 else np.zeros(1)
    depth = np.nansum(s["depth_1pct_usd"], axis=1)
    pre_depth = float(np.nanmean(depth[max(0, s0 - DEPTH_BASELINE_MINUTES) : s0]))
    adl = np.nansum(s["adl_usd"], axis=1)
    return {
        "worst40_share": worst_window_share(liq),
        "worst40_post_share": worst_window_share(post),
        "worst40_event_share": worst_window_share(post[:EVENT_WINDOW_MINUTES]),
        "pre_shock_liq_share": float(liq[:s0].sum() / total) if total > 0 else float("nan"),
        "cascade_minutes_90": float(np.searchsorted(cum, 0.9) + 1),
        "depth_collapse": depth_collapse(s["depth_1pct_usd"], s0),
        "depth_below_10pct_minutes": float(np.sum(depth[s0:] < 0.1 * pre_depth)),
        "adl_thin_concentration": adl_thin_concentration(
            s["adl_usd"], s["oi_long_usd"][max(0, s0 - 1)], kinds != "major"
        ),
        "adl_pre_shock_share": float(adl[:s0].sum() / adl.sum()) if adl.sum() > 0 else 0.0,
        "adl_major_share": float(np.nansum(s["adl_usd"][:, kinds == "major"]) / adl.sum())
        if adl.sum() > 0
        else float("nan"),
        "oi_major_share": _share(s["oi_long_usd"][max(0, s0 - 1)], kinds == "major"),
    }


def _share(x: np.ndarray, mask: np.ndarray) -> float:
    total = float(np.nansum(x))
    return float(np.nansum(x[mask]) / total) if total > 0 else float("nan")


def pool_metrics(
    pool_usd: np.ndarray,
    initial: np.ndarray,
    pool_of: np.ndarray,
    kinds: np.ndarray,
    adl_usd: np.ndarray,
    s0: int,
) -> dict[str, float]:
    """Losses of the long-tail pool and of the majors' pools, and the tail pool at first ADL.

    The long-tail pools serve a tail market; the majors' pools serve a major and no tail.
    """
    losses = pool_losses(pool_usd, initial)
    tail = sorted(set(pool_of[kinds == "tail"]))
    major = sorted(set(pool_of[kinds == "major"]) - set(tail))
    tail_loss = float(losses[tail].max()) if tail else float("nan")
    major_loss = float(losses[major].max()) if major else float("nan")
    served = np.isin(pool_of, tail)
    fired = np.flatnonzero(np.nansum(adl_usd[s0:, served], axis=1) > 0)
    at_first = float("nan")
    if tail and len(fired):
        level = pool_usd[s0 + fired[0], tail] / np.maximum(initial[tail], 1e-9)
        at_first = float(np.min(level))
    return {
        "tail_pool_loss": tail_loss,
        "tail_pool_first": tail_loss - major_loss,
        "major_pool_loss": major_loss,
        "tail_pool_at_first_adl": at_first,
    }


def calm_run(seed: int, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """One calm run (in a worker): per-minute marks, fundamentals and liquidation flows after
    the first `CALM_SKIP_MINUTES`, for the leverage and stylized-fact studies."""
    from model import CascadeModel

    m = CascadeModel(scenario="calm", rng=int(seed), **dict(overrides))
    m.run()
    s, n = m.recorder.series, m.recorder.n
    w = min(CALM_SKIP_MINUTES, n - 1)
    return {
        "seed": int(seed),
        "symbols": m.symbols,
        "kinds": tuple(a.kind for a in m.cfg.assets),
        "mark": s["mark_usd"][w:n].copy(),
        "fundamental": s["fundamental_usd"][w:n].copy(),
        "liq_long": s["liq_long_usd"][w:n].copy(),
        "liq_short": s["liq_short_usd"][w:n].copy(),
        "oi": s["oi_long_usd"][w:n].copy(),
        "depth": s["depth_1pct_usd"][w:n].copy(),
    }


GAUSSIAN_WORLD = {"world.vol_reaction": 0.0, "world.vol_persistence": 0.0, "world.tail_dof": 0.0}
"""The leverage study's fundamentals: Gaussian with constant volatility, as Thurner, Farmer &
Geanakoplos's noise traders, so any fat tail is made inside the model (the calm scenario's
own factor clusters and is fat-tailed by construction)."""


def leverage_overrides(max_leverage: float) -> dict[str, Any]:
    """The calm scenario with a Gaussian world and its retail leverage clipped to
    [1, max_leverage] (only the ranges the clip changes are listed)."""
    from model.scenarios import scenario

    retail = scenario("calm").retail
    out: dict[str, Any] = dict(GAUSSIAN_WORLD)
    for name in ("low_leverage", "mid_leverage", "high_leverage"):
        lo, hi = getattr(retail, name)
        clipped = (max(1.0, min(lo, max_leverage)), max(1.0, min(hi, max_leverage)))
        if clipped != (lo, hi):
            out[f"retail.{name}"] = clipped
    return out


# ----------------------------------------------------------------------------- studies
@dataclass
class Results:
    """Everything one `validate` call measured.

    Attributes:
        table: One row per target: value (seed median), p25, p75, n, band, status.
        per_seed: Study → one row per seed of metrics.
        oct_runs: Raw oct-2025 worker outputs (paths for the figure).
        leverage: One row per (max leverage, asset): pooled and per-seed statistics.
        stylized: One row per asset: pooled stylized facts of the stylized study's calm runs.
        acf: Mean ACFs of those runs (returns lags 1–10, |returns| lags 1–60) per asset.
        size: Size name; seeds: the seed tuple; seconds: wall time.
        failures: Runs that raised: seed, study, overrides, error (left out of every table).
        calm_runs: Raw calm worker outputs per max-leverage level (for further analysis).
    """

    table: pd.DataFrame
    per_seed: dict[str, pd.DataFrame]
    oct_runs: list[dict]
    leverage: pd.DataFrame
    stylized: pd.DataFrame
    acf: dict[str, dict[str, np.ndarray]]
    size: str
    seeds: tuple[int, ...]
    n_returns: dict[str, int]
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)
    calm_runs: dict[float, list[dict]] = field(default_factory=dict)


def check_options(size: str, n_seeds: int | None, n_jobs: int) -> None:
    """Raise ValueError naming the option, its value and what is allowed."""
    if size not in SIZES:
        raise ValueError(f"--size must be one of {', '.join(SIZES)}, got {size!r}")
    if n_seeds is not None and (not isinstance(n_seeds, int) or n_seeds < 1):
        raise ValueError(f"--seeds must be an integer >= 1, got {n_seeds!r}")
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"--jobs must be -1 (all cores) or >= 1, got {n_jobs}")


def run_studies(
    size: str = "default",
    n_seeds: int | None = None,
    n_jobs: int = -1,
    root_seed: int = DEFAULT_ROOT_SEED,
    progress: bool | None = None,
    oct_overrides: Mapping[str, Any] | None = None,
) -> Results:
    """Run the three studies and evaluate every target.

    Args:
        size: A key of `SIZES`.
        n_seeds: Seeds per study (oct-2025 and each leverage level); default the size's.
        n_jobs: Worker processes (joblib: -1 all cores, 1 in-process).
        root_seed: Root of the replicate seeds (`design.replicate_seeds`).
        progress: tqdm bar; None shows it when stderr is a terminal.
        oct_overrides: Extra overrides of every oct-2025 run (calibration experiments).

    Returns:
        `Results`; the numbers depend only on the size, seeds and overrides, not on `n_jobs`.
    """
    check_options(size, n_seeds, n_jobs)
    started = time.perf_counter()
    sz = SIZES[size]
    oct_seeds = replicate_seeds(root_seed, n_seeds or sz.oct_seeds)
    calm_seeds = replicate_seeds(root_seed, n_seeds or sz.calm_seeds)
    oct_ov = {**sz.oct_overrides, **(oct_overrides or {})}
    cells = {lev: {**sz.calm_overrides, **leverage_overrides(lev)} for lev in sz.levels}
    sty_ov = dict(sz.stylized_overrides)
    tasks: dict[tuple, tuple[Callable, int, dict]] = {}
    for seed in calm_seeds:  # longest first: stylized, oct-2025 (a run and its twin), leverage
        tasks[("stylized", seed)] = (calm_run, seed, sty_ov)
    for seed in oct_seeds:
        tasks[("oct", seed)] = (oct_run, seed, oct_ov)
    for ov in cells.values():
        for seed in calm_seeds:
            tasks.setdefault(("calm", _freeze(ov), seed), (calm_run, seed, ov))
    outputs = _run_tasks(list(tasks.values()), n_jobs, progress)
    by_key = dict(zip(tasks, outputs, strict=True))
    oct_out = [by_key[("oct", s)] for s in oct_seeds]
    calm_out = {
        lev: [by_key[("calm", _freeze(ov), s)] for s in calm_seeds] for lev, ov in cells.items()
    }
    sty_out = [by_key[("stylized", s)] for s in calm_seeds]
    failures = [o for o in outputs if "error" in o]
    res = evaluate(
        [o for o in oct_out if "error" not in o],
        {lev: [r for r in runs if "error" not in r] for lev, runs in calm_out.items()},
        size,
        oct_seeds,
        [r for r in sty_out if "error" not in r],
    )
    res.failures = failures
    res.calm_runs = calm_out
    res.seconds = time.perf_counter() - started
    return res


def _freeze(ov: Mapping[str, Any]) -> tuple:
    return tuple(sorted(ov.items()))


def _run_tasks(tasks: list[tuple], n_jobs: int, progress: bool | None) -> list[dict]:
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(tasks), unit="run", desc="validate", disable=not show)
    workers = local_workers(n_jobs)
    out: list[dict | None] = [None] * len(tasks)
    with bar, parallel_config(backend="loky"):
        jobs = (delayed(_indexed)(i, fn, seed, ov) for i, (fn, seed, ov) in enumerate(tasks))
        for i, result in Parallel(n_jobs=workers, return_as="generator_unordered")(jobs):
            out[i] = result
            bar.update(1)
    return out  # type: ignore[return-value]


def _indexed(i: int, fn: Callable, seed: int, ov: Mapping[str, Any]) -> tuple[int, dict]:
    # a run that raises is reported with its configuration; the validation goes on
    try:
        return i, fn(seed, ov)
    except Exception as err:
        study = OCT if fn is oct_run else "calm"
        where = traceback.extract_tb(err.__traceback__)[-1]
        error = f"{type(err).__name__}: {err} ({Path(where.filename).name}:{where.lineno})"
        return i, {"seed": int(seed), "study": study, "overrides": dict(ov), "error": error}


def evaluate(
    oct_out: list[dict],
    calm_out: dict[float, list[dict]],
    size: str,
    seeds: tuple[int, ...],
    base: list[dict],
) -> Results:
    """Per-seed tables of each study, pooled leverage and stylized tables, the target table.

    `calm_out`: the leverage sweep's runs per level; `base`: the stylized study's calm runs.
    Failed runs are left out before this; a study without runs gives empty tables.
    """
    oct_seed = pd.DataFrame([{"seed": o["seed"], **o["metrics"]} for o in oct_out])
    if calm_out and all(calm_out.values()):
        lev_seed, lev_table = _leverage_tables(calm_out)
    else:
        lev_seed, lev_table = pd.DataFrame({"seed": []}), pd.DataFrame({"asset": []})
    if base:
        major, _ = _major_and_tail(base[0])
        sty_seed = pd.DataFrame([_stylized_seed(run, major) for run in base])
        stylized, acf, n_returns = _stylized_tables(base)
    else:
        sty_seed, stylized, acf, n_returns = pd.DataFrame({"seed": []}), pd.DataFrame(), {}, {}
    per_seed = {"oct-2025": oct_seed, "leverage": lev_seed, "stylized": sty_seed}
    return Results(
        target_table(per_seed), per_seed, oct_out, lev_table, stylized, acf, size, seeds, n_returns
    )


def _major_and_tail(run: dict) -> tuple[int, int]:
    kinds = list(run["kinds"])
    return kinds.index("major"), kinds.index("tail")


def _stylized_seed(run: dict, k: int) -> dict[str, float]:
    # the same statistics of the fundamental: what the model was given, next to what it made
    given = {f"{key}_fundamental": x for key, x in return_stats(run["fundamental"][:, k]).items()}
    row = {"seed": run["seed"], **return_stats(run["mark"][:, k]), **given}
    long_ = daily_ratio(run["liq_long"].sum(axis=1), run["oi"].sum(axis=1))
    short = daily_ratio(run["liq_short"].sum(axis=1), run["oi"].sum(axis=1))
    ratio = long_ / short if short > 0 else (INF if long_ > 0 else float("nan"))
    row.update(liq_oi_long_daily=long_, liq_oi_short_daily=short, liq_long_short_ratio=ratio)
    return row


def _stylized_tables(runs: list[dict]) -> tuple[pd.DataFrame, dict, dict[str, int]]:
    """Pooled statistics per asset (returns of all seeds together) and mean ACFs."""
    symbols = runs[0]["symbols"]
    rows, acf, n_returns = [], {}, {}
    for k, sym in enumerate(symbols):
        paths = [r["mark"][:, k] for r in runs]
        r1 = [log_returns(p, 1) for p in paths]
        pooled = np.concatenate(r1)
        n_returns[sym] = len(pooled)
        row = {"asset": sym, "n_1m": len(pooled), "hill_1m": hill_tail_index(pooled)}
        for step in (1, 5, 15, 60):
            row[f"kurt_{step}m"] = excess_kurtosis(
                np.concatenate([log_returns(p, step) for p in paths])
            )
        fund = np.concatenate([log_returns(r["fundamental"][:, k], 1) for r in runs])
        row["kurt_1m_fundamental"] = excess_kurtosis(fund)
        row["sd_1m_mark_over_fundamental"] = float(np.std(pooled) / np.std(fund))
        acf[sym] = {
            "returns": np.nanmean([autocorrelation(x, RETURN_LAGS) for x in r1], axis=0),
            "abs_returns": np.nanmean(
                [autocorrelation(np.abs(x), ABS_RETURN_LAGS) for x in r1], axis=0
            ),
        }
        row["acf1_1m"] = float(acf[sym]["returns"][0])
        row["acf2_1m"] = float(acf[sym]["returns"][1])
        oi = np.concatenate([r["oi"][:, k] for r in runs])
        for side in ("long", "short"):
            liq = np.concatenate([r[f"liq_{side}"][:, k] for r in runs])
            row[f"liq_oi_{side}_daily"] = daily_ratio(liq, oi)
        row["abs_acf1_1m"] = float(acf[sym]["abs_returns"][0])
        row["abs_acf60_1m"] = float(acf[sym]["abs_returns"][-1])
        rows.append(row)
    return pd.DataFrame(rows), acf, n_returns


def _leverage_tables(calm_out: dict[float, list[dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed paired targets (lowest vs highest level) and a (level × asset) summary."""
    levels = sorted(calm_out)
    lo, hi = levels[0], levels[-1]
    first = calm_out[lo][0]
    major, tail = _major_and_tail(first)
    assets = {first["symbols"][major]: major, first["symbols"][tail]: tail}
    stats: dict[tuple[float, int], list[tuple[float, float]]] = {}
    rows = []
    for lev in levels:
        for sym, k in assets.items():
            per = [_tail_stats(run["mark"][:, k]) for run in calm_out[lev]]
            stats[lev, k] = per
            pooled = np.concatenate([log_returns(run["mark"][:, k]) for run in calm_out[lev]])
            rows.append(
                {
                    "max_leverage": lev,
                    "asset": sym,
                    "kurt_pooled": excess_kurtosis(pooled),
                    "kurt_median": _percentile([p[0] for p in per], 50),
                    "kurt_p25": _percentile([p[0] for p in per], 25),
                    "kurt_p75": _percentile([p[0] for p in per], 75),
                    "hill_pooled": hill_tail_index(pooled),
                    "kurt_fundamental_pooled": excess_kurtosis(
                        np.concatenate([log_returns(r["fundamental"][:, k]) for r in calm_out[lev]])
                    ),
                    "hill_median": _percentile([p[1] for p in per], 50),
                    "hill_p25": _percentile([p[1] for p in per], 25),
                    "hill_p75": _percentile([p[1] for p in per], 75),
                    **_five_minute(calm_out[lev], k),
                    **_leverage_diagnostics(calm_out[lev], k),
                }
            )
    seeds = []
    index = {lev: {run["seed"]: i for i, run in enumerate(calm_out[lev])} for lev in (lo, hi)}
    for seed in [s for s in index[lo] if s in index[hi]]:  # paired: both levels ran
        row: dict[str, float] = {"seed": seed}
        for sym, k in assets.items():
            k_lo, h_lo = stats[lo, k][index[lo][seed]]
            k_hi, h_hi = stats[hi, k][index[hi][seed]]
            row[f"lev_kurt_min_{sym}"] = k_lo
            row[f"lev_kurt_rise_{sym}"] = k_hi - k_lo
            row[f"lev_hill_max_{sym}"] = h_hi
            row[f"lev_hill_fall_{sym}"] = h_lo - h_hi
        seeds.append(row)
    return pd.DataFrame(seeds), pd.DataFrame(rows)


def _five_minute(runs: list[dict], k: int) -> dict[str, float]:
    # 5-min returns: less of the 1-min microstructure
    pooled = np.concatenate([log_returns(run["mark"][:, k], 5) for run in runs])
    return {"kurt_5m_pooled": excess_kurtosis(pooled), "hill_5m_pooled": hill_tail_index(pooled)}


def _percentile(x: list[float], q: float) -> float:
    a = np.asarray(x, dtype=float)
    return float(np.nanpercentile(a, q)) if np.isfinite(a).any() else float("nan")


def _tail_stats(prices: np.ndarray) -> tuple[float, float]:
    r = log_returns(prices)
    return excess_kurtosis(r), hill_tail_index(r)


def _leverage_diagnostics(runs: list[dict], k: int) -> dict[str, float]:
    """Why leverage does or does not fatten the tails: liquidation flow against the book."""
    liq = np.concatenate([r["liq_long"][:, k] + r["liq_short"][:, k] for r in runs])
    depth = np.concatenate([r["depth"][:, k] for r in runs])
    oi = np.concatenate([r["oi"][:, k] for r in runs])
    active = liq > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = liq[active] / depth[active]
    flow = flow[np.isfinite(flow)]
    return {
        "liq_oi_daily": daily_ratio(liq, oi),
        "liq_minutes_share": float(active.mean()),
        "liq_over_depth_p50": float(np.median(flow)) if len(flow) else 0.0,
        "liq_over_depth_max": float(np.max(flow)) if len(flow) else 0.0,
        "oi_over_depth": float(np.nanmean(oi) / np.nanmean(depth)) if np.nanmean(depth) else np.nan,
        "variance_ratio_60": float(
            np.nanmedian([return_stats(r["mark"][:, k])["variance_ratio_60"] for r in runs])
        ),
    }


def target_table(per_seed: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per target: seed median, p25–p75, number of seeds with a value, pass/miss."""
    rows = []
    for t in TARGETS:
        df = per_seed[t.study]
        x = df[t.key].to_numpy(dtype=float) if t.key in df else np.array([])
        x = x[~np.isnan(x)]
        med = float(np.median(x)) if len(x) else float("nan")
        with np.errstate(invalid="ignore"):  # inf − inf between infinite ratios
            p25, p75 = np.percentile(x, [25, 75]) if len(x) else (np.nan, np.nan)
        ok = bool(len(x)) and t.lo <= med <= t.hi
        rows.append(
            {
                "study": t.study,
                "target": t.name,
                "key": t.key,
                "value": med,
                "p25": float(p25),
                "p75": float(p75),
                "n": len(x),
                "n_seeds": len(df),
                "lo": t.lo,
                "hi": t.hi,
                "status": "pass" if ok else "miss",
                "side": "" if ok or not len(x) else ("below" if med < t.lo else "above"),
            }
        )
    return pd.DataFrame(rows)


def target(key: str) -> Target:
    """The target with this key."""
    for t in TARGETS:
        if t.key == key:
            return t
    raise KeyError(f"no target {key!r}; valid: {', '.join(t.key for t in TARGETS)}")
