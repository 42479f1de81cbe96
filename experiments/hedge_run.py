"""One run of the hedge-break study (`experiments.hedge_study`), in a worker: hedge breaks,
what ADL closed from whom and where, the ADL queue ahead of the hedged books at the news, pool
falls, drawdowns and the marks paths the study compares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

HEDGED_BOOKS = ("BasisTrader", "MarketNeutralFund", "MarketMaker")
REPLAYED = (
    "replay_queue_breaks", "replay_portfolio_breaks", "replay_shifted_usd",
    "replay_shifted_taken_usd",
)  # fmt: skip
"""`run_one`'s measures of the replay (`_replayed`)."""


def run_one(seed: int, overrides: Mapping[str, Any]) -> dict[str, float]:
    """One oct-2025 run (in a worker): hedge breaks, what ADL closed from whom, pool falls,
    drawdowns from the pre-shock level (`model.summary`), and the paths `fall_after_first_sale`
    compares."""
    from model import CascadeModel

    m = CascadeModel(scenario="oct-2025", rng=int(seed), **dict(overrides))
    kinds = np.array([a.kind for a in m.cfg.assets])
    while m.running and m.t < m.shock_start:
        m.step()
    ahead = {k: queue_ahead_usd(m, k) for k in range(len(kinds))}  # at the news
    summary = m.run()
    out = {
        **_paths(m, kinds),
        "hedge_breaks": float(summary["hedge_breaks"]),
        "broken_hedge_sold_usd": float(summary["broken_hedge_sold_usd"]),
        "btc_drawdown": float(summary["drawdown_BTC"]),
        "tail_drawdown": float(np.mean([summary[f"drawdown_{s}"] for s in _tails(m, kinds)])),
        "tail_max_drawdown": float(max(summary[f"drawdown_{s}"] for s in _tails(m, kinds))),
        "tail_day_drawdown": _day_drawdown(m, kinds == "tail"),
        **_replayed(m),
        **_pool_falls(m, kinds),
        **_adl_by_holder(m),
        "adl_major_usd": _adl_in(m, kinds == "major"),
        "adl_btc_usd": _adl_in(m, np.arange(len(kinds)) == 0),
        # per long-tail perp: ADL closed and the queue ahead, means over the tails
        "adl_tail_usd": _adl_in(m, kinds == "tail") / max(1, int((kinds == "tail").sum())),
        "ahead_btc_usd": ahead[0],
        "ahead_tail_usd": float(np.mean([ahead[k] for k in np.flatnonzero(kinds == "tail")])),
    }
    return out


def _paths(m, kinds: np.ndarray) -> dict[str, Any]:
    """From minute 0 on: BTC's mark and the long tail's (each tail perp's mark over its
    minute-0 level, averaged), both 1.0 at index 0; their open-to-low falls (1 − the path's
    low: how 10 Oct's falls are quoted, "average Binance coin −63 % open to low", §8.1); and
    the first minute whose orders answered a broken hedge (NaN if none)."""
    marks = m.recorder.series["mark_usd"][: m.recorder.n]
    rel = marks / marks[0]
    tail = rel[:, kinds == "tail"].mean(axis=1)
    sold = np.nansum(m.recorder.series["broken_hedge_sold_usd"][: m.recorder.n], axis=1)
    first = np.flatnonzero(sold > 0)
    return {
        "btc_path": rel[:, 0].tolist(),
        "tail_path": tail.tolist(),
        "btc_open_to_low": float(1.0 - np.nanmin(rel[:, 0])),
        "tail_open_to_low": float(1.0 - np.nanmin(tail)),
        "first_sale_minute": float(first[0]) if first.size else np.nan,
    }


def _day_drawdown(m, markets: np.ndarray) -> float:
    """Mean over the flagged perps of the fall from the pre-shock level to the day's low
    (`model.summary.drawdown` with no window). Most broken-hedge sales come hours after the
    news, past the summary's 240-minute window, as 10 Oct's cascade came six hours after its
    news (14:57 → 20:50 UTC, exchange-mechanics §7.1)."""
    from model.summary import drawdown

    marks = m.recorder.series["mark_usd"][: m.recorder.n]
    news = m.shock_start
    return float(np.mean([drawdown(marks[:, k], news, None) for k in np.flatnonzero(markets)]))


def _replayed(m) -> dict[str, float]:
    """Σ over the run's shortfalls sent to ADL, each allocated on the same state by the queue
    and by the portfolio-aware queue (events.AdlReplay): the hedges each would break, and
    the notional and value the portfolio-aware one moves off hedges onto naked positions
    (NaN when the run did not replay: `liquidation.adl_replay` off)."""
    if not m.cfg.liquidation.adl_replay:
        return dict.fromkeys(REPLAYED, np.nan)
    rows = m.exchange.events.frame("adl_replay")
    columns = ("queue_breaks", "portfolio_breaks", "shifted_usd", "shifted_taken_usd")
    return {name: float(rows[c].sum()) for name, c in zip(REPLAYED, columns, strict=True)}


def _tails(m, kinds: np.ndarray) -> list[str]:
    return [s for s, k in zip(m.symbols, kinds, strict=True) if k == "tail"]


def _pool_falls(m, kinds: np.ndarray) -> dict[str, float]:
    """Largest fall, as a share of its start, of the pool serving the tails and of BTC's."""
    pools = m.recorder.pool_usd[: m.recorder.n]
    fall = 1.0 - np.nanmin(pools, axis=0) / np.maximum(pools[0], 1e-9)
    pool_of = np.array(m.exchange.liquidator.pools.pool_of_market)
    return {
        "tail_pool_fall": float(fall[pool_of[kinds == "tail"]].max()),
        "btc_pool_fall": float(fall[pool_of[0]]),
    }


def _adl_by_holder(m) -> dict[str, float]:
    """ADL notional closed (qty × mark) and value taken from hedged books and from others, and
    the hedge breaks that came before the news."""
    adl = m.exchange.events.frame("adl")
    hedged = adl.account.isin(_hedged_accounts(m)).to_numpy()
    notional = adl.qty * adl.mark_usd
    news = m.shock_start
    return {
        "hedge_breaks_before_news": float((adl.is_hedge_break & (adl.t < news)).sum()),
        "adl_hedged_usd": float(notional[hedged].sum()),
        "adl_others_usd": float(notional[~hedged].sum()),
        "taken_others_usd": float(adl.value_taken_usd[~hedged].sum()),
    }


def queue_ahead_usd(m, k: int) -> float:
    """Short notional (qty × mark, USD) that perp k's ADL queue ranks above its first hedged
    book now: what ADL must close in k against liquidated longs before it breaks a hedge
    (the run's own policy scores, `Policy.scores`; inf when no hedged book is short)."""
    ex = m.exchange
    shorts = np.flatnonzero(ex.accounts.qty_lots[:, k] < 0)
    hedged = np.isin(shorts, _hedged_accounts(m))
    order = np.argsort(-ex.liquidator.policy.scores(shorts, k), kind="stable")  # NaN last
    usd = -ex.accounts.qty_lots[shorts, k] * ex.perps[k].lot_size * ex.prices.mark_usd[k]
    first = np.flatnonzero(hedged[order])
    return float(usd[order][: first[0]].sum()) if first.size else np.inf


def _hedged_accounts(m) -> list[int]:
    """Account ids of the hedged books (`HEDGED_BOOKS`)."""
    return [int(a) for t in m.traders if type(t).__name__ in HEDGED_BOOKS for a in t.account_ids]


def _adl_in(m, markets: np.ndarray) -> float:
    """ADL notional closed (qty × mark) in the markets flagged by `markets` (one per perp)."""
    adl = m.exchange.events.frame("adl")
    return float((adl.qty * adl.mark_usd)[markets[adl.market.to_numpy(int)]].sum())
