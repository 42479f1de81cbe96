"""(b) a shock day, (c) scaling to a million accounts, (e) the twin's cost: whole runs timed."""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from model.config import ModelConfig
from model.scenarios import scenario

SCALE_RULE = (
    "shock scenario; f = N / 10,000; every USD size of the market × f: each asset's depth "
    "(maker ladders, noise, value, arbitrage and exogenous flows are per unit depth and "
    "follow), maker, basis and fund capital, insurance pools and vault, and the crowd's money "
    "(retail.deposit_usd × f, which the model spreads over N accounts); each account's "
    "deposit, the leverage mix and tier brackets (venue rules) unchanged, so open interest / "
    "depth and pool / open interest stay those of the 10,000-account scenario"
)


def scaled_config(n_accounts: int, base: str | ModelConfig = "shock") -> ModelConfig:
    """The base scenario with `n_accounts` retail accounts and a market scaled to match.

    f = n_accounts / base retail accounts; every USD size of the market is multiplied by f:
    each asset's depth (maker ladders, background and exogenous flows are per unit of depth
    and follow), maker, basis-trader and fund capital, the insurance pools and the vault.

    The crowd's money grows by f too. `retail.deposit_usd` is the median deposit at
    `model.config.REFERENCE_ACCOUNTS` accounts and the model pays each of n accounts
    deposit_usd × REFERENCE_ACCOUNTS / n (`CascadeModel` building its traders), so the crowd's
    total money does not depend on n. Scaling deposit_usd by f therefore keeps each
    account's deposit (its ticket) that of the base scenario:

        (deposit_usd · f) · REFERENCE / (n_base · f) = deposit_usd · REFERENCE / n_base,

    while the crowd's money, hence its open interest, grows with the depth: open interest
    per depth, pool / open interest and the leverage mix stay as calibrated, and the tier
    brackets (venue rules, in absolute USD, applied per account) meet the same tickets.
    """
    cfg = scenario(base) if isinstance(base, str) else base
    f = n_accounts / cfg.retail.n_accounts
    liq = cfg.liquidation
    pools = liq.pool_initial_usd
    pools = tuple(p * f for p in pools) if isinstance(pools, tuple) else pools * f
    retail = dataclasses.replace(
        cfg.retail, n_accounts=n_accounts, deposit_usd=cfg.retail.deposit_usd * f
    )
    return dataclasses.replace(
        cfg,
        retail=retail,
        assets=tuple(dataclasses.replace(a, depth_usd=a.depth_usd * f) for a in cfg.assets),
        makers=dataclasses.replace(cfg.makers, capital_usd=cfg.makers.capital_usd * f),
        basis=dataclasses.replace(cfg.basis, capital_usd=cfg.basis.capital_usd * f),
        funds=dataclasses.replace(cfg.funds, capital_usd=cfg.funds.capital_usd * f),
        liquidation=dataclasses.replace(
            liq, pool_initial_usd=pools, vault_initial_usd=liq.vault_initial_usd * f
        ),
    )


def short_day(horizon: int | None) -> dict:
    """Overrides that shorten the shock scenario to `horizon` minutes, shock at mid-run
    (none when `horizon` is None: the scenario's own day)."""
    if horizon is None:
        return {}
    return {"horizon_minutes": horizon, "shocks.0.start_minute": horizon // 2}


def shock_day(repeats: int, horizon: int | None = None) -> dict:
    """Wall and CPU seconds of the default shock scenario (its default crowd)."""
    from model import CascadeModel

    over = short_day(horizon)
    walls, cpus = [], []
    for _ in range(repeats):
        model = CascadeModel(scenario="shock", rng=1, **over)
        w, c = time.perf_counter(), time.process_time()
        model.run()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    minutes = model.cfg.horizon_minutes
    return {
        "accounts": model.cfg.retail.n_accounts,
        "minutes": minutes,
        "wall_s_runs": walls,
        "cpu_s_runs": cpus,
        "wall_s_per_day": min(walls) * 1440 / minutes,
        "cpu_s_per_day": min(cpus) * 1440 / minutes,
    }


def twin_cost(repeats: int, horizon: int | None = None) -> dict:
    """Wall seconds of a shock day alone and with its counterfactual twin, side by side.

    Each of `repeats` rounds runs the day alone (`CascadeModel`, built and run) and then with
    its twin (`model.twin.run_pair`: both built and run, the same seed) in this process, so
    the two see the same machine; ratio = best pair / best alone (about 2: the twin is a
    second run of the same day).
    """
    from model import CascadeModel
    from model.twin import run_pair

    over = short_day(horizon)
    alone, pair = [], []
    for _ in range(repeats):
        w = time.perf_counter()
        model = CascadeModel(scenario="shock", rng=1, **over)
        model.run()
        alone.append(time.perf_counter() - w)
        w = time.perf_counter()
        run_pair("shock", 1, over)
        pair.append(time.perf_counter() - w)
    minutes = model.cfg.horizon_minutes
    return {
        "accounts": model.cfg.retail.n_accounts,
        "minutes": minutes,
        "alone_s_runs": alone,
        "pair_s_runs": pair,
        "alone_s_per_day": min(alone) * 1440 / minutes,
        "pair_s_per_day": min(pair) * 1440 / minutes,
        "ratio": min(pair) / min(alone),
    }


def scale_child(n_accounts: int, horizon: int) -> dict:
    """One scaled run in this process (called in a child): times, memory, what happened."""
    from model import CascadeModel

    cfg = scaled_config(n_accounts)
    shocks = tuple(  # a short quick-mode run moves its shock inside the horizon
        s if s.start_minute < horizon else dataclasses.replace(s, start_minute=horizon // 2)
        for s in cfg.shocks
    )
    cfg = dataclasses.replace(cfg, horizon_minutes=horizon, shocks=shocks)
    w, c = time.perf_counter(), time.process_time()
    model = CascadeModel(scenario=cfg, rng=1)
    build_s = time.perf_counter() - w
    while model.running:
        model.step()
        if model.t % 120 == 0:  # progress on stderr (the parent reads stdout)
            done_s = time.perf_counter() - w
            print(f"minute {model.t}: {done_s:.0f} s", file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    summary = model.summary()
    scanner = model.exchange.liquidator.scanner
    return {
        "accounts": n_accounts,
        "minutes": horizon,
        "build_s": build_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_gb": peak_rss_bytes() / 1e9,
        "liq_notional_usd": float(summary["liq_notional_usd"]),
        "liquidation_events": model.exchange.events.count("liquidation"),
        "fills": model.exchange.events.count("fill"),
        "full_scans": scanner.full_scans,
        "incremental_scans": scanner.incremental_scans,
    }


def peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM of its own address space.

    Not `ru_maxrss`: across fork and exec Linux carries the parent's peak into the child's
    maxrss, which would charge a small run with the parent's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scaling(sizes: tuple[int, ...], horizon: int, timeout_s: float = 3_600) -> dict:
    """Each size in its own process (`--child-scale`); fit wall ∝ N^k by least squares."""
    runs = []
    for n in sizes:
        cmd = [sys.executable, "-m", "experiments.bench", "--child-scale", str(n)]
        cmd += ["--horizon", str(horizon)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"scale run N={n} failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(
            f"  N={n:>9,}: {runs[-1]['wall_s']:.1f} s, {runs[-1]['peak_rss_gb']:.2f} GB", flush=True
        )
    x = np.log([r["accounts"] for r in runs])
    exponent = float(np.polyfit(x, np.log([r["wall_s"] for r in runs]), 1)[0])
    cpu_exponent = float(np.polyfit(x, np.log([r["cpu_s"] for r in runs]), 1)[0])
    return {"rule": SCALE_RULE, "runs": runs, "exponent": exponent, "cpu_exponent": cpu_exponent}
