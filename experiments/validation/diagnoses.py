"""Why a validation target is missed: measured diagnoses, written from the run's own numbers.

Each function reads the diagnostics the validation runs record (per-seed medians, the leverage
and stylized tables) and returns one or two sentences naming the mechanism behind a miss, or
None when it has nothing to say for that side of the band. The numbers are live, so the text
stays true when the calibration moves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from experiments.validation.tables import Results
from experiments.validation.targets import LEVERAGE_ASSETS, OCT, TAIL_ASSETS, target

Diagnosis = Callable[[Results, str], str | None]


def _med(res: Results, study: str, key: str) -> float:
    df = res.per_seed[study]
    return float(np.nanmedian(df[key])) if key in df and len(df) else float("nan")


def _lev(res: Results, asset: str, level: float, col: str) -> float:
    df = res.leverage
    row = df[(df["asset"] == asset) & (df["max_leverage"] == level)]
    return float(row[col].iloc[0]) if len(row) else float("nan")


def _levels(res: Results) -> tuple[float, float]:
    levels = sorted(set(res.leverage["max_leverage"]))
    return levels[0], levels[-1]


def _mean(res: Results, study: str, key: str) -> float:
    df = res.per_seed[study]
    return float(np.nanmean(df[key])) if key in df and df[key].notna().any() else float("nan")


def _routes(res: Results, sym: str = "") -> str:
    """Where the notional liquidated after the shock was closed, in one market (`sym`) or in
    all: means over seeds, which sum to 1 as medians would not."""
    tail = f"_{sym}" if sym else ""
    book, pool = _mean(res, OCT, f"liq_book_share{tail}"), _mean(res, OCT, f"liq_pool_share{tail}")
    policy = _mean(res, OCT, f"liq_policy_share{tail}")
    vault = _mean(res, OCT, f"liq_vault_share{tail}")
    where = f" in {sym}" if sym else ""
    if np.isnan(book):
        return f"nothing was liquidated{where} after the shock"
    text = (
        f"of the notional liquidated{where} after the shock (mean over seeds) {book:.0%} was "
        f"closed in the book, {pool:.0%} taken over by insurance pools and {policy:.0%} closed "
        "by the loss-absorption policy (ADL)"
    )
    return text + (f", {vault:.0%} by the backstop vault" if vault > 0 else "")


def _against_book(res: Results, sym: str) -> str:
    """Forced selling in the book against the depth, and the latent bids it spent."""
    return (
        f"forced selling in the {sym} book (long liquidations closed there) came to "
        f"{_med(res, OCT, f'forced_sell_depths_{sym}'):.1f}× its pre-shock ±1 % depth "
        f"(open interest {_med(res, OCT, f'oi_over_depth_{sym}'):.0f}×), and the value "
        f"investors spent at most {_med(res, OCT, f'latent_spent_{sym}'):.0%} of their latent "
        "bids below value"
    )


def _falls(res: Results, sym: str) -> str:
    """The run's fall, its twin's and its fundamental's (seed medians)."""
    return (
        f"{sym} fell {_med(res, OCT, f'drawdown_{sym}'):.0%}, its twin with forced closes off "
        f"the book {_med(res, OCT, f'twin_drawdown_{sym}'):.0%} and its fundamental "
        f"{_med(res, OCT, f'fundamental_drop_{sym}'):.0%}"
    )


def drawdown(sym: str) -> Diagnosis:
    """A fall against its twin's: forced selling against the book, or the news alone."""

    def why(res: Results, side: str) -> str | None:
        t = target(f"drawdown_{sym}")
        twin = _med(res, OCT, f"twin_drawdown_{sym}")
        if side == "above" and twin > t.hi:
            return (
                f"{_falls(res, sym)}: the twin alone overshoots, so the news and the makers' "
                "withdrawal, not forced selling, take the price too far; the latent book "
                "below value is too thin for the exogenous selling."
            )
        if side == "above":
            return (
                f"{_falls(res, sym)}: the excess is the market's own; {_against_book(res, sym)}"
                f", so forced selling walked through what the book and its latent buyers "
                f"held. Missing: liquidity from outside this one venue (cross-venue "
                "arbitrage, spot dip buyers), which bounded the real falls."
            )
        if side != "below":
            return None
        text = f"{_falls(res, sym)}: {_against_book(res, sym)}; {_routes(res, sym)}."
        if sym.startswith("TAIL"):
            text += (
                " Missing as well: what took real long-tail perps down 50–80 % beyond "
                "leverage (collateral and stablecoin depegs such as USDe at $0.65)."
            )
        return text

    return why


def endogenous(sym: str) -> Diagnosis:
    """Too little of the fall is the market's own: the book absorbed it, or it went off it."""

    def why(res: Results, side: str) -> str | None:
        if side != "below":
            return None
        off_book = 1.0 - _mean(res, OCT, f"liq_book_share_{sym}")
        spent = _med(res, OCT, f"latent_spent_{sym}")
        if off_book > 0.5:
            lead = "forced closes went off the book to pool takeovers and ADL"
        elif spent < 0.5:
            lead = "the latent book absorbed the forced selling"
        else:
            lead = "the news and the makers' withdrawal made most of the fall without it"
        return (
            f"{_med(res, OCT, f'endogenous_share_{sym}'):.0%} of the fall is endogenous "
            f"({_falls(res, sym)}); {lead}: {_against_book(res, sym)}; {_routes(res, sym)}."
        )

    return why


def _usd(x: float) -> str:
    """An amount of USD in a few digits: 5.9M, 7.8k, 799."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{suffix} USD"
    return f"{x:,.0f} USD"


def _churn(res: Results) -> str:
    adl = _med(res, OCT, "adl_pre_shock_share")
    return (
        f"{_med(res, OCT, 'pre_shock_liq_share'):.0%} of the day's liquidated notional comes "
        "before the shock: the opening book puts the 50–100x crowd within a 1–2 % move of "
        "its liquidation price, and ordinary noise reaches it"
        + (f", and {adl:.0%} of ADL notional fires before the shock too" if adl > 0 else "")
    )


def pre_shock_churn(res: Results, side: str) -> str | None:
    """Liquidations before the shock: the high-leverage crowd meets ordinary noise."""
    return f"{_churn(res)}." if side == "above" else None


def time_concentration(res: Results, side: str) -> str | None:
    """Pre-shock churn dilutes the day; an empty book stretches the cascade."""
    if side != "below":
        return None
    return (
        f"after the shock the cascade takes {_med(res, OCT, 'cascade_minutes_90'):.0f} "
        "minutes to reach 90 % of its notional, and depth within ±1 % stays below 10 % of the "
        f"pre-shock hour for {_med(res, OCT, 'depth_below_10pct_minutes'):.0f} minutes, so "
        "forced selling keeps coming after the 40-minute shock; of the liquidations from the "
        f"shock on, the worst 40 minutes hold {_med(res, OCT, 'worst40_post_share'):.0%}; "
        f"{_churn(res)}."
    )


def long_share(res: Results, side: str) -> str | None:
    """The side of the day's liquidations: the cascade's, diluted by the pre-shock churn."""
    after = _med(res, OCT, "liq_long_share_after_shock")
    if side == "below" and after < target("liq_long_share").lo:
        return (
            f"from the shock on only {after:.0%} of liquidated notional is long: shorts are "
            "liquidated as the marks rebound from the low through books the makers emptied "
            f"(a squeeze); {_churn(res)}."
        )
    if side == "below":
        return f"from the shock on {after:.0%} of liquidated notional is long, but {_churn(res)}."
    if side == "above":
        return (
            f"from the shock on {after:.0%} of liquidated notional is long: the crowd's shorts "
            "are rarely levered enough for the rebound to reach them, and the hedged books' "
            "shorts (basis, makers) gain in a fall and are closed by ADL, not liquidated."
        )
    return None


def _holders(res: Results) -> str:
    high, mid = (
        _med(res, OCT, "long_oi_share_retail_high"),
        _med(res, OCT, "long_oi_share_retail_mid"),
    )
    low = _med(res, OCT, "long_oi_share_retail_low")
    return (
        f"retail holds {high + mid + low:.0%} of the long open interest before the shock "
        f"({high:.0%} at 50–100x, {mid:.0%} at mid leverage) and "
        f"{_med(res, OCT, 'crowding_within_5pct'):.0%} of it has its liquidation price within "
        "5 % of the mark"
    )


def liquidated_after_shock(res: Results, side: str) -> str | None:
    """How much of the open interest the cascade reaches: leverage within the fall."""
    twin = _med(res, OCT, "twin_liq_over_oi_after_shock")
    if side == "above":
        return (
            f"{_holders(res)}; the twin, whose prices forced selling never moves, liquidates "
            f"{twin:.0%} of the open interest, so "
            + (
                "the crowd is too levered for the news move alone. "
                if twin > target("liq_over_oi_after_shock").hi
                else "the endogenous fall reaches the lower-levered layers. "
            )
            + "That a −14 % BTC day liquidated ≈ 8 % of real open interest implies most of it "
            "was at low leverage or hedged [I]."
        )
    if side == "below":
        return (
            f"{_holders(res)}; the twin liquidates {twin:.0%}: too little leverage lies within "
            "the fall's reach."
        )
    return None


def oi_drop(res: Results, side: str) -> str | None:
    """Open interest falls by what is liquidated and deleveraged, not by voluntary exits."""
    liq = _med(res, OCT, "liq_over_oi_after_shock")
    drop = _med(res, OCT, "oi_drop_frac")
    if side == "below":
        return (
            f"open interest falls {drop:.0%}, and liquidations after the shock come to "
            f"{liq:.0%} of the open interest before it ({_routes(res)}): the rest of "
            "reality's halving was holders closing and basis books unwinding; here the "
            "low-leverage retail, "
            f"{_med(res, OCT, 'long_oi_share_retail_low'):.0%} of the long open interest, "
            "hardly closes in a fall."
        )
    if side == "above":
        return (
            f"open interest falls {drop:.0%}; liquidations after the shock come to {liq:.0%} "
            f"of the open interest before it, and {_routes(res)}: every ADL close removes "
            "open interest (the loser's and a winner's position together), where a close in "
            "the book may pass it to a new buyer."
        )
    return None


def oi_depth(sym: str) -> Diagnosis:
    """Open interest against the book: the crowd's money against the venue's own depth."""

    def why(res: Results, side: str) -> str | None:
        if not side:
            return None
        oi = _med(res, OCT, f"oi_before_usd_{sym}")
        depth = _med(res, OCT, f"depth_before_usd_{sym}")
        return (
            f"{sym} open interest {_usd(oi)} against {_usd(depth)} within "
            "±1 % (mean of the hour before the shock). Open interest comes from the crowd's "
            "money (`retail.deposit_usd` × the asset's `deposit_scale`, with the opening "
            "book); the depth is what the makers and value investors quote on the venue "
            "(`depth_usd`, `latent_depths`) after they react to the opening hours."
        )

    return why


def adl_location(res: Results, side: str) -> str | None:
    """ADL spreads to the majors when their marks overshoot."""
    if side != "below":
        return None
    return (
        f"the majors take {_med(res, OCT, 'adl_major_share'):.0%} of ADL notional with "
        f"{_med(res, OCT, 'oi_major_share'):.0%} of the open interest: ADL fires wherever the "
        "book and the pool's takeover capacity (gross notional ≤ the pool's equity) are used "
        "up, and the majors' own pools are as small against their forced selling as the "
        "shared pool is against the thin markets', so ADL spreads with open interest, not "
        "with thinness."
    )


def pool_exhaustion(res: Results, side: str) -> str | None:
    """ADL fires on takeover capacity, before the pool's money is gone."""
    if side != "below":
        return None
    at_adl = res.per_seed[OCT].get("tail_pool_at_first_adl", pd.Series(dtype=float))
    loss = _med(res, OCT, "tail_pool_loss")
    if not at_adl.notna().any():
        return (
            f"no seed reached ADL in the long tail; its pool lost at most {loss:.0%} of its "
            "start (seed median): the pool paid every gap, and its takeovers (gross notional "
            "≤ its equity, Binance's rule) absorbed the rest."
        )
    return (
        f"ADL fires while the long-tail pool still holds {float(at_adl.median()):.0%} of its "
        f"start (in the {int(at_adl.notna().sum())} seeds where it fired): a pool may take "
        "over positions only up to 100 % of its equity in gross notional (Binance's rule), so "
        "ADL starts when the capacity, not the money, runs out, and the pool is never emptied."
    )


def pool_order(res: Results, side: str) -> str | None:
    """The majors' pools drain as fast as the long tail's."""
    if side != "below":
        return None
    return (
        f"the majors' pools lose {_med(res, OCT, 'major_pool_loss'):.0%} of their start, "
        f"the long tail's {_med(res, OCT, 'tail_pool_loss'):.0%}: the majors' overshoot "
        "drains their pools as fast."
    )


def _given(res: Results, key: str, fmt: str = ".2f") -> str:
    """The model's seed median of a stylized statistic next to its fundamental's."""
    model, given = _med(res, "stylized", key), _med(res, "stylized", f"{key}_fundamental")
    return f"{model:{fmt}} for the mark against {given:{fmt}} for the fundamental it is given"


def gaussian_at_1x(asset: str) -> Diagnosis:
    """At 1x the tails come from the book's microstructure, not from leverage."""

    def why(res: Results, side: str) -> str | None:
        lo, _ = _levels(res)
        k5 = _lev(res, asset, lo, "kurt_5m_pooled")
        return (
            f"at {lo:g}x nobody is liquidated, yet 1-min kurtosis is "
            f"{_lev(res, asset, lo, 'kurt_pooled'):.1f} (pooled) while the fundamental's is "
            f"{_lev(res, asset, lo, 'kurt_fundamental_pooled'):.2f}: the tails come from the "
            "order book: makers pull quotes when 1-h volatility crosses `makers.pull_vol`, "
            f"leaving gaps in thin books. At 5 minutes: {k5:.1f}."
        )

    return why


def leverage_trend(asset: str) -> Diagnosis:
    """Why more leverage does not fatten the tails: liquidation flow against the book."""

    def why(res: Results, side: str) -> str | None:
        lo, hi = _levels(res)
        burst = _lev(res, asset, hi, "liq_over_depth_max")
        outliers = _lev(res, asset, hi, "kurt_pooled") > 2 * _lev(res, asset, hi, "kurt_p75")
        rare = (
            f" Pooled over seeds the extremes are rare bursts: the largest liquidation minute "
            f"at {hi:g}x is {burst:.1f}× the ±1 % depth, in a few seeds only, which is why "
            "the pooled kurtosis moves while the per-seed median does not."
            if outliers
            else ""
        )
        return (
            f"pooled kurtosis {_lev(res, asset, lo, 'kurt_pooled'):.1f} at {lo:g}x → "
            f"{_lev(res, asset, hi, 'kurt_pooled'):.1f} at {hi:g}x (5-min: "
            f"{_lev(res, asset, lo, 'kurt_5m_pooled'):.1f} → "
            f"{_lev(res, asset, hi, 'kurt_5m_pooled'):.1f}); Hill "
            f"{_lev(res, asset, lo, 'hill_pooled'):.1f} → {_lev(res, asset, hi, 'hill_pooled'):.1f}"
            f". At {hi:g}x liquidations happen in {_lev(res, asset, hi, 'liq_minutes_share'):.1%}"
            f" of minutes at a median {_lev(res, asset, hi, 'liq_over_depth_p50'):.1%} of the "
            f"±1 % depth, and OI is {_lev(res, asset, hi, 'oi_over_depth'):.1f}× that depth: "
            "forced selling is too small and too rare to make the tails. "
            "Thurner's mechanism needs leveraged holders whose forced sales are large against "
            "the book (OI ≫ depth: BTC ≈ 230× in reality, exchange-mechanics §8.1)." + rare
        )

    return why


def _returns_per_seed(res: Results) -> float:
    """1-min BTC returns per stylized run (the pooled count over the stylized study's runs)."""
    return res.n_returns.get("BTC", 0) / max(1, len(res.per_seed["stylized"]))


def return_acf(res: Results, side: str) -> str | None:
    """Which lags of the 1-min return ACF leave the band, against the fundamental's."""
    if not side:
        return None
    acf = res.acf.get("BTC", {}).get("returns")
    n = _returns_per_seed(res)
    band = 1.96 / np.sqrt(max(n, 1.0))
    out = ", ".join(f"lag {k + 1}: {x:+.3f}" for k, x in enumerate(acf) if abs(x) > band)
    head = (
        f"share of lags in the band: {_given(res, 'acf_in_band_1m', '.0%')}; the mean ACF over "
        f"seeds leaves ±{band:.3f} at {out or 'no lag'}"
    )
    key = "acf_in_band_1m"
    if _med(res, "stylized", key) >= _med(res, "stylized", f"{key}_fundamental"):
        return (
            f"{head}. The fundamental the model is given misses it as well: the band "
            "1.96/√n holds for independent returns, and volatility clustering widens the "
            "sampling spread of the ACF (Romano & Thombs 1996), so single seeds leave it more "
            "often than 5 % of the time."
        )
    return (
        f"{head}: small correlations the venue's price formation adds (not traced further), "
        f"which a band this narrow (n ≈ {n:,.0f} returns a seed) detects."
    )


def hourly_acf(res: Results, side: str) -> str | None:
    """Hourly returns trend: the price follows its value with a lag."""
    if not side:
        return None
    return (
        "the mark follows its value with a lag: makers quote around the last price and the "
        "value investors' ladder (`agents/value.py`) moves it only as far as their money "
        "reaches, so returns of the same sign follow each other and the variance ratio of "
        f"60-min to 1-min returns is {_med(res, 'stylized', 'variance_ratio_60'):.1f} "
        "(1 for a random walk, above 1 when returns trend)."
    )


def clustering(res: Results, side: str) -> str | None:
    """Volatility clustering is given by the GARCH factor; hourly samples are short."""
    if side != "below":
        return None
    hours = _returns_per_seed(res) / 60
    return (
        f"lag-1 ACF of |hourly returns| in band units: {_given(res, 'abs_acf1_1h_z')}. "
        "The clustering is the calm scenario's GARCH factor (`world.vol_persistence`), "
        f"which the book passes on; with {hours:.0f} hourly returns a seed the 95 % band is "
        f"±{1.96 / np.sqrt(max(hours, 1.0)):.2f}, so a persistence that shows at one minute "
        "is at the edge of detection at one hour."
    )


def aggregation(res: Results, side: str) -> str | None:
    """Aggregation statistics follow the fundamental's."""
    if side != "below":
        return None
    return f"hourly excess kurtosis {_given(res, 'kurt_60m')}; 1-min: {_given(res, 'kurt_1m')}."


def heavy_tails(res: Results, side: str) -> str | None:
    """1-min tails: the GARCH-t factor's, passed through the book."""
    if not side:
        return None
    return (
        f"Hill index {_given(res, 'hill_1m')}; excess kurtosis {_given(res, 'kurt_1m')}: the "
        "1-min tails are the factor's (`world.tail_dof`, `world.vol_reaction`) as the book "
        "passes them on."
    )


def liquidation_side(res: Results, side: str) -> str | None:
    """Which side a calm day liquidates depends on where the crowd's entries take prices."""
    if side != "below":
        return None
    return (
        "the retail crowd's long entries lift prices from the opening book on and squeeze the "
        "shorts first; longs lead only once the crowd is in place (over days, not hours)."
    )


def calm_liquidations(res: Results, side: str) -> str | None:
    """Calm liquidations by asset: where the ordinary noise liquidates the crowd."""
    if side != "above" or res.stylized.empty:
        return None
    by_asset = ", ".join(
        f"{r.asset} {r.liq_oi_long_daily:.1%}/{r.liq_oi_short_daily:.1%}"
        for r in res.stylized.itertuples()
    )
    return (
        f"long/short liquidations per day over OI by asset: {by_asset}. The 50–100x accounts "
        "are liquidated by ordinary minute-scale noise (a 1 % move), and ruined accounts "
        "re-deposit and do it again."
    )


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
