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
from experiments.sweeps.store import MANIFEST, load_runs, read_manifest
from model import CascadeModel
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
        (["run", "cascade-demo", "--pool-usd", "-5"], "--pool-usd must be a finite number in [0"),
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
        (["run", "shock", "--policy", "socialized_loss"], "--set liquidation.policy=NAME"),
        (["run", "shock", "--pool-usd", "5"], "--set liquidation.pool_initial_usd=USD"),
        (["run", "shock", "--haircut", "0.1"], "--haircut applies to cascade-demo only"),
        (["run", "cascade-demo", "--set", "retail.n_accounts=5"], "--set does not apply"),
        (["run", "cascade-demo", "--venue", "hyperliquid"], "--venue does not apply"),
        (["run", "cascade-demo", "--haircut", "0.1"], "--haircut applies to --collateral-depeg"),
        (["run", "cascade-demo", "--pool-usd", "inf"], "--pool-usd must be a finite number"),
        (["run", "cascade-demo", "--pool-usd", "1e308"], "--pool-usd must be a finite number"),
        (["run", "shock", "--seed", "-1"], "--seed must be a whole number >= 0"),
        (["run", "shock", "--set", "retail.high_leverage=100"], "retail.high_leverage takes 2"),
        (["run", "shock", "--set", "retail.n_accounts=abc"], "retail.n_accounts must be a whole"),
        (["run", "shock", "--set", "retail.n_accounts=inf"], "retail.n_accounts must be a whole"),
        (["run", "shock", "--set", "retail.n_accounts=10000000000"], "retail.n_accounts must be"),
        (["run", "shock", "--set", "liquidation.enabled=maybe"], "liquidation.enabled is a switch"),
        (["run", "shock", "--set", "horizon_minutes=600"], "set shocks.0.start_minute below 600"),
        (["run", "shock", "--set", "shocks.0.start_minute=0"], "shocks.0.start_minute >= 1"),
        (["run", "calm", "--set", "shocks.0.size=0.1"], "this configuration has no shocks"),
        (["sweep", "stop-loss", "--skip-errors"], "--skip-errors applies to --resume only"),
        (["sweep", "stop-loss", "--allow-stale"], "--allow-stale applies to --resume only"),
        (["list", "retal"], "did you mean retail"),
        (["explain", "drawdwn_BTC"], "did you mean drawdown_<ASSET>"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(CascadeModel, "run", _must_not_run)
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
    (folder,) = tmp_path.glob("shock-seed2-*")
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
    (folder,) = tmp_path.glob("shock-seed2-*")
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
    # the same run without --twin is another configuration: its own folder, no twin in it
    assert main([a for a in argv if a != "--twin"]) == 0
    (plain,) = set(tmp_path.glob("shock-seed2-*")) - {folder}
    assert not (plain / TWIN_FOLDER).exists() and load_saved_run(plain).twin is None


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
    (folder,) = tmp_path.glob("shock-seed0-*")
    twin = pd.read_parquet(folder / TWIN_FOLDER / "series.parquet")
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
    capsys.readouterr()
    assert main([*argv, "--twin", "--resume"]) == 0  # resumes its own store: nothing to run
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "in the design" in x]
    assert line.startswith("0 runs")


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


def _must_not_run(self):
    raise AssertionError("the model ran although the input was refused")


def _small_run(tmp_path, *extra: str) -> list[str]:
    argv = ["run", "shock", "--seed", "2", "--out", str(tmp_path), *extra]
    for key, value in SMALL_SHOCK.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


@pytest.mark.parametrize("where", ["/proc/nope/runs", "a file"])
def test_an_unwritable_out_is_refused_before_running(where, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(CascadeModel, "run", _must_not_run)
    if where == "a file":
        where = tmp_path / "results.txt"
        where.write_text("not a folder")
    argv = _small_run(tmp_path)
    argv[argv.index("--out") + 1] = str(where)
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert "--out" in err and str(where) in err


class _BuiltError(Exception):
    """Raised by a stand-in for `CascadeModel.run`: the model was built, nothing ran."""


@pytest.mark.parametrize("word", ["false", "False", "no", "off", "0"])
def test_a_switch_written_false_reaches_the_model(word, tmp_path, monkeypatch):
    built = []

    def record(self):
        built.append(self.cfg)
        raise _BuiltError

    monkeypatch.setattr(CascadeModel, "run", record)
    with pytest.raises(_BuiltError):
        main(_small_run(tmp_path, "--set", f"liquidation.enabled={word}"))
    assert built[0].liquidation.enabled is False


def test_a_run_records_its_provenance_in_its_own_folder(tmp_path, capsys):
    argv = _small_run(tmp_path, "--set", "liquidation.enabled=off")
    assert main(argv) == 0
    (folder,) = tmp_path.glob("shock-seed2-*")
    info = json.loads((folder / "run.json").read_text())["provenance"]
    assert info["scenario"] == "shock" and info["seed"] == 2 and info["twin"] is False
    assert info["overrides"]["liquidation.enabled"] is False  # as the model read it
    assert info["overrides"]["retail.n_accounts"] == SMALL_SHOCK["retail.n_accounts"]
    assert len(info["git_commit"]) == 40 and isinstance(info["git_dirty"], bool)
    assert info["versions"]["mesa"] and info["versions"]["numpy"]
    assert info["started_utc"].endswith("+00:00")
    assert info["command"] == ["cascade-lab", *argv]
    # another configuration gets another folder; the same seed of it, a shared suffix
    assert main(_small_run(tmp_path, "--set", "retail.stop_loss_share=0.5")) == 0
    assert len(list(tmp_path.glob("shock-seed2-*"))) == 2
    assert main(_small_run(tmp_path, "--seed", "3", "--set", "liquidation.enabled=no")) == 0
    (other_seed,) = tmp_path.glob("shock-seed3-*")
    assert other_seed.name.split("-")[-1] == folder.name.split("-")[-1]


def test_a_stored_run_is_overwritten_only_with_force(tmp_path, capsys, monkeypatch):
    argv = _small_run(tmp_path)
    assert main(argv) == 0
    capsys.readouterr()
    (folder,) = tmp_path.glob("shock-seed2-*")
    before = (folder / "summary.json").stat().st_mtime_ns
    with monkeypatch.context() as m:
        m.setattr(CascadeModel, "run", _must_not_run)
        assert main(argv) == 2
    err = _one_error_line(capsys)
    assert str(folder) in err and "--force" in err
    assert (folder / "summary.json").stat().st_mtime_ns == before
    assert main([*argv, "--force"]) == 0
    assert (folder / "summary.json").stat().st_mtime_ns > before


def test_the_run_summary_is_a_table_with_units(tmp_path, capsys):
    assert main(_small_run(tmp_path)) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["oi_before_usd"].endswith(" USD") and "," in lines["oi_before_usd"]
    assert lines["liq_long_share"].endswith(" %")
    assert lines["minutes"].split()[-2:] == ["60", "min"]
    assert lines["adl_events"].split()[-1].isdigit()  # a count, no decimals
    assert lines["insurance_depleted_pools"].split()[-1].isdigit()
    assert lines["mean_amplification"].endswith(" x")
    assert lines["BTC"].count("%") == 2 and " USD" in lines["BTC"]


def test_explain_gives_the_unit_and_meaning_of_metrics_and_parameters(capsys):
    assert main(["explain", "drawdown_BTC", "bad_debt_usd", "assets.3.depth_usd"]) == 0
    out = capsys.readouterr().out
    assert "drawdown_<ASSET> (a share, shown as %)" in out
    assert "bad_debt_usd (USD): deficits nobody covered" in out
    assert "250_000 (3 DOGE)" in out and "USD per side" in out


def test_list_shows_every_settable_key_by_section(capsys):
    """Every key of `flat_fields(ModelConfig())` and of the shock scenario's shock is listed;
    indexed keys (assets.3.depth_usd) as assets.N.depth_usd with one default per index."""
    import re

    from experiments.parameters import set_text
    from model.config import ModelConfig
    from model.overrides import flat_fields

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    keys = set(flat_fields(ModelConfig())) - {"shocks"} | set(flat_fields(scenario("shock")))
    for key in keys:
        shown = re.sub(r"^(assets|shocks)\.\d+\.", r"\1.N.", key)
        assert f"`{shown}`" in out, key
    for section in ("## run", "## assets", "## shocks", "## retail", "## liquidation"):
        assert section in out
    row = next(line for line in out.splitlines() if line.startswith("| `assets.N.depth_usd`"))
    for asset in ModelConfig().assets:
        assert f"| {set_text(asset.depth_usd)} |" in row
    for key in ("liquidation.enabled", "mark_rule", "shocks.N.start_minute", "assets.N.venue"):
        assert f"`{key}`" in out
    assert "| `retail.n_accounts` | 10_000 | accounts | [1, 5_000_000] |" in out


def test_every_listed_key_can_be_explained_and_set(capsys):
    from model.config import ModelConfig
    from model.overrides import flat_fields, with_overrides

    cfg = scenario("shock")
    for key, value in flat_fields(cfg).items():
        assert main(["explain", key]) == 0, key
        with_overrides(cfg, {key: value})  # the default value is accepted back
    assert flat_fields(ModelConfig())


def test_docs_parameters_page_is_current():
    """docs/parameters.md is what `python -m experiments.docs` writes; if this fails, run it."""
    from experiments.docs import PAGE
    from experiments.parameters import page

    assert PAGE.read_text() == page()


def test_list_markdown_prints_the_page(capsys):
    from experiments.parameters import page

    assert main(["list", "--markdown"]) == 0
    assert capsys.readouterr().out == page()


def test_sweep_ends_with_a_table_of_cell_means_and_spreads(capsys, tmp_path, monkeypatch):
    def two_cells(name, size="default", n_seeds=None):
        cells = full_factorial({"retail.stop_loss_share": [0.0, 0.5]})
        return make_design(name, "shock", cells, n_seeds=2, root_seed=1, base_overrides=SMALL_SHOCK)

    monkeypatch.setattr(catalogue, "design_for", two_cells)
    assert main(["sweep", "stop-loss", "--jobs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("per cell, mean ± sd over 2 seeds") :].splitlines()[2:]
    header, rows = table[0], table[1:]
    assert "retail.stop_loss_share" in header and "liq_over_oi_after_shock" in header
    assert len(rows) == 2 and rows[0].split()[0] == "0" and rows[1].split()[0] == "0.5"
    assert all("2/2" in r and r.count("±") == 5 for r in rows)
    assert all(" USD ± " in r and " % ± " in r for r in rows)


def test_an_unreachable_scheduler_is_refused_before_anything_is_recorded(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setattr(catalogue, "design_for", _tiny_design)
    argv = ["sweep", "stop-loss", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert "--scheduler 'tcp://127.0.0.1:1' does not answer" in err
    assert not list(tmp_path.rglob(MANIFEST))


def test_ctrl_c_during_a_sweep_says_how_to_resume(capsys, tmp_path, monkeypatch):
    from experiments.sweeps import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(catalogue, "design_for", _tiny_design)
    monkeypatch.setattr(runner, "map_runs", interrupted)
    argv = ["sweep", "stop-loss", "--jobs", "1", "--out", str(tmp_path)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    (manifest,) = tmp_path.rglob(MANIFEST)
    assert read_manifest(manifest.parent)["invocations"][-1]["status"] == "interrupted"


def test_a_corrupt_manifest_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "design_for", _tiny_design)
    argv = ["sweep", "stop-loss", "--jobs", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    (manifest,) = tmp_path.rglob(MANIFEST)
    manifest.write_text('{"experiment": "stop-loss", "fingerp')
    capsys.readouterr()
    assert main([*argv, "--resume"]) == 2
    err = _one_error_line(capsys)
    assert str(manifest) in err and "corrupt" in err


@pytest.mark.parametrize("command", ["report", "validate", "sweep"])
def test_report_validate_and_sweep_refuse_an_unwritable_out_before_working(
    command, tmp_path, capsys, monkeypatch
):
    import experiments.report.build as build
    import experiments.validation.report as validation
    from experiments.sweeps import runner

    def must_not_work(*args, **kwargs):
        raise AssertionError("work started although --out was refused")

    monkeypatch.setattr(build, "build_report", must_not_work)
    monkeypatch.setattr(validation, "run_studies", must_not_work)
    monkeypatch.setattr(runner, "run_sweep", must_not_work)
    file = tmp_path / "taken"
    file.write_text("a file")
    argv = [command, *(["stop-loss"] if command == "sweep" else []), "--out", str(file / "sub")]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert "--out" in err and "is a file" in err


def test_horizon_moves_the_shock_in_proportion(tmp_path, capsys):
    argv = ["run", "shock", "--horizon", "60", "--out", str(tmp_path)]
    assert main([*argv, "--set", "retail.n_accounts=50"]) == 0
    (folder,) = tmp_path.glob("shock-seed0-*")
    overrides = json.loads((folder / "run.json").read_text())["provenance"]["overrides"]
    assert overrides["horizon_minutes"] == 60 and overrides["shocks.0.start_minute"] == 30
    assert json.loads((folder / "summary.json").read_text())["minutes"] == 60
    # a --set key wins over the scaled one
    assert main([*argv, "--set", "retail.n_accounts=50", "--set", "shocks.0.start_minute=20"]) == 0
    runs = {json.loads((f / "run.json").read_text())["provenance"]["overrides"][
        "shocks.0.start_minute"] for f in tmp_path.glob("shock-seed0-*")}  # fmt: skip
    assert runs == {30, 20}
