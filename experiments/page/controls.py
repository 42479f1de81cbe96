"""The teaching page's settings: the controls a learner moves, each showing its value and unit.

A slider's range comes from the configuration's field metadata (or, for a multiplier of the
preset, from here); its step is chosen so the page's starting value lies on the slider's grid
(a browser slider snaps a value off its grid, which would change a setting nobody touched).
The panel holds the values; Reset builds a model from them and leaves them as they are.
Picking a preset moves the sliders of `PRESET_SLIDERS` to that preset's own values, so a
slider always shows what the next run uses. `settings_line` states those values in one line
above the story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import solara

from experiments.page.narrative import share, usd
from model.config import ModelConfig, ShockConfig
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import POLICIES
from model.overrides import field_metadata
from model.scenarios import SCENARIOS
from model.scenarios import scenario as named_scenario


@dataclass(frozen=True)
class Control:
    """A slider: its label, the dotted key that gives its range, its step and unit.

    `key=None` marks a multiplier of the preset's values, which has no config field; its
    range is declared here (`lo`, `hi`). `unit` is "share" (shown in %), "minute" or "times"
    (× the preset's value).
    """

    label: str
    key: str | None
    step: float
    unit: str
    lo: float | None = None
    hi: float | None = None

    @property
    def is_int(self) -> bool:
        """A whole-number slider (a config field with an integer step)."""
        return float(self.step).is_integer() and self.key is not None


SLIDERS = {
    "high_leverage_share": Control(
        "50–100x share of accounts", "retail.high_leverage_share", 0.005, "share"
    ),
    "shock_size": Control("Shock size (market factor fall)", "shocks.0.size", 0.005, "share"),
    "shock_minute": Control("Shock starts at", "shocks.0.start_minute", 10, "minute"),
    "insurance_scale": Control("Insurance pools", None, 0.1, "times", 0.0, 5.0),
    "stop_loss_share": Control(
        "Stop-loss share of accounts", "retail.stop_loss_share", 0.05, "share"
    ),
    "depth_scale": Control("Market-maker depth", None, 0.05, "times", 0.25, 4.0),
}
SELECTS = {
    "preset": ("Preset", tuple(SCENARIOS)),
    "policy": ("Loss-absorption policy", POLICIES),
    "mark_rule": ("Mark price rule", MARK_RULES),
}


PRESET_SLIDERS = ("high_leverage_share", "shock_size", "stop_loss_share")
"""Sliders that show the picked preset's own value (the others are page-wide: the shock's
minute, and multipliers of the preset)."""


def preset_values(preset: str) -> dict[str, float]:
    """The picked preset's own values of `PRESET_SLIDERS` (no shock size when it has none)."""
    cfg = named_scenario(preset)
    out = {
        "high_leverage_share": cfg.retail.high_leverage_share,
        "stop_loss_share": cfg.retail.stop_loss_share,
    }
    if cfg.shocks:
        out["shock_size"] = cfg.shocks[0].size
    return out


def _metadata() -> dict[str, dict]:
    """Field metadata of every dotted key, shock fields included (shocks are a tuple)."""
    meta = field_metadata(ModelConfig())
    meta.update({f"shocks.0.{k}": v for k, v in field_metadata(ShockConfig()).items()})
    return meta


def slider_range(name: str) -> tuple[float, float]:
    """[lo, hi] of a slider: the field's metadata range, capped by the default horizon."""
    c = SLIDERS[name]
    if c.key is None:
        return float(c.lo), float(c.hi)
    lo, hi = _metadata()[c.key]["range"]
    return lo, min(hi, ModelConfig().horizon_minutes - 1)


def _decimals(x: float) -> int:
    return len(f"{x:g}".partition(".")[2])


def value_text(name: str, value: float) -> str:
    """A slider's value with its unit, to the slider's step: "0.5 %", "minute 240", "1.0 ×"."""
    c = SLIDERS[name]
    if c.unit == "share":
        return f"{value * 100:.{_decimals(c.step * 100)}f} %"
    if c.unit == "minute":
        return f"minute {value:.0f}"
    return f"{value:.{_decimals(c.step)}f} × preset"


@solara.component
def SliderControl(name: str, value: float, on_value: Callable[[Any], None]) -> None:  # noqa: N802
    """One slider under its label and its value (the value is text the back row can read)."""
    c = SLIDERS[name]
    lo, hi = slider_range(name)
    slider = solara.SliderInt if c.is_int else solara.SliderFloat
    with solara.Column(gap="0px", classes=["cascade-control"]):
        with solara.Row(justify="space-between", classes=["cascade-control-head"]):
            solara.Text(c.label, classes=["cascade-label"])
            solara.Text(value_text(name, value), classes=["cascade-value"])
        slider("", value=value, min=lo, max=hi, step=c.step, on_value=on_value, thumb_label=False)


@solara.component
def ControlPanel(values: solara.Reactive[dict[str, Any]]) -> None:  # noqa: N802
    """Every setting of the page: the selects, the sliders with their values, the seed."""

    def setter(name: str) -> Callable[[Any], None]:
        return lambda value: values.set({**values.value, name: value})

    def pick_preset(preset: str) -> None:  # its sliders move to its own values
        values.set({**values.value, "preset": preset, **preset_values(preset)})

    for name, (label, options) in SELECTS.items():
        on_value = pick_preset if name == "preset" else setter(name)
        solara.Select(label, value=values.value[name], values=list(options), on_value=on_value)
    for name in SLIDERS:
        SliderControl(name, values.value[name], setter(name))
    solara.InputText("Seed", value=str(values.value["rng"]), on_value=setter("rng"))


def settings_line(cfg: Any, preset: str, seed: int) -> str:
    """The settings a run actually uses, in one line (so a control left alone is visible)."""
    liq = cfg.liquidation
    pools = (
        liq.pool_initial_usd if isinstance(liq.pool_initial_usd, tuple) else (liq.pool_initial_usd,)
    )
    shock = (
        f"shock −{share(cfg.shocks[0].size)} over {cfg.shocks[0].duration_minutes} min at minute "
        f"{cfg.shocks[0].start_minute}"
        if cfg.shocks
        else "no shock"
    )
    return (
        f"{preset}, seed {seed} · 50–100x share {share(cfg.retail.high_leverage_share)} · "
        f"{shock} · "
        f"pools {' / '.join(usd(p) for p in pools)} · policy {liq.policy} · "
        f"stop-loss share {share(cfg.retail.stop_loss_share)} · "
        f"{cfg.assets[0].symbol} depth {usd(cfg.assets[0].depth_usd)} a side · "
        f"mark rule {cfg.mark_rule}"
    )
