"""The validation's runs, each in a worker: an oct-2025 run with its twin (`oct_run`), a calm
run (`calm_run`), what each measures (`book_metrics`, `cascade_metrics`, `pool_metrics`, who
holds the open interest), the leverage study's overrides and `guarded_run`, which reports a run
that raises instead of raising."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.validation.metrics import (
    DEPTH_BASELINE_MINUTES,
    EVENT_WINDOW_MINUTES,
    adl_thin_concentration,
    depth_collapse,
    forced_sell_usd,
    guarded_ratio,
    liquidation_routes,
    oi_over_depth,
    pool_losses,
    pre_shock_depth_usd,
    worst_window_share,
)
from experiments.validation.targets import OCT

CALM_SKIP_MINUTES = 60
"""Minutes at the start of a calm run left out of its statistics: the opening book is placed
at minute 0 and the makers' ladders and the value investors' latent book settle around it in
the first hour (assumed)."""


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

    Keys: ``retail_<group>`` for each leverage group of the crowd (`LEVERAGE_GROUPS`: low,
    moderate 3–7x, mid 8–25x, high 50–100x) and each other trader's class name in lower
    case; shares sum to 1 over the traders (pools and the vault aside).
    """
    from agents.retail import LEVERAGE_GROUPS

    ex = model.exchange
    notional = ex.accounts.qty_lots * ex.perp_lot_sizes * ex.prices.mark_usd
    long_usd = np.where(notional > 0, notional, 0.0).sum(axis=1)
    total = float(long_usd.sum())
    out: dict[str, float] = {}
    for trader in model.traders:
        ids = np.asarray(trader.account_ids)
        if hasattr(trader, "leverage_groups"):
            groups = {
                f"retail_{name}": ids[np.asarray(trader.leverage_groups) == g]
                for g, name in enumerate(LEVERAGE_GROUPS)
            }
        else:
            groups = {type(trader).__name__.lower(): ids}
        for name, members in groups.items():
            share = float(long_usd[members].sum()) / total if total > 0 else float("nan")
            out[name] = out.get(name, 0.0) + share
    return out


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


def guarded_run(fn: Callable, seed: int, overrides: Mapping[str, Any]) -> dict:
    """`fn(seed, overrides)` (`oct_run` or `calm_run`, in a worker); a run that raises is
    reported with its configuration and error instead, and the validation goes on."""
    try:
        return fn(seed, overrides)
    except Exception as err:
        study = OCT if fn is oct_run else "calm"
        where = traceback.extract_tb(err.__traceback__)[-1]
        error = f"{type(err).__name__}: {err} ({Path(where.filename).name}:{where.lineno})"
        return {"seed": int(seed), "study": study, "overrides": dict(overrides), "error": error}
