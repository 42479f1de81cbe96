"""Experiment layer: designs, the sweep runner on every backend, the results store, resume.

Runs are tiny (60 minutes, 50 retail accounts, shock at minute 30: ~0.3 s each) so the whole
file, a real two-worker Dask cluster included, takes well under a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.catalogue import EXPERIMENTS, SHORT_RUN, design_for
from experiments.design import (
    RunConfig,
    full_factorial,
    latin_hypercube,
    make_design,
    replicate_seeds,
    run_key,
    sobol,
)
from experiments.runner import run_one, run_sweep
from experiments.store import (
    RUNS,
    SweepExistsError,
    load_runs,
    read_manifest,
    sweep_path,
    write_chunk,
)
from model.config import with_overrides
from model.scenarios import scenario

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "horizon_minutes": 60,
    "retail.n_accounts": 50,
    "retail.warmup_minutes": 10,
    "shocks.0.start_minute": 30,
}
"""A shortened shock run: warm-up done at minute 10, 10 % shock from minute 30."""
ROOT_SEED = 7
LEVERAGE_SHARES = (0.0, 0.3, 0.6)
N_SEEDS = 2
BAD_POLICY = "no_such_policy"
TIMING_COLUMNS = ["duration_s"]


def tiny_design():
    """3 leverage shares × 2 common seeds = 6 tiny runs."""
    cells = full_factorial({"retail.high_leverage_share": LEVERAGE_SHARES})
    return make_design(
        "tiny", "shock", cells, n_seeds=N_SEEDS, root_seed=ROOT_SEED, base_overrides=TINY
    )


def numbers(runs: pd.DataFrame) -> pd.DataFrame:
    """The stored rows without wall-clock columns (everything that must be reproducible)."""
    return runs.drop(columns=TIMING_COLUMNS)


@pytest.fixture(scope="module")
def serial_runs(tmp_path_factory) -> pd.DataFrame:
    """The uninterrupted in-process sweep every other backend is compared with."""
    report = run_sweep(tiny_design(), results_dir=tmp_path_factory.mktemp("serial"), n_jobs=1)
    assert report.ran == report.n_runs == len(LEVERAGE_SHARES) * N_SEEDS
    assert report.failed == 0
    return load_runs(report.path)


# ----------------------------------------------------------------------------- designs
def test_full_factorial_has_every_combination_first_key_slowest():
    cells = full_factorial({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(cells) == 3 * 2
    assert cells[:2] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]
    assert {(c["a"], c["b"]) for c in cells} == {(a, b) for a in (1, 2, 3) for b in "xy"}


@pytest.mark.parametrize("sampler", [latin_hypercube, sobol])
def test_sampled_designs_have_the_size_and_one_point_per_stratum(sampler):
    """n points over [lo, hi]: each of the n equal strata of each range holds exactly one.

    True by construction for a Latin hypercube, and for the first 2^m points of a scrambled
    Sobol sequence (its one-dimensional projections are (0, m, 1)-nets).
    """
    ranges = {"retail.high_leverage_share": (0.0, 0.6), "shocks.0.size": (0.02, 0.2)}
    n = 16
    cells = sampler(ranges, n, sample_seed=3)
    assert len(cells) == n
    for key, (lo, hi) in ranges.items():
        x = np.array([c[key] for c in cells])
        assert np.all((x >= lo) & (x <= hi))
        strata = np.floor((x - lo) / (hi - lo) * n).astype(int)
        assert sorted(strata) == list(range(n))


def test_sampled_designs_round_integer_parameters_and_reject_bad_ranges():
    cells = latin_hypercube({"retail.n_accounts": (50, 500)}, 8, scenario="calm")
    assert all(isinstance(c["retail.n_accounts"], int) for c in cells)
    with pytest.raises(ValueError, match="outside its declared"):
        sobol({"retail.high_leverage_share": (0.0, 1.5)}, 4)
    with pytest.raises(ValueError, match="unknown parameter"):
        sobol({"retail.high_leverage_shar": (0.0, 0.5)}, 4)


def test_every_cell_gets_the_same_seeds_from_the_root():
    design = tiny_design()
    runs = design.runs()
    assert len(runs) == design.n_runs == len(LEVERAGE_SHARES) * N_SEEDS
    seeds_per_cell = {c: tuple(r.seed for r in runs if r.cell == c) for c in range(3)}
    assert set(seeds_per_cell.values()) == {design.seeds}  # common random numbers
    root = np.random.SeedSequence(ROOT_SEED).generate_state(N_SEEDS)
    assert design.seeds == tuple(int(s) for s in root)
    assert replicate_seeds(ROOT_SEED, 5)[:N_SEEDS] == design.seeds  # more seeds extend
    assert len({r.key for r in runs}) == len(runs)


def test_run_key_depends_on_scenario_overrides_and_seed_not_their_order():
    a = RunConfig.of("shock", {"retail.n_accounts": 50, "horizon_minutes": 60})
    b = RunConfig.of("shock", {"horizon_minutes": 60, "retail.n_accounts": 50})
    assert a == b and run_key(a, 1) == run_key(b, 1)
    assert run_key(a, 1) != run_key(a, 2)
    assert run_key(a, 1) != run_key(RunConfig.of("calm", a.as_dict()), 1)


def test_duplicate_cells_are_refused():
    with pytest.raises(ValueError, match="same configuration"):
        make_design("dup", "calm", [{"retail.trade_prob": 0.1}] * 2, n_seeds=1, root_seed=0)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_catalogue_designs_are_valid_configurations(name):
    for size in ("default", "full"):
        design = design_for(name, size)
        base = scenario(design.scenario)
        for run in design.runs()[:: len(design.seeds)]:
            with_overrides(base, run.config.as_dict())  # raises on any invalid override
    small = design_for(name)
    assert small.base_overrides == SHORT_RUN and len(small.seeds) == 3
    assert small.n_runs <= 30 and small.n_runs < design_for(name, "full").n_runs


# ------------------------------------------------------------------------------ runner
def test_run_one_returns_a_small_summary_and_writes_series_when_asked(tmp_path):
    config = RunConfig.of("shock", TINY)
    row = run_one(config, 11, series_dir=str(tmp_path))
    assert row["status"] == "ok" and row["key"] == run_key(config, 11)
    assert row["minutes"] == TINY["horizon_minutes"]
    series = pd.read_parquet(row["series_path"])
    assert len(series) == TINY["horizon_minutes"] * 6  # one row per (minute, asset)


def test_two_local_processes_give_bit_identical_results(serial_runs, tmp_path):
    report = run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=2)
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_runs))


def test_local_dask_cluster_gives_results_identical_to_serial(serial_runs, tmp_path):
    report = run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=2, scheduler="local")
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_runs))


def test_a_failing_configuration_is_recorded_and_the_sweep_goes_on(tmp_path):
    cells = full_factorial({"liquidation.policy": ["adl_queue", BAD_POLICY, "adl_pro_rata"]})
    design = make_design("failing", "shock", cells, n_seeds=1, root_seed=0, base_overrides=TINY)
    report = run_sweep(design, results_dir=tmp_path, n_jobs=2)
    runs = load_runs(report.path)
    assert (report.ran, report.failed) == (3, 1)
    assert list(runs["status"]) == ["ok", "error", "ok"]
    bad = runs.iloc[1]
    assert bad["error"].startswith("ValueError") and BAD_POLICY in bad["error"]
    assert "Traceback" in bad["traceback"] and len(bad["traceback"]) <= 4000
    assert np.isnan(bad["liq_notional_usd"]) and runs["liq_notional_usd"].iloc[[0, 2]].notna().all()


# ------------------------------------------------------------------------------- store
def test_sweep_folder_has_runs_manifest_and_rejects_a_silent_rerun(serial_runs, tmp_path):
    design = tiny_design()
    report = run_sweep(design, results_dir=tmp_path, n_jobs=1, max_runs=2)
    assert report.path == sweep_path(tmp_path, design) and (report.path / RUNS).exists()
    manifest = read_manifest(report.path)
    assert manifest["design"]["seeds"] == list(design.seeds)
    assert manifest["root_seed"] == ROOT_SEED and manifest["versions"]["numpy"] == np.__version__
    assert "git_commit" in manifest
    with pytest.raises(SweepExistsError):
        run_sweep(design, results_dir=tmp_path, n_jobs=1)
    again = run_sweep(design, results_dir=tmp_path, n_jobs=1, resume=True)
    assert (again.skipped, again.ran) == (2, design.n_runs - 2)
    assert len(read_manifest(report.path)["invocations"]) == 2
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_runs))


def test_load_runs_ignores_partial_writes_and_keeps_one_row_per_key(serial_runs, tmp_path):
    rows = serial_runs.to_dict("records")
    write_chunk(tmp_path, rows[:4], 1)
    write_chunk(tmp_path, rows[2:], 2)  # overlaps the first chunk on two keys
    (tmp_path / ".runs-00003.parquet.tmp-123").write_bytes(b"PAR1 truncated")
    pd.testing.assert_frame_equal(load_runs(tmp_path), serial_runs)


def test_killed_sweep_resumes_to_the_uninterrupted_result_without_duplicates(serial_runs, tmp_path):
    """Setup: a sweep on two processes in a subprocess, SIGKILLed (with its workers) as soon
    as its first chunk is on disk; then the same sweep again, resuming."""
    path = sweep_path(tmp_path, tiny_design())
    code = (
        "from experiments.runner import run_sweep\n"
        "from tests.test_experiments import tiny_design\n"
        "if __name__ == '__main__':\n"
        f"    run_sweep(tiny_design(), results_dir={str(tmp_path)!r}, n_jobs=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)
    try:
        _wait_for(lambda: any(path.glob("runs-*.parquet")) or proc.poll() is not None)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    stored = load_runs(path)
    assert 0 < len(stored) < len(serial_runs) and not (path / RUNS).exists()
    report = run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=1, resume=True)
    assert (report.skipped, report.ran) == (len(stored), len(serial_runs) - len(stored))
    resumed = load_runs(path)
    assert resumed["key"].is_unique
    pd.testing.assert_frame_equal(numbers(resumed), numbers(serial_runs))


def _wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the sweep wrote no chunk in time"
        time.sleep(0.005)
