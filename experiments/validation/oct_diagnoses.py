"""Diagnoses of the oct-2025 study's misses: falls, their endogenous share, churn before the
shock, time concentration, the long share, open interest and depth, ADL and the pools."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.validation.readings import (
    Diagnosis,
    mean,
    med,
)
from experiments.validation.tables import Results
from experiments.validation.targets import OCT, target


def _routes(res: Results, sym: str = "") -> str:
    """Where the notional liquidated after the shock was closed, in one market (`sym`) or in
    all: means over seeds, which sum to 1 as medians would not."""
    tail = f"_{sym}" if sym else ""
    book, pool = (
        mean(res, OCT, f"liq_book_share{tail}"),
        mean(res, OCT, f"liq_pool_share{tail}"),
    )
    policy = mean(res, OCT, f"liq_policy_share{tail}")
    vault = mean(res, OCT, f"liq_vault_share{tail}")
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
        f"{med(res, OCT, f'forced_sell_depths_{sym}'):.1f}× its pre-shock ±1 % depth "
        f"(open interest {med(res, OCT, f'oi_over_depth_{sym}'):.0f}×), and the value "
        f"investors spent at most {med(res, OCT, f'latent_spent_{sym}'):.0%} of their latent "
        "bids below value"
    )


def _falls(res: Results, sym: str) -> str:
    """The run's fall, its twin's and its fundamental's (seed medians)."""
    return (
        f"{sym} fell {med(res, OCT, f'drawdown_{sym}'):.0%}, its twin with forced closes off "
        f"the book {med(res, OCT, f'twin_drawdown_{sym}'):.0%} and its fundamental "
        f"{med(res, OCT, f'fundamental_drop_{sym}'):.0%}"
    )


def drawdown(sym: str) -> Diagnosis:
    """A fall against its twin's: forced selling against the book, or the news alone."""

    def why(res: Results, side: str) -> str | None:
        t = target(f"drawdown_{sym}")
        twin = med(res, OCT, f"twin_drawdown_{sym}")
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
        off_book = 1.0 - mean(res, OCT, f"liq_book_share_{sym}")
        spent = med(res, OCT, f"latent_spent_{sym}")
        if off_book > 0.5:
            lead = "forced closes went off the book to pool takeovers and ADL"
        elif spent < 0.5:
            lead = "the latent book absorbed the forced selling"
        else:
            lead = "the news and the makers' withdrawal made most of the fall without it"
        return (
            f"{med(res, OCT, f'endogenous_share_{sym}'):.0%} of the fall is endogenous "
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
    adl = med(res, OCT, "adl_pre_shock_share")
    return (
        f"{med(res, OCT, 'pre_shock_liq_share'):.0%} of the day's liquidated notional comes "
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
        f"after the shock the cascade takes {med(res, OCT, 'cascade_minutes_90'):.0f} "
        "minutes to reach 90 % of its notional, and depth within ±1 % stays below 10 % of the "
        f"pre-shock hour for {med(res, OCT, 'depth_below_10pct_minutes'):.0f} minutes, so "
        "forced selling keeps coming after the 40-minute shock; of the liquidations from the "
        f"shock on, the worst 40 minutes hold {med(res, OCT, 'worst40_post_share'):.0%}; "
        f"{_churn(res)}."
    )


def long_share(res: Results, side: str) -> str | None:
    """The side of the day's liquidations: the cascade's, diluted by the pre-shock churn."""
    after = med(res, OCT, "liq_long_share_after_shock")
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
    high, mid, moderate, low = (
        med(res, OCT, f"long_oi_share_retail_{g}") for g in ("high", "mid", "moderate", "low")
    )
    return (
        f"retail holds {high + mid + moderate + low:.0%} of the long open interest before the "
        f"shock ({high:.0%} at 50–100x, {mid:.0%} at 8–25x, {moderate:.0%} at 3–7x) and "
        f"{med(res, OCT, 'crowding_within_5pct'):.0%} of it has its liquidation price within "
        "5 % of the mark"
    )


def liquidated_after_shock(res: Results, side: str) -> str | None:
    """How much of the open interest the cascade reaches: leverage within the fall."""
    twin = med(res, OCT, "twin_liq_over_oi_after_shock")
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
    liq = med(res, OCT, "liq_over_oi_after_shock")
    drop = med(res, OCT, "oi_drop_frac")
    if side == "below":
        return (
            f"open interest falls {drop:.0%}, and liquidations after the shock come to "
            f"{liq:.0%} of the open interest before it ({_routes(res)}): the rest of "
            "reality's halving was holders closing and basis books unwinding; here the "
            "low-leverage retail, "
            f"{med(res, OCT, 'long_oi_share_retail_low'):.0%} of the long open interest, "
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
        oi = med(res, OCT, f"oi_before_usd_{sym}")
        depth = med(res, OCT, f"depth_before_usd_{sym}")
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
        f"the majors take {med(res, OCT, 'adl_major_share'):.0%} of ADL notional with "
        f"{med(res, OCT, 'oi_major_share'):.0%} of the open interest: ADL fires wherever the "
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
    loss = med(res, OCT, "tail_pool_loss")
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
        f"the majors' pools lose {med(res, OCT, 'major_pool_loss'):.0%} of their start, "
        f"the long tail's {med(res, OCT, 'tail_pool_loss'):.0%}: the majors' overshoot "
        "drains their pools as fast."
    )
