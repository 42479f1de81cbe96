"""A model's state as tables: open positions with liquidation prices, a run's records.

Read-only over the exchange's arrays and vectorised (one pass per market, none per account).
`position_snapshot` feeds the liquidation map and the crowding indicators; `run_tables` and
`run_info` are what a saved run holds, enough to recompute `CascadeModel.summary` from disk
(`experiments.analysis.run_metrics`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.engine.margin import liquidation_price_tiered

SNAPSHOT_COLUMNS = (
    "account",
    "market",
    "symbol",
    "side",
    "qty",
    "entry_price_usd",
    "notional_usd",
    "leverage",
    "margin_mode",
    "liquidation_price_usd",
    "mark_usd",
)


def position_snapshot(ex) -> pd.DataFrame:
    """One row per open position of a non-system account, at the current marks.

    The liquidation price is Binance's one-way formula with the self-consistent bracket
    (`margin.liquidation_price_tiered`, exchange-mechanics.md §2.2):
    LP = (W − TMM1 + UPNL1 + cum − s·Q·EP) / (Q·MMR − s·Q), where W is the cross wallet and
    TMM1, UPNL1 the maintenance and unrealised PnL of the account's other cross positions at
    the mark (cross), or W the position's isolated margin and TMM1 = UPNL1 = 0 (isolated).
    NaN where LP <= 0 (a long that no positive price liquidates).

    Args:
        ex: The `Exchange`.

    Returns:
        A DataFrame with `SNAPSHOT_COLUMNS`: qty in coins (absolute), side +1 long / −1 short,
        notional at the mark, the account's leverage setting for the market, margin_mode
        "cross" or "isolated".
    """
    acc, r = ex.accounts, ex.risk_arrays()
    lots = acc.qty_lots
    open_ = (lots != 0) & ~ex.is_system[:, None]
    cross = r["is_cross"]
    other_mm = (r["cross_mm_usd"][:, None] - r["mm_usd"]) * cross
    other_upnl = ((r["upnl_usd"] * cross).sum(axis=1, keepdims=True) - r["upnl_usd"]) * cross
    wallet = np.where(acc.is_isolated, acc.isolated_margin_usd, acc.collateral_usd[:, None])
    frames = [
        _market_rows(ex, k, np.flatnonzero(open_[:, k]), wallet, other_mm, other_upnl)
        for k in range(lots.shape[1])
    ]
    return pd.concat(frames, ignore_index=True)


def _market_rows(ex, k: int, rows: np.ndarray, wallet, other_mm, other_upnl) -> pd.DataFrame:
    acc, spec = ex.accounts, ex.perps[k]
    lots = acc.qty_lots[rows, k]
    qty = np.abs(lots) * spec.lot_size
    side = np.sign(lots).astype(np.int64)
    entry = acc.entry_price_usd[rows, k]
    mark = float(ex.prices.mark_usd[k])
    lp = (
        liquidation_price_tiered(
            side=side,
            qty=qty,
            entry_price=entry,
            wallet_balance=wallet[rows, k],
            tiers=spec.tiers,
            other_maintenance=other_mm[rows, k],
            other_upnl=other_upnl[rows, k],
        )
        if len(rows)
        else np.zeros(0)
    )
    iso = acc.is_isolated[rows, k]
    return pd.DataFrame(
        {
            "account": rows.astype(np.int64),
            "market": np.full(len(rows), k, dtype=np.int64),
            "symbol": np.full(len(rows), spec.symbol, dtype=object),
            "side": side,
            "qty": qty,
            "entry_price_usd": entry,
            "notional_usd": qty * mark,
            "leverage": acc.leverage[rows, k],
            "margin_mode": np.where(iso, "isolated", "cross").astype(object),
            "liquidation_price_usd": np.asarray(lp, dtype=float).reshape(len(rows)),
            "mark_usd": np.full(len(rows), mark),
        },
        columns=list(SNAPSHOT_COLUMNS),
    )


def long_oi_share(ex, accounts: np.ndarray) -> float:
    """Share of the open notional of `accounts` held long, Σ long N / Σ |N| at the marks.

    The crowding gauge exchanges publish as the long/short ratio (by notional, not accounts);
    NaN when the accounts hold nothing.
    """
    notional = ex.accounts.qty_lots[accounts] * ex.perp_lot_sizes * ex.prices.mark_usd
    gross = float(np.abs(notional).sum())
    return float(notional[notional > 0].sum() / gross) if gross > 0 else float("nan")


def run_tables(model) -> dict[str, pd.DataFrame]:
    """The records of a `CascadeModel` run as tables, keyed by file stem.

    - ``series``: one row per (minute, asset), `Recorder.frame`.
    - ``pools``: one row per minute; ``pool_<i>_usd`` per insurance pool, ``vault_usd``.
    - ``liquidations``: the liquidation events plus ``leverage`` (the account's setting for
      the market now) and ``is_retail``.
    - ``adl``, ``haircuts``, ``bad_debt``: those event tables (`model.engine.events.SCHEMAS`).
    """
    n, ev = model.recorder.n, model.exchange.events
    pools = pd.DataFrame({"minute": np.arange(n)})
    for i in range(model.recorder.pool_usd.shape[1]):
        pools[f"pool_{i}_usd"] = model.recorder.pool_usd[:n, i]
    pools["vault_usd"] = model.recorder.vault_usd[:n]
    liqs = ev.frame("liquidation")
    acct, market = liqs.account.to_numpy(int), liqs.market.to_numpy(int)
    liqs["leverage"] = model.exchange.accounts.leverage[acct, market]
    liqs["is_retail"] = np.isin(acct, model.retail.account_ids)
    return {
        "series": model.recorder.frame(model.symbols),
        "pools": pools,
        "liquidations": liqs,
        "adl": ev.frame("adl"),
        "haircuts": ev.frame("haircut"),
        "bad_debt": ev.frame("bad_debt"),
    }


def run_info(model) -> dict:
    """Scalars a saved run needs besides its tables (JSON-ready), including the crowding
    indicators the model records at the minute before the shock."""
    summary = model.summary()
    return {
        "seed": int(model.seed),
        "minutes": int(model.recorder.n),
        "symbols": list(model.symbols),
        "shock_minute": int(model.shock_start),
        "has_shock": bool(model.cfg.shocks),
        "initial_pools_usd": [float(x) for x in model.initial_pools],
        "retail_deposited_usd": float(model.retail_deposited_usd),
        "liquidatable_oi_within_5pct": float(summary["liquidatable_oi_within_5pct"]),
        "long_oi_share_pre_shock": float(summary["long_oi_share_pre_shock"]),
    }
