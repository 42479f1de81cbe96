"""Experiment layer: designs, the sweep runner on every backend, the results store, resume,
runs with their counterfactual twins.

Runs are tiny (60 minutes, 50 retail accounts, shock at minute 30: about a second each) so the
whole file, real two-worker Dask clusters included, takes a minute or two.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.sweeps.catalogue import EXPERIMENTS, SHORT_RUN, design_for
from experiments.sweeps.design import (
    RunConfig,
    full_factorial,
    latin_hypercube,
    make_design,
    replicate_seeds,
    run_key,
    sobol,
)
from experiments.sweeps.runner import TWIN_MARK_COLUMN, run_one, run_sweep
from experiments.sweeps.store import (
    MANIFEST,
    RUNS,
    StaleSweepError,
    SweepExistsError,
    default_sweep_id,
    git_commit,
    load_runs,
    read_manifest,
    sweep_path,
    write_chunk,
)
from model.overrides import with_overrides
from model.scenarios import scenario
from model.twin import TWIN_KEYS

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "horizon_minutes": 60,
    "retail.n_accounts": 50,
    "shocks.0.start_minute": 30,
}
"""A shortened shock run: the opening book at minute 0, 10 % shock from minute 30."""
ROOT_SEED = 7
LEVERAGE_SHARES = (0.0, 0.3, 0.6)
N_SEEDS = 2
BAD_POLICY = "no_such_policy"
TIMING_COLUMNS = ["duration_s"]
RUN_COLUMNS = ("key", "seed", "status", "error", "traceback", "series_path", "duration_s")
"""Columns of `run_one`'s row that are not summary metrics."""
TWIN_MARKET_KEYS = ("mean_cascade_amplification", "mean_endogenous_share")
TWIN_SHARES = (0.0, 0.6)


def tiny_design():
    """3 leverage shares × 2 common seeds = 6 tiny runs."""
    cells = full_factorial({"retail.high_leverage_share": LEVERAGE_SHARES})
    return make_design(
        "tiny", "shock", cells, n_seeds=N_SEEDS, root_seed=ROOT_SEED, base_overrides=TINY
    )


def tiny_twin_design(scenario_name: str = "shock"):
    """2 leverage shares × 1 seed, every run with its twin (built unchecked: on calm every
    run fails when it runs)."""
    cells = full_factorial({"retail.high_leverage_share": TWIN_SHARES})
    base = TINY if scenario_name == "shock" else {"horizon_minutes": 60, "retail.n_accounts": 50}
    return make_design(
        "tiny-twin",
        scenario_name,
        cells,
        n_seeds=1,
        root_seed=ROOT_SEED,
        base_overrides=base,
        twin=True,
        check=scenario_name == "shock",
    )


def twin_keys(symbols) -> set[str]:
    """Every key `model.twin.with_twin` adds for these assets."""
    per_asset = {f"{k}_{sym}" for k in TWIN_KEYS for sym in symbols}
    return per_asset | set(TWIN_MARKET_KEYS) | {"twin_liq_over_oi_after_shock"}


def numbers(runs: pd.DataFrame) -> pd.DataFrame:
    """The stored rows without wall-clock columns (everything that must be reproducible)."""
    return runs.drop(columns=TIMING_COLUMNS)


@pytest.fixture(scope="module")
def serial_twin_runs(tmp_path_factory) -> pd.DataFrame:
    """The in-process sweep with twins every other backend is compared with."""
    report = run_sweep(tiny_twin_design(), results_dir=tmp_path_factory.mktemp("twin"), n_jobs=1)
    assert (report.ran, report.failed) == (len(TWIN_SHARES), 0)
    return load_runs(report.path)


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


def test_the_twin_flag_is_part_of_the_design_and_of_every_run_key():
    plain, twin = (
        tiny_design(),
        make_design(
            "tiny",
            "shock",
            full_factorial({"retail.high_leverage_share": LEVERAGE_SHARES}),
            n_seeds=N_SEEDS,
            root_seed=ROOT_SEED,
            base_overrides=TINY,
            twin=True,
        ),
    )
    assert not plain.twin and twin.twin
    assert "twin" not in plain.to_json() and twin.to_json()["twin"] is True
    assert plain.fingerprint() != twin.fingerprint()
    assert default_sweep_id(plain) != default_sweep_id(twin) and "twin" in default_sweep_id(twin)
    plain_keys, twin_keys_ = {r.key for r in plain.runs()}, {r.key for r in twin.runs()}
    assert not plain_keys & twin_keys_
    run = twin.runs()[0]
    assert run.key == run_key(run.config, run.seed, twin=True) != run_key(run.config, run.seed)


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
    assert small.n_runs <= 50 and small.n_runs < design_for(name, "full").n_runs


# ------------------------------------------------------------------------------ runner
def test_run_one_returns_a_small_summary_and_writes_series_when_asked(tmp_path):
    config = RunConfig.of("shock", TINY)
    row = run_one(config, 11, series_dir=str(tmp_path))
    assert row["status"] == "ok" and row["key"] == run_key(config, 11)
    assert row["minutes"] == TINY["horizon_minutes"]
    series = pd.read_parquet(row["series_path"])
    assert len(series) == TINY["horizon_minutes"] * 6  # one row per (minute, asset)


def test_run_one_with_twin_keeps_the_run_and_adds_the_twin_columns(tmp_path):
    """The run of a pair is the run alone (same seed): every key of its summary comes back with
    the same value, and the twin's keys are added, amplification = drawdown / twin drawdown."""
    config = RunConfig.of("shock", TINY)
    plain = run_one(config, 11)
    row = run_one(config, 11, series_dir=str(tmp_path), twin=True)
    assert row["status"] == "ok" and plain["status"] == "ok"
    assert row["key"] == run_key(config, 11, twin=True) != plain["key"]
    summary_keys = set(plain) - set(RUN_COLUMNS)
    assert summary_keys <= set(row)
    for k in summary_keys:
        assert row[k] == plain[k] or (np.isnan(row[k]) and np.isnan(plain[k])), k
    symbols = scenario("shock").assets
    symbols = tuple(a.symbol for a in symbols)
    assert set(row) - set(plain) == twin_keys(symbols)
    assert any(row[f"twin_drawdown_{sym}"] > 0 for sym in symbols)
    for sym in symbols:
        dd, twin_dd = row[f"drawdown_{sym}"], row[f"twin_drawdown_{sym}"]
        amp = row[f"cascade_amplification_{sym}"]
        if twin_dd > 0:
            assert amp == dd / twin_dd
        else:
            assert np.isnan(amp)
        if dd > 0:
            assert row[f"endogenous_share_{sym}"] == pytest.approx(1 - twin_dd / dd)
    series = pd.read_parquet(row["series_path"])
    assert len(series) == TINY["horizon_minutes"] * len(symbols)
    assert series[TWIN_MARK_COLUMN].notna().all() and (series[TWIN_MARK_COLUMN] > 0).all()
    # until the first forced close the twin is the same simulation: the same marks
    liquidated = series.minute[(series.liq_long_usd + series.liq_short_usd) > 0]
    before = series[series.minute < liquidated.min()] if len(liquidated) else series
    assert (before[TWIN_MARK_COLUMN] == before["mark_usd"]).all()


def test_run_one_with_twin_on_a_run_without_a_shock_is_a_recorded_error():
    row = run_one(
        RunConfig.of("calm", {"horizon_minutes": 30, "retail.n_accounts": 50}), 1, twin=True
    )
    assert row["status"] == "error" and row["error"].startswith("ValueError")
    assert "shock" in row["error"] and "Traceback" in row["traceback"]


def test_a_twin_sweep_without_shocks_records_every_run_as_failed(tmp_path):
    report = run_sweep(tiny_twin_design("calm"), results_dir=tmp_path, n_jobs=1)
    runs = load_runs(report.path)
    assert (report.ran, report.failed) == (len(TWIN_SHARES), len(TWIN_SHARES))
    assert (runs["status"] == "error").all() and runs["error"].str.contains("shock").all()


@pytest.mark.parametrize("backend", [{"n_jobs": 2}, {"n_jobs": 2, "scheduler": "local"}])
def test_twin_sweeps_are_identical_on_every_backend(serial_twin_runs, backend, tmp_path):
    report = run_sweep(tiny_twin_design(), results_dir=tmp_path, **backend)
    runs = load_runs(report.path)
    pd.testing.assert_frame_equal(numbers(runs), numbers(serial_twin_runs))
    symbols = tuple(a.symbol for a in scenario("shock").assets)
    assert twin_keys(symbols) <= set(runs.columns)


def test_run_sweep_twin_flag_makes_the_twin_design(serial_twin_runs, tmp_path):
    """`run_sweep(plain design, twin=True)` is the sweep of the design with twins."""
    plain = dataclasses.replace(tiny_twin_design(), twin=False)
    report = run_sweep(plain, results_dir=tmp_path, n_jobs=1, twin=True)
    assert report.path == sweep_path(tmp_path, tiny_twin_design())
    manifest = read_manifest(report.path)
    assert manifest["twin"] is True and manifest["design"]["twin"] is True
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_twin_runs))


def test_two_local_processes_give_bit_identical_results(serial_runs, tmp_path):
    report = run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=2)
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_runs))


def test_local_dask_cluster_gives_results_identical_to_serial(serial_runs, tmp_path):
    report = run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=2, scheduler="local")
    pd.testing.assert_frame_equal(numbers(load_runs(report.path)), numbers(serial_runs))


def failing_design():
    """Three cells, the middle one invalid, built unchecked (`make_design(check=False)`) so
    that it fails when it runs, as a run that raises in the model does."""
    cells = full_factorial({"liquidation.policy": ["adl_queue", BAD_POLICY, "adl_pro_rata"]})
    return make_design(
        "failing", "shock", cells, n_seeds=1, root_seed=0, base_overrides=TINY, check=False
    )


def test_an_invalid_cell_is_refused_when_the_design_is_built():
    cells = full_factorial({"liquidation.policy": ["adl_queue", BAD_POLICY]})
    invalid = rf"cell 1 .*{BAD_POLICY}.* is invalid: liquidation\.policy"
    with pytest.raises(ValueError, match=invalid):
        make_design("failing", "shock", cells, n_seeds=1, root_seed=0, base_overrides=TINY)
    calm = [{"retail.trade_prob": 0.1}]
    with pytest.raises(ValueError, match=r"cell 0 .* is invalid: a twin needs a shock"):
        make_design("twin", "calm", calm, n_seeds=1, root_seed=0, twin=True)


def test_a_failing_configuration_is_recorded_and_the_sweep_goes_on(tmp_path):
    design = failing_design()
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


def test_sweeps_with_and_without_twins_do_not_share_a_store(tmp_path):
    twin = tiny_twin_design()
    plain = dataclasses.replace(twin, twin=False)
    assert sweep_path(tmp_path, plain) != sweep_path(tmp_path, twin)
    report = run_sweep(plain, results_dir=tmp_path, n_jobs=1, max_runs=1, sweep_id="shared")
    assert read_manifest(report.path)["twin"] is False
    with pytest.raises(ValueError, match=r"twin=False.*twin=True"):
        run_sweep(twin, results_dir=tmp_path, n_jobs=1, sweep_id="shared", resume=True)
    with pytest.raises(ValueError, match="twin"):
        run_sweep(plain, results_dir=tmp_path, n_jobs=1, sweep_id="shared", resume=True, twin=True)
    assert len(load_runs(report.path)) == 1  # nothing was added to the plain sweep


def test_load_runs_ignores_partial_writes_and_keeps_one_row_per_key(serial_runs, tmp_path):
    rows = serial_runs.to_dict("records")
    write_chunk(tmp_path, rows[:4], 1, "f" * 64)
    write_chunk(tmp_path, rows[2:], 2, "f" * 64)  # overlaps the first chunk on two keys
    (tmp_path / ".runs-00003.parquet.tmp-123").write_bytes(b"PAR1 truncated")
    pd.testing.assert_frame_equal(load_runs(tmp_path), serial_runs)


def test_a_chunk_from_another_sweep_or_with_changed_rows_is_refused_by_name(tmp_path):
    """A finished sweep's folder; then (1) a chunk stamped by another design is copied in,
    (2) that chunk is replaced by one whose rows were edited after the checksum was stamped,
    (3) by bytes that are not Parquet. Each read names the file and refuses it."""
    design = tiny_design()
    report = run_sweep(design, results_dir=tmp_path, n_jobs=1, max_runs=1)
    rows = load_runs(report.path)
    chunk = report.path / "runs-00009.parquet"

    write_chunk(report.path, rows.to_dict("records"), 9, "0" * 64)
    with pytest.raises(ValueError, match=r"runs-00009\.parquet belongs to another sweep"):
        load_runs(report.path)

    edited = pd.read_parquet(chunk)  # keeps the stamps in its attrs
    edited.attrs["fingerprint"] = design.fingerprint()
    edited.loc[0, "seed"] += 1
    edited.to_parquet(chunk, index=False)
    with pytest.raises(ValueError, match=r"runs-00009\.parquet is corrupt: its rows"):
        load_runs(report.path)

    chunk.write_bytes(b"PAR1 not a parquet file PAR1")
    with pytest.raises(ValueError, match=r"runs-00009\.parquet is corrupt"):
        load_runs(report.path)
    chunk.unlink()
    pd.testing.assert_frame_equal(load_runs(report.path), rows)


def _remove_shared_memory_of(pid: int) -> None:
    """Remove what a process group killed with SIGKILL left in /dev/shm: its loky resource
    tracker died with it, so nothing else removes joblib's memmapping folders and loky's
    semaphores named for its main process."""
    import shutil

    shm = Path("/dev/shm")
    for p in [*shm.glob(f"joblib_memmapping_folder_{pid}_*"), *shm.glob(f"sem.loky-{pid}-*")]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _start_tiny_sweep(results_dir: Path) -> subprocess.Popen:
    """The tiny sweep on two loky workers in a new process session (so a test can kill the
    main process alone or its whole group)."""
    code = (
        "from experiments.sweeps.runner import run_sweep\n"
        "from tests.test_experiments import tiny_design\n"
        "if __name__ == '__main__':\n"
        f"    run_sweep(tiny_design(), results_dir={str(results_dir)!r}, n_jobs=2)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, start_new_session=True)


def test_killed_sweep_resumes_to_the_uninterrupted_result_without_duplicates(serial_runs, tmp_path):
    """Setup: a sweep on two processes in a subprocess, SIGKILLed (with its workers) as soon
    as its first chunk is on disk; then the same sweep again, resuming."""
    path = sweep_path(tmp_path, tiny_design())
    proc = _start_tiny_sweep(tmp_path)
    try:
        _wait_for(lambda: any(path.glob("runs-*.parquet")) or proc.poll() is not None)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _remove_shared_memory_of(proc.pid)
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


# ---------------------------------------------------------------- resume after faults
def test_resume_retries_the_runs_stored_as_errors(tmp_path, monkeypatch):
    """Setup: the tiny design with one run failing (a stand-in model error) on the first
    invocation; resuming runs it again and it is stored as ok, unless --skip-errors."""
    from experiments.sweeps import runner

    design = tiny_design()
    flaky = design.runs()[3]
    real = runner._simulate

    def fails_once(config, seed, twin):
        if (config, seed) == (flaky.config, flaky.seed):
            raise RuntimeError("transient failure")
        return real(config, seed, twin)

    with monkeypatch.context() as m:
        m.setattr(runner, "_simulate", fails_once)
        first = run_sweep(design, results_dir=tmp_path, n_jobs=1)
    assert (first.ran, first.failed) == (design.n_runs, 1)
    stored = load_runs(first.path).set_index("key")
    assert stored.loc[flaky.key, "status"] == "error"
    skipped = run_sweep(design, results_dir=tmp_path, n_jobs=1, resume=True, retry_errors=False)
    assert (skipped.ran, skipped.skipped) == (0, design.n_runs)
    again = run_sweep(design, results_dir=tmp_path, n_jobs=1, resume=True)
    assert (again.ran, again.retried, again.failed, again.skipped) == (1, 1, 0, design.n_runs - 1)
    assert "1 of them retried after an error" in again.describe()
    runs = load_runs(first.path)
    assert (runs["status"] == "ok").all() and runs["key"].is_unique and len(runs) == design.n_runs
    invocations = read_manifest(first.path)["invocations"]
    assert [i["status"] for i in invocations] == ["completed"] * 3
    assert [i["retrying"] for i in invocations] == [0, 0, 1]
    assert [i["ran"] for i in invocations] == [design.n_runs, 0, 1]
    assert all(isinstance(i["git_dirty"], bool) and i["ended_utc"] for i in invocations)


def test_runs_stored_by_another_commit_are_not_reused_silently(tmp_path):
    design = tiny_design()
    report = run_sweep(design, results_dir=tmp_path, n_jobs=1, max_runs=2)
    manifest = read_manifest(report.path)
    old_commit = "0123456789abcdef0123456789abcdef01234567"
    manifest["invocations"][0]["git_commit"] = old_commit
    (report.path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StaleSweepError) as err:
        run_sweep(design, results_dir=tmp_path, n_jobs=1, resume=True)
    current = git_commit()
    assert old_commit[:10] in str(err.value) and current[:10] in str(err.value)
    assert "--allow-stale" in str(err.value)
    assert len(read_manifest(report.path)["invocations"]) == 1  # the refusal ran nothing
    mixed = run_sweep(design, results_dir=tmp_path, n_jobs=1, resume=True, allow_stale=True)
    assert mixed.stale_commits == (old_commit,) and "WARNING" in mixed.describe()
    assert read_manifest(report.path)["invocations"][-1]["stale_commits"] == [old_commit]


def test_a_failed_invocation_is_recorded_as_failed(tmp_path, monkeypatch):
    from experiments.sweeps import runner

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runner, "map_runs", broken)
    with pytest.raises(OSError, match="disk full"):
        run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=1)
    (last,) = read_manifest(sweep_path(tmp_path, tiny_design()))["invocations"]
    assert last["status"] == "failed" and last["error"] == "OSError: disk full"
    assert last["ran"] == 0


def test_a_corrupt_manifest_is_named_in_the_error(tmp_path):
    path = sweep_path(tmp_path, tiny_design())
    path.mkdir(parents=True)
    (path / MANIFEST).write_text("{ truncated")
    with pytest.raises(ValueError, match=rf"manifest {path / MANIFEST} is corrupt"):
        run_sweep(tiny_design(), results_dir=tmp_path, n_jobs=1, resume=True)


def test_an_unreachable_scheduler_records_nothing(tmp_path):
    with pytest.raises(ValueError, match="does not answer"):
        run_sweep(tiny_design(), results_dir=tmp_path, scheduler="tcp://127.0.0.1:1")
    assert not sweep_path(tmp_path, tiny_design()).exists()


def test_killing_the_main_process_stops_its_local_workers(tmp_path):
    """Setup: a sweep on two loky processes in a subprocess; once its first chunk is on disk,
    only the main process is SIGKILLed (not its process group). Its workers exit by
    themselves (`runner._exit_with`) instead of idling on as orphans."""
    import psutil

    path = sweep_path(tmp_path, tiny_design())
    proc = _start_tiny_sweep(tmp_path)
    main = psutil.Process(proc.pid)
    workers = []
    try:
        _wait_for(lambda: any(path.glob("runs-*.parquet")) or proc.poll() is not None)
        workers = [c for c in main.children() if "LokyProcess" in " ".join(c.cmdline())]
        assert len(workers) == 2, "the sweep finished before its workers could be seen"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=60)
        assert not alive and len(gone) == 2
    finally:
        for p in [*workers, *(main.children() if main.is_running() else [])]:
            if p.is_running():
                p.kill()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
