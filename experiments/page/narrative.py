"""The teaching page's plain-language panel: what just happened, in sentences.

Pure functions of a run's record (recorded series, pool balances, event rows), so they are
tested without a browser or solara; `record_of(model)` packs a live `CascadeModel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model.config import ShockConfig
from model.engine.events import Adl

EMPTY_POOL = 0.01
"""A pool below this fraction of its start is "empty" (the summary's depleted-pool rule)."""
LOW_POOL = 0.5
"""A pool below this fraction of its start is reported as half gone."""
WINDOW_MINUTES = 10
"""Minutes the "what just happened" line covers (the page's default minutes per frame)."""


@dataclass(frozen=True)
class RunRecord:
    """What the panel reads: a run's first `minutes` minutes.

    Attributes:
        minutes: Minutes recorded so far (rows 0 … minutes − 1; row t is minute t).
        symbols: Asset symbols, in market order.
        series: `Recorder.series` arrays, each (≥ minutes, n_assets); USD and rates.
        pool_usd: Pool equity per minute, (≥ minutes, n_pools), USD.
        initial_pools_usd: Pool equity at the start, USD.
        pool_names: One name per pool ("the BTC pool", "the shared pool").
        events: The engine's typed event rows per kind (`model.engine.events`).
        shocks: The run's macro shocks.
    """

    minutes: int
    symbols: tuple[str, ...]
    series: Mapping[str, np.ndarray]
    pool_usd: np.ndarray
    initial_pools_usd: np.ndarray
    pool_names: tuple[str, ...]
    events: Mapping[str, Sequence]
    shocks: tuple[ShockConfig, ...] = ()


def pool_names(symbols: Sequence[str], pool_of_market: Sequence[int]) -> tuple[str, ...]:
    """Name each pool after its market, or "the shared pool" when several markets share it."""
    n_pools = max(pool_of_market) + 1
    pairs = list(zip(symbols, pool_of_market, strict=True))
    members = [[s for s, p in pairs if p == i] for i in range(n_pools)]
    return tuple(f"the {m[0]} pool" if len(m) == 1 else "the shared pool" for m in members)


def record_of(model: Any) -> RunRecord:
    """Pack a `CascadeModel`'s recorder and event log (views, no copies)."""
    n = model.recorder.n
    return RunRecord(
        minutes=n,
        symbols=model.symbols,
        series=model.recorder.series,
        pool_usd=model.recorder.pool_usd,
        initial_pools_usd=np.asarray(model.initial_pools, dtype=float),
        pool_names=pool_names(model.symbols, model.exchange.liquidator.pools.pool_of_market),
        events=model.exchange.events.rows,
        shocks=model.cfg.shocks,
    )


def usd(x: float) -> str:
    """Money for a sentence: $1.2M, $450k, $80."""
    a = abs(x)
    sign = "−" if x < 0 else ""
    if a >= 1e9:
        return f"{sign}${a / 1e9:.1f}B"
    if a >= 1e6:
        return f"{sign}${a / 1e6:.1f}M"
    if a >= 1e3:
        return f"{sign}${a / 1e3:.0f}k"
    return f"{sign}${a:.0f}"


def share(x: float) -> str:
    """A setting's share for a sentence, to a tenth of a percent: 0.5%, 4.5%, 10%."""
    return f"{x:.1%}".replace(".0%", "%")


def _span(a: int, b: int) -> str:
    return f"minute {b}" if a == b else f"minutes {a}–{b}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _liquidated(rec: RunRecord, a: int, b: int) -> str | None:
    """'liquidated $1.2M (91 % longs, most on TAILB)' over minutes a..b, or None."""
    s = rec.series
    longs = np.nansum(s["liq_long_usd"][a : b + 1], axis=0)
    shorts = np.nansum(s["liq_short_usd"][a : b + 1], axis=0)
    total = float(longs.sum() + shorts.sum())
    if total <= 0:
        return None
    top = rec.symbols[int(np.argmax(longs + shorts))]
    return f"liquidated {usd(total)} ({longs.sum() / total:.0%} longs, most on {top})"


def _adl_closes(rows: Sequence[Adl]) -> str | None:
    """'ADL closed 14 shorts, 3 of them hedges' for a list of ADL rows, or None."""
    if not rows:
        return None
    shorts = sum(1 for r in rows if r.side < 0)
    longs = len(rows) - shorts
    parts = [_plural(n, w) for n, w in ((shorts, "short"), (longs, "long")) if n]
    text = "ADL closed " + " and ".join(parts)
    breaks = sum(1 for r in rows if r.is_hedge_break)
    if breaks:
        text += f", {breaks} of them {'a hedge' if breaks == 1 else 'hedges'}"
    return text


def _pool_state(rec: RunRecord, t: int) -> str | None:
    """The most depleted pool at minute t, if it is below `LOW_POOL` of its start."""
    start = np.where(rec.initial_pools_usd > 0, rec.initial_pools_usd, np.nan)
    frac = rec.pool_usd[t] / start
    if not np.isfinite(frac).any():
        return None
    i = int(np.nanargmin(frac))
    if frac[i] < EMPTY_POOL:
        return f"{rec.pool_names[i]} is empty"
    if frac[i] < LOW_POOL:
        return f"{rec.pool_names[i]} holds {usd(rec.pool_usd[t, i])} ({frac[i]:.0%} of its start)"
    return None


def _rows_between(rows: Sequence, a: int, b: int) -> list:
    return [r for r in rows if a <= r.t <= b]


def headline(rec: RunRecord, window: int = WINDOW_MINUTES) -> str:
    """What happened in the last `window` minutes, as one sentence.

    Example: "minutes 603–612 — liquidated $1.2M (91 % longs, most on TAILB); ADL closed
    14 shorts, 3 of them hedges; the shared pool is empty".
    """
    if rec.minutes == 0:
        return "minute 0 — nothing has happened yet: press Step or ▶"
    b = rec.minutes - 1
    a = max(0, b - window + 1)
    adl = _rows_between(rec.events["adl"], a, b)
    bad = _rows_between(rec.events["bad_debt"], a, b)
    parts = [_liquidated(rec, a, b), _adl_closes(adl), _pool_state(rec, b)]
    if bad:
        amount = sum(r.amount_usd for r in bad)
        parts.append(f"{usd(amount)} of bad debt nobody absorbed")
    parts = [p for p in parts if p]
    if not parts:
        parts = ["no liquidations", _phase(rec, a, b)]
    return f"{_span(a, b)} — " + "; ".join(p for p in parts if p)


STEADY = 0.005
"""A move of the first market's mark within ±0.5 % over the window reads as steady."""


def _phase(rec: RunRecord, a: int, b: int) -> str:
    if not rec.shocks:
        return "no shock in this scenario"
    s = rec.shocks[0]
    if b < s.start_minute:
        return f"the shock comes at minute {s.start_minute}"
    if b < s.start_minute + s.duration_minutes:
        return "the shock is under way"
    mark = rec.series["mark_usd"][:, 0]
    move = mark[b] / mark[a] - 1.0  # after the shock, quiet is not the same as recovering
    if move < -STEADY:
        return "prices are still falling"
    return "prices are recovering" if move > STEADY else "prices are steady"


def _totals(rec: RunRecord) -> tuple[float, float, int, int, float]:
    # since minute 0: longs liquidated, all liquidated (USD); ADL closes, hedge breaks; bad debt
    n, s, adl = rec.minutes, rec.series, rec.events["adl"]
    longs = float(np.nansum(s["liq_long_usd"][:n]))
    total = longs + float(np.nansum(s["liq_short_usd"][:n]))
    breaks = sum(1 for r in adl if r.is_hedge_break)
    return longs, total, len(adl), breaks, sum(r.amount_usd for r in rec.events["bad_debt"])


def so_far(rec: RunRecord) -> str:
    """Totals since minute 0: liquidated notional and long share, ADL, hedge breaks, bad debt."""
    if rec.minutes == 0:
        return "So far: nothing."
    longs, total, adl, breaks, bad = _totals(rec)
    liq = (
        f"{usd(total)} liquidated ({longs / total:.0%} longs)"
        if total > 0
        else "nothing liquidated"
    )
    text = (
        f"So far: {liq}; {_plural(adl, 'ADL close')} "
        f"({_plural(breaks, 'hedge break')}); "
        f"{'bad debt ' + usd(bad) if bad > 0 else 'no bad debt'}"
    )
    oi = _oi_change(rec)
    return text + (f"; open interest {oi:+.0%} since the shock" if oi is not None else "") + "."


def monitors(rec: RunRecord) -> list[tuple[str, str, str]]:
    """The page's top row, as (label, value, detail): the minute, then totals since minute 0.

    The minute is the number of minutes run; liquidated notional and its long share; ADL
    closes and the hedges they broke; the insurance pools' equity now and as a share of their
    start; bad debt nobody absorbed.
    """
    n = rec.minutes
    longs, total, adl, breaks, bad = _totals(rec)
    start = float(np.sum(rec.initial_pools_usd))
    pools = float(np.nansum(rec.pool_usd[n - 1])) if n else start
    return [
        ("Minute", f"{n}", _shock_when(rec, n - 1)),
        ("Liquidated", usd(total), f"{longs / total:.0%} longs" if total > 0 else "nothing yet"),
        ("ADL closes", f"{adl:,}", _plural(breaks, "hedge") + " broken"),
        ("Insurance pools", usd(pools), f"{pools / start:.0%} of {usd(start)}" if start else ""),
        ("Bad debt", usd(bad), "nobody absorbed it" if bad > 0 else "none"),
    ]


def _shock_when(rec: RunRecord, t: int) -> str:
    if not rec.shocks:
        return "no shock"
    s = rec.shocks[0]
    end = s.start_minute + s.duration_minutes
    if t < s.start_minute:
        return f"shock at minute {s.start_minute}"
    return "shock under way" if t < end else f"shock was minutes {s.start_minute}–{end}"


def _oi_change(rec: RunRecord) -> float | None:
    if not rec.shocks or rec.minutes <= rec.shocks[0].start_minute:
        return None
    oi = np.nansum(rec.series["oi_long_usd"][: rec.minutes], axis=1)
    before = oi[max(0, rec.shocks[0].start_minute - 1)]
    return float(oi[-1] / before - 1.0) if before > 0 else None


def milestones(rec: RunRecord) -> list[tuple[int, str]]:
    """Key moments so far as (minute, sentence), in time order.

    The shock's start and end (with each major's and long-tail asset's fall), the busiest
    liquidation minute, the first ADL, the first hedge break, the first selling in answer to a
    broken hedge, each pool falling below half and below 1 % of its start, the first bad debt.
    """
    n = rec.minutes
    out: list[tuple[int, str]] = []
    out += _shock_moments(rec)
    out += _peak_moment(rec)
    out += _first_event_moments(rec)
    out += _pool_moments(rec)
    return sorted((m for m in out if m[0] < n), key=lambda m: m[0])


def _shock_moments(rec: RunRecord) -> list[tuple[int, str]]:
    out = []
    n, s = rec.minutes, rec.series
    for shock in rec.shocks:
        t0, t1 = shock.start_minute, shock.start_minute + shock.duration_minutes
        out.append(
            (
                t0,
                f"the shock hits: the market factor falls {share(shock.size)} over "
                f"{shock.duration_minutes} minutes and market makers pull "
                f"{shock.mm_risk_off:.0%} of their depth",
            )
        )
        if t1 < n and t0 > 0:
            falls = []
            for k in (0, len(rec.symbols) - 1):
                fund = s["fundamental_usd"][t1, k] / s["fundamental_usd"][t0 - 1, k] - 1
                mark = np.nanmin(s["mark_usd"][t0 : t1 + 1, k]) / s["mark_usd"][t0 - 1, k] - 1
                falls.append(
                    f"{rec.symbols[k]} fundamental {fund:+.1%}, mark at its lowest {mark:+.1%}"
                )
            out.append((t1, "the shock's fall is over: " + "; ".join(falls)))
    return out


def _peak_moment(rec: RunRecord) -> list[tuple[int, str]]:
    n, s = rec.minutes, rec.series
    longs = np.nansum(s["liq_long_usd"][:n], axis=1)
    total = longs + np.nansum(s["liq_short_usd"][:n], axis=1)
    if n == 0 or total.max() <= 0:
        return []
    t = int(np.argmax(total))
    return [
        (
            t,
            f"the busiest minute so far: {usd(total[t])} liquidated, "
            f"{longs[t] / total[t]:.0%} of it longs",
        )
    ]


def _first_event_moments(rec: RunRecord) -> list[tuple[int, str]]:
    out = []
    adl = rec.events["adl"]
    if adl:
        first = adl[0]
        same = [r for r in adl if r.t == first.t]
        out.append(
            (
                first.t,
                f"first ADL on {rec.symbols[first.market]}: the insurance pool could not take "
                "the whole liquidated position, so the exchange closed profitable opposite "
                f"positions against it ({_adl_closes(same)[4:]})",
            )
        )
    breaks = [r for r in adl if r.is_hedge_break]
    if breaks:
        r = breaks[0]
        side = "short" if r.side < 0 else "long"
        out.append(
            (
                r.t,
                f"ADL broke a hedge: account {r.account} was market-neutral, "
                f"and losing its {rec.symbols[r.market]} {side} left it exposed",
            )
        )
    out += _second_round_moment(rec)
    bad = rec.events["bad_debt"]
    if bad:
        r = bad[0]
        out.append(
            (
                r.t,
                f"first bad debt: {usd(r.amount_usd)} on {rec.symbols[r.market]} "
                "that nobody absorbed",
            )
        )
    return out


def _second_round_moment(rec: RunRecord) -> list[tuple[int, str]]:
    """The first minute the owners of broken hedges sold in answer (the second round)."""
    sold = rec.series.get("broken_hedge_sold_usd")
    if sold is None:
        return []
    per_minute = np.nan_to_num(sold[: rec.minutes])
    minutes = np.flatnonzero(per_minute.sum(axis=1) > 0)
    if not len(minutes):
        return []
    t = int(minutes[0])
    k = int(np.argmax(per_minute[t]))
    return [
        (
            t,
            f"a broken hedge's owner sells: {usd(per_minute[t].sum())} sold in answer, most of "
            f"it {rec.symbols[k]} (a basis trader's spot left naked, a fund's alts)",
        )
    ]


def _pool_moments(rec: RunRecord) -> list[tuple[int, str]]:
    out = []
    n = rec.minutes
    for i, name in enumerate(rec.pool_names):
        start = rec.initial_pools_usd[i]
        if not start > 0 or n == 0:
            continue
        frac = rec.pool_usd[:n, i] / start
        for level, text in ((LOW_POOL, "is down to half its start"), (EMPTY_POOL, "is empty")):
            below = np.flatnonzero(frac < level)
            if len(below):
                out.append((int(below[0]), f"{name} {text} ({usd(rec.pool_usd[below[0], i])})"))
    return out


def narrate(rec: RunRecord, window: int = WINDOW_MINUTES, max_moments: int = 8) -> list[str]:
    """The panel's lines: the last `window` minutes, the totals, then key moments (newest first)."""
    moments = milestones(rec)[::-1][:max_moments]
    return [headline(rec, window), so_far(rec)] + [f"minute {t} — {text}" for t, text in moments]
