"""Named experiments: base scenario, design and sizes of each sweep `cascade-lab sweep` knows.

Every experiment has a "default" size (three seeds, runs shortened to 8 hours and 3,000 retail
accounts with the shock at minute 240: minutes on a 2-core machine) and a "full" size (the
scenario's own day and crowd, ten seeds). All use common random numbers: every cell runs the
same seeds. An experiment with `twin` runs every run with its counterfactual twin (the same
seed, forced closes off the book; `model.twin`, DESIGN.md §2.3), so its runs table carries the
cascade amplification = drawdown / twin drawdown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from experiments.sweeps.design import Design, full_factorial, make_design
from model.engine.absorption import uses_vault
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import POLICIES

DEFAULT_ROOT_SEED = 20251010
"""Root of every catalogue design's replicate seeds (10 Oct 2025)."""

SIZES = ("default", "full")
SHORT_RUN = {"horizon_minutes": 480, "retail.n_accounts": 3000, "shocks.0.start_minute": 240}
"""Overrides of the default size: 4 hours on the opening open-interest book, then the shock and
4 hours of aftermath, the window in which drawdowns are measured
(`model.summary.FALL_WINDOW_MINUTES`). Deposits scale with the crowd, so 3,000 accounts hold
the open interest of the scenario's 10,000."""
SEEDS = {"default": 3, "full": 10}


def oct_2025_pools_usd() -> tuple[float, ...]:
    """The insurance pools (BTC, ETH, the rest) of `oct-2025`, the pool sweeps' scenario."""
    from model.scenarios import scenario

    return tuple(scenario("oct-2025").liquidation.pool_initial_usd)


Cells = tuple[list[dict], list[dict] | None]


@dataclass(frozen=True)
class Experiment:
    """A named sweep.

    Attributes:
        name: CLI name and results folder.
        scenario: Base scenario.
        question: What the sweep answers, one sentence.
        cells: size → (cells, tags or None): the design's cells at that size.
        twin: Run every run with its counterfactual twin (`Design.twin`): the runs table then
            has the cascade amplification columns (`model.twin.with_twin`).
    """

    name: str
    scenario: str
    question: str
    cells: Callable[[str], Cells]
    twin: bool = False


LEVERAGE_SHARES = {
    "default": (0.0, 0.1, 0.2, 0.4, 0.6),
    "full": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6),
}
"""Shares of accounts at 50–100x (`retail.high_leverage_share`) of the leverage-shock sweep;
finer at low shares, near the calibrated scenarios' few per cent (oct-2025: 3 %)."""
SHOCK_SIZES = {"default": (0.05, 0.1, 0.15), "full": (0.05, 0.075, 0.1, 0.125, 0.15)}
"""Falls of the common factor (`shocks.0.size`) of the leverage-shock sweep."""


def _leverage_shock(size: str) -> Cells:
    grid = {"retail.high_leverage_share": LEVERAGE_SHARES[size], "shocks.0.size": SHOCK_SIZES[size]}
    return full_factorial(grid), None


def _price_discovery(size: str) -> Cells:
    shares = (0.0, 0.3, 0.6) if size == "default" else LEVERAGE_SHARES[size]
    grid = {"prices.discovery": ("venue", "satellite"), "retail.high_leverage_share": shares}
    return full_factorial(grid), None


def pool_cell(scale: float) -> dict:
    """Overrides that scale every insurance pool by `scale` (`oct_2025_pools_usd`)."""
    return {"liquidation.pool_initial_usd": tuple(scale * usd for usd in oct_2025_pools_usd())}


def _policy_cell(policy: str, scale: float) -> dict:
    cell = {"liquidation.policy": policy, **pool_cell(scale)}
    if uses_vault(policy):  # the vault gets the pools' capital, or it never acts
        cell["liquidation.vault_initial_usd"] = scale * sum(oct_2025_pools_usd())
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


def _venues(size: str) -> Cells:
    from model.scenarios import scenario
    from model.venues import VENUES, venue_overrides

    base = scenario("oct-2025")
    return [venue_overrides(v, base) for v in VENUES], [{"venue": v} for v in VENUES]


EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment(
            "leverage-shock",
            "shock",
            "At which 50–100x share does forced selling make the fall 1.5 times its twin's "
            "(cascade amplification > 1.5), for each shock size?",
            _leverage_shock,
            twin=True,
        ),
        Experiment(
            "price-discovery",
            "shock",
            "Does a venue that sets its own prices cascade where a satellite tethered to an "
            "outside price does not?",
            _price_discovery,
            twin=True,
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
            "venues",
            "oct-2025",
            "Does the same crowd cascade differently on Binance's rules and on Hyperliquid's "
            "(book first, vault backstop below 2/3 of maintenance, ADL at the mark, hourly "
            "funding)?",
            _venues,
            twin=True,
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
            An experiment with `twin` gives a design with twins (`Design.twin`).
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
        twin=exp.twin,
    )


def experiment_rows() -> list[dict]:
    """One row per experiment: name, scenario, size of each design, question.

    A design with twins says so: each of its runs is a run and its twin (two simulations).
    """
    rows = []
    for exp in EXPERIMENTS.values():
        row = {"experiment": exp.name, "scenario": exp.scenario}
        for size in SIZES:
            d = design_for(exp.name, size)
            twins = " (each with its twin)" if d.twin else ""
            row[size] = f"{len(d.cells)} cells × {len(d.seeds)} seeds = {d.n_runs} runs{twins}"
        rows.append({**row, "question": exp.question})
    return rows
