"""The counterfactual twin (model/twin.py): its configuration, the attribution arithmetic on a
hand-made summary, and one small run pair."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from model import CascadeModel
from model.config import ModelConfig, ShockConfig
from model.engine.risk_config import LiquidationConfig
from model.twin import TWIN_KEYS, ratio, run_pair, twin_config, with_twin

SYMBOLS = ("BTC", "TAIL")


# ---------------------------------------------------------------------------------------------
# twin_config
# ---------------------------------------------------------------------------------------------
def test_twin_config_routes_forced_closes_off_the_book_from_the_shock_and_nothing_else():
    cfg = ModelConfig(shocks=(ShockConfig(start_minute=300), ShockConfig(start_minute=200)))
    twin = twin_config(cfg)
    assert cfg.liquidation.forced_closes == "book"
    assert twin.liquidation.forced_closes == "off_book"
    assert twin.liquidation.off_book_from_minute == 200  # the first shock's start
    assert dataclasses.replace(twin, liquidation=cfg.liquidation) == cfg
    back = dataclasses.replace(twin.liquidation, forced_closes="book", off_book_from_minute=0)
    assert back == cfg.liquidation


def test_a_twin_is_the_run_itself_until_the_shock():
    """Same seed, same flows: the marks are equal minute for minute before the shock and the
    twin's forced closes go to the sink only from the shock on."""
    from model import CascadeModel

    small = {"horizon_minutes": 60, "retail.n_accounts": 300, "shocks.0.start_minute": 40}
    small["retail.high_leverage_share"] = 0.5
    run = CascadeModel(scenario="shock", rng=4, **small)
    twin = CascadeModel(scenario=twin_config(run.cfg), rng=4)
    run.run(), twin.run()
    marks, twin_marks = run.recorder.series["mark_usd"], twin.recorder.series["mark_usd"]
    np.testing.assert_array_equal(marks[:40], twin_marks[:40])
    fills = twin.exchange.events.frame("fill")
    off = fills[fills.venue == "off_book"]
    assert len(off) > 0 and off.t.min() >= 40


def test_twin_config_refuses_a_run_without_a_shock_naming_it():
    with pytest.raises(ValueError, match=r"needs a shock.*shocks is empty"):
        twin_config(ModelConfig())


def test_twin_config_refuses_a_run_already_off_the_book():
    cfg = ModelConfig(
        shocks=(ShockConfig(),), liquidation=LiquidationConfig(forced_closes="off_book")
    )
    with pytest.raises(ValueError, match=r"liquidation\.forced_closes='off_book'"):
        twin_config(cfg)


# ---------------------------------------------------------------------------------------------
# the attribution arithmetic
# ---------------------------------------------------------------------------------------------
def _summary(btc: float, tail: float, **extra: float) -> dict[str, float]:
    return {"drawdown_BTC": btc, "drawdown_TAIL": tail, "liq_over_oi_after_shock": 0.3, **extra}


def test_with_twin_golden_numbers():
    """Setup: BTC fell 14 %, its twin 5 %; TAIL fell 30 %, its twin 30 % (nothing made
    inside the market)."""
    run = _summary(0.14, 0.30, liq_notional_usd=5e6, mean_amplification=1.7)
    twin = {"drawdown_BTC": 0.05, "drawdown_TAIL": 0.30, "liq_over_oi_after_shock": 0.1}

    out = with_twin(run, twin, SYMBOLS)

    # BTC: 0.14 / 0.05 = 2.8; 1 − 0.05 / 0.14 = 0.642857…; TAIL: 1 and 0
    assert out["twin_drawdown_BTC"] == 0.05
    assert out["cascade_amplification_BTC"] == pytest.approx(2.8)
    assert out["endogenous_share_BTC"] == pytest.approx(0.6428571428571429)
    assert out["cascade_amplification_TAIL"] == pytest.approx(1.0)
    assert out["endogenous_share_TAIL"] == pytest.approx(0.0)
    # means over assets: (2.8 + 1) / 2 = 1.9; (0.642857 + 0) / 2 = 0.3214286
    assert out["mean_cascade_amplification"] == pytest.approx(1.9)
    assert out["mean_endogenous_share"] == pytest.approx(0.32142857)
    assert out["twin_liq_over_oi_after_shock"] == 0.1
    for key, value in run.items():  # every input key kept, unchanged
        assert out[key] == value
    added = {f"{k}_{s}" for k in TWIN_KEYS for s in SYMBOLS} | {
        "mean_cascade_amplification",
        "mean_endogenous_share",
        "twin_liq_over_oi_after_shock",
    }
    assert set(out) == set(run) | added


def test_with_twin_does_not_modify_its_inputs():
    run, twin = _summary(0.14, 0.3), _summary(0.05, 0.3)
    run_copy, twin_copy = dict(run), dict(twin)
    with_twin(run, twin, SYMBOLS)
    assert (run, twin) == (run_copy, twin_copy)


def test_with_twin_nan_rules():
    """BTC: the twin did not fall (0) → amplification NaN, share 1 − 0 / 0.1 = 1;
    TAIL: neither fell → both NaN (no fall to attribute)."""
    out = with_twin(_summary(0.1, 0.0), _summary(0.0, 0.0), SYMBOLS)
    assert math.isnan(out["cascade_amplification_BTC"])
    assert out["endogenous_share_BTC"] == 1.0
    assert math.isnan(out["cascade_amplification_TAIL"])
    assert math.isnan(out["endogenous_share_TAIL"])
    # NaN ignored in the means: only BTC's share counts; no amplification at all → NaN
    assert out["mean_endogenous_share"] == 1.0
    assert math.isnan(out["mean_cascade_amplification"])


def test_with_twin_a_run_that_did_not_fall_has_no_share():
    # the run 0, the twin 4 %: amplification 0 / 0.04 = 0, share NaN (nothing to attribute)
    out = with_twin(_summary(0.0, 0.0), _summary(0.04, 0.0), SYMBOLS)
    assert out["cascade_amplification_BTC"] == 0.0
    assert math.isnan(out["endogenous_share_BTC"])


@pytest.mark.parametrize(
    ("num", "den", "want"),
    [(3.0, 2.0, 1.5), (0.0, 2.0, 0.0), (1.0, 0.0, math.nan), (1.0, -1.0, math.nan)],
)
def test_ratio_is_nan_when_the_divisor_is_not_positive(num, den, want):
    got = ratio(num, den)
    assert got == want or (math.isnan(want) and math.isnan(got))


# ---------------------------------------------------------------------------------------------
# one small pair
# ---------------------------------------------------------------------------------------------
def test_run_pair_runs_the_same_seed_with_forced_closes_off_the_book():
    # a 10 % shock from minute 5 of 20: its 50–100x accounts are liquidated in both runs
    overrides = {"retail.n_accounts": 300, "horizon_minutes": 20, "shocks.0.start_minute": 5}
    model, twin, summary = run_pair("shock", 4, overrides)
    assert isinstance(model, CascadeModel) and isinstance(twin, CascadeModel)
    assert model.exchange.sink is None and twin.exchange.sink is not None
    assert twin.cfg == twin_config(model.cfg) and twin.seed == model.seed == 4
    for ex in (model.exchange, twin.exchange):
        ex.check_invariants()
    # the twin's forced closes never reach a book; the run's never leave it
    twin_fills = twin.exchange.events.frame("fill")
    assert (twin_fills.venue == "off_book").any(), "the twin had forced closes"
    assert set(twin_fills[twin_fills.is_liquidation].venue) == {"off_book"}
    assert "off_book" not in set(model.exchange.events.frame("fill").venue)
    for sym in model.symbols:
        assert summary[f"twin_drawdown_{sym}"] == twin.summary()[f"drawdown_{sym}"]
        assert summary[f"drawdown_{sym}"] == model.summary()[f"drawdown_{sym}"]


def test_regression_run_pair_without_a_seed_still_shares_one():
    # run_pair(rng=None) used to build the twin with rng=None too, so it drew its own seed
    overrides = {"retail.n_accounts": 300, "horizon_minutes": 6, "shocks.0.start_minute": 3}
    model, twin, _ = run_pair("shock", None, overrides)
    assert twin.seed == model.seed
