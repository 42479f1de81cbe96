"""The teaching page: Mesa's SolaraViz over `CascadeModel`, a shell with no model logic.

Serve it with `cascade-lab demo` (or `solara run experiments/page/app.py`). The controls'
ranges come from the configuration's field metadata; `DemoModel` maps the flat control names
to dotted overrides; every chart and sentence is drawn from the model's recorder and event log.
"""

from __future__ import annotations

import functools
import html
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import solara
from matplotlib.figure import Figure
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from experiments.analysis.plots import liquidation_map
from experiments.page.narrative import narrate, pool_names, record_of, settings_line, usd
from model.config import ModelConfig, ShockConfig, field_metadata
from model.engine.events import SCHEMAS
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import POLICIES
from model.market import CascadeModel
from model.scenarios import SCENARIOS
from model.scenarios import scenario as named_scenario
from model.snapshots import position_snapshot

DEFAULT_PRESET = "oct-2025"
DEMO_SHOCK_MINUTE = 240
"""The page moves the shock from minute 720 to 240 so a short play reaches it."""
DEFAULT_SEED = "2"
"""The clearest cascade among seeds 1–8 of the page's oct-2025 (model of 22 Nov 2026): 7× more
liquidated in the 4 hours after the shock than before it, 97 % longs, peak 4 minutes in. In
seeds 1 and 6 pre-shock bursts are as large as the cascade, which hides the lesson."""
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


@dataclass(frozen=True)
class Control:
    """A slider of the page: its label, the dotted key that gives its range, and its step.

    `key=None` marks a multiplier of the preset's values, which has no config field; its
    range is declared here (`lo`, `hi`).
    """

    label: str
    key: str | None
    step: float
    lo: float | None = None
    hi: float | None = None


SLIDERS = {
    "high_leverage_share": Control("50–100x share of accounts", "retail.high_leverage_share", 0.05),
    "shock_size": Control("Shock size (market factor fall)", "shocks.0.size", 0.01),
    "shock_minute": Control("Shock at minute", "shocks.0.start_minute", 10),
    "insurance_scale": Control("Insurance pools (× preset)", None, 0.1, 0.0, 5.0),
    "stop_loss_share": Control("Stop-loss share of accounts", "retail.stop_loss_share", 0.05),
    "depth_scale": Control("Market-maker depth (× preset)", None, 0.05, 0.25, 4.0),
}
SELECTS = {
    "preset": ("Preset", tuple(SCENARIOS)),
    "policy": ("Loss-absorption policy", POLICIES),
    "mark_rule": ("Mark price rule", MARK_RULES),
}


def _metadata() -> dict[str, dict]:
    """Field metadata of every dotted key, shock fields included (shocks are a tuple)."""
    meta = field_metadata(ModelConfig())
    meta.update({f"shocks.0.{k}": v for k, v in field_metadata(ShockConfig()).items()})
    return meta


@functools.cache
def initial_values() -> dict[str, Any]:
    """Where the controls start (the default preset's values, built once, on first use).

    A preset-specific slider left here keeps the preset's value. Also readable as the
    module attribute ``INITIAL`` (built when first read, never at import).
    """
    cfg = named_scenario(DEFAULT_PRESET)
    return {
        "preset": DEFAULT_PRESET,
        "rng": DEFAULT_SEED,
        "high_leverage_share": cfg.retail.high_leverage_share,
        "shock_size": cfg.shocks[0].size,
        "shock_minute": DEMO_SHOCK_MINUTE,
        "insurance_scale": 1.0,
        "stop_loss_share": cfg.retail.stop_loss_share,
        "depth_scale": 1.0,
        "policy": cfg.liquidation.policy,
        "mark_rule": cfg.mark_rule,
    }


def __getattr__(name: str) -> Any:
    if name == "INITIAL":
        return initial_values()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def slider_range(name: str) -> tuple[float, float]:
    """[lo, hi] of a slider: the field's metadata range, capped by the default horizon."""
    c = SLIDERS[name]
    if c.key is None:
        return float(c.lo), float(c.hi)
    lo, hi = _metadata()[c.key]["range"]
    return lo, min(hi, ModelConfig().horizon_minutes - 1)


def model_params() -> dict[str, dict]:
    """SolaraViz `model_params`: selects, sliders (ranges from metadata) and the seed box."""
    initial = initial_values()
    params: dict[str, dict] = {
        name: {"type": "Select", "value": initial[name], "values": list(values), "label": label}
        for name, (label, values) in SELECTS.items()
    }
    for name, c in SLIDERS.items():
        lo, hi = slider_range(name)
        kind = "SliderInt" if float(c.step).is_integer() and c.key else "SliderFloat"
        params[name] = {
            "type": kind,
            "value": initial[name],
            "min": lo,
            "max": hi,
            "step": c.step,
            "label": c.label,
        }
    params["rng"] = {"type": "InputText", "value": initial["rng"], "label": "Seed"}
    return params


def seed_of(text: str | int) -> int:
    """The seed box's text as an int: digits as they are, any other text hashed (crc32)."""
    text = str(text).strip()
    return int(text) if text.isdigit() else zlib.crc32(text.encode())


def overrides_for(preset: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted overrides of a preset for the page's control values.

    Rules: a slider whose value differs from the preset's own shows the teacher's choice;
    the 50–100x share and shock size left at their start keep the preset's value; the shock
    minute always applies; multipliers scale the preset's pools and every asset's depth;
    policy and mark rule always apply.
    """
    cfg = named_scenario(preset)
    out: dict[str, Any] = {}
    for name in ("high_leverage_share", "shock_size", "stop_loss_share"):
        key = SLIDERS[name].key
        if values[name] != initial_values()[name] and (cfg.shocks or not key.startswith("shocks.")):
            out[key] = values[name]
    minute = int(values["shock_minute"])
    if cfg.shocks:
        out["shocks.0.start_minute"] = minute
    pools = cfg.liquidation.pool_initial_usd
    scale = float(values["insurance_scale"])
    if scale != 1.0:
        out["liquidation.pool_initial_usd"] = (
            tuple(scale * p for p in pools) if isinstance(pools, tuple) else scale * pools
        )
    out["liquidation.policy"] = values["policy"]
    if values["policy"] == "backstop_vault":  # the vault gets the pools' capital (catalogue rule)
        out["liquidation.vault_initial_usd"] = scale * float(np.sum(pools))
    if float(values["depth_scale"]) != 1.0:
        for i, a in enumerate(cfg.assets):
            out[f"assets.{i}.depth_usd"] = a.depth_usd * float(values["depth_scale"])
    out["mark_rule"] = values["mark_rule"]
    return out


class DemoModel(CascadeModel):
    """`CascadeModel` built from the page's flat controls (SolaraViz passes keywords only)."""

    def __init__(
        self,
        *,
        preset: str | None = None,
        rng: str | int | None = None,
        high_leverage_share: float | None = None,
        shock_size: float | None = None,
        shock_minute: int | None = None,
        insurance_scale: float | None = None,
        stop_loss_share: float | None = None,
        depth_scale: float | None = None,
        policy: str | None = None,
        mark_rule: str | None = None,
    ) -> None:
        """A control not given (None) starts where the page's controls do (`initial_values`)."""
        given = {
            "preset": preset,
            "rng": rng,
            "high_leverage_share": high_leverage_share,
            "shock_size": shock_size,
            "shock_minute": shock_minute,
            "insurance_scale": insurance_scale,
            "stop_loss_share": stop_loss_share,
            "depth_scale": depth_scale,
            "policy": policy,
            "mark_rule": mark_rule,
        }
        values = {k: initial_values()[k] if v is None else v for k, v in given.items()}
        preset, rng = values.pop("preset"), values.pop("rng")
        seed = seed_of(rng)
        super().__init__(scenario=preset, rng=seed, **overrides_for(preset, values))
        self.preset = preset


# ---------------------------------------------------------------------------- the views
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
    rows, col = model.exchange.events.rows["adl"], SCHEMAS["adl"].index
    t = np.array([r[col("t")] for r in rows], dtype=int)
    side = np.array([r[col("side")] for r in rows])
    hedge = np.array([bool(r[col("is_hedge_break")]) for r in rows])
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


@solara.component
def Page() -> None:  # noqa: N802
    """The page: one model per browser session (built on first render, rebuilt by Reset)."""
    model = solara.use_memo(DemoModel, [])
    SolaraViz(
        model,
        components=COMPONENTS,
        model_params=model_params(),
        name="Cascade Lab: a macro shock becomes a liquidation cascade",
        play_interval=20,
        render_interval=MINUTES_PER_FRAME,
    )
