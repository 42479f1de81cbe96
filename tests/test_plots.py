"""Every figure renders under Agg from a small hand-made table, with its axes and series."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.image import AxesImage

from experiments.analysis import liquidation_map, plots

matplotlib.use("Agg")


def render(fig) -> bytes:
    """PNG bytes of a figure (fails if it does not draw)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"
    return buf.getvalue()


def bars(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


# ---------------------------------------------------------------- liquidation map
SNAPSHOT = pd.DataFrame(
    {
        "account": [1, 2, 3, 4, 5],
        "market": [0, 0, 0, 0, 1],
        "symbol": ["BTCUSDT"] * 4 + ["TAILUSDT"],
        "side": [1, 1, -1, 1, -1],
        "notional_usd": [1000.0, 500.0, 300.0, 200.0, 9999.0],
        "leverage": [5.0, 60.0, 20.0, 5.0, 10.0],
        "liquidation_price_usd": [80.0, 98.5, 104.8, np.nan, 1.2],
        "mark_usd": [100.0] * 4 + [1.0],
    }
)


def test_liquidation_map_stacks_by_side_and_leverage_bucket():
    fig = liquidation_map.liquidation_map(SNAPSHOT, 0, 100.0, width=0.3, n_bins=30)
    render(fig)
    ax = fig.axes[0]
    containers = bars(ax)
    # 2 sides × 4 buckets, each with one bar per bin
    assert len(containers) == 2 * len(liquidation_map.LEVERAGE_BUCKETS)
    assert all(len(c) == 30 for c in containers)
    heights = [sum(p.get_height() for p in c) for c in containers]
    # longs <10x: 1.0 k (the NaN-priced long is left out), longs 50–100x: 0.5 k,
    # shorts 10–25x: 0.3 k; market 1 is not drawn
    assert heights == pytest.approx([1.0, 0, 0, 0.5, 0, 0.3, 0, 0])
    assert ax.get_xlabel() == "liquidation price, USD"
    assert ax.get_ylabel() == "open interest, k USD"
    assert "BTCUSDT" in ax.get_title()
    assert [line.get_xdata()[0] for line in ax.lines] == [100.0]  # the current price


def test_liquidation_map_stacks_are_the_numbers_the_map_draws():
    edges, stacks = liquidation_map.liquidation_map_stacks(SNAPSHOT, 0, 100.0, width=0.3, n_bins=30)
    assert edges[0] == pytest.approx(70.0) and edges[-1] == pytest.approx(130.0)
    assert len(edges) == 31
    totals = {(side, label): usd.sum() for side, label, usd in stacks}
    # longs then shorts, each in LEVERAGE_BUCKETS order; the NaN-priced long is left out
    assert list(totals) == [(s, b[2]) for s in (1, -1) for b in liquidation_map.LEVERAGE_BUCKETS]
    assert totals[(1, "<10x")] == 1000.0
    assert totals[(1, "50–100x")] == 500.0
    assert totals[(-1, "10–25x")] == 300.0
    assert sum(totals.values()) == 1800.0
    # the 50–100x long liquidates at 98.5: bin (98.5 − 70) / 2 = 14
    assert stacks[3][2][14] == 500.0


def test_liquidation_map_draws_into_given_axes_and_pairs():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert liquidation_map.liquidation_map(SNAPSHOT, 0, 100.0, ax=ax) is fig
    pair = liquidation_map.liquidation_maps(SNAPSHOT, (0, 1))
    render(pair)
    assert [a.get_title() for a in pair.axes] == [
        "BTCUSDT: open interest by liquidation price",
        "TAILUSDT: open interest by liquidation price",
    ]


def test_liquidation_map_names_missing_columns_and_bad_price():
    with pytest.raises(ValueError, match=r"leverage.*it needs: market, side"):
        liquidation_map.liquidation_map(SNAPSHOT.drop(columns="leverage"), 0, 100.0)
    with pytest.raises(ValueError, match="price_usd > 0"):
        liquidation_map.liquidation_map(SNAPSHOT, 0, -1.0)


# ----------------------------------------------------------------------- timeline
def timeline_tables(n: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    minute = np.repeat(np.arange(n), 2)
    fall = np.repeat(np.linspace(1.0, 0.9, n), 2)
    series = pd.DataFrame(
        {
            "minute": minute,
            "asset": np.tile(["BTC", "TAIL"], n),
            "fundamental_usd": 100.0 * fall,
            "mark_usd": 100.0 * fall**1.5,
            "liq_long_usd": np.where(minute == 6, 5000.0, 0.0),
            "liq_short_usd": np.where(minute == 7, 1000.0, 0.0),
            "adl_usd": np.where(minute == 8, 2000.0, 0.0),
            "depth_1pct_usd": 1e6 * fall,
        }
    )
    pools = pd.DataFrame(
        {"minute": np.arange(n), "pool_0_usd": 2e6, "pool_1_usd": 3e5, "vault_usd": np.nan}
    )
    return series, pools


def test_timeline_has_prices_liquidations_pools_adl_and_depth():
    series, pools = timeline_tables()
    fig = plots.cascade_timeline(series, ("BTC", "TAIL"), shock_minute=5, pools=pools)
    render(fig)
    axes = fig.axes
    assert [a.get_ylabel() for a in axes] == [
        "BTC / start",
        "TAIL / start",
        "liquidated, k USD/min",
        "insurance, k USD",
        "depth ±1 % / start",
    ]
    assert [line.get_label() for line in axes[0].lines[:2]] == ["fundamental", "mark"]
    longs, shorts = bars(axes[2])
    # per minute, summed over both assets: 2 × 5,000 longs, 2 × 1,000 shorts, in k USD
    assert longs.datavalues.max() == pytest.approx(10.0) and shorts.datavalues.min() == -2.0
    adl = [line for line in axes[2].lines if line.get_label() == "ADL closed"]
    assert adl and list(adl[0].get_xdata()) == [8]
    assert [line.get_label() for line in axes[3].lines][:2] == ["pool 0", "pool 1"]
    for ax in axes:  # the shock line on every panel
        assert any(list(line.get_xdata()) == [5, 5] for line in ax.lines)


def test_timeline_draws_the_twin_mark_when_the_series_has_it():
    series, pools = timeline_tables()
    # the twin falls half as far as the fundamental: 1 − (1 − fall)/2, over the same base
    series[plots.TWIN_MARK_COLUMN] = 100.0 * (1 - (1 - series.fundamental_usd / 100.0) / 2)
    fig = plots.cascade_timeline(series, ("BTC", "TAIL"), shock_minute=5, pools=pools)
    render(fig)
    for ax in fig.axes[:2]:
        twin = [line for line in ax.lines if line.get_label() == plots.TWIN_LABEL]
        assert len(twin) == 1 and twin[0].get_linestyle() == "--"
        # normalised by the fundamental's start (100): 1.0 at minute 0, 0.95 at the end
        assert twin[0].get_ydata()[[0, -1]] == pytest.approx([1.0, 0.95])
        assert plots.TWIN_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    assert plots.TWIN_LABEL == "twin (forced closes off the book)"
    # a series without the twin's mark (or with none recorded) draws no twin line
    for table in (series.drop(columns=plots.TWIN_MARK_COLUMN), series.assign(twin_mark_usd=np.nan)):
        fig = plots.cascade_timeline(table, ("BTC", "TAIL"))
        assert plots.TWIN_LABEL not in [line.get_label() for line in fig.axes[0].lines]


def test_timeline_without_pools_and_unknown_asset():
    series, _ = timeline_tables()
    assert len(plots.cascade_timeline(series, ("BTC", "TAIL")).axes) == 4
    with pytest.raises(ValueError, match="asset 'ETH' not in the series"):
        plots.cascade_timeline(series, ("BTC", "ETH"))


# ------------------------------------------------------------------------- sweeps
def leverage_runs() -> pd.DataFrame:
    rows = []
    for share in (0.0, 0.3, 0.6):
        for shock in (0.05, 0.1):
            for rep in range(2):
                amp = 1.0 + share * (2 + rep)  # 1.6 / 1.9 at 0.3: both amplify from 0.3 on
                rows.append(
                    {"retail.high_leverage_share": share, "shocks.0.size": shock}
                    | {"replicate": rep, "status": "ok", "liq_over_oi_after_shock": share * shock}
                    | {"mean_cascade_amplification": amp, "amplification_BTC": 9.0}
                )
    return pd.DataFrame(rows)


def test_phase_diagram_two_annotated_heat_maps_of_cascade_amplification():
    fig = plots.phase_diagram(leverage_runs())
    render(fig)
    maps = [a for a in fig.axes if any(isinstance(i, AxesImage) for i in a.images)]
    assert [a.get_title() for a in maps] == [
        "liquidated after the shock / open interest",
        "P(cascade amplification > 1.5)",
    ]
    assert all(a.images[0].get_array().shape == (3, 2) for a in maps)  # shares × shocks
    assert all(len(a.texts) == 6 for a in maps)
    # P by share (rows) at either shock: 0 at share 0, 1 from 0.3 on
    assert maps[1].images[0].get_array()[:, 0].tolist() == [0.0, 1.0, 1.0]
    assert [t.get_text() for t in maps[1].texts[:2]] == ["0.00", "0.00"]
    assert maps[0].get_xlabel() == "shock size"
    assert maps[0].get_ylabel() == "50–100x share of accounts"
    assert "cascade amplification" in fig.get_suptitle().lower()
    with pytest.raises(ValueError, match="mean_cascade_amplification"):
        plots.phase_diagram(leverage_runs().drop(columns="mean_cascade_amplification"))


def test_amplification_curves_one_line_per_shock():
    fig = plots.amplification_curves(leverage_runs(), n_boot=50)
    render(fig)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    assert "shock 5%" in lines and "shock 10%" in lines
    assert list(lines["shock 5%"].get_ydata()) == [0.0, 1.0, 1.0]
    assert ax.get_ylabel() == "P(cascade amplification > 1.5)"
    assert "cascade amplification" in ax.get_title()


def test_policy_comparison_four_panels_with_seed_dots():
    rows = [
        {"liquidation.policy": pol, "pool_scale": scale, "replicate": rep, "status": "ok"}
        | {"adl_overshoot_usd": 1e3 * rep, "adl_top_winner_usd": 500.0}
        | {"hedge_breaks": rep, "bad_debt_usd": 0.0}
        for pol in ("adl_queue", "socialized_loss", "backstop_vault")
        for scale in (0.1, 1.0)
        for rep in range(3)
    ]
    fig = plots.policy_comparison(pd.DataFrame(rows))
    render(fig)
    titles = [a.get_title() for a in fig.axes]
    assert titles == [label for _, label, _ in plots.POLICY_METRICS]
    first = fig.axes[0]
    assert [len(c) for c in bars(first)] == [3, 3]  # one bar per policy, per pool scale
    assert [t.get_text() for t in first.get_xticklabels()] == [
        "adl_queue",
        "socialized_loss",
        "backstop_vault",
    ]
    assert bars(first)[0].datavalues == pytest.approx([1.0] * 3)  # mean of 0, 1, 2 k USD
    assert len(first.lines) == 6  # seed dots: one line of 3 dots per bar


def test_stop_loss_and_mark_price_figures():
    stop = pd.DataFrame(
        {"retail.stop_loss_share": [0.0, 0.0, 0.5, 0.5], "status": "ok"}
        | {
            "retail_liquidated_share": [0.2, 0.3, 0.1, 0.1],
            "liq_over_oi_after_shock": [0.1, 0.1, 0.2, 0.2],
        }
    )
    fig = plots.stop_loss_figure(stop)
    render(fig)
    assert [a.get_title() for a in fig.axes] == [
        "retail money lost to liquidation",
        "liquidated after the shock / open interest",
    ]
    assert bars(fig.axes[0])[0].datavalues == pytest.approx([0.25, 0.1])
    marks = pd.DataFrame(
        {"mark_rule": ["binance", "index", "last"], "status": "ok", "liq_over_oi_after_shock": 0.1}
        | {"retail_liquidated_share": 0.05, "amplification_BTC": [1.0, 2.0, 3.0]}
    )
    fig = plots.mark_price_figure(marks)
    render(fig)
    assert len(fig.axes) == 3
    assert bars(fig.axes[1])[0].datavalues == pytest.approx([1.0, 2.0, 3.0])
