"""Typed events: each kind is a NamedTuple read by field name, each metric defined once."""

import pytest

from model.engine.events import SCHEMAS, Adl, EventLog, Fill
from model.market import CascadeModel


def _adl(qty: float, price_usd: float, mark_usd: float) -> Adl:
    return Adl(
        t=0, round=1, policy="adl_queue", account=5, market=0, side=-1, qty=qty,
        price_usd=price_usd, mark_usd=mark_usd, score=1.0, value_taken_usd=0.0,
        needed_usd=0.0, is_hedge_break=False, margin_to_winner_usd=0.0,
    )  # fmt: skip


def test_adl_notional_is_qty_times_the_close_price():
    # 2 coins closed at the bankruptcy price 100 while the mark is 95: 2 · 100 = 200
    assert _adl(2.0, 100.0, 95.0).notional_usd == 200.0


def test_the_log_files_each_row_under_its_kind():
    log = EventLog()
    log.add(_adl(1.0, 10.0, 10.0))
    log.add(Fill(0, "perp", 0, 1, 2, 1, 10.0, 1.0, 0.0, 0.0, False))
    assert log.count("adl") == 1 and log.count("fill") == 1
    assert log.rows["adl"][0].price_usd == 10.0
    assert list(log.frame("fill").columns) == list(SCHEMAS["fill"])
    with pytest.raises(KeyError):
        log.add((0, 1, 2))  # an untyped row has no kind


def test_recorded_adl_series_and_summary_share_one_definition():
    """A harsh run (40 % of accounts at 50–100x, pools of 2,000 USD) that ADLs."""
    model = CascadeModel(
        scenario="shock",
        rng=5,
        **{
            "horizon_minutes": 200,
            "retail.n_accounts": 1_000,
            "shocks.0.start_minute": 90,
            "retail.high_leverage_share": 0.4,
            "liquidation.pool_initial_usd": 2_000.0,
        },
    )
    summary = model.run()
    series = model.recorder.series["adl_usd"][: model.recorder.n]
    assert summary["adl_events"] > 0
    assert series.sum() == pytest.approx(summary["adl_notional_usd"], rel=1e-12)
