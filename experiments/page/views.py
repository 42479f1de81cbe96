"""The teaching page's views: the monitors along the top, the story panel and the charts, each
a solara component drawn from the model's recorder and event log."""

from __future__ import annotations

import html
from typing import Any

import solara
from mesa.visualization.utils import update_counter

from experiments.page.charts import (
    InsuranceChart,
    LiquidationChart,
    MapChart,
    OpenInterestChart,
    PriceChart,
    markets,
)
from experiments.page.controls import settings_line
from experiments.page.narrative import monitors, narrate, record_of
from model.market import CascadeModel

MINUTES_PER_FRAME = 15
"""Minutes per Step click and per frame of ▶ (Mesa's render interval; the page does not show
Mesa's slider for it)."""
CSS = """
.v-navigation-drawer { min-width: 340px !important; max-width: 340px !important; }
.cascade-page { padding-bottom: 48px; }
.cascade-monitors { position: sticky; top: -12px; z-index: 3; display: flex; gap: 8px;
  background: white; padding: 12px 0 8px 0; margin-top: -12px; }
.cascade-monitor { flex: 1 1 0; border: 1px solid #ccc; border-radius: 6px; padding: 2px 10px; }
.cascade-monitor-label { font-size: 15px; color: #444; }
.cascade-monitor-value { font-size: 28px; font-weight: 600; line-height: 1.15; }
.cascade-monitor-detail { font-size: 14px; color: #444; white-space: nowrap; }
.cascade-grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px;
  align-items: start; }
.cascade-story { font-size: 16px; line-height: 1.35; }
.cascade-control { margin-bottom: 4px; }
.cascade-control-head { font-size: 15px; }
.cascade-value { font-weight: 600; white-space: nowrap; }
.cascade-markets { flex-wrap: wrap; }
"""
"""The page's layout: a 340-pixel sidebar (solara's is 400), monitors that stay at the top
while the views scroll, two columns of views, and room below the last row so it scrolls clear
of solara's badge at the window's bottom right (`cascade-lab demo` turns the badge off; a
plain `solara run` shows it)."""


def _chart(kind: type, model: CascadeModel, *args: Any) -> None:
    update_counter.get()  # re-render on every step
    chart = solara.use_memo(lambda: kind(model), [model])  # one figure per run
    png = solara.use_memo(lambda: chart.png(model, *args), [model, model.t, *args])
    solara.Image(png, width="100%", classes=["cascade-chart"])


@solara.component
def Prices(model: CascadeModel) -> None:  # noqa: N802
    """Prices of one major and one long-tail asset: fundamental, index, mark."""
    _chart(PriceChart, model)


@solara.component
def Liquidations(model: CascadeModel) -> None:  # noqa: N802
    """Liquidations per minute by side."""
    _chart(LiquidationChart, model)


@solara.component
def Insurance(model: CascadeModel) -> None:  # noqa: N802
    """Insurance pools and ADL events."""
    _chart(InsuranceChart, model)


@solara.component
def OpenInterest(model: CascadeModel) -> None:  # noqa: N802
    """Open interest, the premium and the funding rate."""
    _chart(OpenInterestChart, model)


@solara.component
def LiquidationMap(model: CascadeModel) -> None:  # noqa: N802
    """The liquidation map of a market picked above it; starts on the first major, where most
    open interest (and the 50–100x crowd) sits."""
    symbol, set_symbol = solara.use_state(model.symbols[markets(model)[0]])
    symbol = symbol if symbol in model.symbols else model.symbols[0]
    with solara.Column(gap="0px"):
        solara.ToggleButtonsSingle(
            symbol,
            values=list(model.symbols),
            on_value=set_symbol,
            dense=True,
            classes=["cascade-markets"],
        )
        _chart(MapChart, model, model.symbols.index(symbol))


HELP = (
    "Pick a preset and move the settings on the left, then press Reset to apply them. "
    f"Step and ▶ advance {MINUTES_PER_FRAME} minutes per frame."
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
        f"{'color:#444;font-size:85%;' if i == 0 else ''}'>{html.escape(line)}</p>"
        for i, line in enumerate(lines)
    )
    body += f"<p style='margin-top:6px;color:#444;font-size:85%'>{html.escape(HELP)}</p>"
    solara.HTML(
        tag="div",
        unsafe_innerHTML=body,
        classes=["cascade-story"],
        style="padding:4px 8px;max-height:460px;overflow-y:auto;",
    )


def monitors_html(model: CascadeModel) -> str:
    """The monitors' cells: a label, a large value and a detail line each."""
    return "".join(
        f"<div class='cascade-monitor' data-monitor='{label.lower().replace(' ', '-')}'>"
        f"<div class='cascade-monitor-label'>{html.escape(label)}</div>"
        f"<div class='cascade-monitor-value'>{html.escape(value)}</div>"
        f"<div class='cascade-monitor-detail'>{html.escape(detail)}</div></div>"
        for label, value, detail in monitors(record_of(model))
    )


@solara.component
def Monitors(model: CascadeModel) -> None:  # noqa: N802
    """The current minute and the running totals, in large type, above the views."""
    update_counter.get()
    solara.HTML(tag="div", unsafe_innerHTML=monitors_html(model), classes=["cascade-monitors"])


COMPONENTS = [Story, Prices, Liquidations, Insurance, OpenInterest, LiquidationMap]


@solara.component
def Views(model: CascadeModel) -> None:  # noqa: N802
    """The monitors, then the views in two columns."""
    with solara.Div(classes=["cascade-page"]):
        Monitors(model)
        with solara.Div(classes=["cascade-grid"]):
            for view in COMPONENTS:
                with solara.Div(classes=["cascade-view"]):
                    view(model)
