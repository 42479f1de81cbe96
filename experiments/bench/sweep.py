"""Sweep throughput: serial vs local processes vs a local Dask cluster on the same small design.

``python -m experiments.bench.sweep [--runs 200] [--jobs 2]`` runs one design three times
(in-process, joblib/loky with `--jobs` processes, joblib's Dask backend on a local cluster of
`--jobs` workers), each end to end through `run_sweep` into a fresh folder (worker start-up,
cluster start-up and Parquet writes included), checks the three give identical numbers, and
prints a table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from experiments.sweeps.design import full_factorial, make_design
from experiments.sweeps.runner import run_sweep
from experiments.sweeps.store import load_runs

SMALL_RUN = {
    "horizon_minutes": 120,
    "retail.n_accounts": 100,
    "shocks.0.start_minute": 60,
}
"""A small shock run: two hours, 100 retail accounts (holding the scenario's open interest,
`model.config.REFERENCE_ACCOUNTS`), the shock at minute 60."""
SEEDS_PER_CELL = 10


def bench_design(n_runs: int, run_overrides: dict | None = None):
    """`n_runs` small runs: n_runs / 10 levels of the 50–100x share × 10 common seeds
    (fewer than 10 runs: one level, `n_runs` seeds); `run_overrides` update `SMALL_RUN`."""
    seeds = min(SEEDS_PER_CELL, n_runs)
    n_cells = max(1, n_runs // seeds)
    shares = [round(i / n_cells, 4) for i in range(n_cells)]
    cells = full_factorial({"retail.high_leverage_share": shares})
    return make_design(
        "bench-sweep",
        "shock",
        cells,
        n_seeds=seeds,
        root_seed=1,
        base_overrides={**SMALL_RUN, **(run_overrides or {})},
        method="grid",
    )


def measure(
    n_runs: int,
    n_jobs: int,
    results_dir: Path,
    run_overrides: dict | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Time the design on each backend; one row per backend."""
    design = bench_design(n_runs, run_overrides)
    backends = {
        "serial (n_jobs=1)": {"n_jobs": 1},
        f"local processes (loky, n_jobs={n_jobs})": {"n_jobs": n_jobs},
        f"local Dask cluster ({n_jobs} workers)": {"n_jobs": n_jobs, "scheduler": "local"},
    }
    rows, frames = [], []
    for i, (name, kwargs) in enumerate(backends.items()):
        report = run_sweep(design, results_dir=results_dir / str(i), progress=progress, **kwargs)
        runs = load_runs(report.path)
        frames.append(runs.drop(columns="duration_s"))
        rows.append(
            {
                "backend": name,
                "runs": report.ran,
                "failed": report.failed,
                "wall_s": report.seconds,
                "runs_per_s": report.ran / report.seconds,
                "mean_run_s": runs["duration_s"].mean(),
            }
        )
    for other in frames[1:]:
        pd.testing.assert_frame_equal(other, frames[0])  # every backend, the same numbers
    table = pd.DataFrame(rows)
    table["speedup_vs_serial"] = table["wall_s"].iloc[0] / table["wall_s"]
    return table


def sweep_throughput(n_runs: int, overrides: dict | None) -> dict:
    """Serial vs 2 local processes vs a local 2-worker Dask cluster (`measure`)."""
    with tempfile.TemporaryDirectory() as tmp:
        table = measure(n_runs, 2, Path(tmp), run_overrides=overrides, progress=False)
    rows = table.to_dict("records")
    return {
        "runs": n_runs,
        "backends": rows,
        "serial_s": rows[0]["wall_s"],
        "processes_2_s": rows[1]["wall_s"],
        "dask_2_s": rows[2]["wall_s"],
        "speedup_processes_2": rows[0]["wall_s"] / rows[1]["wall_s"],
        "speedup_dask_2": rows[0]["wall_s"] / rows[2]["wall_s"],
        "same_numbers": True,  # `measure` raises otherwise
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, measure, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.bench.sweep", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = measure(args.runs, args.jobs, Path(tmp))
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    ratio = table["wall_s"].iloc[2] / table["wall_s"].iloc[1]
    print(f"\nSame numbers on every backend. Dask / local processes wall time: {ratio:.3f}")


if __name__ == "__main__":
    main()
