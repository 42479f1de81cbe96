"""The `cascade-lab` command and the scripted cascade that `make run` shows."""

import json
from pathlib import Path

import pandas as pd
import pytest

from experiments import scripted
from experiments.analysis import plots
from experiments.cli import main
from experiments.report.run_output import TWIN_FOLDER
from experiments.report.saved_run import load_saved_run
from experiments.sweeps import catalogue
from experiments.sweeps.design import full_factorial, make_design
from experiments.sweeps.runner import TWIN_MARK_COLUMN
from experiments.sweeps.store import load_runs, read_manifest
from model.engine.risk_config import POLICIES
from model.scenarios import scenario
from model.twin import TWIN_KEYS

SMALL_SHOCK = {"horizon_minutes": 60, "retail.n_accounts": 50, "shocks.0.start_minute": 30}
"""A shortened shock run for the CLI (seconds)."""
SYMBOLS = tuple(a.symbol for a in scenario("shock").assets)


def test_cascade_demo_prints_both_tables(capsys):
    assert main(["run", "cascade-demo", "--policy", "adl_queue"]) == 0
    out = capsys.readouterr().out
    assert "accounts_liquidated" in out
    for policy in POLICIES:
        assert policy in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "cascade-dem"], "did you mean cascade-demo"),
        (["run", "cascade-demo", "--policy", "adl_qeue"], "did you mean adl_queue"),
        (["run", "cascade-demo", "--pool-usd", "-5"], "--pool-usd must be >= 0"),
        (["run", "shok"], "did you mean shock"),
        (["run", "shock", "--set", "retail.high_leverage_shar=0.3"], "did you mean"),
        (["run", "shock", "--set", "retail.high_leverage_share=3"], "must be in [0.0, 1.0]"),
        (["run", "shock", "--set", "novalue"], "--set takes key=value"),
        (["sweep", "levrage-shock"], "did you mean leverage-shock"),
        (["sweep", "stop-loss", "--seeds", "0"], "--seeds must be >= 1"),
        (["sweep", "stop-loss", "--size", "huge"], "--size must be one of"),
        (["run", "calm", "--twin"], "--twin needs a scenario with a shock, got 'calm'"),
        (["run", "cascade-demo", "--twin"], "--twin does not apply to cascade-demo"),
        (["run", "shock", "--venue", "hyperliqid"], "did you mean hyperliquid"),
        (
            ["run", "shock", "--twin", "--set", "liquidation.forced_closes=off_book"],
            "forced_closes='off_book'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_run_scenario_prints_the_summary_and_writes_the_run(capsys, tmp_path):
    argv = [
        "run",
        "shock",
        "--seed",
        "2",
        "--out",
        str(tmp_path),
        "--set",
        "horizon_minutes=40",
        "--set",
        "shocks.0.start_minute=20",
        "--set",
        "retail.n_accounts=50",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "liq_notional_usd" in out and "amplification" in out and "TAILB" in out
    folder = tmp_path / "shock-seed2"
    series = pd.read_parquet(folder / "series.parquet")
    assert len(series) == 40 * 6
    assert json.loads((folder / "summary.json").read_text())["minutes"] == 40
    assert (folder / "timeline.png").stat().st_size > 10_000


def test_run_with_twin_prints_the_attribution_and_writes_the_twin(capsys, tmp_path):
    argv = ["run", "shock", "--twin", "--seed", "2", "--out", str(tmp_path)]
    for key, value in SMALL_SHOCK.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "liq_notional_usd" in out and "fundamental_drop" in out  # the usual summary
    assert "mean_cascade_amplification" in out
    table = out[out.index("Counterfactual twin") :]
    for column in ("drawdown", *TWIN_KEYS):
        assert column in table
    assert all(sym in table for sym in SYMBOLS)
    folder = tmp_path / "shock-seed2"
    summary = json.loads((folder / "summary.json").read_text())
    for sym in SYMBOLS:
        assert {f"{k}_{sym}" for k in TWIN_KEYS} <= set(summary)
    series = pd.read_parquet(folder / "series.parquet")  # the run's own, as without --twin
    assert len(series) == SMALL_SHOCK["horizon_minutes"] * len(SYMBOLS)
    twin = pd.read_parquet(folder / TWIN_FOLDER / "series.parquet")
    assert twin[["minute", "asset"]].equals(series[["minute", "asset"]])
    assert (folder / "timeline.png").stat().st_size > 10_000
    saved = load_saved_run(folder)  # the report reads the run and its twin
    assert saved.twin is not None and saved.twin.info["seed"] == 2
    assert saved.twin.tables["series"].mark_usd.equals(twin.mark_usd)
    # the same run again without --twin leaves no stale twin beside it
    assert main([a for a in argv if a != "--twin"]) == 0
    assert not (folder / TWIN_FOLDER).exists() and load_saved_run(folder).twin is None


def test_the_timeline_of_a_run_with_twin_gets_the_twin_mark(tmp_path, monkeypatch):
    """The series handed to `plots.cascade_timeline` carries the twin's mark column."""
    drawn = []
    monkeypatch.setattr(
        plots, "cascade_timeline", lambda series, *a, **k: drawn.append(series) or _Figure()
    )
    argv = ["run", "shock", "--twin", "--out", str(tmp_path)]
    for key, value in SMALL_SHOCK.items():
        argv += ["--set", f"{key}={value}"]
    assert main(argv) == 0
    (series,) = drawn
    twin = pd.read_parquet(tmp_path / "shock-seed0" / TWIN_FOLDER / "series.parquet")
    assert (series[TWIN_MARK_COLUMN].to_numpy() == twin.mark_usd.to_numpy()).all()


class _Figure:
    """Stands in for a matplotlib figure: `savefig` writes an empty file."""

    def savefig(self, path, **kwargs):
        Path(path).write_bytes(b"")


def _tiny_design(name, size="default", n_seeds=None, scenario_name="shock"):
    """One cell, one seed of a shortened run, standing in for a catalogue design."""
    base = SMALL_SHOCK if scenario_name == "shock" else {"horizon_minutes": 30}
    cells = full_factorial({"retail.stop_loss_share": [0.0]})
    return make_design(name, scenario_name, cells, n_seeds=1, root_seed=1, base_overrides=base)


def test_sweep_with_twin_runs_every_cell_with_its_twin_in_its_own_store(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setattr(catalogue, "design_for", _tiny_design)
    argv = ["sweep", "stop-loss", "--jobs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert main([*argv, "--twin"]) == 0
    folders = sorted(p.parent for p in (tmp_path / "stop-loss").glob("*/manifest.json"))
    assert len(folders) == 2  # the sweep with twins did not resume the one without
    by_twin = {read_manifest(f)["twin"]: load_runs(f) for f in folders}
    assert set(by_twin) == {False, True}
    plain, twin = by_twin[False], by_twin[True]
    assert (plain.status == "ok").all() and (twin.status == "ok").all()
    assert set(plain.columns) < set(twin.columns)
    for sym in SYMBOLS:
        assert {f"{k}_{sym}" for k in TWIN_KEYS} <= set(twin.columns)
    assert main([*argv, "--twin", "--resume"]) == 0  # resumes its own store: nothing to run
    assert "0 runs" in capsys.readouterr().out.strip().splitlines()[-1]


def test_sweep_with_twin_refuses_a_design_without_a_shock(capsys, monkeypatch):
    monkeypatch.setattr(
        catalogue, "design_for", lambda *a, **k: _tiny_design(*a, **k, scenario_name="calm")
    )
    assert main(["sweep", "stop-loss", "--twin"]) == 2
    err = capsys.readouterr().err
    assert "--twin needs a scenario with a shock, got 'calm'" in err
    assert len(err.strip().splitlines()) == 1


def test_list_names_scenarios_experiments_and_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("oct-2025", "leverage-shock", "adl-policies", "retail.high_leverage_share"):
        assert name in out


def test_small_pool_runs_dry_and_policy_fires_large_pool_absorbs_all():
    """Setup: the scripted crash (−4 %, −8 %, −12 %) with 40 longs at 10/20/50x.

    With a $100 pool the book and the pool cannot absorb the longs and ADL closes winners;
    with a $1M pool (capacity 10x its equity) everything is taken over and ADL never fires.
    """
    small = scripted.run("adl_queue", pool_usd=100.0)
    large = scripted.run("adl_queue", pool_usd=1_000_000.0)
    assert small.events.count("adl") > 0
    assert min(small.liquidator.pools.balances_usd()) < 100.0
    assert large.events.count("adl") == 0
    assert large.events.frame("liquidation").query("kind == 'pool_takeover'").qty.sum() > 0
