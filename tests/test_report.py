"""Saved-run metrics equal the live ones; the report end to end (tiny); README splicing; CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import analysis, readme
from experiments.cli import main
from experiments.report.build import REPORT_SWEEPS, ReportConfig, _sweep, build_report
from experiments.report.run_output import save_run
from experiments.report.saved_run import load_saved_run, saved_run_metrics, series_with_twin_mark
from experiments.sweeps.catalogue import EXPERIMENTS, design_for
from experiments.sweeps.runner import TWIN_MARK_COLUMN
from experiments.sweeps.store import load_runs, read_manifest
from model import CascadeModel
from model.snapshots import SNAPSHOT_COLUMNS, position_snapshot

TINY_RUN = {"horizon_minutes": 120, "retail.n_accounts": 200, "shocks.0.start_minute": 60}
NO_POOLS = {"liquidation.pool_initial_usd": (0.0, 0.0, 0.0), "liquidation.policy": "adl_pro_rata"}
"""Empty pools under pro-rata ADL: the tiny crash then logs ADL closes and haircuts too."""


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_saved_run_metrics_equal_live_metrics(tmp_path):
    crowded = {"retail.high_leverage_share": 0.35}  # enough 50–100x for ADL to take value
    model = CascadeModel(scenario="oct-2025", rng=3, **TINY_RUN, **NO_POOLS, **crowded)
    snapshot = None
    while model.running:
        model.step()
        if model.t == model.shock_start:  # the minute the model takes its crowding index
            snapshot = position_snapshot(model.exchange)
    live = model.summary()
    assert live["adl_events"] > 0 and live["adl_taken_usd"] != 0  # ADL is exercised
    run = load_saved_run(save_run(model, live, tmp_path / "run"))
    again = analysis.run_metrics(run.tables, run.info)
    assert set(again) == set(live)
    assert {k for k in live if not same(live[k], again[k])} == set()
    # the crowding index from the snapshot: the model uses each position's bracket at the
    # mark, the snapshot the self-consistent one (margin.liquidation_price_tiered), so they
    # agree unless a position's liquidation price sits in another bracket
    assert analysis.liquidatable_share(snapshot) == pytest.approx(
        live["liquidatable_oi_within_5pct"], abs=0.02
    )
    assert list(snapshot.columns) == list(SNAPSHOT_COLUMNS)
    assert (snapshot.notional_usd > 0).all() and set(snapshot.side) <= {-1, 1}


def test_position_snapshot_hand_computed():
    from tests.conftest import make_exchange, open_pair

    ex = make_exchange()  # BTCUSDT 2025 brackets: MMR 0.4 %, cum 0 below 300k notional
    long_, short = ex.open_account(2_000.0), ex.open_account(100_000.0)
    open_pair(ex, long_, short, 0.1, 100_000.0, long_isolated=True)
    snap = position_snapshot(ex).set_index("account")
    # isolated long, margin 10,000 / 10 = 1,000:
    # LP = (1,000 − 0.1·100,000) / (0.1·0.004 − 0.1) = −9,000 / −0.0996 = 90,361.45
    assert snap.loc[long_, "liquidation_price_usd"] == pytest.approx(9_000 / 0.0996)
    # cross short, wallet 100,000 − maker fee 2 (0.02 % of 10,000):
    # LP = (99,998 + 0.1·100,000) / (0.1·0.004 + 0.1) = 109,998 / 0.1004 = 1,095,597.6
    assert snap.loc[short, "liquidation_price_usd"] == pytest.approx(109_998 / 0.1004)
    assert snap.loc[long_, "margin_mode"] == "isolated"
    assert snap.loc[short, "margin_mode"] == "cross"
    assert snap.side.tolist() == [1, -1]
    assert snap.notional_usd.tolist() == pytest.approx([10_000.0, 10_000.0])
    assert snap.leverage.tolist() == [10.0, 10.0]


def test_load_saved_run_lists_missing_files(tmp_path):
    with pytest.raises(ValueError, match=r"lacks series\.parquet.*it needs"):
        load_saved_run(tmp_path)


TINY_SWEEP = {"horizon_minutes": 20, "retail.n_accounts": 50, "shocks.0.start_minute": 12}
"""Runs of a fraction of a second: 12 minutes on the opening book, 8 of shock."""


def tiny_design(name: str):
    """The catalogue's default design of `name`, one seed, its grid thinned to its corners.

    The leverage-shock grid keeps its lowest and highest share at its lowest and highest shock
    (2 × 2 cells); other sweeps keep their first two cells (mark-price all three rules).
    """
    design = design_for(name, n_seeds=1)
    if name == "leverage-shock":
        shares = {c[analysis.SHARE] for c in design.cells}
        shocks = {c[analysis.SHOCK] for c in design.cells}
        ends = ({min(shares), max(shares)}, {min(shocks), max(shocks)})
        keep = [
            i
            for i, c in enumerate(design.cells)
            if c[analysis.SHARE] in ends[0] and c[analysis.SHOCK] in ends[1]
        ]
    else:
        keep = list(range(3 if name == "mark-price" else 2))
    tags = tuple(design.tags[i] for i in keep) if design.tags else ()
    return dataclasses.replace(design, cells=tuple(design.cells[i] for i in keep), tags=tags)


def test_tiny_report_writes_every_figure_and_table_and_resumes(tmp_path):
    designs = {name: tiny_design(name) for name in REPORT_SWEEPS}
    cfg = ReportConfig(
        results_dir=tmp_path,
        sweep_overrides=TINY_SWEEP,
        n_jobs=1,
        run_overrides=TINY_SWEEP,
        n_boot=50,
        designs=designs,
        progress=False,
        dpi=40,
    )
    lines: list[str] = []
    written = build_report(cfg, echo=lines.append)
    names = {p.name for p in written}
    figures = {"timeline", "liquidation_map", "phase_diagram", "critical_share", "policies"}
    figures |= {"stop_loss", "mark_price"}
    assert {f"{f}.png" for f in figures} <= names
    tables = {"critical_share", "phase", "early_warning", "policies", "stop_loss"}
    tables |= {"mark_price", "timeline_run", "stylized_facts", "price_discovery"}
    assert {f"{t}.md" for t in tables} <= names
    for path in written:
        assert path.stat().st_size < 250_000, f"{path} is not small"
        assert any(str(path) in line for line in lines)  # the report says what it wrote
    tables_dir = tmp_path / "tables"
    crit = (tables_dir / "critical_share.md").read_text()
    assert crit.startswith("| shock | critical 50–100x share | 90 % band |")
    assert "P(cascade amplification > 1.5) by share" in crit
    assert "Generated by `cascade-lab report`" in crit
    assert "P(cascade amplification > 1.5)" in (tables_dir / "phase.md").read_text()
    warning = (tables_dir / "early_warning.md").read_text()
    assert warning.startswith("| indicator | vs | all runs | shock ")
    for outcome in ("cascade size", "cascade amplification", "50–100x share"):
        assert warning.count(f"| {outcome} |") == len(analysis.EARLY_WARNING_INDICATORS)
    timeline = (tables_dir / "timeline_run.md").read_text()
    for column in ("twin drawdown", "cascade amplification", "endogenous share"):
        assert f"| {column} |" in timeline.splitlines()[0]
    assert "and its twin" in timeline  # the source line names the twin
    discovery = (tables_dir / "price_discovery.md").read_text()
    assert discovery.startswith("| prices | 50–100x share | cascade amplification |")
    assert "| venue |" in discovery
    # the leverage and price-discovery sweeps ran with twins, the others without
    for name in REPORT_SWEEPS:
        sweep = next((tmp_path / name).iterdir())
        twin = EXPERIMENTS[name].twin
        assert read_manifest(sweep)["twin"] is twin
        assert (analysis.CASCADE_AMPLIFICATION in load_runs(sweep)) is twin
    assert any("leverage-shock" in line and "with its twin" in line for line in lines)
    lines.clear()
    _sweep("leverage-shock", cfg, lines.append)  # resumes: every run is already stored
    assert lines[0].startswith("leverage-shock: 0 runs in ") and "4 already stored" in lines[0]


def test_saved_timeline_run_keeps_its_twin(tmp_path):
    from experiments.report.build import timeline_run

    cfg = ReportConfig(results_dir=tmp_path, run_overrides=TINY_SWEEP, progress=False)
    run = timeline_run(cfg, echo=lambda _: None)
    assert run.twin is not None and run.twin.info["seed"] == run.info["seed"]
    again = load_saved_run(run.folder)
    metrics = saved_run_metrics(again)
    # the saved summary (live run + live twin) equals the one recomputed from the tables
    for sym in run.info["symbols"]:
        for key in ("twin_drawdown", "cascade_amplification", "endogenous_share"):
            assert same(metrics[f"{key}_{sym}"], again.summary[f"{key}_{sym}"])
    assert same(metrics["mean_cascade_amplification"], again.summary["mean_cascade_amplification"])
    series = series_with_twin_mark(again)
    twin_series = again.twin.tables["series"]
    assert len(series) == len(again.tables["series"])
    np.testing.assert_array_equal(series[TWIN_MARK_COLUMN], twin_series.mark_usd)
    # a calm run has no shock, hence no twin: a twin folder left by an earlier run goes
    stale = tmp_path / "runs" / "report-calm" / "twin"
    stale.mkdir(parents=True)
    calm = dataclasses.replace(cfg, scenario="calm", run_overrides={"horizon_minutes": 30})
    calm_run = timeline_run(calm, echo=lambda _: None)
    assert calm_run.twin is None and not stale.exists()
    assert "twin_drawdown_BTC" not in json.loads((calm_run.folder / "summary.json").read_text())
    assert TWIN_MARK_COLUMN not in series_with_twin_mark(calm_run)


def test_runs_stored_by_older_code_are_detected():
    from experiments.report.build import _stored_by_older_code

    old = pd.DataFrame({"status": ["ok"], "liq_over_oi": [0.1]})
    assert _stored_by_older_code(old)
    mixed = old.assign(liq_over_oi_after_shock=np.nan)
    assert _stored_by_older_code(pd.concat([mixed, mixed.assign(liq_over_oi_after_shock=0.05)]))
    assert not _stored_by_older_code(old.assign(liq_over_oi_after_shock=0.05))


def test_a_page_in_a_subfolder_gets_the_includes_links_made_relative_to_it(tmp_path):
    """docs/x.md includes results/t.md (written for the README, links from the repository's
    root): with --root the include path starts at the root and every relative link of the
    body gains "../"; absolute and anchor links are left alone."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "t.md").write_text(
        "![fig](results/f.png) [web](https://x.org/a) [here](#top)\n"
    )
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "x.md"
    page.write_text("<!-- include: results/t.md -->\n<!-- end include -->\n")
    assert readme.main([str(page), "--root", str(tmp_path)]) == 0
    assert "![fig](../results/f.png) [web](https://x.org/a) [here](#top)" in page.read_text()
    assert readme.main([str(page), "--root", str(tmp_path), "--check"]) == 0


def test_readme_splices_includes(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "a.md").write_text("| x |\n|---|\n| 1 |\n")
    text = (
        "# T\n<!-- include: results/a.md -->\nold\n<!-- end include -->\nkept\n"
        "<!-- include: results/a.md -->\n<!-- end include -->\n"
    )
    out = readme.splice(text, tmp_path)
    assert out.count("| 1 |") == 2 and "old" not in out and "kept" in out
    assert readme.splice(out, tmp_path) == out  # idempotent
    with pytest.raises(ValueError, match=r"included file results/b\.md not found"):
        readme.splice("<!-- include: results/b.md -->\n<!-- end include -->", tmp_path)
    with pytest.raises(ValueError, match=r"results/a\.md has no '<!-- end include -->'"):
        readme.splice("<!-- include: results/a.md -->\nno end", tmp_path)
    file = tmp_path / "README.md"
    file.write_text(text)
    assert readme.main([str(file), "--check"]) == 1
    assert readme.main([str(file)]) == 0
    assert readme.main([str(file), "--check"]) == 0
    assert file.read_text() == out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--size", "huge"], "--size must be one of default, full"),
        (["report", "--scenario", "oct2025"], "did you mean oct-2025"),
        (["report", "--seeds", "0"], "--seeds must be >= 1"),
    ],
)
def test_cli_report_rejects_bad_options(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_report_module_path_is_stable():
    # `make figures` runs `python -m experiments report`; the figures folder is committed
    assert Path("Makefile").read_text().count("-m experiments report") == 1
