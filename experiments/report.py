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
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from experiments import analysis, plots
from experiments.catalogue import SIZES, design_for
from experiments.cli import TWIN_FOLDER, save_run
from experiments.design import Design
from experiments.runner import TWIN_MARK_COLUMN, run_sweep
from experiments.store import git_commit, load_runs
from model.twin import with_twin

REPORT_SWEEPS = ("leverage-shock", "price-discovery", "adl-policies", "stop-loss", "mark-price")
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


@dataclass(frozen=True)
class SavedRun:
    """A saved run's folder and tables (`model.snapshots.run_tables`), info and snapshot, and
    its counterfactual twin's (None when the run has none)."""

    folder: Path
    tables: dict[str, pd.DataFrame]
    info: dict[str, Any]
    summary: dict[str, float]
    snapshot: pd.DataFrame
    twin: SavedRun | None = None


def timeline_run(cfg: ReportConfig, echo: Callable[[str], None] = print) -> SavedRun:
    """Run `cfg.scenario` once, snapshot positions the minute before the shock, run its twin
    (the same seed with forced closes off the book, `model.twin`) when it has a shock, save
    both (`experiments.cli.save_run`: the twin's files in its ``twin/``)."""
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


def load_saved_run(folder: str | Path) -> SavedRun:
    """Read a folder written by `experiments.cli.save_run` (with its twin's ``twin/`` folder
    when it has one) and the report's position snapshot."""
    folder = Path(folder)
    needed = [f"{t}.parquet" for t in analysis.RUN_TABLES] + ["run.json", "summary.json"]
    missing = [f for f in needed if not (folder / f).exists()]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}; it needs {', '.join(needed)}")
    snap = folder / "positions_pre_shock.parquet"
    twin = folder / TWIN_FOLDER
    return SavedRun(
        folder=folder,
        tables={t: pd.read_parquet(folder / f"{t}.parquet") for t in analysis.RUN_TABLES},
        info=json.loads((folder / "run.json").read_text()),
        summary=json.loads((folder / "summary.json").read_text()),
        snapshot=pd.read_parquet(snap) if snap.exists() else pd.DataFrame(),
        twin=load_saved_run(twin) if twin.is_dir() else None,
    )


def series_with_twin_mark(run: SavedRun) -> pd.DataFrame:
    """The run's series with its twin's mark joined on (minute, asset) as `TWIN_MARK_COLUMN`
    (the series a sweep stores for a run with its twin); the series alone without a twin."""
    series = run.tables["series"]
    if run.twin is None:
        return series
    twin = run.twin.tables["series"][["minute", "asset", "mark_usd"]]
    twin = twin.rename(columns={"mark_usd": TWIN_MARK_COLUMN})
    return series.merge(twin, on=["minute", "asset"], how="left", validate="one_to_one")


def saved_run_metrics(run: SavedRun) -> dict[str, float]:
    """`analysis.run_metrics` of a saved run, with its twin's attribution
    (`model.twin.with_twin`: twin drawdown, cascade amplification, endogenous share per
    asset) when it has a twin."""
    metrics = analysis.run_metrics(run.tables, run.info)
    if run.twin is None:
        return metrics
    twin = analysis.run_metrics(run.twin.tables, run.twin.info)
    return with_twin(metrics, twin, tuple(run.info["symbols"]))


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
        "liquidation_map": lambda: plots.liquidation_maps(run.snapshot, markets),
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
    root = Path(__file__).resolve().parents[1]
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return commit[:10] + (" + local changes" if status.stdout.strip() else "")


def _run_label(run: SavedRun, cfg: ReportConfig) -> str:
    twin = " and its twin" if run.twin is not None else ""
    return f"{cfg.scenario}, seed {run.info['seed']}, {run.info['minutes']} minutes{twin}"


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (values already formatted as text)."""
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _p_label() -> str:
    return f"P(cascade amplification > {analysis.AMPLIFICATION_THRESHOLD:g})"


def critical_share_table(runs: pd.DataFrame, n_boot: int = 2000) -> str:
    """Critical 50–100x share per shock size (where P(cascade amplification > 1.5) passes
    0.5, `analysis.critical_share`) with its 90 % bootstrap band over seeds."""
    crit = analysis.critical_share(runs, SHARE, SHOCK, n_boot=n_boot)
    rows = []
    for c in crit.itertuples():
        fmt = [analysis.format_share(v, c.grid_min, c.grid_max) for v in (c.low, c.high)]
        rows.append(
            {
                "shock": f"{c.shock:.0%}",
                "critical 50–100x share": analysis.format_share(
                    c.critical_share, c.grid_min, c.grid_max
                ),
                "90 % band": f"{fmt[0]} – {fmt[1]}",
                f"{_p_label()} by share": c.p_by_share,
                "seeds": c.n_seeds,
            }
        )
    return markdown(pd.DataFrame(rows)) + (
        "\nCascade amplification = mark drawdown / the twin's (the same seed with forced "
        "closes off the book), mean over assets; the critical share is where the fraction of "
        "seeds above the threshold passes 0.5 (linear interpolation; <lo / >hi: outside the "
        "grid).\n"
    )


def phase_markdown(runs: pd.DataFrame) -> str:
    """Grid of 50–100x share × shock: mean liquidated / OI, and P(cascade amplification > 1.5)."""
    cells = analysis.phase_table(runs, SHARE, SHOCK)
    cells["text"] = [
        f"{_fmt(r.cascade_size, '.3f')} ({_fmt(r.p_amplified, '.2f')})"
        for r in cells.itertuples(index=False)
    ]
    grid = cells.pivot(index="share", columns="shock", values="text")
    grid.columns = [f"shock {s:.0%}" for s in grid.columns]
    grid.insert(0, "50–100x share", [f"{s:g}" for s in grid.index])
    return markdown(grid) + (
        "\nCells: mean over seeds of liquidated after the shock / open interest before it "
        f"({_p_label()}: the fraction of seeds whose mark fell more than "
        f"{analysis.AMPLIFICATION_THRESHOLD:g} times as far as their twin's, forced closes off "
        "the book; mean over assets).\n"
    )


OUTCOME_NAMES = {
    analysis.CASCADE_SIZE: "cascade size",
    analysis.CASCADE_AMPLIFICATION: "cascade amplification",
    SHARE: "50–100x share",
}
"""How the early-warning table names each outcome."""


def early_warning_table(runs: pd.DataFrame) -> str:
    """Spearman ρ (p) of each pre-shock indicator with cascade size, with cascade amplification
    and with the crowding itself, over all runs and within each shock size."""
    outcomes = tuple(OUTCOME_NAMES)
    columns = {"all runs": analysis.early_warning(runs, outcomes=outcomes)}
    by_shock = analysis.early_warning(runs, outcomes=outcomes, by=SHOCK)
    for shock, part in by_shock.groupby("group"):
        columns[f"shock {shock:.0%}"] = part
    out = pd.DataFrame(
        [
            {"indicator": ind, "vs": OUTCOME_NAMES[o], "_outcome": o}
            for ind in analysis.EARLY_WARNING_INDICATORS
            for o in outcomes
        ]
    )
    for name, res in columns.items():
        text = {(r.indicator, r.outcome): _rho(r.rho, r.p_value) for r in res.itertuples()}
        out[name] = [text.get(key, "n/a") for key in zip(out.indicator, out._outcome, strict=True)]
    return markdown(out.drop(columns="_outcome")) + (
        "\nSpearman ρ (two-sided p) across the sweep's runs; cascade size = liquidated after "
        "the shock / open interest before it; cascade amplification = mark drawdown / the "
        "twin's (forced closes off the book), mean over assets.\n"
    )


def _rho(rho: float, p: float) -> str:
    return "n/a (constant)" if not np.isfinite(rho) else f"{rho:+.2f} ({p:.2g})"


def _spread(table: pd.DataFrame, metric: str, scale: float = 1.0, fmt: str = ",.1f") -> list[str]:
    mean, lo, hi = (table[f"{metric}_{s}"] / scale for s in ("mean", "min", "max"))
    return [
        "n/a" if not np.isfinite(m) else f"{m:{fmt}} [{a:{fmt}}–{b:{fmt}}]"
        for m, a, b in zip(mean, lo, hi, strict=True)
    ]


def policy_table(runs: pd.DataFrame) -> str:
    """Per policy and pool scale: ADL needed/taken/overshoot, top winner, hedge breaks, bad debt."""
    metrics = ("adl_needed_usd", "adl_overshoot_usd", "adl_top_winner_usd", "hedge_breaks")
    metrics += ("bad_debt_usd", "adl_events")
    cells = analysis.seed_spread(runs, ("liquidation.policy", "pool_scale"), metrics)
    out = pd.DataFrame({"policy": cells["liquidation.policy"], "pool scale": cells.pool_scale})
    out["ADL closes"] = _spread(cells, "adl_events", fmt=".0f")
    out["needed, k USD"] = _spread(cells, "adl_needed_usd", 1e3)
    out["overshoot, k USD"] = _spread(cells, "adl_overshoot_usd", 1e3)
    out["top winner, k USD"] = _spread(cells, "adl_top_winner_usd", 1e3)
    out["hedge breaks"] = _spread(cells, "hedge_breaks", fmt=".0f")
    out["bad debt, k USD"] = _spread(cells, "bad_debt_usd", 1e3)
    return markdown(out) + "\nMean over seeds [min–max].\n"


def stop_loss_table(runs: pd.DataFrame) -> str:
    """Per stop-loss share: retail money lost to liquidation and liquidated / OI."""
    metrics = ("retail_liquidated_share", analysis.CASCADE_SIZE, "liq_notional_usd")
    cells = analysis.seed_spread(runs, ("retail.stop_loss_share",), metrics)
    out = pd.DataFrame({"stop-loss share": cells["retail.stop_loss_share"]})
    out["retail money lost"] = _spread(cells, "retail_liquidated_share", fmt=".3f")
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    out["liquidated in the run, k USD"] = _spread(cells, "liq_notional_usd", 1e3, ",.0f")
    return markdown(out) + "\nMean over seeds [min–max].\n"


def mark_price_table(runs: pd.DataFrame) -> str:
    """Per mark rule: liquidated / OI, mark drawdown / news drop, retail money lost."""
    ok = analysis.ok_runs(runs, ("mark_rule",))
    ok = ok.assign(amplification=analysis.run_amplification(ok))
    metrics = (analysis.CASCADE_SIZE, "amplification", "retail_liquidated_share")
    cells = analysis.seed_spread(ok, ("mark_rule",), metrics)
    out = pd.DataFrame({"mark rule": cells.mark_rule})
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    out["drawdown / news drop"] = _spread(cells, "amplification", fmt=".2f")
    out["retail money lost"] = _spread(cells, "retail_liquidated_share", fmt=".3f")
    return markdown(out) + (
        "\nMean over seeds [min–max]; drawdown / news drop is the mean over assets of the mark's "
        "fall over the fundamental's.\n"
    )


def price_discovery_table(runs: pd.DataFrame) -> str:
    """Per price discovery and 50–100x share: cascade amplification, BTC's drawdown / news."""
    keys = ("prices.discovery", analysis.SHARE)
    ok = analysis.ok_runs(runs, (*keys, analysis.CASCADE_AMPLIFICATION))
    metrics = (analysis.CASCADE_AMPLIFICATION, "amplification_BTC", analysis.CASCADE_SIZE)
    cells = analysis.seed_spread(ok, keys, metrics)
    out = pd.DataFrame({"prices": cells["prices.discovery"], "50–100x share": cells[keys[1]]})
    out["cascade amplification"] = _spread(cells, analysis.CASCADE_AMPLIFICATION, fmt=".2f")
    out["BTC drawdown / news drop"] = _spread(cells, "amplification_BTC", fmt=".2f")
    out["liquidated after shock / OI"] = _spread(cells, analysis.CASCADE_SIZE, fmt=".3f")
    return markdown(out) + (
        "\nMean over seeds [min–max]. venue: prices set on this market (the default); "
        "satellite: makers tethered to the outside price (`prices.discovery`).\n"
    )


def _fmt(value: float, spec: str) -> str:
    return f"{value:{spec}}" if np.isfinite(value) else "n/a"


def timeline_table(run: SavedRun) -> str:
    """The timeline run's cascade per asset, recomputed from its saved tables and its twin's
    (`saved_run_metrics`): twin drawdown, cascade amplification = drawdown / twin drawdown,
    endogenous share = 1 − twin drawdown / drawdown (DESIGN.md §2.3); n/a without a twin."""
    m = saved_run_metrics(run)
    nan = float("nan")
    rows = [
        {
            "asset": sym,
            "liquidated, k USD": f"{m[f'liq_notional_usd_{sym}'] / 1e3:,.0f}",
            "fundamental drop": _fmt(m[f"fundamental_drop_{sym}"], ".1%"),
            "mark drawdown": _fmt(m[f"drawdown_{sym}"], ".1%"),
            "twin drawdown": _fmt(m.get(f"twin_drawdown_{sym}", nan), ".1%"),
            "cascade amplification": _fmt(m.get(f"cascade_amplification_{sym}", nan), ".2f"),
            "endogenous share": _fmt(m.get(f"endogenous_share_{sym}", nan), ".0%"),
            "drawdown / news drop": _fmt(m[f"amplification_{sym}"], ".2f"),
        }
        for sym in run.info["symbols"]
    ]
    lines = [
        f"liquidated {m['liq_notional_usd'] / 1e3:,.0f} k USD, {m['liq_long_share']:.0%} longs,",
        f"{m['liq_over_oi']:.1%} of the open interest before the shock",
        f"({m['liq_over_oi_after_shock']:.1%} from the shock on); ADL closes {m['adl_events']};",
        f"bad debt {m['bad_debt_usd']:,.0f} USD;",
        f"open interest within 5 % of liquidation before the shock "
        f"{analysis.liquidatable_share(run.snapshot):.1%}.",
    ]
    if run.twin is not None:
        lines += [
            f"The twin (the same seed, forced closes off the book) liquidated "
            f"{_fmt(m['twin_liq_over_oi_after_shock'], '.1%')} from the shock on; mean cascade "
            f"amplification {_fmt(m['mean_cascade_amplification'], '.2f')}, mean endogenous "
            f"share {_fmt(m['mean_endogenous_share'], '.0%')}.",
        ]
    return markdown(pd.DataFrame(rows)) + "\n" + " ".join(lines) + "\n"


def stylized_table(run: SavedRun) -> str:
    """Stylized facts of the timeline run's 1-minute mark returns, per asset."""
    facts = analysis.stylized_facts(run.tables["series"])
    shown = facts.assign(**{c: facts[c].map(lambda v: f"{v:.2f}") for c in facts if c != "asset"})
    return markdown(shown) + (
        "\nacf_r_1: lag-1 autocorrelation of returns; acf_abs_k: of |returns| at lag k minutes; "
        "hill_5pct: Hill tail index on the top 5 % of |returns|; kurt_Nm: excess kurtosis of "
        "N-minute returns (the run includes the shock).\n"
    )
