"""Validation targets as data: what is measured, the reality band and where it comes from.

A target passes when the median over seeds lies inside its band (`tables.target_table`).

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
from dataclasses import dataclass
from typing import Any

INF = math.inf
STUDIES = ("oct-2025", "leverage", "stylized")


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


def target(key: str) -> Target:
    """The target with this key."""
    for t in TARGETS:
        if t.key == key:
            return t
    raise KeyError(f"no target {key!r}; valid: {', '.join(t.key for t in TARGETS)}")
