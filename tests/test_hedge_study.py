"""The hedge-break study's arithmetic on hand-made runs, and one real stressed run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
        "tail_max_drawdown": 0.6, "tail_day_drawdown": 0.7, "hedge_breaks_before_news": 0.0,
        "adl_major_usd": 0.5e6,
        "adl_btc_usd": 0.4e6, "adl_tail_usd": 1e6, "ahead_btc_usd": 30e6, "ahead_tail_usd": 2e6,
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


def test_the_replay_line_sets_both_rankings_side_by_side_within_each_run():
    """Seed 7: the queue would break 5, adl_portfolio 3 (−2), moving 2 M USD and 40 k of
    value; seed 8: 2 and 2 (0), nothing moved → −1.0 per run [−2 to +0], below zero in 1 of
    2 seeds; moved 1.0 [0.0–2.0] M USD and 20 [0–40] k USD."""
    runs = _runs()
    runs["replay_queue_breaks"] = [5.0, 2.0, 0.0, 0.0]
    runs["replay_portfolio_breaks"] = [3.0, 2.0, 0.0, 0.0]
    runs["replay_shifted_usd"] = [2e6, 0.0, 0.0, 0.0]
    runs["replay_shifted_taken_usd"] = [40e3, 0.0, 0.0, 0.0]
    d = h.replayed_difference(runs, "stressed, adl_queue", "breaks")
    assert (d["mean"], d["positive"], d["negative"], d["n"]) == (-1.0, 0, 1, 2)
    text = h.markdown(runs)
    assert "the queue would break 3.5 hedges per run, adl_portfolio 2.5" in text
    assert "adl_queue -1.0 [-2 to +0], above zero in 0, below in 1 of 2 seeds" in text
    assert "moves 1.0 [0.0–2.0] M USD" in text and "20 [0–40] k USD" in text


def test_the_table_counts_seeds_and_exhausted_pools():
    """queue: breaks 3 and 0 → "1 of 2" seeds; drawdowns 0.40 and 0.20 → 0.300 [0.200–0.400];
    pools 1.0 and 0.5 → 1 of 2 exhausted (≥ 0.99); second round off: 1.0 and 0.995 → 2 of 2."""
    t = h.study_table(_runs()).set_index("variant")
    assert t.loc["stressed, adl_queue", "seeds with a hedge break"] == "1 of 2"
    assert t.loc["stressed, adl_queue", "tail pool exhausted"] == "1 of 2"
    assert t.loc["stressed, second round off", "tail pool exhausted"] == "2 of 2"
    assert t.loc["stressed, adl_queue", "long-tail drawdown"] == "0.300 [0.200–0.400]"
    assert t.loc["stressed, adl_queue", "ADL closed from other winners, M USD"] == "2.0 [2.0–2.0]"


def test_the_table_sets_adl_closed_against_the_queue_ahead_of_the_hedged_books():
    """Per run 0.5 M of 0 + 2 M ADL in BTC and ETH → 25 %; BTC closed 0.4 M against 30 M
    ahead of its first hedged book; a tail perp 1 M against 2 M."""
    t = h.study_table(_runs()).set_index("variant").loc["stressed, adl_queue"]
    assert t["of ADL in BTC and ETH"] == "25%"
    assert t["BTC: ADL closed / queue ahead of a hedge, M USD"] == "0.4 / 30.0"
    assert t["a tail perp: ADL closed / queue ahead, M USD"] == "1.0 / 2.0"


def test_stressed_runs_reach_the_hedged_books_and_split_adl_by_holder():
    """40 % of the crowd at 50–100x, pools of 2,000 USD, 4 seeds: ADL closes hedged books'
    shorts in every run and breaks a hedge in most (a close inside the 20 % band reaches a
    book without breaking it), the tail pool runs dry, and the split by holder adds up to every
    ADL close."""
    runs = [h.run_one(seed, {**h.STRESS, **h.REPLAY, **TINY}) for seed in range(1, 5)]
    assert sum(r["hedge_breaks"] > 0 for r in runs) >= 3, [r["hedge_breaks"] for r in runs]
    for r in runs:
        assert 0 <= r["hedge_breaks_before_news"] <= r["hedge_breaks"]
        assert r["tail_pool_fall"] >= h.EXHAUSTED
        assert r["adl_hedged_usd"] + r["adl_others_usd"] > r["adl_others_usd"] > 0
        # the replay's queue is the run's own: its breaks, each (account, market) once (a book
        # re-hedged and broken again counts once); the portfolio-aware queue takes hedged lots
        # only after every naked lot, so it never moves notional onto hedges
        assert r["replay_queue_breaks"] <= r["hedge_breaks"]
        assert (r["replay_queue_breaks"] > 0) == (r["hedge_breaks"] > 0)
        assert r["replay_shifted_usd"] >= 0 and r["replay_shifted_taken_usd"] >= 0


def test_the_queue_ahead_of_the_hedged_books_is_what_the_engine_closes_first():
    """At the news of a real run, the engine's own ADL allocation (`Policy.queue_allocation`)
    against a long of the lots ahead leaves every hedged book whole; one lot more reaches one."""
    from experiments.hedge_run import HEDGED_BOOKS, queue_ahead_usd
    from model import CascadeModel

    m = CascadeModel(scenario="oct-2025", rng=3, **TINY)
    while m.t < 150:
        m.step()
    ex, k = m.exchange, 0
    hedged = [a for t in m.traders if type(t).__name__ in HEDGED_BOOKS for a in t.account_ids]
    lots = round(queue_ahead_usd(m, k) / (ex.perps[k].lot_size * ex.prices.mark_usd[k]))
    long_acct = int(np.flatnonzero(ex.accounts.qty_lots[:, k] > 0)[0])
    policy = ex.liquidator.policy
    for n, reached in ((lots, 0), (lots + 1, 1)):
        cands, alloc, _ = policy.queue_allocation(long_acct, k, 1, n)
        assert alloc.sum() == n and alloc[np.isin(cands, hedged)].sum() == reached


def _paths(on: list[float], off: list[float], first: float) -> pd.DataFrame:
    rows = [("stressed, adl_queue", on, first), ("stressed, second round off", off, np.nan)]
    return pd.DataFrame(
        [{"variant": v, "seed": 7, "tail_path": p, "first_sale_minute": f} for v, p, f in rows]
    )


def test_the_fall_after_the_first_sale_is_taken_from_the_last_shared_minute():
    """First sale at minute 2; both runs stand at 0.9 at minute 1. With the second round the
    window's low is 0.72 (fall 1 − 0.72/0.9 = 0.20), without it 0.81 (0.10): +0.10. The low
    after the window (minute 63) is not counted."""
    on = [1.0, 0.9, 0.85, 0.72] + [0.8] * 59 + [0.1]
    off = [1.0, 0.9, 0.88, 0.81] + [0.85] * 59 + [0.1]
    d = h.fall_after_first_sale(_paths(on, off, 2.0), "stressed, adl_queue",
                                "stressed, second round off", "tail_path")  # fmt: skip
    assert (d["mean"], d["positive"], d["n"]) == (pytest.approx(0.10), 1, 1)


def test_a_seed_without_a_sale_is_left_out_of_the_fall_after_it():
    d = h.fall_after_first_sale(_paths([1.0, 0.9], [1.0, 0.8], np.nan), "stressed, adl_queue",
                                "stressed, second round off", "tail_path")  # fmt: skip
    assert d["n"] == 0


def test_paired_runs_share_their_path_until_the_first_broken_hedge_sale():
    """The control is valid: with the second round off, the same seed follows the same marks up
    to the minute before the first sale (common random numbers), and only then may part."""
    on = h.run_one(1, {**h.STRESS, **TINY})
    off = h.run_one(1, {**h.STRESS, **TINY, **h.HOLD})
    t0 = int(on["first_sale_minute"])
    assert t0 >= 1 and np.isnan(off["first_sale_minute"])
    for path in ("tail_path", "btc_path"):
        assert on[path][:t0] == off[path][:t0]


def test_the_stored_table_is_what_the_stored_runs_give():
    """results/tables/hedge_study.md (spliced into docs/results.md) is `markdown` of the stored
    runs, float32 paths included: nobody edited the numbers by hand."""
    tables = Path(__file__).resolve().parents[1] / "results" / "tables"
    runs = pd.read_parquet(tables / "hedge_study_runs.parquet")
    assert h.markdown(runs) == (tables / "hedge_study.md").read_text()


def test_bad_options_are_refused_before_any_run(capsys, tmp_path):
    for argv, word in ((["--seeds", "0"], "--seeds"), (["--out", str(tmp_path / "no")], "--out")):
        with pytest.raises(SystemExit) as e:
            h.main(argv)
        assert e.value.code == 2 and word in capsys.readouterr().err
