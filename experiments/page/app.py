"""The teaching page: Mesa's model controls (Reset, ▶, Step) over `CascadeModel`, in a page
of our own; a shell with no model logic.

Serve it with `cascade-lab demo` (or `solara run experiments/page/app.py`). The settings and
their ranges are in `experiments.page.controls`; `DemoModel` maps their flat names to dotted
overrides; every chart and sentence (`experiments.page.views`) is drawn from the model's
recorder and event log. Of Mesa's SolaraViz the page keeps only its `ModelController`: the
scheduler's own controls (play and render interval, threads) and its tabs are not shown.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import solara
from mesa.visualization.solara_viz import ModelController

from experiments.page.controls import PRESET_SLIDERS, SLIDERS, ControlPanel, preset_values
from experiments.page.views import COMPONENTS, CSS, MINUTES_PER_FRAME, Views  # noqa: F401
from model.engine.absorption import uses_vault
from model.market import CascadeModel
from model.scenarios import scenario as named_scenario

TITLE = "Cascade Lab: a macro shock becomes a liquidation cascade"
DEFAULT_PRESET = "oct-2025"
DEMO_SHOCK_MINUTE = 240
"""The page moves the shock from minute 720 to 240 so a short play reaches it."""
DEFAULT_SEED = "2"
"""The clearest cascade among seeds 1–8 of the page's oct-2025 (model of 22 Nov 2026): 7× more
liquidated in the 4 hours after the shock than before it, 97 % longs, peak 4 minutes in. In
seeds 1 and 6 pre-shock bursts are as large as the cascade, which hides the lesson."""
PLAY_INTERVAL_MS = 20
"""Pause between frames of ▶ (Mesa's play interval; not shown)."""


@functools.cache
def initial_values() -> dict[str, Any]:
    """Where the settings start (the default preset's values, built once, on first use).

    Also readable as the module attribute ``INITIAL`` (built when first read, never at
    import).
    """
    cfg = named_scenario(DEFAULT_PRESET)
    return {
        "preset": DEFAULT_PRESET,
        "rng": DEFAULT_SEED,
        **preset_values(DEFAULT_PRESET),
        "shock_minute": DEMO_SHOCK_MINUTE,
        "insurance_scale": 1.0,
        "depth_scale": 1.0,
        "policy": cfg.liquidation.policy,
        "mark_rule": cfg.mark_rule,
    }


def __getattr__(name: str) -> Any:
    if name == "INITIAL":
        return initial_values()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def seed_of(text: str | int) -> int:
    """The seed box's text as an int: digits as they are, any other text hashed (crc32)."""
    text = str(text).strip()
    return int(text) if text.isdigit() else zlib.crc32(text.encode())


def overrides_for(preset: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted overrides of a preset for the page's control values.

    Rules: a slider of `PRESET_SLIDERS` whose value differs from the preset's own is the
    teacher's choice (a preset with no shock ignores the shock's); the shock minute always
    applies; multipliers scale the preset's pools and every asset's depth; policy and mark
    rule always apply.
    """
    cfg = named_scenario(preset)
    own = preset_values(preset)
    out: dict[str, Any] = {}
    for name in PRESET_SLIDERS:
        if name in own and values[name] != own[name]:
            out[SLIDERS[name].key] = values[name]
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
    """`CascadeModel` built from the page's flat settings (Mesa's Reset passes keywords only)."""

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
        """A setting not given (None) is the preset's own (`preset_values`), or else where the
        page's settings start (`initial_values`)."""
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
        start = {**initial_values(), **preset_values(preset or DEFAULT_PRESET)}
        values = {k: start[k] if v is None else v for k, v in given.items()}
        preset, rng = values.pop("preset"), values.pop("rng")
        seed = seed_of(rng)
        super().__init__(scenario=preset, rng=seed, **overrides_for(preset, values))
        self.preset = preset


@solara.component
def Page() -> None:  # noqa: N802
    """The page: one model per browser session (built on first render, rebuilt by Reset from
    the settings, which keep their values)."""
    model = solara.use_reactive(solara.use_memo(DemoModel, []))
    settings = solara.use_reactive(dict(initial_values()))
    play_interval_ms = solara.use_reactive(PLAY_INTERVAL_MS)
    minutes_per_frame = solara.use_reactive(MINUTES_PER_FRAME)
    use_threads = solara.use_reactive(False)
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Card("Run"):
            ModelController(
                model,
                model_parameters=settings,
                play_interval=play_interval_ms,
                render_interval=minutes_per_frame,
                use_threads=use_threads,
            )
        with solara.Card("Settings", subtitle="Reset starts a new run with them"):
            ControlPanel(settings)
    Views(model.value)
