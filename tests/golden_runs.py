"""Golden runs: the full summary, event counts and digests of a few short runs, stored exactly.

`tests/test_golden.py` compares fresh runs with `tests/golden/runs.json` key by key, with no
tolerance, so any change that moves a number shows. The digests hash every event row and
every account's final arrays (values normalised to Python numbers, so a row's type may
change but not its contents). When a change is meant to move them, rewrite the file and give
the reason in the commit:

    .venv/bin/python -m tests.golden_runs --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

PATH = Path(__file__).parent / "golden" / "runs.json"
SHORT = {"horizon_minutes": 200, "retail.n_accounts": 1_000, "shocks.0.start_minute": 90}
HARSH = {**SHORT, "retail.high_leverage_share": 0.4, "liquidation.pool_initial_usd": 2_000.0}
POLICIES = ("adl_queue", "adl_pro_rata", "adl_min_max_leverage", "socialized_loss")
ACCOUNT_ARRAYS = (
    "collateral_usd", "qty_lots", "entry_price_usd", "isolated_margin_usd",
    "realized_pnl_usd", "fees_paid_usd", "funding_paid_usd", "spot_lots",
)  # fmt: skip


def _plain(value: object) -> object:
    """A value as a plain Python number or string (so the digest ignores its container type)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def digest(exchange) -> dict[str, str]:
    """sha256 of every event kind's rows and of the accounts' final arrays."""
    out = {}
    for kind, rows in exchange.events.rows.items():
        text = json.dumps([[_plain(v) for v in row] for row in rows])
        out[f"events:{kind}"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    for name in ACCOUNT_ARRAYS:
        arr = np.ascontiguousarray(exchange.accounts.view(name))
        out[f"accounts:{name}"] = hashlib.sha256(arr.tobytes()).hexdigest()[:16]
    return out


def _record(summary: dict, exchange) -> dict:
    events = exchange.events
    counts = {kind: len(rows) for kind, rows in events.rows.items()}
    counts.update({f"reject:{k}": v for k, v in sorted(events.reject_counts.items())})
    return {
        "summary": {k: float(v) for k, v in summary.items()},
        "event_counts": counts,
        "digest": digest(exchange),
    }


def model_run(scenario: str, seed: int, overrides: dict, twin: bool = False) -> dict:
    """One short model run (with its twin when asked): summary, counts, digests."""
    from model.market import CascadeModel
    from model.twin import run_pair

    if twin:
        model, twin_model, summary = run_pair(scenario, seed, overrides)
        out = _record(summary, model.exchange)
        out["twin_digest"] = digest(twin_model.exchange)
        return out
    model = CascadeModel(scenario=scenario, rng=seed, **overrides)
    return _record(model.run(), model.exchange)


def _policy_run(policy: str, **extra: object) -> Callable[[], dict]:
    return partial(model_run, "shock", 5, {**HARSH, "liquidation.policy": policy, **extra})


RUNS: dict[str, Callable[[], dict]] = {
    "shock-seed3": partial(model_run, "shock", 3, {**SHORT, "horizon_minutes": 500}),
    "oct-2025-seed7-twin": partial(model_run, "oct-2025", 7, SHORT, twin=True),
    **{f"harsh-{p}-seed5": _policy_run(p) for p in POLICIES},
    "harsh-backstop_vault-seed5": _policy_run(
        "backstop_vault", **{"liquidation.vault_initial_usd": 2e4}
    ),
    "harsh-chunks-lastmark-seed5": _policy_run(
        "adl_queue", **{"liquidation.partial_rule": "chunks", "mark_rule": "last"}
    ),
}
"""Each golden run by name: short, harsh enough that every policy and path acts."""


def all_runs() -> dict[str, dict]:
    """Every golden run by name."""
    return {name: build() for name, build in RUNS.items()}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.golden_runs --write")
    PATH.write_text(json.dumps(all_runs(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PATH}")
