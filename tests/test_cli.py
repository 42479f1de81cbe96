"""The `cascade-lab` command and the scripted cascade that `make run` shows."""

import json

import pandas as pd
import pytest

from experiments import scripted
from experiments.cli import main
from model.risk_config import POLICIES


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
