"""The teaching page: Mesa's SolaraViz over `CascadeModel`, a shell with no model logic.

Serve it with `cascade-lab demo` (or `solara run experiments/page/app.py`). The controls'
ranges come from the configuration's field metadata; `DemoModel` maps the flat control names
to dotted overrides; every chart and sentence (`experiments.page.views`) is drawn from the
model's recorder and event log.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import solara
from mesa.visualization import SolaraViz

from experiments.page.views import COMPONENTS, MINUTES_PER_FRAME
from model.config import ModelConfig, ShockConfig
from model.engine.absorption import uses_vault
from model.engine.pricing import MARK_RULES
from model.engine.risk_config import POLICIES
from model.market import CascadeModel
from model.overrides import field_metadata
from model.scenarios import SCENARIOS
from model.scenarios import scenario as named_scenario

DEFAULT_PRESET = "oct-2025"
DEMO_SHOCK_MINUTE = 240
"""The page moves the shock from minute 720 to 240 so a short play reaches it."""
DEFAULT_SEED = "2"
"""The clearest cascade among seeds 1–8 of the page's oct-2025 (model of 22 Nov 2026): 7× more
liquidated in the 4 hours after the shock than before it, 97 % longs, peak 4 minutes in. In
seeds 1 and 6 pre-shock bursts are as large as the cascade, which hides the lesson."""


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
    if uses_vault(values["policy"]):  # the vault gets the pools' capital (catalogue rule)
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
