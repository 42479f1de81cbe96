"""`cascade-lab report`: run the sweeps the figures need, render every figure, write tables.

Steps: the catalogue sweeps `REPORT_SWEEPS` at one size through `runner.run_sweep` (resumable:
a rerun skips stored runs), each run with its counterfactual twin where the experiment asks
for it (`Design.twin`: leverage-shock, whose phase table and critical share are on the cascade
amplification = drawdown / twin drawdown, DESIGN.md §2.3); one saved run of a scenario, stepped
by hand so that the position snapshot is taken the minute before the shock, and its twin
(saved beside it in ``twin/``); then every figure into ``<results>/figures`` (small PNGs) and
every numbers table into ``<results>/tables`` (Markdown, spliced into the README by
`experiments.readme`). All numbers come from `experiments.analysis`. Long steps show tqdm
progress bars on a terminal.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from experiments import analysis
from experiments.analysis import liquidation_map, plots
from experiments.report.run_output import save_run
from experiments.report.saved_run import (
    SavedRun,
    load_saved_run,
    series_with_twin_mark,
    stylized_table,
    timeline_table,
)
from experiments.report.tables import (
    critical_share_table,
    early_warning_table,
    mark_price_table,
    phase_markdown,
    policy_table,
    price_discovery_table,
    stop_loss_table,
    venue_table,
)
from experiments.sweeps.catalogue import SIZES, design_for
from experiments.sweeps.design import Design
from experiments.sweeps.runner import run_sweep
from experiments.sweeps.store import git_commit, git_dirty, load_runs
from model.twin import with_twin

REPORT_SWEEPS = (
    "leverage-shock", "price-discovery", "adl-policies", "stop-loss", "mark-price", "venues",
)  # fmt: skip
SHARE, SHOCK = analysis.SHARE, analysis.SHOCK


@dataclass(frozen=True)
class ReportConfig:
    """What `build_report` runs and where it writes.

    Attributes:
        results_dir: Root of sweeps, runs, figures/ and tables/.
        size: Catalogue size of the sweeps ("default" or "full").
        n_seeds: Seeds per cell (None: the size's).
        sweep_overrides: If given, replace the size's base overrides of every sweep (tests
            use tiny runs); the sweeps then go to their own folders.
        designs: Sweep name → design to run instead of the catalogue's (tests use tiny grids);
            `sweep_overrides` still applies to them.
        n_jobs: Worker processes of the sweeps (-1: all cores).
        scenario: Scenario of the timeline run and the liquidation map.
        seed: Seed of that run.
        run_overrides: Overrides of that run.
        n_boot: Bootstrap draws of the critical-share band.
        dpi: Resolution of the PNGs.
        progress: Show tqdm bars (sweeps, the timeline run and its twin, figures, tables);
            None shows them when stderr is a terminal.
    """

    results_dir: Path = Path("results")
    size: str = "default"
    n_seeds: int | None = None
    sweep_overrides: Mapping[str, Any] | None = None
    n_jobs: int = -1
    scenario: str = "oct-2025"
    seed: int = 0
    run_overrides: Mapping[str, Any] = field(default_factory=dict)
    n_boot: int = 2000
    dpi: int = 80
    designs: Mapping[str, Design] | None = None
    progress: bool | None = None

    @property
    def show_progress(self) -> bool:
        """Whether to draw progress bars: `progress`, or when None whether stderr is a TTY."""
        return sys.stderr.isatty() if self.progress is None else self.progress


def build_report(cfg: ReportConfig, echo: Callable[[str], None] = print) -> list[Path]:
    """Run what is missing, render every figure and write every table; return the files."""
    if cfg.size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {cfg.size!r}")
    started = time.perf_counter()
    sweeps = {name: _sweep(name, cfg, echo) for name in REPORT_SWEEPS}
    run = timeline_run(cfg, echo)
    figures, tables = cfg.results_dir / "figures", cfg.results_dir / "tables"
    written = render_figures(sweeps, run, figures, cfg)
    written += write_tables(sweeps, run, tables, cfg)
    for path in written:
        echo(f"wrote {path}")
    echo(f"report done in {time.perf_counter() - started:.1f} s")
    return written


# ---------------------------------------------------------------------------- inputs
def _sweep(name: str, cfg: ReportConfig, echo: Callable[[str], None]) -> pd.DataFrame:
    design = (cfg.designs or {}).get(name) or design_for(name, cfg.size, cfg.n_seeds)
    if cfg.sweep_overrides is not None:
        design = dataclasses.replace(
            design, base_overrides=dict(cfg.sweep_overrides), size="custom"
        )
    report = run_sweep(
        design,
        results_dir=cfg.results_dir,
        n_jobs=cfg.n_jobs,
        resume=True,
        progress=cfg.show_progress,
        allow_stale=True,  # runs of another commit are reused, and the line below says so
    )
    echo(f"{name}: {report.describe()}{' (each run with its twin)' if design.twin else ''}")
    runs = load_runs(report.path)
    if _stored_by_older_code(runs, twin=design.twin):
        needed = analysis.CASCADE_AMPLIFICATION if design.twin else analysis.CASCADE_SIZE
        raise ValueError(
            f"{report.path} holds runs stored by older code (no {needed}); "
            "delete that folder and run the report again"
        )
    failed = runs[runs.status != "ok"]
    if len(failed):
        echo(f"{name}: {len(failed)} runs failed, e.g. {failed.error.iloc[0]}")
    return runs.assign(_design=f"{design.experiment} {design.size}, {len(design.seeds)} seeds")


def _stored_by_older_code(runs: pd.DataFrame, twin: bool = False) -> bool:
    """Finished runs without the cascade size column (rows written before it existed), or,
    for a sweep with twins, without the cascade amplification column."""
    ok = runs[runs.status == "ok"]
    if ok.empty:
        return False
    if analysis.CASCADE_SIZE not in ok or (twin and analysis.CASCADE_AMPLIFICATION not in ok):
        return True
    return bool((ok[analysis.CASCADE_SIZE].isna() & ok.liq_over_oi.notna()).any())


def timeline_run(cfg: ReportConfig, echo: Callable[[str], None] = print) -> SavedRun:
    """Run `cfg.scenario` once, snapshot positions the minute before the shock, run its twin
    (the same seed with forced closes off the book, `model.twin`) when it has a shock, save
    both (`experiments.report.run_output.save_run`: the twin's files in its ``twin/``)."""
    from model import CascadeModel
    from model.snapshots import position_snapshot
    from model.twin import twin_config

    model = CascadeModel(scenario=cfg.scenario, rng=cfg.seed, **dict(cfg.run_overrides))
    snap_minute = model.shock_start if model.cfg.shocks else model.cfg.horizon_minutes // 2
    snapshot = None
    for _ in _stepping(model, f"{cfg.scenario} run", cfg.show_progress):
        if model.t == snap_minute:  # the state the model's crowding index is taken from
            snapshot = position_snapshot(model.exchange)
    if snapshot is None:
        raise ValueError(f"the run ended at minute {model.t}, before the snapshot at {snap_minute}")
    summary = model.summary()
    twin = None
    if model.cfg.shocks:
        twin = CascadeModel(scenario=twin_config(model.cfg), rng=cfg.seed)
        for _ in _stepping(twin, f"{cfg.scenario} twin", cfg.show_progress):
            pass
        summary = with_twin(summary, twin.summary(), model.symbols)
    folder = cfg.results_dir / "runs" / f"report-{cfg.scenario}"
    save_run(model, summary, folder, twin=twin)
    snapshot.to_parquet(folder / "positions_pre_shock.parquet")
    echo(
        f"{cfg.scenario} seed {cfg.seed}: {model.t} minutes"
        f"{' and its twin' if twin is not None else ''}, saved to {folder}"
    )
    return load_saved_run(folder)


def _stepping(model, label: str, show: bool):
    """Step `model` to its end, yielding after each minute, with a progress bar."""
    with tqdm(total=model.cfg.horizon_minutes, desc=label, unit="min", disable=not show) as bar:
        while model.running:
            model.step()
            bar.update(1)
            yield model.t


# --------------------------------------------------------------------------- figures
def render_figures(
    sweeps: Mapping[str, pd.DataFrame], run: SavedRun, folder: Path, cfg: ReportConfig
) -> list[Path]:
    """Every figure of the report as ``<folder>/<name>.png``."""
    symbols = run.info["symbols"]
    markets = (0, len(symbols) - 1)  # a major and a long-tail perp
    shock = run.info["shock_minute"] if run.info["has_shock"] else None
    assets = (symbols[markets[0]], symbols[markets[1]])
    figures: dict[str, Callable[[], Figure]] = {
        "timeline": lambda: plots.cascade_timeline(
            series_with_twin_mark(run), assets, shock, run.tables["pools"]
        ),
        "liquidation_map": lambda: liquidation_map.liquidation_maps(run.snapshot, markets),
        "phase_diagram": lambda: plots.phase_diagram(sweeps["leverage-shock"]),
        "critical_share": lambda: plots.amplification_curves(
            sweeps["leverage-shock"], n_boot=min(cfg.n_boot, 500)
        ),
        "policies": lambda: plots.policy_comparison(sweeps["adl-policies"]),
        "stop_loss": lambda: plots.stop_loss_figure(sweeps["stop-loss"]),
        "mark_price": lambda: plots.mark_price_figure(sweeps["mark-price"]),
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in tqdm(figures.items(), "figures", disable=not cfg.show_progress):
        path = folder / f"{name}.png"
        make().savefig(path, dpi=cfg.dpi)
        written.append(path)
    return written


# ---------------------------------------------------------------------------- tables
def write_tables(
    sweeps: Mapping[str, pd.DataFrame], run: SavedRun, folder: Path, cfg: ReportConfig
) -> list[Path]:
    """Every numbers table of the report as ``<folder>/<name>.md``."""
    lev = sweeps["leverage-shock"]
    tables: dict[str, tuple[Callable[[], str], pd.DataFrame | None]] = {
        "critical_share": (lambda: critical_share_table(lev, cfg.n_boot), lev),
        "phase": (lambda: phase_markdown(lev), lev),
        "early_warning": (lambda: early_warning_table(lev), lev),
        "policies": (lambda: policy_table(sweeps["adl-policies"]), sweeps["adl-policies"]),
        "stop_loss": (lambda: stop_loss_table(sweeps["stop-loss"]), sweeps["stop-loss"]),
        "mark_price": (lambda: mark_price_table(sweeps["mark-price"]), sweeps["mark-price"]),
        "price_discovery": (
            lambda: price_discovery_table(sweeps["price-discovery"]),
            sweeps["price-discovery"],
        ),
        "venues": (lambda: venue_table(sweeps["venues"]), sweeps["venues"]),
        "timeline_run": (lambda: timeline_table(run), None),
        "stylized_facts": (lambda: stylized_table(run), None),
    }
    folder.mkdir(parents=True, exist_ok=True)
    commit = _code_version()
    written = []
    for name, (make, runs) in tqdm(tables.items(), "tables", disable=not cfg.show_progress):
        source = runs["_design"].iloc[0] if runs is not None else _run_label(run, cfg)
        path = folder / f"{name}.md"
        path.write_text(f"{make()}\n_Generated by `cascade-lab report` ({source}; {commit})._\n")
        written.append(path)
    return written


def _code_version() -> str:
    """The commit the tables come from, marked when the working tree has local changes."""
    commit = git_commit()
    if commit is None:
        return "no git commit"
    return commit[:10] + (" + local changes" if git_dirty() else "")


def _run_label(run: SavedRun, cfg: ReportConfig) -> str:
    twin = " and its twin" if run.twin is not None else ""
    return f"{cfg.scenario}, seed {run.info['seed']}, {run.info['minutes']} minutes{twin}"
