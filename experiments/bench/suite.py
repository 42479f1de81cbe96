"""Benchmark suite (issue 8): risk engine, a shock day, scaling to a million accounts, sweeps,
the cost of the counterfactual twin.

``python -m experiments.bench [--quick]`` (``make bench``, ``make bench-quick``) measures

(a) risk-engine throughput: mark-to-market + tiered maintenance margin + liquidation scan over
    N accounts × every market, in positions per second, vectorised (`RiskScanner.full_scan`,
    one thread and two) and the same check written as one Mesa agent per account stepped with
    ``shuffle_do`` (on fewer accounts), on the same data in one run; both must flag the same
    positions (`experiments.bench.risk`);
(b) the ``shock`` scenario with its default crowd (10,000 retail accounts): wall seconds per
    simulated day (`experiments.bench.runs`);
(c) scaling: 10k, 100k and 1M retail accounts × one simulated day of ``shock`` with the
    market scaled to match (`scaled_config`), each in its own process: wall time, CPU time,
    peak resident memory (the child's VmHWM) and the least-squares exponent of wall time in N;
(d) sweep throughput: one design serial, on 2 local processes and on a local 2-worker Dask
    cluster (`experiments.bench.sweep`), with the same numbers on every backend;
(e) twin cost: a shock day alone and with its counterfactual twin (`model.twin.run_pair`),
    alternated in one process, and their ratio;

prints a table with every figure next to its target (`experiments.bench.results`) and writes
``results/bench/bench.json`` (machine, load average, scale rule, raw figures, the table).
``--quick`` runs tiny sizes with the same schema (CI: it checks the suite runs; timings there
mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from experiments.bench.results import (
    SECTIONS,
    TARGETS,
    figures,
    machine,
    markdown,
    print_table,
    table_rows,
)
from experiments.bench.risk import risk_throughput
from experiments.bench.runs import scale_child, scaling, shock_day, twin_cost
from experiments.bench.sweep import sweep_throughput

SCHEMA = "cascade-lab-bench/1"


OUT = Path("results/bench/bench.json")


OUT_QUICK = Path("results/bench/bench-quick.json")
"""Quick runs write apart (git-ignored), so CI or a local check never replaces the full one."""


FULL = {
    "risk_accounts": 1_000_000,
    "agent_accounts": 20_000,
    "shock_repeats": 3,
    "scale_sizes": (10_000, 100_000, 1_000_000),
    "scale_horizon": 1_440,
    "sweep_runs": 200,
    "sweep_overrides": None,
    "twin_repeats": 2,
}


QUICK = {
    "risk_accounts": 20_000,
    "agent_accounts": 2_000,
    "shock_repeats": 1,
    "shock_horizon": 60,
    "scale_sizes": (1_000, 2_000, 4_000),
    "scale_horizon": 30,
    "sweep_runs": 4,
    "sweep_overrides": {"horizon_minutes": 20, "shocks.0.start_minute": 10},
    "twin_repeats": 1,
    "twin_horizon": 60,
}


def run(quick: bool, out: Path, only: tuple[str, ...] = ()) -> dict:
    """Measure every section (or only some, kept with the others of `out`); write the JSON.

    Each section records when it was measured and the load average then: the machine may
    be shared, and a section can be measured again (``--only sweeps``) when it is quiet. The
    file is written after every section, so an interrupted run keeps what it measured (the
    table is added once every section is there).
    """
    p = QUICK if quick else FULL
    mode = "quick" if quick else "full"
    res: dict[str, Any] = {}
    if only and out.is_file():
        res = json.loads(out.read_text())
        if res.get("schema") != SCHEMA or res.get("mode") != mode:
            raise ValueError(f"{out} is not a {mode} {SCHEMA} file to update")
    for key in ("figures", "table", "load_average_start", "load_average_end"):
        res.pop(key, None)  # recomputed once every section is there
    res.update(
        {
            "schema": SCHEMA,
            "mode": mode,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(),
            "targets": {k: {"op": op, "value": v} for k, (op, v) in TARGETS.items()},
        }
    )
    measure = {
        "risk": (
            "(a) risk engine",
            lambda: risk_throughput(p["risk_accounts"], p["agent_accounts"]),
        ),
        "shock_day": (
            "(b) shock day",
            lambda: shock_day(p["shock_repeats"], p.get("shock_horizon")),
        ),
        "scaling": ("(c) scaling", lambda: scaling(p["scale_sizes"], p["scale_horizon"])),
        "sweeps": ("(d) sweeps", lambda: sweep_throughput(p["sweep_runs"], p["sweep_overrides"])),
        "twin": ("(e) twin cost", lambda: twin_cost(p["twin_repeats"], p.get("twin_horizon"))),
    }
    for section in only or SECTIONS:
        label, fn = measure[section]
        print(f"{label} ...", flush=True)
        start = {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_average": os.getloadavg()[0],
        }
        res[section] = {**fn(), **start, "load_average_after": os.getloadavg()[0]}
        save(res, out)
    return res


def save(res: dict, out: Path) -> None:
    """Write the JSON; with every section present, the figures, the table and the markdown."""
    out.parent.mkdir(parents=True, exist_ok=True)
    complete = all(s in res for s in SECTIONS)
    if complete:
        loads = [res[s][k] for s in SECTIONS for k in ("load_average", "load_average_after")]
        res["load_average_start"], res["load_average_end"] = loads[0], loads[-1]
        res["figures"] = figures(res)
        res["table"] = table_rows(res["figures"])
    out.write_text(json.dumps(res, indent=2, default=float) + "\n")
    if complete:
        out.with_suffix(".md").write_text(markdown(res))


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run the suite (or one scaled child run) and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, same JSON (CI)")
    parser.add_argument("--out", type=Path, help=f"default {OUT} ({OUT_QUICK} with --quick)")
    parser.add_argument("--profile", type=Path, help="write pyinstrument summaries there instead")
    parser.add_argument(
        "--only",
        type=lambda v: tuple(v.split(",")),
        default=(),
        help=f"measure again only these sections of --out ({', '.join(SECTIONS)})",
    )
    parser.add_argument("--child-scale", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--horizon", type=int, default=1_440, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_scale:
        print(json.dumps(scale_child(args.child_scale, args.horizon)))
        return 0
    if args.profile:
        from experiments.bench.profile import profile

        print(profile(args.profile))
        return 0
    if any(s not in SECTIONS for s in args.only):
        parser.error(f"--only takes sections among {', '.join(SECTIONS)}, got {args.only}")
    args.out = args.out or (OUT_QUICK if args.quick else OUT)
    res = run(args.quick, args.out, args.only)
    if "table" not in res:
        print(f"\nwrote {args.out} (sections missing: measure them with --only)")
        return 0
    print_table(res)
    print(f"\nwrote {args.out}")
    return 0
