"""The teaching page's charts: matplotlib figures built once per run, updated every frame.

A chart builds its figure, axes and (empty) artists once for a model; `png(model)` moves the
artists to the model's latest minute and draws the figure into PNG bytes. The still parts (axes,
ticks, labels, the shock's band) are drawn only when an axis's limits change, which
`fit_y` keeps rare (limits only grow, with slack); otherwise the moving artists are drawn over
a copy of them (matplotlib's blitting). Building a figure per frame, as the page once did, cost
most of a frame's time (`experiments.bench.page`).
Text is sized for a projector at 1280×720: a figure is `WIDTH_IN` × `DPI` = 460 pixels wide,
one column of the page there, so a `TICK_PT` tick label stands about 17 pixels high.
"""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from experiments.analysis.liquidation_map import (
    BUCKET_COLORS,
    LEVERAGE_BUCKETS,
    liquidation_map_stacks,
)
from experiments.page.narrative import pool_names, usd
from model.market import CascadeModel
from model.snapshots import position_snapshot

DPI = 100
WIDTH_IN = 4.6
HEIGHT_IN = 4.6
"""Height of a chart over time (one or two stacked axes), so the page's rows line up."""
MAP_HEIGHT_IN = 3.7
MARGINS_IN = {"left": 1.0, "right": 0.25, "top": 0.42, "bottom": 0.55}
TICK_PT = 12
LABEL_PT = 13
LEGEND_PT = 12
TITLE_PT = 15
LINE_W = 1.8
LEGEND = {"fontsize": LEGEND_PT, "handlelength": 1.0, "columnspacing": 0.7, "borderpad": 0.25}
STAGE_AFTER = 240
"""Minutes after the shock's end the time axis shows from the start (a stable stage)."""
MAP_WIDTH = 0.3
"""The liquidation map spans the price ± 30 %."""
MAP_BINS = 40
MAP_RECENTER = 0.5
"""The map's window moves to the mark when the mark leaves the middle half of it."""
SLACK = 0.15
"""Limits that must grow grow by this share of the data's span beyond it, so they seldom
change again (each change redraws the chart's still parts)."""
X_CHUNK_MINUTES = 120
"""Past the stage's end, the time axis grows by this many minutes at a time."""


def money_text(usd_value: float) -> str:
    """An axis's money tick: $12M, $4.5M, $450k (a magnitude; the side is in the legend)."""
    return usd(abs(usd_value)).replace(".0M", "M").replace(".0B", "B")


def price_text(price_usd: float) -> str:
    """A price tick: 98k, 100.5k, 0.096."""
    return f"{price_usd / 1e3:g}k" if abs(price_usd) >= 1e4 else f"{price_usd:g}"


def markets(model: CascadeModel) -> tuple[int, int]:
    """The first major and the last long-tail market."""
    kinds = [a.kind for a in model.cfg.assets]
    major = kinds.index("major") if "major" in kinds else 0
    tail = len(kinds) - 1 - kinds[::-1].index("tail") if "tail" in kinds else len(kinds) - 1
    return major, tail


def fit_y(ax, arrays: list[np.ndarray], below: float = 0.08, above: float = 0.08) -> None:
    """Y limits that hold the finite values of `arrays` with room below and above (fractions
    of their span, for a legend). Limits that already hold them, not more than 2.5 times too
    wide, stay; others are set with `SLACK` more; nothing changes when there are no values."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values)]
    if not len(values):
        return
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo or abs(hi) * 0.1 or 1.0
    want_lo, want_hi = lo - below * span, hi + above * span
    now_lo, now_hi = ax.get_ylim()
    if now_lo <= want_lo and want_hi <= now_hi and now_hi - now_lo <= 2.5 * (want_hi - want_lo):
        return
    slack = SLACK * (want_hi - want_lo)
    ax.set_ylim(want_lo - slack, want_hi + slack)


def _steps(values: np.ndarray) -> dict[str, np.ndarray]:
    if not len(values):  # a StepPatch needs one step at least
        return {"values": np.zeros(1), "edges": np.arange(2)}
    return {"values": values, "edges": np.arange(len(values) + 1)}


class Chart:
    """A figure of `rows` stacked axes with its own Agg canvas, drawn to PNG on demand.

    Subclasses register their data artists with `moving`; those are drawn each time over a
    cached image of everything else (legends too, where `fit_y` keeps room for them free of
    data), which is drawn again only when a limit or a title changes.
    """

    def __init__(self, rows: int, height_in: float, title: str) -> None:
        self.fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.fig)
        m = MARGINS_IN
        self.fig.subplots_adjust(
            left=m["left"] / WIDTH_IN,
            right=1 - m["right"] / WIDTH_IN,
            top=1 - m["top"] / height_in,
            bottom=m["bottom"] / height_in,
            hspace=0.12,
        )
        self.axes = list(self.fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0])
        for ax in self.axes:
            ax.tick_params(labelsize=TICK_PT)
            ax.yaxis.set_major_locator(MaxNLocator(4))
        self.axes[0].set_title(title, fontsize=TITLE_PT)
        self._moving: list[Artist] = []
        self._background = None
        self._layout: tuple = ()

    def moving(self, *artists: Artist) -> None:
        """Artists drawn every time, in this order, over the still parts."""
        for artist in artists:
            artist.set_animated(True)
        self._moving.extend(artists)

    def _layout_key(self) -> tuple:
        return tuple((ax.get_xlim(), ax.get_ylim(), ax.get_title()) for ax in self.axes)

    def draw_png(self) -> bytes:
        """The figure as it stands, as PNG bytes."""
        layout = self._layout_key()
        if layout != self._layout or self._background is None:
            self.canvas.draw()  # the still parts only: moving artists are animated
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self._layout = layout
        else:
            self.canvas.restore_region(self._background)
        for artist in self._moving:
            self.fig.draw_artist(artist)
        buf = io.BytesIO()
        matplotlib.image.imsave(buf, self.canvas.buffer_rgba(), format="png", dpi=DPI)
        return buf.getvalue()


class TimeChart(Chart):
    """A chart over the run's minutes: the shock shaded, a stable time axis."""

    def __init__(self, model: CascadeModel, rows: int, title: str) -> None:
        super().__init__(rows, HEIGHT_IN, title)
        shocks = model.cfg.shocks
        self.end_minute = STAGE_AFTER + max(
            (s.start_minute + s.duration_minutes for s in shocks), default=0
        )
        for ax in self.axes:
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
            for s in shocks:
                ax.axvspan(s.start_minute, s.start_minute + s.duration_minutes, color="0.88")
        self.axes[0].set_xlim(0, self.end_minute)
        self.axes[-1].set_xlabel("minute", fontsize=LABEL_PT)

    def update(self, model: CascadeModel) -> None:
        """Move the artists to the model's latest minute."""
        raise NotImplementedError

    def png(self, model: CascadeModel) -> bytes:
        """The chart at the model's latest minute, as PNG bytes."""
        self.update(model)
        past = max(0, model.recorder.n - self.end_minute)
        chunks = -(-past // X_CHUNK_MINUTES)  # ceil
        self.axes[0].set_xlim(0, self.end_minute + chunks * X_CHUNK_MINUTES)
        return self.draw_png()


PRICE_LINES = (
    ("fundamental_usd", "fundamental", "0.45", "-"),
    ("index_usd", "index", "C0", "-"),
    ("mark_usd", "mark", "C1", "--"),
)


class PriceChart(TimeChart):
    """Fundamental, index and mark of one major and one long-tail asset."""

    def __init__(self, model: CascadeModel) -> None:
        super().__init__(model, 2, "Prices (grey band: the shock)")
        self.markets = markets(model)
        self.lines = [
            [
                ax.plot([], [], color=c, ls=ls, lw=LINE_W, label=name)[0]
                for _, name, c, ls in PRICE_LINES
            ]
            for ax in self.axes
        ]
        for ax, k in zip(self.axes, self.markets, strict=True):
            ax.set_ylabel(f"{model.symbols[k]}, USD", fontsize=LABEL_PT)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: price_text(v)))
        self.axes[0].legend(ncols=3, loc="lower left", **LEGEND)
        self.moving(*self.lines[0], *self.lines[1])

    def update(self, model: CascadeModel) -> None:
        s, n = model.recorder.series, model.recorder.n
        x = np.arange(n)
        for ax, k, lines in zip(self.axes, self.markets, self.lines, strict=True):
            ys = [s[name][:n, k] for name, *_ in PRICE_LINES]
            for line, y in zip(lines, ys, strict=True):
                line.set_data(x, y)
            fit_y(ax, ys, below=0.45 if ax is self.axes[0] else 0.08)


class LiquidationChart(TimeChart):
    """Liquidated notional per minute over all perps: longs up, shorts down."""

    def __init__(self, model: CascadeModel) -> None:
        super().__init__(model, 1, "Liquidations per minute")
        ax = self.axes[0]
        self.longs = ax.stairs([0.0], [0, 1], fill=True, color="C3", label="longs (up)")
        self.shorts = ax.stairs([0.0], [0, 1], fill=True, color="C2", label="shorts (down)")
        ax.axhline(0, color="k", lw=0.6)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money_text(v)))
        ax.set_ylabel("liquidated / minute", fontsize=LABEL_PT)
        ax.legend(ncols=2, loc="upper left", **LEGEND)
        self.moving(self.longs, self.shorts)

    def update(self, model: CascadeModel) -> None:
        s, n = model.recorder.series, model.recorder.n
        longs = np.nansum(s["liq_long_usd"][:n], axis=1)
        shorts = np.nansum(s["liq_short_usd"][:n], axis=1)
        self.longs.set_data(**_steps(longs))
        self.shorts.set_data(**_steps(-shorts))
        fit_y(self.axes[0], [longs, -shorts, np.array([0.0, 10_000.0])], above=0.3)


class InsuranceChart(TimeChart):
    """Equity of each insurance pool (% of its start), and ADL closes per minute."""

    def __init__(self, model: CascadeModel) -> None:
        super().__init__(model, 2, "Insurance pools and ADL")
        pools, adl = self.axes
        names = pool_names(model.symbols, model.exchange.liquidator.pools.pool_of_market)
        self.start_usd = np.where(model.initial_pools > 0, model.initial_pools, np.nan)
        self.pool_lines = [
            pools.plot([], [], lw=LINE_W, label=name.removeprefix("the ").removesuffix(" pool"))[0]
            for name in names
        ]
        pools.set_ylabel("pool, % of start", fontsize=LABEL_PT)
        pools.legend(ncols=3, loc="lower left", **LEGEND)
        self.moving(*self.pool_lines)
        self.shorts = adl.stairs([0.0], [0, 1], fill=True, color="C2", label="shorts")
        self.longs = adl.stairs([0.0], [0, 1], fill=True, color="C3", label="longs")
        (self.hedges,) = adl.plot([], [], "kx", ms=8, mew=2, label="hedge broken")
        adl.axhline(0, color="k", lw=0.6)
        adl.set_ylabel("ADL closes / min", fontsize=LABEL_PT)
        adl.legend(ncols=2, loc="upper left", **LEGEND)
        self.moving(self.shorts, self.longs, self.hedges)

    def update(self, model: CascadeModel) -> None:
        rec, n = model.recorder, model.recorder.n
        pools, adl = self.axes
        share = rec.pool_usd[:n] / self.start_usd * 100
        for i, line in enumerate(self.pool_lines):
            line.set_data(np.arange(n), share[:, i])
        fit_y(pools, [share, np.array([100.0])], below=0.6)
        rows = model.exchange.events.rows["adl"]
        t = np.array([r.t for r in rows], dtype=int)
        side = np.array([r.side for r in rows], dtype=int)
        hedge = np.array([bool(r.is_hedge_break) for r in rows], dtype=bool)
        shorts = np.bincount(t[side < 0], minlength=n)[:n].astype(float)
        longs = np.bincount(t[side > 0], minlength=n)[:n].astype(float)
        self.shorts.set_data(**_steps(shorts))
        self.longs.set_data(**_steps(-longs))
        self.hedges.set_data(t[hedge] + 0.5, np.zeros(int(hedge.sum())))
        fit_y(adl, [shorts, -longs, np.array([-1.0, 2.0])], above=1.0)


class OpenInterestChart(TimeChart):
    """Open interest over all perps; the premium funding is made of, and the funding rate."""

    def __init__(self, model: CascadeModel) -> None:
        super().__init__(model, 2, "Open interest, premium, funding")
        oi, premium = self.axes
        (self.oi,) = oi.plot([], [], color="C4", lw=LINE_W)
        oi.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money_text(v)))
        oi.set_ylabel("open interest", fontsize=LABEL_PT)
        self.markets = markets(model)
        self.premium, self.funding = [], []
        for color, k in zip(("C0", "C1"), self.markets, strict=True):
            label = model.symbols[k]
            self.premium.append(premium.plot([], [], color=color, lw=1.0, label=label)[0])
            self.funding.append(premium.plot([], [], color=color, lw=3.0, ls="--")[0])
        premium.axhline(0, color="k", lw=0.6)
        premium.set_ylabel("% of index", fontsize=LABEL_PT)
        dashed = Line2D([], [], color="0.3", lw=3.0, ls="--", label="funding")
        legend = premium.legend(
            handles=[*self.premium, dashed], ncols=3, loc="upper left", **LEGEND
        )
        self.moving(self.oi, *self.premium, *self.funding, legend)

    def update(self, model: CascadeModel) -> None:
        s, n = model.recorder.series, model.recorder.n
        x = np.arange(n)
        oi_usd = np.nansum(s["oi_long_usd"][:n], axis=1)
        self.oi.set_data(x, oi_usd)
        fit_y(self.axes[0], [oi_usd])
        premium, funding = s["premium"][:n] * 100, s["funding_rate"][:n] * 100
        for k, p_line, f_line in zip(self.markets, self.premium, self.funding, strict=True):
            p_line.set_data(x, premium[:, k])
            f_line.set_data(x, funding[:, k])
        shown = [premium[:, self.markets], funding[:, self.markets], np.array([0.0, 0.05])]
        fit_y(self.axes[1], shown, above=0.4)


class MapChart(Chart):
    """Where one market's open positions would be liquidated, by leverage bucket.

    The analytics' liquidation map (`liquidation_map_stacks`) drawn as stacked steps moved in
    place (its bar form has 320 patches to build and draw each time). The price window is
    centred on the mark and moves only when the mark leaves its middle `MAP_RECENTER`, so
    most frames keep the axes and only the steps and the price line are drawn again.
    """

    def __init__(self, model: CascadeModel) -> None:
        super().__init__(1, MAP_HEIGHT_IN, "")
        ax = self.axes[0]
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: price_text(v)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money_text(v)))
        ax.set_xlabel("liquidation price, USD", fontsize=LABEL_PT)
        ax.set_ylabel("open interest", fontsize=LABEL_PT)
        self.steps = [
            ax.stairs([0.0], [0, 1], fill=True, color=color, hatch=hatch, lw=0.0)
            for hatch in (None, "//")
            for color in BUCKET_COLORS
        ]
        self.price = ax.axvline(1.0, color="k", lw=1.5, ls="--")
        handles = [
            Patch(color=c, label=label)
            for (_, _, label), c in zip(LEVERAGE_BUCKETS, BUCKET_COLORS, strict=True)
        ]
        handles += [
            Patch(facecolor="white", edgecolor="0.3", hatch="//", label="shorts"),
            Line2D([], [], color="k", ls="--", label="price"),
        ]
        legend = ax.legend(handles=handles, ncols=3, loc="upper left", **LEGEND)
        self.moving(*self.steps, self.price, legend)  # the price line crosses the legend
        self.window: tuple[int, float] | None = None  # (market, centre in USD)

    def png(self, model: CascadeModel, market: int) -> bytes:
        """The map of `market` at the model's latest minute, as PNG bytes."""
        self.update(model, market)
        return self.draw_png()

    def update(self, model: CascadeModel, market: int) -> None:
        """Stack each side's buckets from zero: longs below the price, shorts above it."""
        ax = self.axes[0]
        mark_usd = float(model.exchange.prices.mark_usd[market])
        if self.window is None or self.window[0] != market:
            self.window = (market, mark_usd)
            ax.set_ylim(0, 1)  # another market: its own scale
        elif abs(mark_usd / self.window[1] - 1.0) > MAP_RECENTER * MAP_WIDTH:
            self.window = (market, mark_usd)
        centre_usd = self.window[1]
        snapshot = position_snapshot(model.exchange)
        edges, stacks = liquidation_map_stacks(snapshot, market, centre_usd, MAP_WIDTH, MAP_BINS)
        tops = []
        for side in (1, -1):
            bottom = np.zeros(MAP_BINS)
            for (s, _, usd_per_bin), patch in zip(stacks, self.steps, strict=True):
                if s == side:
                    patch.set_data(values=bottom + usd_per_bin, edges=edges, baseline=bottom)
                    bottom = bottom + usd_per_bin
            tops.append(bottom)
        self.price.set_xdata([mark_usd, mark_usd])
        ax.set_xlim(edges[0], edges[-1])
        fit_y(ax, [*tops, np.array([10_000.0])], below=0.0, above=0.6)
        ax.set_title(f"{model.symbols[market]}: where positions liquidate", fontsize=TITLE_PT)
