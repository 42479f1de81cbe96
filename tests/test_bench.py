"""The benchmark suite runs and writes valid JSON (no timing assertions); the million-account
configuration is built and steps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.bench.results import SECTIONS, TARGETS
from experiments.bench.runs import scaled_config
from experiments.bench.suite import SCHEMA
from experiments.bench.sweep import SMALL_RUN
from model import CascadeModel
from model.config import REFERENCE_ACCOUNTS
from model.overrides import with_overrides
from model.scenarios import scenario

ROOT = Path(__file__).resolve().parents[1]


def _finite_positive(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def test_quick_bench_writes_valid_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert "| figure | measured | target |" in (tmp_path / "bench.md").read_text()
    assert res["schema"] == SCHEMA and res["mode"] == "quick"
    for key in ("cpu_count", "cpu_model", "python", "numpy", "mesa"):
        assert res["machine"][key]
    assert set(res["targets"]) == set(TARGETS) == set(res["figures"])
    # every figure is a positive measure but the cost exponent, a fitted slope of log time on
    # log N: near 0 in quick mode (the per-step overhead dominates), so noise can make it ≤ 0
    figures = dict(res["figures"])
    assert math.isfinite(figures.pop("scale_exponent"))
    assert all(_finite_positive(v) for v in figures.values())
    assert [row["key"] for row in res["table"]] == list(TARGETS)
    for row in res["table"]:
        assert row["target"] and isinstance(row["meets"], bool) and math.isfinite(row["value"])
        assert row["key"] == "scale_exponent" or row["value"] > 0
        assert row["figure"] in done.stdout  # printed next to its target
    risk = res["risk"]
    assert risk["agent_flags_agree"] is True  # vectorised and per-agent checks agree
    assert _finite_positive(risk["agent_positions_per_s"])
    assert len(res["scaling"]["runs"]) == 3 and res["scaling"]["rule"]
    for run in res["scaling"]["runs"]:
        assert all(_finite_positive(run[k]) for k in ("wall_s", "cpu_s", "peak_rss_gb"))
    assert res["sweeps"]["same_numbers"] is True
    twin = res["twin"]  # a shock day alone and with its twin, side by side
    assert len(twin["alone_s_runs"]) == len(twin["pair_s_runs"]) >= 1
    assert all(_finite_positive(twin[k]) for k in ("alone_s_per_day", "pair_s_per_day", "ratio"))
    assert res["figures"]["twin_cost_ratio"] == twin["ratio"]
    assert set(SECTIONS) >= {"risk", "shock_day", "scaling", "sweeps", "twin"}
    for section in SECTIONS:  # when, and how busy
        assert res[section]["measured_at"] and res[section]["load_average"] >= 0


def median_deposit_usd(cfg) -> float:
    """Each retail account's median deposit: deposit_usd × REFERENCE_ACCOUNTS / n_accounts."""
    return cfg.retail.deposit_usd * REFERENCE_ACCOUNTS / cfg.retail.n_accounts


@pytest.mark.parametrize("n_accounts", [2_000, 100_000])
def test_scaled_config_keeps_the_ratios(n_accounts):
    """Depths and the crowd's money both grow by f, so open interest per depth is unchanged;
    each account's deposit (its ticket, which meets the tier brackets) is unchanged."""
    base, cfg = scenario("shock"), scaled_config(n_accounts)
    f = n_accounts / base.retail.n_accounts
    assert cfg.retail.n_accounts == n_accounts
    assert median_deposit_usd(cfg) == pytest.approx(median_deposit_usd(base))  # tickets
    assert cfg.retail.deposit_usd == pytest.approx(f * base.retail.deposit_usd)  # the crowd
    for a, b in zip(cfg.assets, base.assets, strict=True):
        assert a.depth_usd == pytest.approx(f * b.depth_usd)
        money_per_depth = cfg.retail.deposit_usd * a.deposit_scale / a.depth_usd
        assert money_per_depth == pytest.approx(
            base.retail.deposit_usd * b.deposit_scale / b.depth_usd
        )
    assert cfg.makers.capital_usd == pytest.approx(f * base.makers.capital_usd)
    assert np.allclose(
        cfg.liquidation.pool_initial_usd, np.multiply(base.liquidation.pool_initial_usd, f)
    )
    assert cfg.horizon_minutes == base.horizon_minutes and cfg.shocks == base.shocks
    assert cfg.retail.high_leverage_share == base.retail.high_leverage_share  # leverage mix


def test_scaled_config_at_the_scenario_size_is_the_scenario():
    base = scenario("shock")
    assert scaled_config(base.retail.n_accounts) == base


def test_bench_sweep_run_is_a_valid_configuration():
    with_overrides(scenario("shock"), SMALL_RUN)  # raises on an unknown or invalid key


def test_million_account_configuration_builds_and_steps():
    model = CascadeModel(scenario=scaled_config(1_000_000), rng=1)
    ex = model.exchange
    assert len(model.retail.account_ids) == 1_000_000
    for _ in range(3):
        model.step()
    assert model.t == 3 and model.running
    assert ex.users_in_position > 0  # the crowd has started to open positions
    ex.check_invariants()


def test_page_bench_times_frames_of_the_tree_it_is_given(tmp_path):
    """Two frames of the page in a child process: each frame and its model steps are
    recorded, from the page module of the tree named (no timing is asserted)."""
    out = tmp_path / "page.json"
    args = ["--frames", "2", "--rounds", "1", "--tree", f"here={ROOT}", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "experiments.bench.page", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())["results"]["here"]
    assert res["page_module"] == str(ROOT / "experiments" / "page" / "app.py")
    (round_,) = res["rounds"]
    assert len(round_["frame_s"]) == len(round_["steps_s"]) == res["frames"] == 2
    assert all(_finite_positive(x) for x in round_["frame_s"] + round_["steps_s"])
    # two frames of the page's minutes per frame, stepped again without the page
    assert res["last_minute"] == 2 * res["minutes_per_frame"] > 0
    assert "here" in done.stdout and "frame (median)" in done.stdout
