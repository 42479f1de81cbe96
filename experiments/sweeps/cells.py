"""The table `cascade-lab sweep` ends with: per cell, the mean and spread over seeds of a few
headline metrics, each in its unit (`model.metrics_doc`)."""

from __future__ import annotations

import pandas as pd

from experiments.sweeps.design import Design

HEADLINE = (
    "liq_over_oi_after_shock",
    "mean_amplification",
    "adl_notional_usd",
    "bad_debt_usd",
    "retail_liquidated_share",
)
"""Metrics of the closing table; a design with twins shows mean_cascade_amplification in place
of mean_amplification."""


def headline(design: Design) -> tuple[str, ...]:
    """The closing table's metrics for `design`."""
    if not design.twin:
        return HEADLINE
    return tuple("mean_cascade_amplification" if m == "mean_amplification" else m for m in HEADLINE)


def cell_table(runs: pd.DataFrame, design: Design) -> pd.DataFrame:
    """One row per cell: what varies (the cell's keys and tags), runs ok / stored, and for
    each headline metric ``mean ± sd`` over the cell's successful seeds (sd n/a for one seed),
    in the metric's unit."""
    from model.metrics_doc import format_value

    metrics = [m for m in headline(design) if m in runs.columns]
    rows = []
    for c, cell in enumerate(design.cells):
        mine = runs[runs["cell"] == c]
        ok = mine[mine["status"] == "ok"]
        row = {k: _show(v) for k, v in cell.items()}
        row.update({k: _show(v) for k, v in (design.tags[c] if design.tags else {}).items()})
        row["runs ok"] = f"{len(ok)}/{len(design.seeds)}"
        for m in metrics:
            values = pd.to_numeric(ok[m], errors="coerce").dropna()
            if values.empty:
                row[m] = "n/a"
                continue
            sd = format_value(m, values.std()) if len(values) > 1 else "n/a"
            row[m] = f"{format_value(m, values.mean())} ± {sd}"
        rows.append(row)
    return pd.DataFrame(rows)


def _show(value) -> str:
    if isinstance(value, list | tuple):
        return ",".join(f"{v:,.4g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:,.4g}" if isinstance(value, float) else str(value)
