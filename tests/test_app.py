"""The teaching page without a browser: narrative sentences, control mapping, in-process render."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest

from experiments.cli import main
from experiments.page.narrative import (
    RunRecord,
    headline,
    milestones,
    monitors,
    narrate,
    pool_names,
    share,
    so_far,
    usd,
)
from model.config import ModelConfig, ShockConfig
from model.engine.events import SCHEMAS, Adl, BadDebt
from model.overrides import field_metadata
from model.scenarios import scenario as named_scenario

SYMBOLS = ("BTC", "TAIL")
POOLS_USD = np.array([1_000_000.0, 200_000.0])


def adl_row(t: int, side: int, hedge: bool = False, market: int = 1) -> Adl:
    """An ADL event row in schema order (only t, market, side, is_hedge_break matter here)."""
    values = dict.fromkeys(SCHEMAS["adl"], 0)
    values.update(t=t, market=market, side=side, account=7, is_hedge_break=hedge)
    return Adl(**values)


def make_record(minutes: int = 20, **events: list[tuple]) -> RunRecord:
    """Setup: two assets, two pools, 20 quiet minutes with flat prices unless changed."""
    flat = np.ones((minutes, 2))
    series = {
        name: flat.copy() * 0.0
        for name in ("liq_long_usd", "liq_short_usd", "oi_long_usd", "funding_rate")
    }
    series.update(fundamental_usd=flat * 100.0, mark_usd=flat * 100.0, index_usd=flat * 100.0)
    series["oi_long_usd"][:] = 1_000_000.0
    rows = {kind: [] for kind in SCHEMAS}
    rows.update(events)
    return RunRecord(
        minutes=minutes,
        symbols=SYMBOLS,
        series=series,
        pool_usd=np.tile(POOLS_USD, (minutes, 1)),
        initial_pools_usd=POOLS_USD.copy(),
        pool_names=("the BTC pool", "the shared pool"),
        events=rows,
    )


# ------------------------------------------------------------------------------ narrative
def test_usd_formats_money_for_sentences():
    assert [usd(x) for x in (80, 450_000, 1_234_567, 2.5e9, -3_000)] == [
        "$80",
        "$450k",
        "$1.2M",
        "$2.5B",
        "−$3k",
    ]


def test_pool_names_follow_the_pool_mapping():
    # grouped mode: BTC and ETH own pools, the rest share the third
    symbols = ("BTC", "ETH", "SOL", "TAILA")
    assert pool_names(symbols, (0, 1, 2, 2)) == ("the BTC pool", "the ETH pool", "the shared pool")


def test_quiet_window_says_so_and_when_the_shock_comes():
    rec = make_record()
    rec = RunRecord(**{**rec.__dict__, "shocks": (ShockConfig(start_minute=240),)})
    assert headline(rec, window=10) == (
        "minutes 10–19 — no liquidations; the shock comes at minute 240"
    )


def test_a_quiet_window_after_the_shock_says_which_way_prices_move():
    """Shock over at minute 5 (start 0, 5 minutes). Window minutes 10–19: BTC's mark falls
    100 → 97 (−3 %): "still falling", not "recovering"; 100 → 102 (+2 %): recovering;
    100 → 100.2 (+0.2 %, inside ±0.5 %): steady."""
    shock = (ShockConfig(start_minute=0, duration_minutes=5),)
    for end_usd, words in ((97.0, "prices are still falling"), (102.0, "prices are recovering"),
                           (100.2, "prices are steady")):  # fmt: skip
        rec = RunRecord(**{**make_record().__dict__, "shocks": shock})
        rec.series["mark_usd"][19, 0] = end_usd
        assert headline(rec, window=10) == f"minutes 10–19 — no liquidations; {words}"


def test_headline_reports_liquidations_adl_hedges_and_an_empty_pool():
    """Setup: minute 19 liquidates 900k of TAIL longs and 100k of BTC shorts, ADL closes
    three shorts (one a hedge) and one long, and the shared pool ends at 1k of its 200k."""
    adl = [adl_row(19, -1), adl_row(19, -1, hedge=True), adl_row(19, -1), adl_row(19, 1)]
    rec = make_record(adl=adl)
    rec.series["liq_long_usd"][19, 1] = 900_000.0
    rec.series["liq_short_usd"][19, 0] = 100_000.0
    rec.pool_usd[19, 1] = 1_000.0  # 0.5 % of its start: below the 1 % "empty" line
    # 900k / (900k + 100k) = 90 % longs; TAIL has the most
    assert headline(rec, window=1) == (
        "minute 19 — liquidated $1.0M (90% longs, most on TAIL); "
        "ADL closed 3 shorts and 1 long, 1 of them a hedge; the shared pool is empty"
    )


def test_so_far_totals_liquidations_adl_hedge_breaks_and_bad_debt():
    bad = [BadDebt(t=5, round=0, account=3, market=1, amount_usd=2_500.0)]
    rec = make_record(adl=[adl_row(4, -1, hedge=True), adl_row(6, -1)], bad_debt=bad)
    rec.series["liq_long_usd"][3, 1] = 300_000.0
    rec.series["liq_short_usd"][3, 1] = 100_000.0
    assert so_far(rec) == (
        "So far: $400k liquidated (75% longs); 2 ADL closes (1 hedge break); bad debt $2k."
    )


def test_milestones_in_time_order():
    """Setup: liquidations peak at minute 3, ADL starts at 4 and breaks a hedge at 6, the
    shared pool falls below half at 8 and below 1 % at 12, bad debt at 13."""
    bad = [BadDebt(t=13, round=0, account=3, market=1, amount_usd=5_000.0)]
    rec = make_record(adl=[adl_row(4, -1), adl_row(6, -1, hedge=True)], bad_debt=bad)
    rec.series["liq_long_usd"][3, 1] = 500_000.0
    rec.pool_usd[8:, 1] = 90_000.0
    rec.pool_usd[12:, 1] = 0.0
    moments = milestones(rec)
    assert [t for t, _ in moments] == [3, 4, 6, 8, 12, 13]
    texts = dict(moments)
    assert texts[3] == "the busiest minute so far: $500k liquidated, 100% of it longs"
    assert texts[4].startswith("first ADL on TAIL")
    assert "closed 1 short" in texts[4]
    assert texts[6] == (
        "ADL broke a hedge: account 7 was market-neutral, and losing its TAIL short left it exposed"
    )
    assert texts[8] == "the shared pool is down to half its start ($90k)"
    assert texts[12] == "the shared pool is empty ($0)"
    assert texts[13] == "first bad debt: $5k on TAIL that nobody absorbed"


def test_milestones_say_when_a_broken_hedges_owner_first_sells():
    """Setup: from minute 7 the owners of broken hedges sell 30k of TAIL and 10k of BTC a
    minute (the second round); the panel names the first such minute and the main asset."""
    rec = make_record()
    sold = np.zeros((20, 2))
    sold[7:] = (10_000.0, 30_000.0)
    rec.series["broken_hedge_sold_usd"] = sold
    assert dict(milestones(rec))[7] == (
        "a broken hedge's owner sells: $40k sold in answer, most of it TAIL "
        "(a basis trader's spot left naked, a fund's alts)"
    )
    quiet = make_record()
    assert milestones(quiet) == []


def test_shock_milestones_report_the_fall_of_fundamental_and_mark():
    """Setup: a 10 % shock over minutes 5–10; both fundamentals fall 10 %, BTC's mark 20 %."""
    rec = make_record()
    rec = RunRecord(
        **{**rec.__dict__, "shocks": (ShockConfig(start_minute=5, duration_minutes=5),)}
    )
    rec.series["fundamental_usd"][10:] = 90.0
    rec.series["mark_usd"][8, 0] = 80.0
    texts = dict(milestones(rec))
    assert texts[5].startswith("the shock hits: the market factor falls 10% over 5 minutes")
    assert texts[10] == (
        "the shock's fall is over: BTC fundamental -10.0%, mark at its lowest -20.0%; "
        "TAIL fundamental -10.0%, mark at its lowest +0.0%"
    )


def test_narrate_lists_newest_moments_first_and_caps_them():
    rec = make_record(adl=[adl_row(4, -1), adl_row(6, -1, hedge=True)])
    lines = narrate(rec, window=5, max_moments=1)
    assert lines[0].startswith("minutes 15–19 — ")
    assert lines[1].startswith("So far: ")
    assert lines[2:] == ["minute 6 — " + dict(milestones(rec))[6]]


def test_monitors_show_the_minute_and_the_totals_so_far():
    """Setup: 20 minutes, a shock at minute 30; 300k of longs and 100k of shorts liquidated,
    two ADL closes (one a hedge), 2.5k of bad debt, the shared pool down to 50k of 200k."""
    bad = [BadDebt(t=5, round=0, account=3, market=1, amount_usd=2_500.0)]
    rec = make_record(adl=[adl_row(4, -1, hedge=True), adl_row(6, -1)], bad_debt=bad)
    rec = RunRecord(**{**rec.__dict__, "shocks": (ShockConfig(start_minute=30),)})
    rec.series["liq_long_usd"][3, 1] = 300_000.0
    rec.series["liq_short_usd"][3, 1] = 100_000.0
    rec.pool_usd[19, 1] = 50_000.0
    assert monitors(rec) == [
        ("Minute", "20", "shock at minute 30"),
        ("Liquidated", "$400k", "75% longs"),
        ("ADL closes", "2", "1 hedge broken"),
        # 1M + 50k of 1M + 200k = 87.5 %
        ("Insurance pools", "$1.1M", "88% of $1.2M"),
        ("Bad debt", "$2k", "nobody absorbed it"),
    ]
    quiet = make_record(minutes=0)
    assert [value for _, value, _ in monitors(quiet)] == ["0", "$0", "0", "$1.2M", "$0"]


def test_shares_in_sentences_keep_a_tenth_of_a_percent():
    assert [share(x) for x in (0.005, 0.045, 0.1, 0.0)] == ["0.5%", "4.5%", "10%", "0%"]


# ------------------------------------------------------------------------------- controls
def test_slider_ranges_come_from_field_metadata():
    from experiments.page.controls import SELECTS, slider_range

    meta = field_metadata(ModelConfig())
    assert slider_range("high_leverage_share") == meta["retail.high_leverage_share"]["range"]
    assert slider_range("stop_loss_share")[1] == meta["retail.stop_loss_share"]["range"][1]
    assert slider_range("shock_size")[1] == field_metadata(ShockConfig())["size"]["range"][1]
    # start_minute is unbounded above; the slider stops before the default horizon
    assert slider_range("shock_minute")[1] == ModelConfig().horizon_minutes - 1
    assert SELECTS["preset"][1] == ("calm", "shock", "oct-2025")


def browser_slider_value(value: float, lo: float, hi: float, step: float) -> float:
    """What the page's slider (Vuetify 2 VSlider, `roundValue`) makes of a value it is given:
    clipped to [lo, hi], rounded to the grid lo % step + k · step, written with the step's
    decimals. A value off the grid comes back changed, and the slider sends the change."""
    decimals = len(str(step).partition(".")[2])
    offset = lo % step  # JavaScript's % and Python's agree for positive numbers
    snapped = math.floor((min(max(value, lo), hi) - offset) / step + 0.5) * step + offset
    return float(f"{min(snapped, hi):.{decimals}f}")


def test_browser_slider_value_is_vuetifys_rounding():
    # the page's old 50–100x slider: oct-2025's 0.5 % on a 0.05 grid became 0 % (Reset
    # then ran with it); its shock size of 4.5 % on a 0.01 grid became 4 % or 5 %
    assert browser_slider_value(0.005, 0.0, 1.0, 0.05) == 0.0
    assert browser_slider_value(0.045, 0.0, 0.9, 0.01) != 0.045
    assert browser_slider_value(1.0, 0.25, 4.0, 0.05) == 1.0  # offset 0.25 % 0.05 ≈ 0.05


def test_every_control_starts_on_its_grid_so_reset_changes_nothing():
    """A slider's start must survive the browser's rounding; a select's start must be one of
    its options; the seed is digits."""
    from experiments.page.app import initial_values
    from experiments.page.controls import SELECTS, SLIDERS, preset_values, slider_range

    start = initial_values()
    for name, c in SLIDERS.items():
        lo, hi = slider_range(name)
        assert lo <= start[name] <= hi, name
        assert browser_slider_value(start[name], lo, hi, c.step) == start[name], name
    for preset in SELECTS["preset"][1]:  # picking a preset puts its own values on sliders
        for name, value in preset_values(preset).items():
            lo, hi = slider_range(name)
            assert browser_slider_value(value, lo, hi, SLIDERS[name].step) == value, preset
    for name, (_, options) in SELECTS.items():
        assert start[name] in options, name
    assert str(start["rng"]).isdigit()
    assert set(start) == {*SLIDERS, *SELECTS, "rng"}  # every control is checked


def test_slider_values_read_with_their_units():
    from experiments.page.controls import value_text

    assert value_text("high_leverage_share", 0.005) == "0.5 %"
    assert value_text("shock_size", 0.1) == "10.0 %"
    assert value_text("stop_loss_share", 0.1) == "10 %"
    assert value_text("shock_minute", 240) == "minute 240"
    assert value_text("insurance_scale", 2.0) == "2.0 × preset"
    assert value_text("depth_scale", 0.25) == "0.25 × preset"


def test_controls_left_alone_keep_the_presets_values():
    from experiments.page.app import INITIAL, overrides_for
    from experiments.page.controls import preset_values

    # picking "shock" puts its own values on its sliders (0.01, 0.10, 0.10)
    assert preset_values("shock") == {
        "high_leverage_share": 0.01,
        "stop_loss_share": 0.1,
        "shock_size": 0.1,
    }
    out = overrides_for("shock", {**INITIAL, "preset": "shock", **preset_values("shock")})
    # the 50–100x share and the shock size stay the shock preset's
    assert "retail.high_leverage_share" not in out
    assert "shocks.0.size" not in out
    # the page always moves the shock to minute 240; with no warm-up left (positions are
    # open from minute 0) there is nothing else to move with it
    assert out["shocks.0.start_minute"] == 240
    assert not any(key.startswith("retail.") for key in out)
    assert out["liquidation.policy"] == "adl_queue"


def test_moved_controls_become_dotted_overrides():
    from experiments.page.app import INITIAL, overrides_for

    moved = {
        **INITIAL,
        "high_leverage_share": 0.6,
        "insurance_scale": 2.0,
        "depth_scale": 0.5,
        "policy": "backstop_vault",
        "mark_rule": "last",
    }
    out = overrides_for("oct-2025", moved)
    preset = named_scenario("oct-2025")
    assert out["retail.high_leverage_share"] == 0.6
    # the preset's pools (p1, p2, p3) × 2; the vault gets the pools' capital, 2 · Σ p
    pools = preset.liquidation.pool_initial_usd
    assert out["liquidation.pool_initial_usd"] == tuple(2.0 * p for p in pools)
    assert out["liquidation.vault_initial_usd"] == pytest.approx(2.0 * sum(pools))
    # every asset's depth × 0.5, from the preset's (oct-2025 halves the tails: TAILB 50k)
    assert out["assets.5.depth_usd"] == 0.5 * preset.assets[5].depth_usd == 25_000.0
    assert out["assets.0.depth_usd"] == 0.5 * preset.assets[0].depth_usd
    assert out["mark_rule"] == "last"


def test_calm_ignores_the_shock_controls():
    from experiments.page.app import INITIAL, overrides_for

    out = overrides_for("calm", {**INITIAL, "shock_size": 0.3})
    assert not [k for k in out if k.startswith("shocks.")]


def test_demo_model_takes_the_pages_settings_and_a_text_seed():
    from experiments.page.app import DemoModel, initial_values, seed_of

    model = DemoModel(**{**initial_values(), "rng": "7", "high_leverage_share": 0.5})
    assert model.seed == 7
    assert model.cfg.retail.high_leverage_share == 0.5
    assert model.cfg.shocks[0].start_minute == 240
    assert seed_of(" 42 ") == 42
    assert seed_of("october") == seed_of("october")  # any word is a seed


# -------------------------------------------------------------------------- in-process page
def html_of(rc, css_class: str) -> str:
    """The inner HTML of the page's one solara.HTML element with that class."""
    import solara

    (widget,) = [
        w for w in rc.find(solara.widgets.HTML).widgets if w.attributes.get("class") == css_class
    ]
    return widget.unsafe_innerHTML


def minute_shown(rc) -> int:
    """The minute monitor's value."""
    cell = html_of(rc, "cascade-monitors").split("data-monitor='minute'>")[1]
    return int(cell.split("cascade-monitor-value'>")[1].split("<")[0])


def value_shown(rc, name: str) -> str:
    """The value text next to a slider's label."""
    import ipyvuetify as vw

    from experiments.page.controls import SLIDERS

    texts = rc.find(vw.Html, tag="span", class_="cascade-value").widgets
    return texts[list(SLIDERS).index(name)].children[0]


def test_page_renders_steps_and_resets_in_process():
    import ipyvuetify as vw
    import ipywidgets
    import solara

    from experiments.page import app
    from experiments.page.controls import SLIDERS

    @solara.component
    def Wrapped():  # noqa: N802  (the sidebar renders only inside an AppLayout)
        with solara.AppLayout():
            app.Page()

    _, rc = solara.render(Wrapped(), handle_error=False)
    assert f"oct-2025, seed {app.DEFAULT_SEED}" in html_of(rc, "cascade-story")
    images = [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]
    assert len(images) == len(app.COMPONENTS) - 1  # every view but the story is a figure
    assert minute_shown(rc) == 0
    # Mesa's scheduler controls are not on the page; its Reset, ▶ and Step are
    labels = {w.label for w in rc.find(vw.Slider).widgets} | {
        w.label for w in rc.find(vw.Checkbox).widgets
    }
    assert not labels & {"Play Interval (ms)", "Render Interval (steps)", "Use Threads"}
    assert len(rc.find(vw.Slider).widgets) == len(SLIDERS)
    assert not rc.find(vw.Tab).widgets

    rc.find(vw.Btn, children=["Step"]).widget.click()
    assert minute_shown(rc) == app.MINUTES_PER_FRAME
    after = [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]
    # prices, open interest and pools move at once; liquidations may wait
    assert sum(a != b for a, b in zip(images, after, strict=True)) >= 3
    assert f"minutes 0–{app.MINUTES_PER_FRAME - 1} — " in html_of(rc, "cascade-story")

    # Reset with nothing moved: the settings and the run keep oct-2025's 0.5 %
    rc.find(vw.Btn, children=["Reset"]).widget.click()
    assert minute_shown(rc) == 0
    assert value_shown(rc, "high_leverage_share") == "0.5 %"
    assert "50–100x share 0.5% ·" in html_of(rc, "cascade-story")

    # pick calm: its sliders show its own values (1 % at 50–100x)
    rc.find(vw.Select, label="Preset").widget.v_model = "calm"
    assert value_shown(rc, "high_leverage_share") == "1.0 %"
    # move the share, Reset: the new run has it, the settings keep it
    share_slider = rc.find(vw.Slider).widgets[list(SLIDERS).index("high_leverage_share")]
    share_slider.v_model = 0.02
    rc.find(vw.Btn, children=["Reset"]).widget.click()
    assert value_shown(rc, "high_leverage_share") == "2.0 %"
    assert share_slider.v_model == 0.02
    assert html_of(rc, "cascade-story").startswith(
        f"<p style='margin:2px 0;color:#444;font-size:85%;'>calm, seed {app.DEFAULT_SEED} · "
        "50–100x share 2% ·"
    )


# ------------------------------------------------------------------------------------- CLI
def test_demo_rejects_a_bad_port(capsys):
    assert main(["demo", "--port", "0"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err


def test_demo_refuses_a_port_in_use(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    assert f"port {port} is in use" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["calm", "shock", "oct-2025"])
def test_every_preset_builds_with_the_initial_controls(preset):
    from experiments.page.app import DemoModel

    model = DemoModel(preset=preset)
    model.step()
    assert model.recorder.n == 1
    assert model.preset == preset
