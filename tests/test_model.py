"""CascadeModel: behaviour over seeds (statistical bands and directions), wiring and bad input.

Runs are shortened for the suite (600 minutes, 600 retail accounts, a 240-minute warm-up, the
shock at minute 420) and spread over two processes; the calm test runs a full day.
"""

from __future__ import annotations

import functools
from itertools import pairwise

import mesa
import numpy as np
import pandas as pd
import pytest
from joblib import Parallel, delayed

from model import CascadeModel
from model.config import ModelConfig

SEEDS = tuple(range(10))
SHORT = {
    "horizon_minutes": 600,
    "retail.n_accounts": 600,
    "retail.warmup_minutes": 240,
    "shocks.0.start_minute": 420,
}
SHOCK_START = 420
LEVERAGE_LEVELS = (0.0, 0.2, 0.4, 0.6)
HUGE_POOLS = {
    "liquidation.pool_max_position_ratio": 1e6,
    "liquidation.pool_initial_usd": (1e12, 1e12, 1e12),
}


def _run(scenario: str, overrides: tuple, seed: int) -> dict:
    return CascadeModel(scenario=scenario, rng=seed, **dict(overrides)).run()


@functools.cache
def sweep(scenario: str, overrides: tuple, seeds: tuple = SEEDS) -> list[dict]:
    """Summaries of one configuration over seeds (cached for the module)."""
    return Parallel(n_jobs=2)(delayed(_run)(scenario, overrides, s) for s in seeds)


def shock_runs(**extra: float) -> list[dict]:
    return sweep("shock", tuple(sorted((SHORT | extra).items())))


def mean(runs: list[dict], key: str) -> float:
    return float(np.nanmean([r[key] for r in runs]))


# ------------------------------------------------------------------------------ behaviour
def test_calm_day_liquidates_a_few_percent_of_open_interest_and_never_adls():
    runs = sweep("calm", (("retail.n_accounts", 600), ("retail.warmup_minutes", 240)))
    ratios = [r["liq_over_oi"] for r in runs]
    assert 0.001 <= float(np.median(ratios)) <= 0.05, ratios
    assert all(r["adl_events"] == 0 for r in runs)


def test_shock_liquidates_mostly_longs_and_hits_the_long_tail_hardest():
    runs = shock_runs()
    assert mean(runs, "liq_long_share") >= 0.7
    majors = np.mean([mean(runs, "drawdown_BTC"), mean(runs, "drawdown_ETH")])
    tail = np.mean([mean(runs, "drawdown_TAILA"), mean(runs, "drawdown_TAILB")])
    assert tail > majors


def test_shock_liquidations_cluster_in_the_minutes_after_the_shock():
    """Liquidated notional in the two hours after the shock exceeds the two hours before."""
    seeds = SEEDS[:5]
    after, before = [], []
    for seed in seeds:
        m = CascadeModel(scenario="shock", rng=seed, **SHORT)
        m.run()
        liq = m.recorder.series["liq_long_usd"] + m.recorder.series["liq_short_usd"]
        per_minute = liq.sum(axis=1)
        after.append(per_minute[SHOCK_START : SHOCK_START + 120].sum())
        before.append(per_minute[SHOCK_START - 120 : SHOCK_START].sum())
    assert np.mean(after) > 3 * np.mean(before)


def test_more_high_leverage_accounts_liquidate_more_of_open_interest():
    means = [
        mean(shock_runs(**{"retail.high_leverage_share": s}), "liq_over_oi")
        for s in LEVERAGE_LEVELS
    ]
    assert all(b > a for a, b in pairwise(means)), means


@pytest.mark.xfail(
    strict=True,
    reason="measured (these 10 seeds): mean amplification 1.34, 1.33, 1.27, 1.32 at 50–100x "
    "shares 0, 0.2, 0.4, 0.6 (standard errors 0.04–0.05) while ADL notional / open interest "
    "went 0.07, 0.11, 0.29, 0.40: the extra forced selling of a more levered crowd is closed "
    "by ADL at bankruptcy prices, not in the book, so the price fall does not deepen "
    "(README, 'How strong the leverage → amplification effect is').",
)
def test_more_high_leverage_accounts_amplify_the_shock_more():
    """Seed mean of amplification (mark drawdown / fundamental drop, mean over assets)."""
    means = [
        mean(shock_runs(**{"retail.high_leverage_share": s}), "mean_amplification")
        for s in LEVERAGE_LEVELS
    ]
    assert all(b > a for a, b in pairwise(means)), means


def test_more_high_leverage_accounts_push_more_of_the_cascade_into_adl():
    """Seed mean of ADL notional / open interest before the shock."""
    means = [
        float(np.mean([r["adl_notional_usd"] / r["oi_before_usd"] for r in runs]))
        for runs in (shock_runs(**{"retail.high_leverage_share": s}) for s in LEVERAGE_LEVELS)
    ]
    assert all(b > a for a, b in pairwise(means)), means


def test_adl_needs_an_exhausted_pool_and_a_deep_pool_prevents_it():
    crowded = {"retail.high_leverage_share": 0.4}
    default = shock_runs(**crowded)
    deep = shock_runs(**crowded, **HUGE_POOLS)
    assert sum(r["adl_events"] for r in default) > 0
    assert all(r["adl_events"] == 0 for r in deep)


def test_stop_losses_lower_the_share_of_retail_money_lost_to_liquidation():
    none = shock_runs(**{"retail.stop_loss_share": 0.0})
    all_ = shock_runs(**{"retail.stop_loss_share": 1.0})
    assert mean(all_, "retail_liquidated_share") < mean(none, "retail_liquidated_share")


def test_same_seed_same_summary_other_seed_different():
    small = {**SHORT, "horizon_minutes": 450, "retail.n_accounts": 200}
    a = CascadeModel(scenario="shock", rng=7, **small).run()
    b = CascadeModel(scenario="shock", rng=7, **small).run()
    c = CascadeModel(scenario="shock", rng=8, **small).run()
    assert a == b
    assert a != c


def test_invariants_hold_every_step_of_a_shock():
    m = CascadeModel(scenario="shock", rng=3, **{**SHORT, "retail.n_accounts": 200})
    while m.running:
        m.step()
        m.exchange.check_invariants()
    assert m.stop_reason == "horizon reached"
    assert m.t == SHORT["horizon_minutes"]


# ------------------------------------------------------------------------------ wiring
def test_batch_run_returns_the_summary_columns():
    params = {
        "scenario": "shock",
        "horizon_minutes": 200,
        "shocks.0.start_minute": 150,
        "retail.n_accounts": 100,
        "retail.warmup_minutes": 60,
        "retail.stop_loss_share": [0.0, 1.0],
    }
    rows = mesa.batch_run(
        CascadeModel, parameters=params, rng=[1, 2], max_steps=500, display_progress=False
    )
    df = pd.DataFrame(rows)
    assert len(df) == 4
    assert {"liq_notional_usd", "liq_long_share", "retail_liquidated_share"} <= set(df.columns)
    assert df["liq_notional_usd"].notna().all()
    assert (df["Step"] == 200).all()


def test_string_seed_from_a_web_form_is_accepted():
    a = CascadeModel(scenario="calm", rng="5", horizon_minutes=30)
    b = CascadeModel(scenario="calm", rng=5, horizon_minutes=30)
    a.run_for(30)
    b.run_for(30)
    assert a.summary() == b.summary()


def test_solaraviz_reset_passing_mesas_own_scenario_object_builds_the_default():
    # SolaraViz's Reset re-instantiates with scenario=<mesa Scenario>, not our name
    from mesa.experimental.scenarios import Scenario

    m = CascadeModel(scenario=Scenario(), rng=3, horizon_minutes=800)
    m.step()
    assert m.cfg == CascadeModel(scenario="shock", rng=3, horizon_minutes=800).cfg


def test_config_object_and_datacollector():
    m = CascadeModel(scenario=ModelConfig(horizon_minutes=20), rng=1)
    m.run()
    frame = m.datacollector.get_model_vars_dataframe()
    assert len(frame) == 20
    assert {"liquidated_usd", "insurance_usd", "mark_BTC"} <= set(frame.columns)
    assert frame["mark_BTC"].gt(0).all()
    long = m.recorder.frame(m.symbols)
    assert len(long) == 20 * len(m.symbols)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "shok"}, "did you mean shock"),
        ({"retail.high_leverage_shar": 0.2}, "did you mean retail.high_leverage_share"),
        ({"retail.high_leverage_share": 1.5}, r"retail\.high_leverage_share must be in \[0"),
        ({"retail.low_leverage": (0.0, 10.0)}, r"low_leverage"),
        ({"retail.high_leverage": (50.0, 200.0)}, r"high_leverage"),
        ({"shocks.0.start_minute": 5_000}, r"shocks\.0\.start_minute=5000 is after the horizon"),
        ({"liquidation.policy": "adl_random"}, r"liquidation\.policy must be one of"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CascadeModel(rng=1, **kwargs)
