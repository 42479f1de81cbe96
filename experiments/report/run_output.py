"""What `cascade-lab run` leaves: the run's files on disk (`save_run`, the layout
`experiments.report.saved_run.load_saved_run` reads) and its summary printed as tables."""

from __future__ import annotations

from pathlib import Path

TWIN_FOLDER = "twin"
"""Subfolder of a saved run holding its counterfactual twin's files (`save_run`), the layout
`experiments.report.saved_run.load_saved_run` reads."""


def save_run(model, summary: dict, folder: Path, twin=None) -> Path:
    """Write a run's summary, run info, tables (`model.snapshots.run_tables`: series, pools,
    liquidations, adl, haircuts, bad_debt as Parquet) and timeline figure.

    With its counterfactual `twin` (a `CascadeModel` that has run), the twin's summary, run
    info and tables go to ``<folder>/twin/`` and the timeline is drawn from the run's series
    with the twin's mark joined in (`runner.series_with_twin`, `runner.TWIN_MARK_COLUMN`).
    A twin folder left by an earlier save is removed first, so it is never stale.
    """
    import shutil

    from experiments.analysis.plots import cascade_timeline
    from experiments.sweeps.runner import series_with_twin

    tables = write_run_files(model, summary, folder)
    shutil.rmtree(folder / TWIN_FOLDER, ignore_errors=True)
    series = tables["series"]
    if twin is not None:
        write_run_files(twin, twin.summary(), folder / TWIN_FOLDER)
        series = series_with_twin(model, twin)
    shock = model.shock_start if model.cfg.shocks else None
    assets = (model.symbols[0], model.symbols[-1])
    fig = cascade_timeline(series, assets, shock, pools=tables["pools"])
    fig.savefig(folder / "timeline.png", dpi=80)
    return folder


def write_run_files(model, summary: dict, folder: Path) -> dict:
    """Write summary.json, run.json (`model.snapshots.run_info`) and every table of
    `model.snapshots.run_tables` as Parquet into `folder`; return the tables."""
    import json

    from model.snapshots import run_info, run_tables

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    (folder / "run.json").write_text(json.dumps(run_info(model), indent=1))
    tables = run_tables(model)
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet")
    return tables


def format_summary(summary: dict[str, float], symbols: tuple[str, ...]) -> str:
    """The summary as two readable tables: market-wide metrics and per-asset metrics.

    The twin's per-asset keys (`model.twin.TWIN_KEYS`) are left to `format_twin`.
    """
    import pandas as pd

    from model.twin import TWIN_KEYS

    per_asset = ("liq_notional_usd", "drawdown", "fundamental_drop", "amplification")
    rows = {sym: {m: summary[f"{m}_{sym}"] for m in per_asset} for sym in symbols}
    table = pd.DataFrame(rows).T
    asset_keys = {f"{m}_{sym}" for m in (*per_asset, *TWIN_KEYS) for sym in symbols}
    market = {k: v for k, v in summary.items() if k not in asset_keys}
    lines = [f"{k:32s} {v:>18,.4f}" for k, v in market.items()]
    return "\n".join(lines) + "\n\n" + table.to_string(float_format=lambda x: f"{x:,.3f}")


def format_twin(summary: dict[str, float], symbols: tuple[str, ...]) -> str:
    """Per asset: drawdown, twin drawdown, cascade amplification and endogenous share."""
    import pandas as pd

    from model.twin import TWIN_KEYS

    columns = ("drawdown", *TWIN_KEYS)
    rows = {sym: {c: summary[f"{c}_{sym}"] for c in columns} for sym in symbols}
    return pd.DataFrame(rows).T.to_string(float_format=lambda x: f"{x:,.3f}")
