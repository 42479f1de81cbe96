"""A saved run read back: its tables, info, summary and snapshot, with its twin's (`SavedRun`,
`load_saved_run`); its metrics recomputed from those tables (`saved_run_metrics`) and the
report's tables of it (`timeline_table`, `stylized_table`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import analysis
from experiments.report.run_output import TWIN_FOLDER
from experiments.report.tables import format_value, markdown
from experiments.sweeps.runner import TWIN_MARK_COLUMN
from model.twin import with_twin


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


def load_saved_run(folder: str | Path) -> SavedRun:
    """Read a folder written by `experiments.report.run_output.save_run` (with its twin's
    ``twin/`` folder when it has one) and the report's position snapshot."""
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
            "fundamental drop": format_value(m[f"fundamental_drop_{sym}"], ".1%"),
            "mark drawdown": format_value(m[f"drawdown_{sym}"], ".1%"),
            "twin drawdown": format_value(m.get(f"twin_drawdown_{sym}", nan), ".1%"),
            "cascade amplification": format_value(
                m.get(f"cascade_amplification_{sym}", nan), ".2f"
            ),
            "endogenous share": format_value(m.get(f"endogenous_share_{sym}", nan), ".0%"),
            "drawdown / news drop": format_value(m[f"amplification_{sym}"], ".2f"),
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
            "The twin (the same seed, forced closes off the book) liquidated "
            f"{format_value(m['twin_liq_over_oi_after_shock'], '.1%')} from the shock on; "
            f"mean cascade amplification {format_value(m['mean_cascade_amplification'], '.2f')}, "
            f"mean endogenous share {format_value(m['mean_endogenous_share'], '.0%')}.",
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
