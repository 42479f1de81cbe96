"""Named experiments: base scenario, design and sizes of each sweep `cascade-lab sweep` knows.

Every experiment has a "default" size (a few seeds, runs shortened to 10 hours and 600 retail
accounts with the shock at minute 420: minutes on a 2-core machine) and a "full" size (the
scenario's own day and crowd, ten seeds). All use common random numbers: every cell runs the
same seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from experiments.design import Design, full_factorial, make_design
from model.pricing import MARK_RULES
from model.risk_config import POLICIES

DEFAULT_ROOT_SEED = 20251010
"""Root of every catalogue design's replicate seeds (10 Oct 2025)."""

SIZES = ("default", "full")
SHORT_RUN = {
    "horizon_minutes": 600,
    "retail.n_accounts": 600,
    "retail.warmup_minutes": 240,
    "shocks.0.start_minute": 420,
}
"""Overrides of the default size: shock after the 240-minute warm-up, 3 hours of aftermath."""
SEEDS = {"default": 3, "full": 10}
POOL_USD = (2_000_000.0, 1_000_000.0, 300_000.0)
"""Default insurance pools (BTC, ETH, the rest; `ModelConfig.liquidation`), scaled below."""

Cells = tuple[list[dict], list[dict] | None]


@dataclass(frozen=True)
class Experiment:
    """A named sweep.

    Attributes:
        name: CLI name and results folder.
        scenario: Base scenario.
        question: What the sweep answers, one sentence.
        cells: size → (cells, tags or None): the design's cells at that size.
    """

    name: str
    scenario: str
    question: str
    cells: Callable[[str], Cells]


def _leverage_shock(size: str) -> Cells:
    shares = (0.0, 0.3, 0.6) if size == "default" else (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    shocks = (0.05, 0.1, 0.15) if size == "default" else (0.04, 0.06, 0.08, 0.1, 0.12, 0.15)
    return full_factorial({"retail.high_leverage_share": shares, "shocks.0.size": shocks}), None


def pool_cell(scale: float) -> dict:
    """Overrides that scale every insurance pool by `scale` (the 3-tuple of `POOL_USD`)."""
    return {"liquidation.pool_initial_usd": tuple(scale * usd for usd in POOL_USD)}


def _policy_cell(policy: str, scale: float) -> dict:
    cell = {"liquidation.policy": policy, **pool_cell(scale)}
    if policy == "backstop_vault":  # the vault gets the pools' capital, or it never acts
        cell["liquidation.vault_initial_usd"] = scale * sum(POOL_USD)
    return cell


def _adl_policies(size: str) -> Cells:
    scales = (0.1, 1.0) if size == "default" else (0.0, 0.1, 0.3, 1.0, 3.0)
    grid = full_factorial({"policy": POLICIES, "scale": scales})
    tags = [{"pool_scale": g["scale"]} for g in grid]
    return [_policy_cell(g["policy"], g["scale"]) for g in grid], tags


def _stop_loss(size: str) -> Cells:
    shares = (0.0, 0.25, 0.5) if size == "default" else tuple(i / 10 for i in range(11))
    return full_factorial({"retail.stop_loss_share": shares}), None


def _mark_price(size: str) -> Cells:
    return full_factorial({"mark_rule": MARK_RULES}), None


def _insurance_size(size: str) -> Cells:
    scales = (0.0, 0.3, 1.0, 3.0) if size == "default" else (0, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
    return [pool_cell(float(s)) for s in scales], [{"pool_scale": float(s)} for s in scales]


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment(
            "leverage-shock",
            "shock",
            "How do the 50–100x share and the shock size combine into liquidations?",
            _leverage_shock,
        ),
        Experiment(
            "adl-policies",
            "oct-2025",
            "Who absorbs the losses under each policy, as the insurance pools shrink or grow?",
            _adl_policies,
        ),
        Experiment(
            "stop-loss",
            "shock",
            "Do stop-losses shield retail money or add to the forced selling?",
            _stop_loss,
        ),
        Experiment(
            "mark-price",
            "shock",
            "How much does the mark rule (binance, index, last) shield against cascades?",
            _mark_price,
        ),
        Experiment(
            "insurance-size",
            "oct-2025",
            "How large must the insurance pools be before ADL and bad debt stop?",
            _insurance_size,
        ),
    )
}


def design_for(
    name: str,
    size: str = "default",
    n_seeds: int | None = None,
    root_seed: int = DEFAULT_ROOT_SEED,
) -> Design:
    """The design of a named experiment.

    Args:
        name: A key of `EXPERIMENTS`.
        size: "default" (short runs, 3 seeds) or "full" (the scenario's day, 10 seeds).
        n_seeds: Replicates per cell, overriding the size's.
        root_seed: Root of the replicate seeds.

    Raises:
        ValueError: Unknown experiment or size.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; valid: {', '.join(SIZES)}")
    exp = EXPERIMENTS[name]
    cells, tags = exp.cells(size)
    grid = "grid" if tags is None else "cells"
    return make_design(
        name,
        exp.scenario,
        cells,
        n_seeds=n_seeds or SEEDS[size],
        root_seed=root_seed,
        base_overrides=SHORT_RUN if size == "default" else {},
        tags=tags,
        method=grid,
        size=size,
    )


def experiment_rows() -> list[dict]:
    """One row per experiment: name, scenario, size of each design, question."""
    rows = []
    for exp in EXPERIMENTS.values():
        row = {"experiment": exp.name, "scenario": exp.scenario}
        for size in SIZES:
            d = design_for(exp.name, size)
            row[size] = f"{len(d.cells)} cells × {len(d.seeds)} seeds = {d.n_runs} runs"
        rows.append({**row, "question": exp.question})
    return rows
