"""Validation against reality (issue 9): metric golden numbers, the targets as data, and the
quick validation run, which checks the direction of every effect (the full run is
`cascade-lab validate`)."""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from experiments import validation as v
from experiments.cli import main
from experiments.validation import RETURN_LAGS
from experiments.validation.report import fmt_band, readme_section, text_table, write_outputs

matplotlib.use("Agg")


# ----------------------------------------------------------------------- golden numbers
def test_worst_window_share_finds_the_densest_40_minutes():
    # 100 minutes of 1 USD, plus 60 USD in minute 50: the best 40-minute window holds
    # 40 + 60 = 100 of 100 + 60 = 160 USD → 0.625
    x = np.ones(100)
    x[50] += 60.0
    assert v.worst_window_share(x, 40) == pytest.approx(100 / 160)
    assert v.worst_window_share(np.zeros(10)) == 0.0


def test_depth_collapse_compares_the_worst_minute_with_the_pre_shock_hour():
    # two markets, 100 + 50 = 150 USD before the shock at minute 60; worst minute 10 + 5 = 15
    depth = np.tile([100.0, 50.0], (120, 1))
    depth[90] = [10.0, 5.0]
    assert v.depth_collapse(depth, 60) == pytest.approx(1 - 15 / 150)


def test_adl_concentration_is_thin_share_of_adl_over_thin_share_of_oi():
    # thin markets: 40 of 40 USD of ADL (share 1.0) but 50 of 100 USD of OI (0.5) → 2.0
    adl = np.array([[0.0, 10.0, 0.0], [0.0, 0.0, 30.0]])
    oi = np.array([50.0, 25.0, 25.0])
    thin = np.array([False, True, True])
    assert v.adl_thin_concentration(adl, oi, thin) == pytest.approx(2.0)
    assert math.isnan(v.adl_thin_concentration(np.zeros((2, 3)), oi, thin))


def test_pool_losses_are_the_largest_fall_as_a_share_of_the_start():
    pools = np.array([[100.0, 50.0], [20.0, 60.0], [40.0, -5.0]])
    # pool 0: 1 − 20/100 = 0.8; pool 1 went negative → clipped to 1.0
    np.testing.assert_allclose(v.pool_losses(pools, np.array([100.0, 50.0])), [0.8, 1.0])


def test_daily_ratio_scales_to_a_day():
    # 36 USD liquidated over 720 minutes against 100 USD of OI → 0.36 per half day → 0.72
    assert v.daily_ratio(np.full(720, 0.05), np.full(720, 100.0)) == pytest.approx(0.72)


def test_pre_shock_depth_is_the_mean_of_the_hour_before():
    # 200 minutes × 2 markets; the shock at 100: minutes 40–99 are averaged
    depth = np.zeros((200, 2))
    depth[40:100] = [10.0, 4.0]
    depth[:40] = 1e6  # before the hour: not counted
    np.testing.assert_allclose(v.pre_shock_depth_usd(depth, 100), [10.0, 4.0])
    assert np.isnan(v.pre_shock_depth_usd(depth, 0)).all()  # no minute before the shock


def test_oi_over_depth_guards_an_empty_book():
    # OI just before the shock (minute 99): 2,300 and 50 USD; depths 10 and 0 → 230, inf;
    # a market with neither OI nor depth → NaN
    oi = np.zeros((200, 3))
    oi[99] = [2_300.0, 50.0, 0.0]
    depth = np.zeros((200, 3))
    depth[40:100, 0] = 10.0
    got = v.oi_over_depth(oi, depth, 100)
    assert got[0] == pytest.approx(230.0)
    assert got[1] == math.inf
    assert math.isnan(got[2])


def test_liquidation_routes_split_the_notional_by_kind():
    # book 30 + partial 10 = 40 of 100 in the book; pool 20; vault 0; ADL 40 (policy name)
    kinds = np.array(["book", "partial", "pool_takeover", "adl_queue"])
    shares = v.liquidation_routes(kinds, np.array([30.0, 10.0, 20.0, 40.0]))
    assert shares == pytest.approx(
        {"liq_book_share": 0.4, "liq_pool_share": 0.2, "liq_vault_share": 0.0,
         "liq_policy_share": 0.4}
    )  # fmt: skip
    assert all(math.isnan(x) for x in v.liquidation_routes(kinds[:0], np.zeros(0)).values())


def test_forced_selling_counts_long_liquidations_in_the_book_from_the_shock_on():
    events = pd.DataFrame(
        {
            "t": [5, 10, 10, 12, 12, 12],
            "market": [0, 0, 1, 1, 1, 1],
            "side": [1, 1, 1, 1, 1, -1],
            "kind": ["book", "book", "partial", "adl_queue", "book", "book"],
            "notional_usd": [1.0, 2.0, 3.0, 100.0, 4.0, 50.0],
        }
    )
    # from minute 10: market 0 book 2; market 1 partial 3 + book 4 (ADL is off the book, the
    # short's liquidation is a buy)
    np.testing.assert_allclose(v.forced_sell_usd(events, 3, 10), [2.0, 7.0, 0.0])


def test_leverage_levels_clip_the_calm_ranges():
    assert v.leverage_overrides(1.0) == {
        **v.GAUSSIAN_WORLD,
        "retail.low_leverage": (1.0, 1.0),
        "retail.mid_leverage": (1.0, 1.0),
        "retail.high_leverage": (1.0, 1.0),
    }
    ten = v.leverage_overrides(10.0)
    assert ten["retail.high_leverage"] == (10.0, 10.0)
    assert ten["retail.mid_leverage"][1] == 10.0
    assert v.leverage_overrides(1_000.0) == v.GAUSSIAN_WORLD  # leverage as configured


# ---------------------------------------------------------------------- targets as data
def test_targets_are_unique_well_formed_and_sourced():
    keys = [t.key for t in v.TARGETS]
    assert len(keys) == len(set(keys))
    for t in v.TARGETS:
        assert t.study in v.STUDIES
        assert t.lo <= t.hi
        assert t.unit in ("pct", "num", "count")
        assert t.source and t.reality and t.metric


def test_target_table_passes_only_medians_inside_the_band():
    t = v.target("liq_long_share")  # band 0.85–0.90
    per_seed = {study: pd.DataFrame({"seed": [1, 2, 3]}) for study in v.STUDIES}
    per_seed["oct-2025"]["liq_long_share"] = [0.80, 0.87, 0.99]  # median 0.87
    table = v.target_table(per_seed).set_index("key")
    assert table.loc[t.key, "status"] == "pass"
    assert table.loc[t.key, "value"] == pytest.approx(0.87)
    assert table.loc["drawdown_BTC", "status"] == "miss"  # no value is a miss
    assert table.loc["drawdown_BTC", "n"] == 0


def test_bands_read_naturally():
    assert fmt_band(v.target("liq_long_share")) == "85.0 % – 90.0 %"
    assert fmt_band(v.target("lev_kurt_rise_BTC")) == "> 0"
    assert fmt_band(v.target("abs_acf1_1h_z")) == "≥ 1.00"
    assert fmt_band(v.target("pre_shock_liq_share")) == "≤ 15.0 %"
    assert fmt_band(v.target("endogenous_share_BTC")) == "≥ 50.0 %"
    assert fmt_band(v.target("oi_over_depth_BTC")) == "50.00 – 250.00"


def test_the_issue_s_oct_2025_rows_are_targets():
    # issue "The endogenous cascade", item 5: each row with its band
    want = {
        "drawdown_BTC": (0.10, 0.15),
        "endogenous_share_BTC": (0.50, math.inf),
        "liq_over_oi_after_shock": (0.05, 0.15),
        "pre_shock_liq_share": (0.0, 0.15),
        "liq_long_share": (0.85, 0.90),
        "worst40_share": (0.60, math.inf),
        "oi_drop_frac": (0.30, 0.60),
        "oi_over_depth_BTC": (50.0, 250.0),
    }
    for tail in v.TAIL_ASSETS:
        want |= {
            f"drawdown_{tail}": (0.50, 0.80),
            f"endogenous_share_{tail}": (0.70, math.inf),
            f"oi_over_depth_{tail}": (50.0, 250.0),
        }
    for key, band in want.items():
        t = v.target(key)
        assert (t.study, t.lo, t.hi) == ("oct-2025", *band), key


def test_bad_options_name_the_option_and_what_is_allowed(capsys):
    for argv, needle in (
        (["validate", "--size", "huge"], "--size must be one of quick, default, got 'huge'"),
        (["validate", "--seeds", "0"], "--seeds must be an integer >= 1, got 0"),
        (["validate", "--jobs", "0"], "--jobs must be -1 (all cores) or >= 1, got 0"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err
        assert "Traceback" not in err


# ------------------------------------------------------------------ the quick validation
@pytest.fixture(scope="module")
def quick() -> v.Results:
    return v.run_studies("quick", n_jobs=2, progress=False)


def _median(res: v.Results, study: str, key: str) -> float:
    return float(np.nanmedian(res.per_seed[study][key]))


def test_quick_run_reports_every_target(quick):
    assert list(quick.table["key"]) == [t.key for t in v.TARGETS]
    assert set(quick.table["status"]) <= {"pass", "miss"}
    text = text_table(quick)
    for t in v.TARGETS:
        assert t.name in text


def test_oct_2025_longs_dominate_and_the_long_tail_falls_furthest(quick):
    assert _median(quick, "oct-2025", "liq_long_share") > 0.5
    btc = _median(quick, "oct-2025", "drawdown_BTC")
    assert btc > 0.05
    for tail in ("drawdown_TAILA", "drawdown_TAILB"):
        assert _median(quick, "oct-2025", tail) > btc


def test_oct_2025_liquidations_cluster_and_depth_and_oi_fall(quick):
    uniform = v.WORST_WINDOW_MINUTES / v.SIZES["quick"].oct_overrides["horizon_minutes"]
    assert _median(quick, "oct-2025", "worst40_share") > 1.5 * uniform  # vs spread evenly
    assert _median(quick, "oct-2025", "depth_collapse") > 0.5
    assert _median(quick, "oct-2025", "oi_drop_frac") > 0.05


def test_oct_2025_forced_selling_deepens_the_fall_beyond_the_twin(quick):
    # the twin is the same seed with forced closes off the book: the run falls further
    for sym in ("BTC", *v.TAIL_ASSETS):
        assert _median(quick, "oct-2025", f"endogenous_share_{sym}") > 0.0, sym
        assert _median(quick, "oct-2025", f"cascade_amplification_{sym}") > 1.0, sym


def test_oct_2025_new_rows_are_finite_and_consistent(quick):
    df = quick.per_seed["oct-2025"]
    keys = [t.key for t in v.TARGETS if t.study == "oct-2025"]
    finite = [k for k in keys if k.startswith(("drawdown", "liq_", "pre", "worst"))]
    assert np.isfinite(df[finite].to_numpy(dtype=float)).all()
    for sym in ("BTC", *v.TAIL_ASSETS):
        # finite unless the book was empty for the whole pre-shock hour (then inf, never NaN)
        assert (df[f"oi_over_depth_{sym}"] > 0).all()
        ratio = df[f"oi_before_usd_{sym}"] / df[f"depth_before_usd_{sym}"]
        np.testing.assert_allclose(df[f"oi_over_depth_{sym}"], ratio, rtol=1e-12)
        # the endogenous share is defined when the run fell (NaN when it did not)
        fell = df[f"drawdown_{sym}"] > 0
        share = 1.0 - df[f"twin_drawdown_{sym}"][fell] / df[f"drawdown_{sym}"][fell]
        np.testing.assert_allclose(df[f"endogenous_share_{sym}"][fell], share, rtol=1e-12)
        assert df[f"endogenous_share_{sym}"][~fell].isna().all()
    routes = df[[f"liq_{r}_share" for r in v.ROUTES]].sum(axis=1)
    np.testing.assert_allclose(routes, 1.0, rtol=1e-9)
    for sym in ("BTC", *v.TAIL_ASSETS):  # per market: NaN where nothing was liquidated
        per_market = df[[f"liq_{r}_share_{sym}" for r in v.ROUTES]].sum(axis=1, min_count=4)
        np.testing.assert_allclose(per_market.dropna(), 1.0, rtol=1e-9)
    assert ((df["pre_shock_liq_share"] >= 0) & (df["pre_shock_liq_share"] <= 1)).all()
    table = quick.table.set_index("key")
    issue_rows = finite + [f"oi_over_depth_{sym}" for sym in ("BTC", *v.TAIL_ASSETS)]
    assert (table.loc[issue_rows, "n"] == len(df)).all()  # every seed gives these rows


def test_oct_2025_long_tail_pool_drains_before_the_majors(quick):
    assert _median(quick, "oct-2025", "tail_pool_first") > 0.0


def test_oct_2025_adl_concentrates_in_thin_markets(quick):
    # was an expected failure while the majors' pools were the smallest against their open
    # interest (0.7 % against 1.9 %): their takeover capacity ran out first and ADL fired in
    # BTC and ETH; oct-2025's pools sized against open interest put it in the thin markets
    assert _median(quick, "oct-2025", "adl_thin_concentration") > 1.0


def test_calm_returns_have_fat_tails_and_clustered_volatility(quick):
    assert _median(quick, "stylized", "kurt_1m") > 0.0
    # the mean level of the |r| ACF over lags 1–10
    assert np.mean(quick.acf["BTC"]["abs_returns"][:RETURN_LAGS]) > 0.0


def test_calm_liquidations_need_leverage_and_are_a_fraction_of_open_interest(quick):
    lev = quick.leverage.groupby("max_leverage")["liq_oi_daily"].sum()
    assert lev.iloc[0] == 0.0  # at 1x a position cannot lose its margin in a calm day
    assert 0.0 < lev.iloc[-1] < 1.0
    long_ = _median(quick, "stylized", "liq_oi_long_daily")
    short = _median(quick, "stylized", "liq_oi_short_daily")
    assert min(long_, short) >= 0.0 and max(long_, short) < 1.0
    # "more for longs" is checked by the full run only: over the quick size's 6 hours the
    # side depends on the path


@pytest.mark.xfail(
    strict=True,
    reason="re-measured with open interest at 50–250 depths (levels 1x and 100x, 6 seeds × 2 "
    "days, 10,000 accounts): at 100x a liquidation minute carries a median 21 % (BTC) and 10 % "
    "(TAILA) of the ±1 % depth, open interest being 90x and 36x that depth over the calm run "
    "(BTC in reality ≈ 230x, exchange-mechanics §8.1); the quick size gives 9 % and 19 %. "
    "Forced selling is large against the book only in rare bursts (largest minute 45x and 8x "
    "the depth), and those now fatten the tails: BTC 1-min kurtosis (seed median) 0.37 at 1x, "
    "197 at 100x; TAILA −0.06 and 200. This checks the mechanism Thurner et al. need in the "
    "typical liquidation minute: forced sales large against the book.",
)
def test_forced_selling_at_top_leverage_is_large_against_the_book(quick):
    top = quick.leverage[quick.leverage["max_leverage"] == max(quick.leverage["max_leverage"])]
    assert (top["liq_over_depth_p50"] >= 0.25).all()


def test_report_folder_has_tables_figures_and_the_readme_section(quick, tmp_path):
    write_outputs(quick, tmp_path)
    for name in ("targets.md", "readme_section.md", "summary.json", "per_seed_oct-2025.csv"):
        assert (tmp_path / name).stat().st_size > 0
    for name in ("oct-2025.png", "leverage.png", "stylized.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    section = readme_section(quick)
    assert section.startswith("## How well does it match reality?")
    assert "| Long share of liquidated notional |" in section


def test_results_do_not_depend_on_the_number_of_workers(monkeypatch):
    tiny_oct = {"horizon_minutes": 150, "retail.n_accounts": 200, "shocks.0.start_minute": 70}
    tiny_calm = {"horizon_minutes": 120, "retail.n_accounts": 200}
    monkeypatch.setitem(v.SIZES, "tiny", v.Size(1, 1, (1.0, 100.0), tiny_oct, tiny_calm, tiny_calm))
    serial = v.run_studies("tiny", n_jobs=1, progress=False)
    parallel = v.run_studies("tiny", n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    for study in v.STUDIES:
        pd.testing.assert_frame_equal(serial.per_seed[study], parallel.per_seed[study])


def test_every_miss_gets_a_measured_diagnosis(quick):
    from experiments.validation.diagnoses import DIAGNOSES, diagnose

    assert set(DIAGNOSES) <= {t.key for t in v.TARGETS}
    for row in quick.table.itertuples():
        if row.status == "miss" and row.key in DIAGNOSES:
            text = diagnose(quick, row.key, row.side)
            assert text and not re.search(r"\bnan\b", text), (row.key, text)


def test_long_oi_holders_split_the_long_open_interest():
    from model import CascadeModel

    small = {"retail.n_accounts": 200, "shocks.0.start_minute": 90}
    small |= {"retail.high_leverage_share": 0.1, "retail.mid_leverage_share": 0.1}
    m = CascadeModel(scenario="oct-2025", rng=1, horizon_minutes=100, **small)
    for _ in range(30):
        m.step()
    got = v.long_oi_holders(m)
    ex = m.exchange
    notional = ex.accounts.qty_lots * ex.perp_lot_sizes * ex.prices.mark_usd
    long_usd = np.where(notional > 0, notional, 0.0).sum(axis=1)
    retail = m.retail.account_ids
    want_retail = long_usd[retail].sum() / long_usd.sum()
    groups = ("retail_high", "retail_mid", "retail_moderate", "retail_low")
    assert sum(got[g] for g in groups) == pytest.approx(want_retail, rel=1e-12)
    # oct-2025's groups do not overlap (1–3, 3–7, 8–25, 50–100x): a leverage names its group
    lev = m.retail.leverages
    for g, (lo, hi) in {"retail_moderate": (3, 7), "retail_mid": (8, 25)}.items():
        members = ~m.retail.has_high_leverage & (lev > lo) & (lev <= hi)
        want = long_usd[retail[members]].sum() / long_usd.sum()
        assert got[g] == pytest.approx(want, rel=1e-12), g
    pools = long_usd[list(ex.liquidator.pools.accounts)].sum() / long_usd.sum()
    assert sum(got.values()) == pytest.approx(1.0 - pools, abs=1e-9)
    assert min(got[g] for g in groups) > 0 and got["marketmaker"] >= 0


def test_diagnoses_count_returns_per_stylized_run_not_per_oct_seed(quick):
    from experiments.validation.calm_diagnoses import _returns_per_seed

    # quick calm runs: 420 minutes less the first 60 → 360 marks, 359 returns a run
    # (the oct-2025 study has 3 seeds, the stylized one 2: dividing by the wrong one was a bug)
    calm = v.SIZES["quick"].stylized_overrides
    want = calm["horizon_minutes"] - v.CALM_SKIP_MINUTES - 1
    assert _returns_per_seed(quick) == want
