"""The teaching page's views: prices, liquidations, pools, open interest, the liquidation map
and the story panel, each a solara component drawn from the model's recorder and event log."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization.utils import update_counter

from experiments.analysis.plots import liquidation_map
from experiments.page.narrative import narrate, pool_names, record_of, settings_line, usd
from model.market import CascadeModel
from model.snapshots import position_snapshot

MINUTES_PER_FRAME = 15
"""SolaraViz render interval: minutes per Step click and per frame of ▶ (odd: the
slider snaps to 1, 3, 5, …)."""
STAGE_AFTER = 240
"""Minutes after the shock's end the time axis shows from the start (a stable stage)."""
MAP_EVERY_MINUTES = 30
"""The liquidation map costs ~0.4 s to draw (320 bar patches), so it is redrawn less often
(and at once when another market is picked)."""
FIGSIZE = (6.8, 4.0)
DPI = 80


def _markets(model: CascadeModel) -> tuple[int, int]:
    """The first major and the last long-tail market."""
    kinds = [a.kind for a in model.cfg.assets]
    major = kinds.index("major") if "major" in kinds else 0
    tail = len(kinds) - 1 - kinds[::-1].index("tail") if "tail" in kinds else len(kinds) - 1
    return major, tail


def _figure(rows: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=0.13, right=0.98, top=0.92, bottom=0.13, hspace=0.12)
    return fig, fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]


def _stage(model: CascadeModel, axes) -> None:
    """Shade the shock and fix the time axis: through `STAGE_AFTER` minutes after the shock."""
    shocks = model.cfg.shocks
    end = max((s.start_minute + s.duration_minutes for s in shocks), default=0) + STAGE_AFTER
    for ax in axes:
        for shock in shocks:
            ax.axvspan(shock.start_minute, shock.start_minute + shock.duration_minutes, color="0.9")
        ax.set_xlim(0, max(model.recorder.n, end))


def _small(ax, ylabel: str) -> None:
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _show(build, model: CascadeModel, *args: Any, every: int = 1) -> None:
    update_counter.get()  # re-render on every step
    key = [model, model.t // every, *args]  # draw again only when this changes
    fig = solara.use_memo(lambda: build(model, *args), key)
    solara.FigureMatplotlib(fig, format="png", dependencies=key, dpi=DPI)


def price_figure(model: CascadeModel) -> Figure:
    """Fundamental, index and mark of one major and one long-tail asset."""
    s, n = model.recorder.series, model.recorder.n
    fig, axes = _figure(2)
    _stage(model, axes)
    for ax, k in zip(axes, _markets(model), strict=True):
        x = np.arange(n)
        ax.plot(x, s["fundamental_usd"][:n, k], color="0.5", lw=1, label="fundamental")
        ax.plot(x, s["index_usd"][:n, k], color="C0", lw=1, label="index")
        ax.plot(x, s["mark_usd"][:n, k], color="C1", lw=1, ls="--", label="mark")
        _small(ax, f"{model.symbols[k]}, USD")
    axes[0].legend(fontsize=7, ncols=3, loc="lower left")
    axes[0].set_title("Prices (shaded: the shock)", fontsize=9)
    axes[-1].set_xlabel("minute", fontsize=8)
    return fig


def liquidation_figure(model: CascadeModel) -> Figure:
    """Liquidated notional per minute over all perps: longs up, shorts down."""
    s, n = model.recorder.series, model.recorder.n
    fig, (ax,) = _figure()
    _stage(model, [ax])
    edges = np.arange(n + 1)
    longs = np.nansum(s["liq_long_usd"][:n], axis=1) / 1e3
    shorts = np.nansum(s["liq_short_usd"][:n], axis=1) / 1e3
    ax.stairs(longs, edges, fill=True, color="C3", label="longs")
    ax.stairs(-shorts, edges, fill=True, color="C2", label="shorts")
    ax.axhline(0, color="k", lw=0.5)
    _small(ax, "liquidated, k USD / minute")
    ax.set_title("Liquidations per minute, by side", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xlabel("minute", fontsize=8)
    return fig


def insurance_figure(model: CascadeModel) -> Figure:
    """Equity of each insurance pool, and ADL closes per minute (× = a broken hedge)."""
    rec, n = model.recorder, model.recorder.n
    fig, axes = _figure(2)
    _stage(model, axes)
    names = pool_names(model.symbols, model.exchange.liquidator.pools.pool_of_market)
    start = np.where(model.initial_pools > 0, model.initial_pools, np.nan)
    for i, name in enumerate(names):
        label = f"{name[4:]} ({usd(start[i])})"
        axes[0].plot(np.arange(n), rec.pool_usd[:n, i] / start[i] * 100, lw=1.2, label=label)
    _small(axes[0], "pool equity, % of start")
    axes[0].legend(fontsize=7, ncols=3, loc="lower left")
    axes[0].set_title("Insurance pools and ADL", fontsize=9)
    rows = model.exchange.events.rows["adl"]
    t = np.array([r.t for r in rows], dtype=int)
    side = np.array([r.side for r in rows])
    hedge = np.array([bool(r.is_hedge_break) for r in rows])
    edges = np.arange(n + 1)
    axes[1].stairs(
        np.bincount(t[side < 0], minlength=n)[:n],
        edges,
        fill=True,
        color="C2",
        label="shorts closed",
    )
    axes[1].stairs(
        -np.bincount(t[side > 0], minlength=n)[:n],
        edges,
        fill=True,
        color="C3",
        label="longs closed",
    )
    if hedge.any():
        axes[1].plot(t[hedge], np.zeros(hedge.sum()), "kx", ms=5, label="hedge broken")
    _small(axes[1], "ADL closes / minute")
    axes[1].legend(fontsize=7, ncols=3, loc="lower left")
    axes[1].set_xlabel("minute", fontsize=8)
    return fig


def open_interest_figure(model: CascadeModel) -> Figure:
    """Open interest over all perps, and the funding rate of the two assets on show."""
    s, n = model.recorder.series, model.recorder.n
    fig, axes = _figure(2)
    _stage(model, axes)
    x = np.arange(n)
    axes[0].plot(x, np.nansum(s["oi_long_usd"][:n], axis=1) / 1e6, color="C4", lw=1.2)
    _small(axes[0], "open interest, M USD")
    axes[0].set_title("Open interest (all perps) and funding", fontsize=9)
    for k in _markets(model):
        axes[1].plot(x, s["funding_rate"][:n, k] * 100, lw=1, label=model.symbols[k])
    _small(axes[1], "funding, % per interval")
    axes[1].legend(fontsize=7, ncols=2, loc="upper left")
    axes[1].set_xlabel("minute", fontsize=8)
    return fig


def map_figure(model: CascadeModel, market: int) -> Figure:
    """Where one market's open positions would be liquidated (analytics' liquidation map)."""
    fig = Figure(figsize=(FIGSIZE[0], FIGSIZE[1] - 0.4), dpi=DPI)  # the map lays it out (tight)
    ax = fig.subplots()
    mark = float(model.exchange.prices.mark_usd[market])
    liquidation_map(position_snapshot(model.exchange), market, mark, ax=ax)
    ax.set_title(f"{ax.get_title()} (minute {model.t})", fontsize=9)
    ax.tick_params(labelsize=7)
    return fig


@solara.component
def Prices(model: CascadeModel) -> None:  # noqa: N802
    """Prices of one major and one long-tail asset: fundamental, index, mark."""
    _show(price_figure, model)


@solara.component
def Liquidations(model: CascadeModel) -> None:  # noqa: N802
    """Liquidations per minute by side."""
    _show(liquidation_figure, model)


@solara.component
def Insurance(model: CascadeModel) -> None:  # noqa: N802
    """Insurance pools and ADL events."""
    _show(insurance_figure, model)


@solara.component
def OpenInterest(model: CascadeModel) -> None:  # noqa: N802
    """Open interest and funding."""
    _show(open_interest_figure, model)


@solara.component
def LiquidationMap(model: CascadeModel) -> None:  # noqa: N802
    """The liquidation map of a market picked above it (redrawn every `MAP_EVERY_MINUTES`).

    Starts on the first major, where most open interest (and the 50–100x crowd) sits.
    """
    symbol, set_symbol = solara.use_state(model.symbols[_markets(model)[0]])
    symbol = symbol if symbol in model.symbols else model.symbols[0]
    with solara.Column(gap="0px"):
        solara.ToggleButtonsSingle(
            symbol, values=list(model.symbols), on_value=set_symbol, dense=True
        )
        _show(map_figure, model, model.symbols.index(symbol), every=MAP_EVERY_MINUTES)


HELP = (
    "Pick a preset and move the controls on the left, then press Reset to apply them. "
    f"Step and ▶ advance 'Render Interval' minutes per frame (start: {MINUTES_PER_FRAME})."
)


def story_lines(model: CascadeModel) -> list[str]:
    """The panel's text: the run's settings, then `narrative.narrate`."""
    head = settings_line(model.cfg, getattr(model, "preset", "custom"), model.seed)
    return [head, *narrate(record_of(model), window=MINUTES_PER_FRAME)]


@solara.component
def Story(model: CascadeModel) -> None:  # noqa: N802
    """What just happened, in plain language (experiments/page/narrative.py)."""
    update_counter.get()
    lines = story_lines(model)
    body = "".join(
        f"<p style='margin:2px 0;{'font-weight:600;' if i == 1 else ''}"
        f"{'color:#555;font-size:85%;' if i == 0 else ''}'>{html.escape(line)}</p>"
        for i, line in enumerate(lines)
    )
    body += f"<p style='margin-top:6px;color:#777;font-size:80%'>{html.escape(HELP)}</p>"
    solara.HTML(
        tag="div",
        unsafe_innerHTML=body,
        classes=["cascade-story"],
        style="padding:8px;height:100%;overflow-y:auto;font-size:14px;line-height:1.35;",
    )


COMPONENTS = [Story, Prices, Liquidations, Insurance, OpenInterest, LiquidationMap]
