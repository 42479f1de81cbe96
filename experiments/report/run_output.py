"""What `cascade-lab run` leaves: the run's files on disk (`save_run`, the layout
`experiments.report.saved_run.load_saved_run` reads) and its summary printed as tables."""

from __future__ import annotations

from pathlib import Path

TWIN_FOLDER = "twin"
"""Subfolder of a saved run holding its counterfactual twin's files (`save_run`), the layout
`experiments.report.saved_run.load_saved_run` reads."""


def save_run(model, summary: dict, folder: Path, twin=None, provenance=None) -> Path:
    """Write a run's summary, run info, tables (`model.snapshots.run_tables`: series, pools,
    liquidations, adl, haircuts, bad_debt as Parquet) and timeline figure.

    With its counterfactual `twin` (a `CascadeModel` that has run), the twin's summary, run
    info and tables go to ``<folder>/twin/`` and the timeline is drawn from the run's series
    with the twin's mark joined in (`runner.series_with_twin`, `runner.TWIN_MARK_COLUMN`).
    A twin folder left by an earlier save is removed first, so it is never stale.
    `provenance` (scenario, overrides, seed, commit, versions, time: `cascade-lab run`) goes
    into run.json under "provenance", the twin's too.
    """
    import shutil

    from experiments.analysis.plots import cascade_timeline
    from experiments.sweeps.runner import series_with_twin

    tables = write_run_files(model, summary, folder, provenance)
    shutil.rmtree(folder / TWIN_FOLDER, ignore_errors=True)
    series = tables["series"]
    if twin is not None:
        write_run_files(twin, twin.summary(), folder / TWIN_FOLDER, provenance)
        series = series_with_twin(model, twin)
    shock = model.shock_start if model.cfg.shocks else None
    assets = (model.symbols[0], model.symbols[-1])
    fig = cascade_timeline(series, assets, shock, pools=tables["pools"])
    fig.savefig(folder / "timeline.png", dpi=80)
    return folder


def write_run_files(model, summary: dict, folder: Path, provenance=None) -> dict:
    """Write summary.json, run.json (`model.snapshots.run_info`, with `provenance` when given)
    and every table of `model.snapshots.run_tables` as Parquet into `folder`; return the
    tables."""
    import json

    from model.snapshots import run_info, run_tables

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    info = run_info(model)
    if provenance is not None:
        info["provenance"] = provenance
    (folder / "run.json").write_text(json.dumps(info, indent=1, default=str))
    tables = run_tables(model)
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet")
    return tables


def format_summary(summary: dict[str, float], symbols: tuple[str, ...]) -> str:
    """The summary as two tables with units (`model.metrics_doc`): market-wide metrics, one
    a line, and per-asset metrics, one row per asset. USD with thousands separators, shares
    as %, counts and minutes as whole numbers; `cascade-lab explain KEY` gives a key's meaning.

    The twin's per-asset keys (`model.metrics_doc.TWIN_PER_ASSET`) are left to `format_twin`.
    """
    from model.metrics_doc import PER_ASSET, TWIN_PER_ASSET, format_value

    asset_keys = {f"{m}_{sym}" for m in (*PER_ASSET, *TWIN_PER_ASSET) for sym in symbols}
    market = {k: v for k, v in summary.items() if k not in asset_keys}
    width = max(map(len, market), default=0)
    lines = [f"{'metric':{width}s}  {'value':>22s}"]
    lines += [f"{k:{width}s}  {format_value(k, v):>22s}" for k, v in market.items()]
    return "\n".join(lines) + "\n\n" + _asset_table(summary, symbols, tuple(PER_ASSET))


def _asset_table(summary: dict[str, float], symbols: tuple[str, ...], names: tuple) -> str:
    """One row per asset, one column per metric name, each value in its unit."""
    import pandas as pd

    from model.metrics_doc import format_value

    rows = {
        sym: {m: format_value(f"{m}_{sym}", summary[f"{m}_{sym}"]) for m in names}
        for sym in symbols
    }
    return pd.DataFrame(rows).T.to_string()


def format_twin(summary: dict[str, float], symbols: tuple[str, ...]) -> str:
    """Per asset: drawdown, twin drawdown, cascade amplification and endogenous share."""
    from model.metrics_doc import TWIN_PER_ASSET

    return _asset_table(summary, symbols, ("drawdown", *TWIN_PER_ASSET))
