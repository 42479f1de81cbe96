"""(a) Risk-engine throughput: the vectorised margin check and liquidation scan against one Mesa
agent per account on the same synthetic book, and the model's incremental scan."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from model.config import ModelConfig

ENTRY_STEP = 0.01
"""Entry prices of the synthetic book lie on a grid of this step around the mark (a share)."""
ENTRY_STEPS = 5
"""Grid steps each side of the mark: entries within ±5 %, one price group per step."""


def risk_book(n_accounts: int, seed: int = 0):
    """An exchange whose accounts each hold a position in every market of the default universe.

    A benchmark fixture built through the engine's public API (`Exchange.open_accounts`,
    `Exchange.open_book`). Deposits ~ lognormal (median 3,000 USD, σ 1); leverage 2–15x, or
    50–100x for 5 % of the accounts, capped at the market's tier maximum at the position's
    notional; notional ≈ 0.95 · deposit · leverage / markets per market; 70 % long; 30 % of
    positions isolated (their margin, notional / leverage, leaves the wallet). Entries: mark ·
    (1 + N(0, 2 %)) rounded to the `ENTRY_STEP` grid within ±`ENTRY_STEPS` steps, so some
    positions start below maintenance. Each price group of a market is one `open_book` call
    whose net is held by that group's counterparty (`open_groups`).

    Returns:
        (exchange, ids of the crowd's accounts).
    """
    from model.engine.exchange import Exchange
    from model.universe import perp_spec

    cfg = ModelConfig()
    perps = [perp_spec(a, cfg.mark_rule) for a in cfg.assets]
    marks = np.array([a.price_usd for a in cfg.assets])
    ex = Exchange(perps, marks, liquidation=cfg.liquidation)
    book = crowd_book(np.random.default_rng(seed), n_accounts, perps, marks)
    margin = (np.abs(book["lots"]) * ex.perp_lot_sizes * book["entry"] / book["lev"]).sum(axis=1)
    # the deposit covers the margin but where the 1-lot floor asks more
    ids = ex.open_accounts(n_accounts, np.maximum(book["deposits"], 1.01 * margin))
    open_groups(ex, ids, book, marks)
    return ex, ids


def crowd_book(rng: np.random.Generator, n: int, perps: list, marks: np.ndarray) -> dict:
    """The synthetic crowd's deposits and, per (account, market), signed lots, leverage,
    isolation, entry-grid step and entry price (`risk_book`)."""
    m = len(perps)
    lot = np.array([p.lot_size for p in perps])
    deposits = rng.lognormal(np.log(3_000.0), 1.0, n)
    high = rng.random((n, 1)) < 0.05
    lev = np.where(high, rng.uniform(50, 100, (n, m)), rng.uniform(2, 15, (n, m)))
    side = np.where(rng.random((n, m)) < 0.7, 1, -1)
    iso = rng.random((n, m)) < 0.3
    step = np.rint(rng.normal(0, 0.02, (n, m)) / ENTRY_STEP).clip(-ENTRY_STEPS, ENTRY_STEPS)
    top = deposits[:, None] * lev / m * (1 + ENTRY_STEPS * ENTRY_STEP)  # the largest notional
    caps = np.column_stack([p.tiers.max_leverage_at(top[:, k]) for k, p in enumerate(perps)])
    lev = np.minimum(lev, caps)  # a smaller notional has a cap at least as high
    lots = np.maximum(1, np.floor(0.95 * deposits[:, None] * lev / m / marks / lot))
    entry = marks * (1 + step * ENTRY_STEP)
    lots = side * lots.astype(np.int64)
    return {
        "deposits": deposits,
        "lots": lots,
        "lev": lev,
        "iso": iso,
        "step": step,
        "entry": entry,
    }


def open_groups(ex, ids: np.ndarray, book: dict, marks: np.ndarray) -> None:
    """Open the crowd's positions, one `open_book` call per (market, entry price group).

    Each group's net is held by its counterparty: one account per price group
    (``2 · ENTRY_STEPS + 1``, opened after the crowd), cross-margined at 1x and funded with
    twice the notional it holds, so it is never below maintenance.
    """
    groups = np.arange(-ENTRY_STEPS, ENTRY_STEPS + 1)
    step, lots = book["step"], book["lots"]
    m = lots.shape[1]
    net = np.array([[lots[step[:, k] == g, k].sum() for k in range(m)] for g in groups])
    top = marks * (1 + ENTRY_STEPS * ENTRY_STEP)
    desks = ex.open_accounts(
        len(groups), 2.0 * float((np.abs(net) * ex.perp_lot_sizes * top).sum())
    )
    for k in range(m):
        for desk, g, held in zip(desks, groups, net[:, k], strict=True):
            crowd = np.flatnonzero(step[:, k] == g)
            ex.open_book(
                k,
                np.append(ids[crowd], desk),
                np.append(lots[crowd, k], -held),
                float(marks[k] * (1 + g * ENTRY_STEP)),
                np.append(book["lev"][crowd, k], 1.0),
                np.append(book["iso"][crowd, k], False),
            )


def best_time(fn, repeats: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def risk_throughput(n_accounts: int, n_agent_accounts: int, repeats: int = 3) -> dict:
    """Vectorised full scan (1 and 2 threads) vs one Mesa agent per account, same data."""
    ex, ids = risk_book(n_accounts)
    scanner = ex.liquidator.scanner
    m = len(ex.perps)
    out: dict[str, Any] = {"accounts": n_accounts, "markets": m, "positions": n_accounts * m}
    for threads in (1, 2):
        scanner.threads = threads
        seconds, units = best_time(scanner.full_scan, repeats)
        out[f"vector_{threads}t_s"] = seconds
        out[f"vector_{threads}t_positions_per_s"] = n_accounts * m / seconds
    scanner.threads = 1
    out["units_below_maintenance"] = len(units)
    agents = PerAgentRisk(ex, ids[:n_agent_accounts])
    agents.step()  # warm-up
    seconds, _ = best_time(agents.step, repeats)
    n_agent_pos = n_agent_accounts * m
    out["agent_accounts"] = n_agent_accounts
    out["agent_s"] = seconds
    out["agent_positions_per_s"] = n_agent_pos / seconds
    members = set(ids[:n_agent_accounts].tolist())
    out["agent_flags_agree"] = {u for u in units if u[0] in members} == agents.units()
    out["speedup_1t"] = out["vector_1t_positions_per_s"] / out["agent_positions_per_s"]
    out["speedup_2t"] = out["vector_2t_positions_per_s"] / out["agent_positions_per_s"]
    out.update(incremental_scan(ex, ids, repeats=5))  # moves the marks: last
    return out


def account_agent_class():
    import bisect

    import mesa

    class AccountAgent(mesa.Agent):
        """One account as a Mesa agent: its positions in Python lists, the same check."""

        def __init__(self, model, acct: int, ex) -> None:
            super().__init__(model)
            acc = ex.accounts
            self.acct = acct
            self.collateral = float(acc.collateral_usd[acct])
            self.lots = acc.qty_lots[acct].tolist()
            self.entry = acc.entry_price_usd[acct].tolist()
            self.iso = acc.is_isolated[acct].tolist()
            self.iso_margin = acc.isolated_margin_usd[acct].tolist()
            self.cross_flag = False
            self.iso_flags = [False] * len(self.lots)

        def step(self) -> None:
            mdl = self.model
            equity, mm_cross, has_cross = self.collateral, 0.0, False
            for k, lots in enumerate(self.lots):
                if lots == 0:
                    continue
                q = lots * mdl.lot_sizes[k]
                upnl = q * (mdl.marks[k] - self.entry[k])
                notional = abs(q) * mdl.marks[k]
                floors, mmr, cum = mdl.tables[k]
                b = bisect.bisect_right(floors, notional) - 1
                mm = notional * mmr[b] - cum[b]
                if self.iso[k]:
                    self.iso_flags[k] = self.iso_margin[k] + upnl < mm
                else:
                    has_cross, equity, mm_cross = True, equity + upnl, mm_cross + mm
            self.cross_flag = has_cross and equity < mm_cross

    return AccountAgent


def incremental_scan(ex, ids: np.ndarray, repeats: int, seed: int = 1) -> dict:
    """The model's scan (`RiskScanner.scan`, incremental) over simulated minutes.

    Each minute: every mark moves by a one-minute return (σ = 0.06 % × the asset's beta, as
    the world's factor), 0.3 % of the accounts are written (a deposit each, as a minute of
    fills would), then one scan; checked against a full scan at the same marks.
    """
    from model.engine.risk_scan import MIN_INCREMENTAL_ACCOUNTS

    rng = np.random.default_rng(seed)
    cfg = ModelConfig()
    beta = np.array([a.beta for a in cfg.assets])
    scanner = ex.liquidator.scanner
    scanner.min_incremental = 0
    scanner.scan()  # the full scan that sets the reference marks
    times, rows = [], []
    for _ in range(repeats):
        ex.set_index(ex.prices.index_usd * np.exp(rng.normal(0, 0.0006, len(beta)) * beta))
        ex.remark()
        for acct in rng.choice(ids, max(1, len(ids) * 3 // 1000), replace=False).tolist():
            ex.deposit(acct, 1.0)
        before = scanner.incremental_scans
        t0 = time.perf_counter()
        units = scanner.scan()
        times.append(time.perf_counter() - t0)
        rows.append(scanner.incremental_scans - before)
        if units != scanner.full_scan():
            raise AssertionError("incremental scan disagrees with the full scan")
    scanner.min_incremental = MIN_INCREMENTAL_ACCOUNTS
    seconds = float(np.median(times))
    return {
        "incremental_s": seconds,
        "incremental_positions_per_s": len(ids) * len(beta) / seconds,
        "incremental_scans_without_rebuild": int(sum(rows)),
    }


class PerAgentRisk:
    """A Mesa model holding one `AccountAgent` per account, stepped with ``shuffle_do``."""

    def __init__(self, ex, accounts: np.ndarray) -> None:
        import mesa

        agent_cls = account_agent_class()
        self.model = model = mesa.Model(rng=0)
        model.marks = ex.prices.mark_usd.tolist()
        model.lot_sizes = ex.perp_lot_sizes.tolist()
        model.tables = [
            (s.tiers.floors_usd, s.tiers.mmr, s.tiers.cum_usd.tolist()) for s in ex.perps
        ]
        for acct in accounts.tolist():
            agent_cls(model, acct, ex)

    def step(self) -> None:
        self.model.agents.shuffle_do("step")

    def units(self) -> set:
        out = set()
        for a in self.model.agents:
            if a.cross_flag:
                out.add((a.acct, None))
            out.update((a.acct, k) for k, f in enumerate(a.iso_flags) if f)
        return out
