"""Validation against reality: targets as data, the runs that measure them, the pass/miss table.

Three studies, each run over seeds from one root `SeedSequence` (common random numbers):

- ``oct-2025``: the 10–11 October 2025 case study (literature.md §2.4, exchange-mechanics.md
  §7–8.1, DESIGN.md §1). Every seed runs with its counterfactual twin (`model.twin`: the same
  seed with forced closes routed off the book), so each fall is split into what the news did
  and what the market's own forced selling made (DESIGN.md §2.3).
- ``leverage``: leverage causes fat tails (Thurner, Farmer & Geanakoplos 2012, literature.md
  §1.1): the calm scenario with Gaussian fundamentals and the maximum leverage available to
  retail swept.
- ``stylized``: stylized facts of one-minute and hourly returns in the calm scenario as
  configured, over five days (Cont 2001; literature.md §3) and daily liquidations / open
  interest (Cheng et al. 2021, literature §2.5).

A target passes when the median over seeds lies inside its band. `run_studies` runs and
evaluates; `experiments.validation.report.validate` also writes ``results/validation/`` and is
what `cascade-lab validate` calls; `experiments.validation.diagnoses` explains each miss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.sweeps.catalogue import DEFAULT_ROOT_SEED
from experiments.sweeps.design import replicate_seeds
from experiments.sweeps.runner import map_runs
from experiments.validation.runs import calm_run, guarded_run, leverage_overrides, oct_run
from experiments.validation.tables import Results, evaluate


@dataclass(frozen=True)
class Size:
    """How much to run: seeds per study, leverage levels and run overrides.

    Attributes:
        oct_seeds: Seeds of the oct-2025 study.
        calm_seeds: Seeds of every leverage level and of the stylized study.
        levels: Maximum leverage levels of the sweep; the lowest (1) is the unlevered reference.
        oct_overrides: Overrides of every oct-2025 run (e.g. a shortened day).
        calm_overrides: Overrides of every leverage-sweep run.
        stylized_overrides: Overrides of the stylized study's calm runs (a longer horizon:
            hourly statistics need many hours).
    """

    oct_seeds: int
    calm_seeds: int
    levels: tuple[float, ...]
    oct_overrides: Mapping[str, Any] = field(default_factory=dict)
    calm_overrides: Mapping[str, Any] = field(default_factory=dict)
    stylized_overrides: Mapping[str, Any] = field(default_factory=dict)


QUICK_OCT = {"horizon_minutes": 360, "shocks.0.start_minute": 120}
"""Quick oct-2025: two calm hours from the opening book (one for the pre-shock depth), then
the shock and the 240 minutes over which a fall is measured (`model.summary.drawdown`).

Quick runs keep the default crowd (`retail.n_accounts` 10,000): with 2,000 accounts a run
and its twin were only ≈ 8 % faster (6.6 s against 7.1 s, measured here), while each account,
5× larger to keep the open interest, makes liquidations 5× lumpier against the book."""
QUICK_CALM = {"horizon_minutes": 420}
"""Quick calm: six hours after the first hour (`CALM_SKIP_MINUTES`), the default crowd."""
SIZES: dict[str, Size] = {
    "quick": Size(3, 2, (1.0, 100.0), QUICK_OCT, QUICK_CALM, QUICK_CALM),
    "default": Size(
        20,
        6,
        (1.0, 5.0, 10.0, 25.0, 50.0, 100.0),
        {},
        {"horizon_minutes": 2880},
        {"horizon_minutes": 7200},
    ),
}
"""quick: seconds, for the test suite (directions only); default: `cascade-lab validate`."""


def check_options(size: str, n_seeds: int | None, n_jobs: int) -> None:
    """Raise ValueError naming the option, its value and what is allowed."""
    if size not in SIZES:
        raise ValueError(f"--size must be one of {', '.join(SIZES)}, got {size!r}")
    if n_seeds is not None and (not isinstance(n_seeds, int) or n_seeds < 1):
        raise ValueError(f"--seeds must be an integer >= 1, got {n_seeds!r}")
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"--jobs must be -1 (all cores) or >= 1, got {n_jobs}")


def run_studies(
    size: str = "default",
    n_seeds: int | None = None,
    n_jobs: int = -1,
    root_seed: int = DEFAULT_ROOT_SEED,
    progress: bool | None = None,
    oct_overrides: Mapping[str, Any] | None = None,
) -> Results:
    """Run the three studies and evaluate every target.

    Args:
        size: A key of `SIZES`.
        n_seeds: Seeds per study (oct-2025 and each leverage level); default the size's.
        n_jobs: Worker processes (joblib: -1 all cores, 1 in-process).
        root_seed: Root of the replicate seeds (`design.replicate_seeds`).
        progress: tqdm bar; None shows it when stderr is a terminal.
        oct_overrides: Extra overrides of every oct-2025 run (calibration experiments).

    Returns:
        `Results`; the numbers depend only on the size, seeds and overrides, not on `n_jobs`.
    """
    check_options(size, n_seeds, n_jobs)
    started = time.perf_counter()
    sz = SIZES[size]
    oct_seeds = replicate_seeds(root_seed, n_seeds or sz.oct_seeds)
    calm_seeds = replicate_seeds(root_seed, n_seeds or sz.calm_seeds)
    oct_ov = {**sz.oct_overrides, **(oct_overrides or {})}
    cells = {lev: {**sz.calm_overrides, **leverage_overrides(lev)} for lev in sz.levels}
    sty_ov = dict(sz.stylized_overrides)
    tasks: dict[tuple, tuple[Callable, int, dict]] = {}
    for seed in calm_seeds:  # longest first: stylized, oct-2025 (a run and its twin), leverage
        tasks[("stylized", seed)] = (calm_run, seed, sty_ov)
    for seed in oct_seeds:
        tasks[("oct", seed)] = (oct_run, seed, oct_ov)
    for ov in cells.values():
        for seed in calm_seeds:
            tasks.setdefault(("calm", _freeze(ov), seed), (calm_run, seed, ov))
    outputs = _run_tasks(list(tasks.values()), n_jobs, progress)
    by_key = dict(zip(tasks, outputs, strict=True))
    oct_out = [by_key[("oct", s)] for s in oct_seeds]
    calm_out = {
        lev: [by_key[("calm", _freeze(ov), s)] for s in calm_seeds] for lev, ov in cells.items()
    }
    sty_out = [by_key[("stylized", s)] for s in calm_seeds]
    failures = [o for o in outputs if "error" in o]
    res = evaluate(
        [o for o in oct_out if "error" not in o],
        {lev: [r for r in runs if "error" not in r] for lev, runs in calm_out.items()},
        size,
        oct_seeds,
        [r for r in sty_out if "error" not in r],
    )
    res.failures = failures
    res.calm_runs = calm_out
    res.seconds = time.perf_counter() - started
    return res


def _freeze(ov: Mapping[str, Any]) -> tuple:
    return tuple(sorted(ov.items()))


def _run_tasks(tasks: list[tuple], n_jobs: int, progress: bool | None) -> list[dict]:
    """Every (fn, seed, overrides) through the sweeps' runner (`map_runs`), in task order."""
    out: list[dict] = [{}] * len(tasks)
    runs = map_runs(guarded_run, tasks, n_jobs=n_jobs, progress=progress, desc="validate")
    for i, result in runs:
        out[i] = result
    return out
