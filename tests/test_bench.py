"""The benchmark suite runs and writes valid JSON (no timing assertions); the million-account
configuration is built and steps."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from experiments.bench import SCHEMA, TARGETS, scaled_config
from model import CascadeModel
from model.scenarios import scenario


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
    assert all(_finite_positive(v) for v in res["figures"].values())
    assert [row["key"] for row in res["table"]] == list(TARGETS)
    for row in res["table"]:
        assert row["target"] and isinstance(row["meets"], bool) and _finite_positive(row["value"])
        assert row["figure"] in done.stdout  # printed next to its target
    risk = res["risk"]
    assert risk["agent_flags_agree"] is True  # vectorised and per-agent checks agree
    assert _finite_positive(risk["agent_positions_per_s"])
    assert len(res["scaling"]["runs"]) == 3 and res["scaling"]["rule"]
    for run in res["scaling"]["runs"]:
        assert all(_finite_positive(run[k]) for k in ("wall_s", "cpu_s", "peak_rss_gb"))
    assert res["sweeps"]["same_numbers"] is True
    for section in ("risk", "shock_day", "scaling", "sweeps"):  # when, and how busy
        assert res[section]["measured_at"] and res[section]["load_average"] >= 0


def test_scaled_config_keeps_the_ratios():
    base, cfg = scenario("shock"), scaled_config(100_000)
    f = 100_000 / base.retail.n_accounts
    assert cfg.retail.n_accounts == 100_000
    assert cfg.retail.deposit_usd == base.retail.deposit_usd  # tickets unchanged
    for a, b in zip(cfg.assets, base.assets, strict=True):
        assert a.depth_usd == pytest.approx(f * b.depth_usd)
    assert cfg.makers.capital_usd == pytest.approx(f * base.makers.capital_usd)
    assert np.allclose(
        cfg.liquidation.pool_initial_usd, np.multiply(base.liquidation.pool_initial_usd, f)
    )
    assert cfg.horizon_minutes == base.horizon_minutes and cfg.shocks == base.shocks


def test_million_account_configuration_builds_and_steps():
    model = CascadeModel(scenario=scaled_config(1_000_000), rng=1)
    ex = model.exchange
    assert len(model.retail.account_ids) == 1_000_000
    for _ in range(3):
        model.step()
    assert model.t == 3 and model.running
    assert ex.users_in_position > 0  # the crowd has started to open positions
    ex.check_invariants()
