"""The hedge-break study's arithmetic on hand-made runs, and one real stressed run."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments import hedge_study as h

TINY = {"horizon_minutes": 300, "retail.n_accounts": 500, "shocks.0.start_minute": 150}
"""300 minutes, 500 accounts, the news at minute 150: a few seconds per run."""


def _runs() -> pd.DataFrame:
    """Two seeds of two variants; the metric values are chosen for hand arithmetic."""
    base = {
        "broken_hedge_sold_usd": 0.0, "btc_drawdown": 0.1, "adl_hedged_usd": 0.0,
        "adl_others_usd": 2e6, "taken_others_usd": 1e3, "btc_pool_fall": 0.5,
    }  # fmt: skip
    rows = [
        ("stressed, adl_queue", 7, 3.0, 0.40, 1.0),
        ("stressed, adl_queue", 8, 0.0, 0.20, 0.5),
        ("stressed, second round off", 7, 3.0, 0.30, 1.0),
        ("stressed, second round off", 8, 0.0, 0.25, 0.995),
    ]
    return pd.DataFrame(
        [
            {
                "variant": v,
                "seed": s,
                "hedge_breaks": b,
                "tail_drawdown": d,
                "tail_pool_fall": f,
                **base,
            }
            for v, s, b, d, f in rows
        ]
    )


def test_paired_difference_is_taken_seed_by_seed():
    """Seed 7: 0.40 − 0.30 = +0.10; seed 8: 0.20 − 0.25 = −0.05 → mean +0.025, 1 of 2 > 0."""
    d = h.paired_difference(
        _runs(), "stressed, adl_queue", "stressed, second round off", "tail_drawdown"
    )
    assert (d["mean"], d["min"], d["max"]) == pytest.approx((0.025, -0.05, 0.10))
    assert (d["positive"], d["n"]) == (1, 2)


def test_markdown_gives_the_pairs_it_has_and_skips_the_others():
    """Only the stressed pair is in the runs: its two paired lines (long tail +0.025, BTC 0),
    none for the levered-tail variants."""
    text = h.markdown(_runs())
    assert "long-tail drawdown (stressed), paired seeds: +0.025 [-0.050 to +0.100]" in text
    assert "levered tails" not in text


def test_the_table_counts_seeds_and_exhausted_pools():
    """queue: breaks 3 and 0 → "1 of 2" seeds; drawdowns 0.40 and 0.20 → 0.300 [0.200–0.400];
    pools 1.0 and 0.5 → 1 of 2 exhausted (≥ 0.99); second round off: 1.0 and 0.995 → 2 of 2."""
    t = h.study_table(_runs()).set_index("variant")
    assert t.loc["stressed, adl_queue", "seeds with a hedge break"] == "1 of 2"
    assert t.loc["stressed, adl_queue", "tail pool exhausted"] == "1 of 2"
    assert t.loc["stressed, second round off", "tail pool exhausted"] == "2 of 2"
    assert t.loc["stressed, adl_queue", "long-tail drawdown"] == "0.300 [0.200–0.400]"
    assert t.loc["stressed, adl_queue", "ADL closed from other winners, M USD"] == "2.0 [2.0–2.0]"


def test_a_stressed_run_reaches_the_hedged_books_and_splits_adl_by_holder():
    """40 % of the crowd at 50–100x, pools of 2,000 USD: ADL closes hedged books' shorts,
    and the split by holder adds up to every ADL close."""
    r = h.run_one(1, {**h.STRESS, **TINY})
    assert r["hedge_breaks"] > 0 and r["adl_hedged_usd"] > 0
    assert r["tail_pool_fall"] >= h.EXHAUSTED
    assert r["adl_hedged_usd"] + r["adl_others_usd"] > r["adl_others_usd"] > 0


def test_bad_options_are_refused_before_any_run(capsys, tmp_path):
    for argv, word in ((["--seeds", "0"], "--seeds"), (["--out", str(tmp_path / "no")], "--out")):
        with pytest.raises(SystemExit) as e:
            h.main(argv)
        assert e.value.code == 2 and word in capsys.readouterr().err
