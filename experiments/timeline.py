"""The cascade timeline figure, drawn from a run's recorded series (no model imports)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure


def plot_timeline(series: pd.DataFrame, assets: tuple[str, str], shock_minute: int | None = None):
    """Fundamental vs mark for two assets, liquidations per minute by side, depth within 1 %.

    Args:
        series: The long per-minute table of `Recorder.frame` (minute, asset, series columns).
        assets: The two assets to draw (e.g. a major and a long-tail perp).
        shock_minute: Minute of the first shock, marked on every panel.

    Returns:
        The matplotlib Figure.
    """
    fig = Figure(figsize=(9, 10))  # no pyplot: nothing global, no window
    axes = fig.subplots(4, 1, sharex=True)
    for ax, asset in zip(axes[:2], assets, strict=True):
        one = series[series.asset == asset]
        base = one.fundamental_usd.iloc[0]
        ax.plot(one.minute, one.fundamental_usd / base, label="fundamental", color="0.5")
        ax.plot(one.minute, one.mark_usd / base, label="mark", color="C0")
        ax.set_ylabel(f"{asset} / start")
        ax.legend(loc="lower left")
    per_minute = series.groupby("minute")[["liq_long_usd", "liq_short_usd"]].sum() / 1e3
    axes[2].bar(per_minute.index, per_minute.liq_long_usd, color="C3", label="longs", width=1.0)
    axes[2].bar(per_minute.index, -per_minute.liq_short_usd, color="C2", label="shorts", width=1.0)
    axes[2].set_ylabel("liquidated, k USD/min")
    axes[2].legend(loc="lower left")
    depth = series.pivot(index="minute", columns="asset", values="depth_1pct_usd")
    for asset in assets:
        axes[3].plot(depth.index, depth[asset] / depth[asset].iloc[0], label=asset)
    axes[3].set_ylabel("depth ±1 % / start")
    axes[3].set_xlabel("minute")
    axes[3].legend(loc="lower left")
    if shock_minute is not None:
        for ax in axes:
            ax.axvline(shock_minute, color="k", lw=0.8, ls="--")
    fig.tight_layout()
    return fig
