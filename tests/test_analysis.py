"""experiments.analysis against hand-computed tables and known distributions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments import analysis as an

# --------------------------------------------------------------------- stylized facts


def test_log_returns_sample_every_step_minutes():
    prices = [100.0, 110.0, 121.0, 133.1, 146.41]  # +10 % a minute
    np.testing.assert_allclose(an.log_returns(prices), [math.log(1.1)] * 4)
    # step 2 takes p0, p2, p4: two returns of ln(1.21); non-overlapping
    np.testing.assert_allclose(an.log_returns(prices, 2), [math.log(1.21)] * 2)
    # a missing price drops the two returns that touch it
    assert len(an.log_returns([100.0, np.nan, 121.0, 133.1])) == 1
    with pytest.raises(ValueError, match="step must be"):
        an.log_returns(prices, 0)


def test_autocorrelation_hand_computed():
    # x = 1,2,3,4: mean 2.5, deviations -1.5,-0.5,0.5,1.5, Σd² = 5
    # lag 1: (-1.5)(-0.5) + (-0.5)(0.5) + (0.5)(1.5) = 1.25 → 0.25
    # lag 2: (-1.5)(0.5) + (-0.5)(1.5) = -1.5 → -0.3; lag 4 ≥ n → NaN
    acf = an.autocorrelation([1.0, 2.0, 3.0, 4.0], (1, 2, 4))
    np.testing.assert_allclose(acf[:2], [0.25, -0.3])
    assert math.isnan(acf[2])
    assert len(an.autocorrelation(np.arange(10.0), 3)) == 3  # an int L means lags 1..L


def test_autocorrelation_of_ar1_and_iid():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(50_000)
    ar = np.empty_like(noise)
    ar[0] = noise[0]
    for t in range(1, len(ar)):  # x_t = 0.5 x_{t-1} + e_t: ρ(k) = 0.5^k
        ar[t] = 0.5 * ar[t - 1] + noise[t]
    np.testing.assert_allclose(an.autocorrelation(ar, 3), [0.5, 0.25, 0.125], atol=0.02)
    assert np.all(np.abs(an.autocorrelation(noise, 5)) < 0.02)  # se ≈ 1/√n ≈ 0.0045


def test_excess_kurtosis_hand_computed_and_gaussian():
    # -2, six 0s, 2: mean 0, m2 = 8/8 = 1, m4 = 32/8 = 4 → 4/1 − 3 = 1
    assert an.excess_kurtosis([-2.0, 0, 0, 0, 0, 0, 0, 2.0]) == pytest.approx(1.0)
    # ±1 alternating: m2 = m4 = 1 → -2 (the minimum)
    assert an.excess_kurtosis([-1.0, 1.0, -1.0, 1.0]) == pytest.approx(-2.0)
    gauss = np.random.default_rng(1).standard_normal(200_000)
    assert abs(an.excess_kurtosis(gauss)) < 0.05  # se ≈ √(24/n) ≈ 0.011
    assert math.isnan(an.excess_kurtosis([1.0, 2.0, 3.0]))  # fewer than 4 values


def test_hill_hand_computed():
    # |x| sorted 8, 4, 2, 1; tail_fraction 0.5 → k = 2, threshold X_(3) = 2
    # α̂ = 2 / (ln(8/2) + ln(4/2)) = 2 / (3 ln 2) ≈ 0.9618
    assert an.hill_tail_index([1.0, -8.0, 2.0, 4.0], 0.5) == pytest.approx(2 / (3 * math.log(2)))
    assert math.isnan(an.hill_tail_index([1.0, 2.0], 0.05))  # no observation in the tail
    with pytest.raises(ValueError, match="tail_fraction"):
        an.hill_tail_index([1.0, 2.0], 1.5)


def test_hill_recovers_pareto_alpha_3():
    rng = np.random.default_rng(2)
    n = 200_000
    # classical Pareto, x_m = 1, α = 3; random signs (the estimator uses |x|)
    x = (rng.pareto(3.0, n) + 1.0) * rng.choice([-1.0, 1.0], n)
    # k = 10,000 order statistics: se ≈ α / √k = 0.03
    assert an.hill_tail_index(x, 0.05) == pytest.approx(3.0, abs=0.15)


def test_kurtosis_falls_under_aggregation():
    # iid Laplace log returns: excess kurtosis 3 at 1 minute, 3/m summed over m minutes
    rng = np.random.default_rng(3)
    prices = 100.0 * np.exp(np.cumsum(rng.laplace(0.0, 1e-3, 240_001)))
    k = an.kurtosis_by_aggregation(prices)
    assert list(k) == [1, 5, 15, 60]
    assert k[1] == pytest.approx(3.0, abs=0.3)
    assert k[1] > k[5] > k[15]
    assert abs(k[60]) < 0.4  # 4,000 hourly returns: se ≈ 0.08


def test_stylized_facts_table_has_one_row_per_asset():
    rng = np.random.default_rng(4)
    n = 500
    series = pd.DataFrame(
        {
            "minute": np.repeat(np.arange(n), 2),
            "asset": np.tile(["BTC", "TAIL"], n),
            "mark_usd": 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 2 * n))),
        }
    )
    facts = an.stylized_facts(series)
    assert list(facts.asset) == ["BTC", "TAIL"]
    assert {"acf_r_1", "acf_abs_10", "hill_5pct", "kurt_60m"} <= set(facts.columns)


# --------------------------------------------------------------------- saved-run parts


def test_adl_metrics_hand_computed():
    adl = pd.DataFrame(
        {
            "account": [7, 8],
            "qty": [2.0, 1.0],
            "price_usd": [100.0, 90.0],
            "value_taken_usd": [100.0, 50.0],
            "needed_usd": [80.0, 60.0],
            "is_hedge_break": [True, False],
        }
    )
    haircuts = pd.DataFrame({"account": [8], "haircut_usd": [30.0]})
    bad_debt = pd.DataFrame({"amount_usd": [12.5]})
    m = an.adl_metrics(adl, haircuts, bad_debt)
    # notional 2·100 + 1·90 = 290; taken 100 + 50 + 30 = 180; needed 80 + 60 = 140
    # overshoot 180 − 140 = 40; account 7 gave 100, account 8 gave 50 + 30 = 80 → top 100
    assert m["adl_events"] == 2
    assert m["adl_notional_usd"] == pytest.approx(290.0)
    assert m["adl_taken_usd"] == pytest.approx(180.0)
    assert m["adl_overshoot_usd"] == pytest.approx(40.0)
    assert m["adl_top_winner_usd"] == pytest.approx(100.0)
    assert m["adl_top_winner_share"] == pytest.approx(100.0 / 180.0)
    assert m["hedge_breaks"] == 1
    assert m["bad_debt_usd"] == pytest.approx(12.5)


def test_adl_metrics_names_missing_columns():
    with pytest.raises(ValueError, match=r"needed_usd.*it needs: account"):
        an.adl_metrics(pd.DataFrame({"account": []}), pd.DataFrame(), pd.DataFrame())


def test_retail_share_and_liquidatable_share_hand_computed():
    liqs = pd.DataFrame(
        {"notional_usd": [1000.0, 500.0, 900.0], "leverage": [10.0, 50.0, 3.0]}
        | {"is_retail": [True, True, False]}
    )
    # retail margin lost 1000/10 + 500/50 = 110 of 1,100 deposited → 0.1
    assert an.retail_liquidated_share(liqs, 1100.0) == pytest.approx(0.1)
    snap = pd.DataFrame(
        {
            "notional_usd": [100.0, 300.0, 600.0],
            "liquidation_price_usd": [96.0, 94.0, np.nan],
            "mark_usd": [100.0, 100.0, 100.0],
        }
    )
    # only the first is within 5 % of the mark: 100 / 1000
    assert an.liquidatable_share(snap, 0.05) == pytest.approx(0.1)


def test_run_metrics_lists_what_a_saved_run_needs():
    with pytest.raises(ValueError, match=r"pools.*run info"):
        an.run_metrics({"series": pd.DataFrame()}, {"minutes": 3})


# ------------------------------------------------------------------------------ sweeps


def sweep_table(p_amplified: dict[float, list[float]], n_reps: int = 4) -> pd.DataFrame:
    """A leverage-shock runs table: shock → per share (0, 0.3, 0.6) the fraction amplified.

    Each cell gets `n_reps` replicates; the first round(p·n) of them have a cascade
    amplification (drawdown / twin drawdown) of 2.0, the rest 1.0; cascade size = share +
    shock (hand-checkable means). The news amplification is 9.0 everywhere: the sweep
    functions must not read it.
    """
    rows = []
    for shock, ps in p_amplified.items():
        for share, p in zip((0.0, 0.3, 0.6), ps, strict=True):
            for rep in range(n_reps):
                amp = 2.0 if rep < round(p * n_reps) else 1.0
                rows.append(
                    {"retail.high_leverage_share": share, "shocks.0.size": shock}
                    | {"replicate": rep, "status": "ok", "liq_over_oi_after_shock": share + shock}
                    | {"mean_cascade_amplification": amp, "cascade_amplification_BTC": 3.0 - amp}
                    | {"amplification_BTC": 9.0}
                )
    return pd.DataFrame(rows)


def test_exceeds_leaves_undefined_runs_out():
    values = pd.Series([2.0, 1.5, 1.0, np.nan])
    # strictly above 1.5 → 1, at or below → 0, NaN (the twin did not fall) stays NaN
    out = an.exceeds(values, 1.5)
    assert out.iloc[:3].tolist() == [1.0, 0.0, 0.0] and math.isnan(out.iloc[3])
    assert out.mean() == pytest.approx(1 / 3)  # pandas' mean skips the NaN


def test_crossing_hand_computed():
    x = np.array([0.0, 0.3, 0.6])
    # 0.25 → 0.75 between 0.3 and 0.6: 0.3 + (0.5 − 0.25)/(0.75 − 0.25)·0.3 = 0.45
    assert an.crossing(x, np.array([0.0, 0.25, 0.75])) == pytest.approx(0.45)
    assert an.crossing(x, np.array([0.75, 1.0, 1.0])) == -math.inf
    assert an.crossing(x, np.array([0.0, 0.5, 0.5])) == math.inf  # never above half
    # an undefined P at 0.3 is skipped: 0 → 1 between 0 and 0.6 crosses at 0.3
    assert an.crossing(x, np.array([0.0, np.nan, 1.0])) == pytest.approx(0.3)
    assert math.isnan(an.crossing(x, np.full(3, np.nan)))
    assert an.format_share(-math.inf, 0.0, 0.6) == "<0"
    assert an.format_share(math.inf, 0.0, 0.6) == ">0.6"
    assert an.format_share(math.nan, 0.0, 0.6) == "n/a"
    assert an.format_share(0.4512, 0.0, 0.6) == "0.45"


def test_critical_share_point_band_and_out_of_grid():
    runs = sweep_table({0.05: [0.0, 0.25, 0.75], 0.1: [0.75, 1.0, 1.0], 0.15: [0, 0, 0.5]})
    crit = an.critical_share(runs, n_boot=300).set_index("shock")
    assert crit.loc[0.05, "critical_share"] == pytest.approx(0.45)
    assert crit.loc[0.05, "low"] <= 0.45 <= crit.loc[0.05, "high"]
    assert crit.loc[0.1, "critical_share"] == -math.inf
    assert crit.loc[0.15, "critical_share"] == math.inf
    assert crit.loc[0.05, "n_seeds"] == 4
    assert crit.loc[0.05, "p_by_share"] == "0: 0.00, 0.3: 0.25, 0.6: 0.75"


def test_critical_share_of_one_asset():
    # BTC's amplification is 3 − mean: 1.0 where the mean is 2.0, 2.0 where it is 1.0, so
    # P_BTC = 1 − P = 1, 0.75, 0.25: above half already at the first share → "<0"
    runs = sweep_table({0.05: [0.0, 0.25, 0.75]})
    btc = an.critical_share(runs, amplification=an.asset_amplification("BTC"), n_boot=50)
    assert btc.critical_share.iloc[0] == -math.inf
    assert btc.p_by_share.iloc[0] == "0: 1.00, 0.3: 0.75, 0.6: 0.25"


def test_critical_share_band_brackets_a_noisy_crossing():
    # 10 replicates at shares 0, 0.5, 1; replicate r amplifies at share x when r < 10·x
    # (P = 0, 0.5, 1 → crossing where P passes 0.5: at 0.5 exactly by the interpolation
    # 0.5 + (0.5 − 0.5)/(1 − 0.5)·0.5)
    rows = [
        {"retail.high_leverage_share": x, "shocks.0.size": 0.1, "replicate": r}
        | {"status": "ok", "mean_cascade_amplification": 2.0 if r < 10 * x else 1.0}
        for x in (0.0, 0.5, 1.0)
        for r in range(10)
    ]
    crit = an.critical_share(pd.DataFrame(rows), n_boot=400).iloc[0]
    assert crit.critical_share == pytest.approx(0.5)
    assert 0.0 <= crit.low < 0.5 < crit.high <= 1.0  # resampled seeds move it both ways


def test_phase_table_hand_computed():
    cells = an.phase_table(sweep_table({0.05: [0.0, 0.25, 0.75]})).set_index("share")
    assert cells.loc[0.3, "cascade_size"] == pytest.approx(0.35)
    assert cells.loc[0.6, "p_amplified"] == pytest.approx(0.75)
    # mean cascade amplification at 0.3: one of four at 2.0 → (2 + 1 + 1 + 1)/4
    assert cells.loc[0.3, "amplification"] == pytest.approx(1.25)
    assert cells.n_seeds.tolist() == [4, 4, 4]


def test_phase_table_leaves_undefined_amplification_out_and_needs_the_twin():
    runs = sweep_table({0.05: [0.0, 0.25, 0.75]})
    # share 0.6 has 2.0, 2.0, 2.0, 1.0; one of its 2.0 runs undefined → P = 2/3
    hole = runs.index[(runs["retail.high_leverage_share"] == 0.6) & (runs.replicate == 0)]
    runs.loc[hole, "mean_cascade_amplification"] = np.nan
    cells = an.phase_table(runs).set_index("share")
    assert cells.loc[0.6, "p_amplified"] == pytest.approx(2 / 3)
    # the BTC column instead: 3 − (2, 2, 2, 1) = 1, 1, 1, 2 → P = 1/4
    btc = an.phase_table(runs, amplification=an.asset_amplification("BTC")).set_index("share")
    assert btc.loc[0.6, "p_amplified"] == pytest.approx(0.25)
    without_twin = runs.drop(columns="mean_cascade_amplification")
    with pytest.raises(ValueError, match=r"lacks column.*mean_cascade_amplification"):
        an.phase_table(without_twin)


def test_early_warning_spearman_hand_computed():
    runs = pd.DataFrame(
        {
            "status": "ok",
            "liq_over_oi_after_shock": [1.0, 2.0, 3.0, 4.0, 5.0],
            "mean_cascade_amplification": [1.5, 1.1, 1.4, 1.2, 1.3],
            "liquidatable_oi_within_5pct": [2.0, 1.0, 4.0, 3.0, 5.0],
            "perp_premium_pre_shock": [0.1, 0.2, 0.3, 0.4, 0.5],
            "max_funding_rate_pre_shock": 1e-4,
        }
    )
    res = an.early_warning(runs).set_index(["outcome", "indicator"])
    size, amp = "liq_over_oi_after_shock", "mean_cascade_amplification"
    # rank differences −1, 1, −1, 1, 0: ρ = 1 − 6·4 / (5·(25 − 1)) = 0.8
    assert res.loc[(size, "liquidatable_oi_within_5pct"), "rho"] == pytest.approx(0.8)
    assert res.loc[(size, "perp_premium_pre_shock"), "rho"] == pytest.approx(1.0)
    # amplification ranks 5, 1, 4, 2, 3 against premium ranks 1..5: d = 4, −1, 1, −2, −2,
    # Σd² = 16 + 1 + 1 + 4 + 4 = 26 → ρ = 1 − 6·26/120 = −0.3
    assert res.loc[(amp, "perp_premium_pre_shock"), "rho"] == pytest.approx(-0.3)
    # against liquidatable ranks 2, 1, 4, 3, 5: d = 3, 0, 0, −1, −2, Σd² = 14 → ρ = 0.3
    assert res.loc[(amp, "liquidatable_oi_within_5pct"), "rho"] == pytest.approx(0.3)
    assert math.isnan(res.loc[(size, "max_funding_rate_pre_shock"), "rho"])  # constant
    assert res.loc[(amp, "long_oi_share_pre_shock"), "n"] == 0  # not in the table
    assert len(res) == 2 * len(an.EARLY_WARNING_INDICATORS)
    one = an.early_warning(runs, outcomes=size)
    assert set(one.outcome) == {size} and len(one) == len(an.EARLY_WARNING_INDICATORS)


def test_early_warning_within_groups_and_needs_its_outcomes():
    runs = pd.DataFrame(
        {
            "status": "ok",
            "shocks.0.size": [0.05] * 3 + [0.1] * 3,
            "liq_over_oi_after_shock": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0],
            "mean_cascade_amplification": [1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
            "perp_premium_pre_shock": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3],
        }
    )
    res = an.early_warning(runs, ("perp_premium_pre_shock",), by="shocks.0.size")
    rho = res.set_index(["group", "outcome"]).rho
    # within each shock the premium rises 1, 2, 3: size rises then falls, amplification rises
    assert rho[(0.05, "liq_over_oi_after_shock")] == pytest.approx(1.0)
    assert rho[(0.1, "liq_over_oi_after_shock")] == pytest.approx(-1.0)
    assert rho[(0.1, "mean_cascade_amplification")] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"lacks column.*mean_cascade_amplification"):
        an.early_warning(runs.drop(columns="mean_cascade_amplification"))


def test_seed_spread_and_no_finished_run():
    runs = pd.DataFrame({"status": "ok", "k": ["a", "a", "b"], "m": [1.0, 3.0, 5.0]})
    cells = an.seed_spread(runs, ("k",), ("m", "absent")).set_index("k")
    assert cells.loc["a", ["m_mean", "m_min", "m_max", "n_seeds"]].tolist() == [2, 1, 3, 2]
    assert math.isnan(cells.loc["b", "absent_mean"])
    failed = pd.DataFrame({"status": ["error"], "error": ["ValueError: boom"], "k": ["a"]})
    with pytest.raises(ValueError, match=r"no finished run.*boom"):
        an.ok_runs(failed)
