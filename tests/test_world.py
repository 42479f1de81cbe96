"""The exogenous world: the factor's GARCH(1,1)-t volatility and the shocks feeding it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis import autocorrelation, excess_kurtosis
from model.config import ModelConfig, ShockConfig
from model.overrides import with_overrides
from model.world import World

GARCH = {"world.vol_reaction": 0.1, "world.vol_persistence": 0.9}


def _world(overrides: dict, seed: int = 0, **cfg) -> World:
    return World(with_overrides(ModelConfig(**cfg), overrides), np.random.default_rng(seed))


def test_constant_volatility_by_default():
    w = _world({})
    assert not w.is_garch
    w.step(0)
    assert w.factor_var == pytest.approx(0.0006**2)  # untouched


def test_garch_variance_recursion_hand_computed():
    # ω = 0.0006² · (1 − 0.9) = 3.6e-8; a factor return x = 0.002:
    # h = 3.6e-8 + 0.1 · 4e-6 + 0.8 · 3.6e-7 = 3.6e-8 + 4e-7 + 2.88e-7 = 7.24e-7
    w = _world(GARCH)
    w.update_variance(0.002)
    assert w.factor_var == pytest.approx(7.24e-7, rel=1e-12)


def test_bad_garch_parameters_are_named():
    with pytest.raises(ValueError, match=r"world\.vol_reaction \(0\.5\) must be at most"):
        with_overrides(ModelConfig(), {"world.vol_reaction": 0.5, "world.vol_persistence": 0.4})
    with pytest.raises(ValueError, match=r"world\.tail_dof must be 0"):
        with_overrides(ModelConfig(), {"world.tail_dof": 1.5})


def _factor_returns(overrides: dict, seed: int, n: int = 20_000) -> np.ndarray:
    w = _world(overrides, seed)
    out = np.empty(n)
    for t in range(n):
        out[t] = w.factor_shock()
        w.update_variance(out[t])
    return out


def test_garch_t_factor_has_fat_tails_and_clustered_volatility_gaussian_does_not():
    clustered = {"world.vol_reaction": 0.04, "world.vol_persistence": 0.998,
                 "world.tail_dof": 5.0}  # fmt: skip
    for seed in range(3):
        g, c = _factor_returns({}, seed), _factor_returns(clustered, seed)
        assert abs(excess_kurtosis(g)) < 0.3 < 2.0 < excess_kurtosis(c)
        band = 1.96 / math.sqrt(len(c))
        assert np.all(autocorrelation(np.abs(c), [1, 10, 50]) > band)
        assert abs(autocorrelation(np.abs(g), [10])[0]) < 2 * band
        # the long-run volatility stays factor_vol
        assert 0.0005 < np.std(c) < 0.0007


def test_a_crash_raises_the_volatility_after_it():
    shock = ShockConfig(start_minute=10, duration_minutes=40, size=0.12)
    w = _world({"world.vol_reaction": 0.04, "world.vol_persistence": 0.998}, shocks=(shock,))
    for t in range(50):
        w.step(t)
    # 40 minutes of log(0.88)/40 ≈ −0.0032 a minute lift h toward α·0.0032²/(1 − β) ≈ 1e-5
    assert math.sqrt(w.factor_var) > 3 * 0.0006
