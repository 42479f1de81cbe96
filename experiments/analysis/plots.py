"""Figures of Cascade Lab, each a function of results tables (no model imports).

Every function takes pandas tables (a sweep's runs, a saved run's series and pools, a position
snapshot) and returns a matplotlib `Figure` built with the Figure API: no pyplot, no global
state, nothing opens a window. Functions that draw one panel take `ax` to draw into an
existing axes instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from experiments.analysis.returns import require_columns
from experiments.analysis.sweeps import (
    AMPLIFICATION_THRESHOLD,
    CASCADE_AMPLIFICATION,
    CASCADE_SIZE,
    SHARE,
    SHOCK,
    critical_share,
    ok_runs,
    phase_table,
    run_amplification,
)
from experiments.sweeps.runner import TWIN_MARK_COLUMN


def axes_or_new(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """`ax` and its figure, or a new constrained-layout figure of `figsize` with one axes."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots()


TIMELINE_NEEDS = ("minute", "asset", "fundamental_usd", "mark_usd", "liq_long_usd")
TIMELINE_NEEDS += ("liq_short_usd", "depth_1pct_usd")
TWIN_LABEL = "twin (forced closes off the book)"
"""Legend of the counterfactual twin's mark (DESIGN.md §2.3)."""


def cascade_timeline(
    series: pd.DataFrame,
    assets: tuple[str, str],
    shock_minute: int | None = None,
    pools: pd.DataFrame | None = None,
) -> Figure:
    """A cascade minute by minute, from a saved run's tables.

    Panels: fundamental vs mark for two assets (e.g. a major and a long-tail perp, each over
    its start), with the counterfactual twin's mark dashed beside it when the series has it;
    liquidations per minute by side (longs up, shorts down) with ADL closes as markers;
    insurance pools (when `pools` is given); order-book depth within ±1 % over its start. A
    dashed line marks the shock.

    Args:
        series: The long per-minute table (`Recorder.frame`; `TIMELINE_NEEDS` columns,
            ``adl_usd`` for the ADL markers, `TWIN_MARK_COLUMN` for the twin's mark, as
            `runner.series_with_twin` makes it).
        assets: The two assets to draw.
        shock_minute: Minute of the first shock.
        pools: The run's pools table (minute, pool_<i>_usd, optionally vault_usd).
    """
    require_columns(series, TIMELINE_NEEDS, "series")
    for asset in assets:
        if asset not in set(series.asset):
            raise ValueError(
                f"asset {asset!r} not in the series; it has {sorted(set(series.asset))}"
            )
    n_panels = 5 if pools is not None else 4
    fig = Figure(figsize=(9, 2.1 * n_panels), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True)
    for ax, asset in zip(axes[:2], assets, strict=True):
        _price_panel(ax, series[series.asset == asset], asset)
    _liquidation_panel(axes[2], series)
    if pools is not None:
        _pool_panel(axes[3], pools)
    _depth_panel(axes[-1], series, assets)
    if shock_minute is not None:
        for ax in axes:
            ax.axvline(shock_minute, color="k", lw=0.8, ls="--")
    axes[0].set_title("Cascade timeline")
    return fig


def _price_panel(ax: Axes, one: pd.DataFrame, asset: str) -> None:
    base = one.fundamental_usd.iloc[0]
    ax.plot(one.minute, one.fundamental_usd / base, label="fundamental", color="0.5")
    ax.plot(one.minute, one.mark_usd / base, label="mark", color="C0")
    if TWIN_MARK_COLUMN in one and one[TWIN_MARK_COLUMN].notna().any():
        twin = one[TWIN_MARK_COLUMN] / base
        ax.plot(one.minute, twin, label=TWIN_LABEL, color="C1", ls="--", lw=1.0)
    ax.set_ylabel(f"{asset} / start")
    ax.legend(loc="lower left", fontsize=8)


def _liquidation_panel(ax: Axes, series: pd.DataFrame) -> None:
    cols = ["liq_long_usd", "liq_short_usd"] + (["adl_usd"] if "adl_usd" in series else [])
    per_minute = series.groupby("minute")[cols].sum() / 1e3
    ax.bar(per_minute.index, per_minute.liq_long_usd, color="C3", label="longs", width=1.0)
    ax.bar(per_minute.index, -per_minute.liq_short_usd, color="C2", label="shorts", width=1.0)
    if "adl_usd" in per_minute:
        adl = per_minute[per_minute.adl_usd > 0]
        if len(adl):
            ax.plot(adl.index, adl.adl_usd, "kv", ms=4, label="ADL closed")
    ax.set_ylabel("liquidated, k USD/min")
    ax.legend(loc="lower left", fontsize=8)


def _pool_panel(ax: Axes, pools: pd.DataFrame) -> None:
    require_columns(pools, ("minute",), "pools")
    for col in [c for c in pools.columns if c.startswith("pool_")]:
        ax.plot(pools.minute, pools[col] / 1e3, label=col.removesuffix("_usd").replace("_", " "))
    if "vault_usd" in pools and pools.vault_usd.notna().any():
        ax.plot(pools.minute, pools.vault_usd / 1e3, label="vault", color="k", ls=":")
    ax.set_ylabel("insurance, k USD")
    ax.legend(loc="lower left", fontsize=8)


def _depth_panel(ax: Axes, series: pd.DataFrame, assets: Sequence[str]) -> None:
    depth = series.pivot(index="minute", columns="asset", values="depth_1pct_usd")
    for asset in assets:
        ax.plot(depth.index, depth[asset] / depth[asset].iloc[0], label=asset)
    ax.set_ylabel("depth ±1 % / start")
    ax.set_xlabel("minute")
    ax.legend(loc="lower left", fontsize=8)


# -------------------------------------------------------------------------- sweeps
def amplification_label(threshold: float) -> str:
    """'P(cascade amplification > 1.5)': the axis and panel label of the sweeps' probability."""
    return f"P(cascade amplification > {threshold:g})"


def phase_diagram(
    runs: pd.DataFrame,
    share: str = SHARE,
    shock: str = SHOCK,
    threshold: float = AMPLIFICATION_THRESHOLD,
    amplification: str = CASCADE_AMPLIFICATION,
) -> Figure:
    """50–100x share × shock size → mean cascade size and P(cascade amplification > threshold).

    Two heat maps over the `leverage-shock` grid (`analysis.phase_table`), each cell
    annotated with its value: the mean over seeds of the notional liquidated from the shock on
    over the open interest before it (`analysis.CASCADE_SIZE`), and the fraction of seeds whose
    cascade amplification (drawdown / twin drawdown, the `amplification` column) exceeds
    `threshold`.
    """
    cells = phase_table(runs, share, shock, threshold, amplification=amplification)
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    panels = (
        ("cascade_size", "liquidated after the shock / open interest", "Reds", None),
        ("p_amplified", amplification_label(threshold), "Purples", (0.0, 1.0)),
    )
    for ax, (col, title, cmap, limits) in zip(fig.subplots(1, 2), panels, strict=True):
        grid = cells.pivot(index="share", columns="shock", values=col)
        vmin, vmax = limits or (0.0, max(float(np.nanmax(grid.to_numpy())), 1e-12))
        image = ax.imshow(
            grid.to_numpy(), origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax
        )
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            dark = (v - vmin) / (vmax - vmin) > 0.6  # white text on the darkest cells
            ax.text(
                j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if dark else "k"
            )
        ax.set_xticks(range(grid.shape[1]), [f"{x:.0%}" for x in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [f"{y:g}" for y in grid.index])
        ax.set_xlabel("shock size")
        ax.set_ylabel("50–100x share of accounts")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(
        "Cascade size and cascade amplification (drawdown / twin drawdown, the twin's forced "
        "closes off the book)",
        fontsize=10,
    )
    return fig


def amplification_curves(
    runs: pd.DataFrame,
    share: str = SHARE,
    shock: str = SHOCK,
    threshold: float = AMPLIFICATION_THRESHOLD,
    n_boot: int = 1000,
    amplification: str = CASCADE_AMPLIFICATION,
) -> Figure:
    """P(cascade amplification > threshold) against the 50–100x share, one line per shock size,
    with the critical share (where P passes 0.5) and its 90 % bootstrap band
    (`analysis.critical_share`) when they fall inside the grid."""
    cells = phase_table(runs, share, shock, threshold, amplification=amplification)
    crit = critical_share(runs, share, shock, threshold, n_boot=n_boot, amplification=amplification)
    fig, ax = axes_or_new(None, (6, 3.6))
    for i, (s, one) in enumerate(cells.groupby("shock")):
        color = f"C{i}"
        ax.plot(one.share, one.p_amplified, "o-", color=color, label=f"shock {s:.0%}")
        c = crit[crit.shock == s].iloc[0]
        if np.isfinite(c.critical_share):
            lo, hi = np.clip([c.low, c.high], c.grid_min, c.grid_max)
            ax.errorbar(
                c.critical_share,
                0.5,
                xerr=[[c.critical_share - lo], [hi - c.critical_share]],
                fmt="D",
                color=color,
                capsize=3,
            )
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("50–100x share of accounts")
    ax.set_ylabel(amplification_label(threshold))
    ax.set_title("Critical 50–100x share by shock size (cascade amplification)")
    ax.legend(fontsize=8)
    return fig


def _seed_bars(
    ax: Axes, runs: pd.DataFrame, x: str, metric: str, group: str | None = None, scale: float = 1.0
) -> None:
    """Mean per category of `x` as bars (grouped by `group`), every seed as a dot."""
    cats = list(dict.fromkeys(runs[x]))
    groups = list(dict.fromkeys(runs[group])) if group else [None]
    width = 0.8 / len(groups)
    for g_i, g in enumerate(groups):
        part = runs if g is None else runs[runs[group] == g]
        offset = (g_i - (len(groups) - 1) / 2) * width
        values = [part.loc[part[x] == c, metric].to_numpy(float) / scale for c in cats]
        means = [v.mean() if len(v) else np.nan for v in values]
        pos = np.arange(len(cats)) + offset
        label = None if g is None else f"{group} {g:g}" if isinstance(g, float) else f"{group} {g}"
        ax.bar(pos, means, width * 0.9, color=f"C{g_i}", alpha=0.6, label=label)
        for p, v in zip(pos, values, strict=True):
            ax.plot(np.full(len(v), p), v, "k.", ms=4)
    ax.set_xticks(
        range(len(cats)),
        [f"{c:g}" if isinstance(c, float) else str(c) for c in cats],
        rotation=20,
        fontsize=8,
    )


POLICY_METRICS = (
    ("adl_overshoot_usd", "ADL overshoot, k USD", 1e3),
    ("adl_top_winner_usd", "taken from the top winner, k USD", 1e3),
    ("hedge_breaks", "hedge breaks", 1.0),
    ("bad_debt_usd", "residual bad debt, k USD", 1e3),
)


def policy_comparison(
    runs: pd.DataFrame, policy: str = "liquidation.policy", pool_scale: str = "pool_scale"
) -> Figure:
    """Loss-absorption policies side by side: overshoot, top-winner haircut, hedge breaks,
    bad debt (`POLICY_METRICS`), bars = mean over seeds per insurance-pool scale, dots = seeds.
    """
    ok = ok_runs(runs, (policy, pool_scale))
    ok = ok.assign(**{m: np.nan for m, _, _ in POLICY_METRICS if m not in ok})  # older sweeps
    fig = Figure(figsize=(10, 6), layout="constrained")
    for ax, (metric, label, scale) in zip(fig.subplots(2, 2).ravel(), POLICY_METRICS, strict=True):
        _seed_bars(ax, ok, policy, metric, group=pool_scale, scale=scale)
        ax.set_title(label, fontsize=10)
    fig.axes[0].legend(fontsize=8)
    fig.suptitle("Who absorbs the losses: loss-absorption policies (dots: seeds)")
    return fig


def stop_loss_figure(runs: pd.DataFrame, share: str = "retail.stop_loss_share") -> Figure:
    """Stop-loss counterfactual: retail money lost to liquidation and liquidated after the shock
    / open interest against the share of accounts with a stop-loss (bars: mean, dots: seeds)."""
    ok = ok_runs(runs, (share, "retail_liquidated_share", CASCADE_SIZE))
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    panels = (
        ("retail_liquidated_share", "retail money lost to liquidation"),
        (CASCADE_SIZE, "liquidated after the shock / open interest"),
    )
    for ax, (metric, title) in zip(fig.subplots(1, 2), panels, strict=True):
        _seed_bars(ax, ok, share, metric)
        ax.set_xlabel("share of accounts with a stop-loss")
        ax.set_title(title, fontsize=10)
    return fig


def mark_price_figure(runs: pd.DataFrame, rule: str = "mark_rule") -> Figure:
    """Mark-price rules compared: liquidated after the shock / open interest, mark drawdown /
    news drop (`analysis.run_amplification`, mean over assets) and retail money lost, per
    rule (bars: mean, dots: seeds)."""
    ok = ok_runs(runs, (rule, CASCADE_SIZE, "retail_liquidated_share"))
    ok = ok.assign(amplification=run_amplification(ok))
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    panels = (
        (CASCADE_SIZE, "liquidated after the shock / open interest"),
        ("amplification", "drawdown / news drop (mean over assets)"),
        ("retail_liquidated_share", "retail money lost"),
    )
    for ax, (metric, title) in zip(fig.subplots(1, 3), panels, strict=True):
        _seed_bars(ax, ok, rule, metric)
        ax.set_xlabel("mark rule")
        ax.set_title(title, fontsize=10)
    return fig
