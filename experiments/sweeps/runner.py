"""Running designs: one run in a worker (`run_one`), a whole sweep mapped with joblib
(`run_sweep`) through the one parallel loop (`map_runs`), which the validation uses too.

Backends: local processes (joblib/loky, the default), joblib's Dask backend on an existing
cluster (``scheduler="tcp://host:port"``) or on a local Dask cluster (``scheduler="local"``).
Every backend returns the same numbers for the same design: a run depends only on its
configuration and seed. With twins (`run_one(..., twin=True)`, `Design.twin`) each run is run
with its counterfactual twin (`model.twin.run_pair`: the same seed, forced closes off the book)
and its row gets the twin's columns (`model.twin.with_twin`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from tqdm.auto import tqdm

from experiments.checks import check_scheduler
from experiments.sweeps.design import Design, Run, RunConfig, run_key
from experiments.sweeps.store import (
    SERIES_DIR,
    atomic_write_parquet,
    consolidate,
    end_invocation,
    load_runs,
    next_chunk_index,
    open_sweep,
    read_manifest,
    sweep_path,
    write_chunk,
)

TRACEBACK_FRAMES = 6
"""Frames kept of a failed run's traceback (the innermost ones)."""
TRACEBACK_CHARS = 4000
LOCAL_DASK = "local"
"""`scheduler` value that starts a local Dask cluster (one single-threaded process a job)."""
TWIN_MARK_COLUMN = "twin_mark_usd"
"""Column of a run's series table holding its twin's mark, minute by minute."""


@dataclass(frozen=True)
class SweepReport:
    """What one `run_sweep` call did.

    Attributes:
        path: The sweep folder (read it with `experiments.sweeps.store.load_runs`).
        n_runs: Runs in the design.
        ran: Runs executed by this call.
        skipped: Runs already stored and skipped (resume).
        failed: Runs of this call that raised (recorded with status "error").
        seconds: Wall time of this call.
        retried: Runs stored with status "error" that this call ran again.
        stale_commits: Other git commits that stored runs this call reused
            (``allow_stale``).
    """

    path: Path
    n_runs: int
    ran: int
    skipped: int
    failed: int
    seconds: float
    retried: int = 0
    stale_commits: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a terminal: what ran, what was skipped, where the results are."""
        retried = f", {self.retried} of them retried after an error" if self.retried else ""
        commits = ", ".join(c[:10] for c in self.stale_commits)
        stale = f"; WARNING: reuses runs stored by commit {commits}" if commits else ""
        return (
            f"{self.ran} runs in {self.seconds:.1f} s ({self.failed} failed{retried}), "
            f"{self.skipped} already stored, {self.n_runs} in the design: {self.path}{stale}"
        )


def run_one(
    config: RunConfig, seed: int, series_dir: str | None = None, twin: bool = False
) -> dict[str, Any]:
    """Run one configuration with one seed; never raises for a failing model.

    Args:
        config: Scenario and dotted overrides.
        seed: The model's seed (``CascadeModel(rng=seed)``).
        series_dir: If given, the worker writes the per-minute series (one row per minute and
            asset, `Recorder.frame`; with `twin`, plus the twin's mark as `TWIN_MARK_COLUMN`)
            to ``<series_dir>/<key>.parquet``. On a remote cluster it must be a path every
            worker can write.
        twin: Also run the counterfactual twin (`model.twin.run_pair`). A configuration
            without a shock has no twin: its row comes back with status "error".

    Returns:
        A flat dict: key (`run_key` with `twin`), seed, status ("ok" or "error"), error,
        traceback, duration_s, series_path, and when ok the model's summary metrics
        (`CascadeModel.summary`), with `twin` merged with its twin's (`model.twin.with_twin`:
        every key of the summary plus twin_drawdown_<S>, cascade_amplification_<S>,
        endogenous_share_<S>, mean_cascade_amplification, mean_endogenous_share,
        twin_liq_over_oi_after_shock).
    """
    started = time.perf_counter()
    key = run_key(config, seed, twin=twin)
    row: dict[str, Any] = {"key": key, "seed": int(seed), "status": "ok", "error": None}
    row.update(traceback=None, series_path=None)
    try:
        model, twin_model, summary = _simulate(config, int(seed), twin)
        row.update({k: _plain(v) for k, v in summary.items()})
        if series_dir is not None:
            row["series_path"] = _write_series(model, Path(series_dir), key, twin_model)
    except Exception as err:
        row.update(status="error", error=f"{type(err).__name__}: {err}", traceback=_short(err))
    row["duration_s"] = time.perf_counter() - started
    return row


def _simulate(config: RunConfig, seed: int, twin: bool) -> tuple[Any, Any, dict[str, Any]]:
    """(model, twin model or None, summary) of one run, with its twin when asked."""
    from model import CascadeModel
    from model.twin import run_pair

    if twin:
        return run_pair(config.scenario, seed, config.as_dict())
    model = CascadeModel(scenario=config.scenario, rng=seed, **config.as_dict())
    return model, None, model.run()


def series_with_twin(model: Any, twin_model: Any | None = None) -> pd.DataFrame:
    """The run's per-minute series (`Recorder.frame`), with its twin's mark when given.

    The twin's ``mark_usd`` joins as `TWIN_MARK_COLUMN` on (minute, asset), so figures can draw
    the run's mark against its twin's (NaN for a minute the twin did not record).
    """
    series = model.recorder.frame(model.symbols)
    if twin_model is None:
        return series
    twin_mark = twin_model.recorder.frame(twin_model.symbols)[["minute", "asset", "mark_usd"]]
    twin_mark = twin_mark.rename(columns={"mark_usd": TWIN_MARK_COLUMN})
    return series.merge(twin_mark, on=["minute", "asset"], how="left", validate="one_to_one")


def run_sweep(
    design: Design,
    *,
    results_dir: str | Path = "results",
    sweep_id: str | None = None,
    n_jobs: int = -1,
    scheduler: str | None = None,
    resume: bool = False,
    save_series: bool = False,
    max_runs: int | None = None,
    progress: bool | None = None,
    chunk_runs: int = 1,
    twin: bool = False,
    retry_errors: bool = True,
    allow_stale: bool = False,
) -> SweepReport:
    """Run every run of `design` not yet stored, writing rows as they finish.

    Args:
        design: The design (`experiments.sweeps.design`, `experiments.sweeps.catalogue.design_for`).
        results_dir: Root of the results; the sweep goes to `store.sweep_path`.
        sweep_id: Folder name; default `store.default_sweep_id` (the same design, the same
            folder, which is what makes a rerun resume).
        n_jobs: Worker processes (joblib convention: -1 all cores, 1 in-process). With
            ``scheduler="local"`` the number of Dask workers; ignored on a remote cluster.
        scheduler: None for local processes (loky); "local" for a local Dask cluster;
            an address such as "tcp://host:8786" for an existing Dask cluster.
        resume: Continue a folder that already holds runs, skipping stored run keys;
            if False and the folder holds runs, raise `store.SweepExistsError`.
        save_series: Also write each run's per-minute series under ``series/``.
        max_runs: Run at most this many new runs, then stop (a deliberate partial sweep).
        progress: Show a tqdm bar with ETA; None shows it when stderr is a terminal.
        chunk_runs: Finished runs per chunk file; 1 means a kill loses only runs in flight.
        twin: Run every run with its counterfactual twin (`run_one`), as a design with
            ``twin=True`` does: the sweep is then that design (its own folder, fingerprint and
            run keys), never mixed with one without twins.
        retry_errors: On resume, run again the runs stored with status "error" (a failure
            may have been transient, or fixed since); False skips them.
        allow_stale: Resume a folder whose runs another git commit stored (recorded in the
            manifest and the report); without it such a folder raises
            `store.StaleSweepError`.

    Returns:
        A `SweepReport`.

    Raises:
        store.SweepExistsError: The folder holds runs and `resume` is False.
        store.StaleSweepError: The folder holds runs of another commit, without `allow_stale`.
        ValueError: The folder holds a different design (an explicit `sweep_id` reused), its
            manifest is corrupt, or `scheduler` does not answer.

    A model error in a run is recorded, not raised. A worker process that dies (killed, out
    of memory) aborts the sweep after the finished runs are written; run it again with
    ``resume=True`` to continue. The manifest records how each invocation ended
    (`store.end_invocation`): completed, failed (with the error) or interrupted.
    """
    started = time.perf_counter()
    if twin and not design.twin:
        design = dataclasses.replace(design, twin=True)
    check_scheduler(scheduler)  # before anything is recorded: a dead address ran nothing
    path = sweep_path(results_dir, design, sweep_id)
    info = {"n_jobs": n_jobs, "scheduler": scheduler or "loky", "max_runs": max_runs}
    info["retry_errors"] = retry_errors
    done = open_sweep(
        path, design, resume=resume, run_info=info, retry_errors=retry_errors,
        allow_stale=allow_stale,
    )  # fmt: skip
    stored = load_runs(path)
    errors = set(stored.loc[stored["status"] != "ok", "key"])
    todo = [r for r in design.runs() if r.key not in done][:max_runs]
    series_dir = str((path / SERIES_DIR).resolve()) if save_series else None
    failed, ran = 0, 0
    try:
        if todo:
            calls = [(r.config, r.seed, series_dir, design.twin) for r in todo]
            runs = map_runs(
                run_one, calls, n_jobs=n_jobs, scheduler=scheduler, progress=progress,
                desc=design.experiment,
            )  # fmt: skip
            rows = (row for _, row in runs)
            failed, ran = _store_results(rows, todo, path, chunk_runs, design.fingerprint())
        consolidate(path)
    except KeyboardInterrupt:
        end_invocation(path, "interrupted", ran=ran, failed=failed)
        raise
    except BaseException as err:
        end_invocation(path, "failed", ran=ran, failed=failed, error=f"{type(err).__name__}: {err}")
        raise
    end_invocation(path, "completed", ran=len(todo), failed=failed)
    seconds = time.perf_counter() - started
    stale = tuple(read_manifest(path)["invocations"][-1].get("stale_commits", ()))
    retried = sum(r.key in errors for r in todo)
    return SweepReport(path, design.n_runs, len(todo), len(done), failed, seconds, retried, stale)


def map_runs(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    *,
    n_jobs: int = -1,
    scheduler: str | None = None,
    progress: bool | None = None,
    desc: str = "runs",
) -> Iterator[tuple[int, Any]]:
    """The one parallel loop of the experiments: ``fn(*args)`` for every ``args`` of `calls`.

    `run_sweep` maps `run_one` over a design's runs with it; the validation maps its own
    worker functions (`experiments.validation.runs`). Yields (index into `calls`, result) as
    runs finish, in any order; a run's result depends only on its arguments, never on the
    backend or the order.

    Args:
        fn: A module-level function (workers import it by name).
        calls: Positional arguments of each call.
        n_jobs: Worker processes (joblib convention: -1 all cores, 1 in-process).
        scheduler: None for local processes (loky); "local" for a local Dask cluster; an
            address such as "tcp://host:8786" for an existing Dask cluster.
        progress: Show a tqdm bar with ETA; None shows it when stderr is a terminal.
        desc: The bar's label.
    """
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(calls), unit="run", desc=desc, disable=not show)
    parent = os.getpid() if scheduler is None else None  # loky workers are our children
    with bar, _backend(scheduler, n_jobs) as workers:
        tasks = (delayed(_indexed)(i, fn, args, parent) for i, args in enumerate(calls))
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1)
        for i, result in parallel(tasks):
            bar.update(1)
            yield i, result


def _indexed(
    i: int, fn: Callable[..., Any], args: tuple, parent: int | None = None
) -> tuple[int, Any]:
    if parent is not None and parent != os.getpid():
        _exit_with(parent)
    return i, fn(*args)


_WATCHED: list[int] = []
WATCH_SECONDS = 0.5
"""How often a local worker checks that the process that started it is alive."""


def _exit_with(parent: int) -> None:
    """Make this worker process exit when `parent` (the sweep's main process) is gone.

    loky's workers outlive a main process killed with SIGKILL (they idle for minutes before
    loky's own timeout); a daemon thread, started once per worker, ends the worker within
    `WATCH_SECONDS` of the main process's death (the worker is then re-parented)."""
    if _WATCHED:
        return
    _WATCHED.append(parent)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def local_workers(n_jobs: int) -> int:
    """Number of processes joblib would use for `n_jobs` on this machine (at least 1)."""
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use 1 for in-process or -1 for all cores")
    return n_jobs if n_jobs > 0 else max(1, joblib.cpu_count() + 1 + n_jobs)


@contextmanager
def _backend(scheduler: str | None, n_jobs: int) -> Iterator[int]:
    if scheduler is None:
        with parallel_config(backend="loky"):
            yield local_workers(n_jobs)
        return
    from dask.distributed import Client, LocalCluster

    if scheduler == LOCAL_DASK:
        cluster = LocalCluster(
            n_workers=local_workers(n_jobs),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        with cluster, Client(cluster), parallel_config(backend="dask"):
            yield -1
        return
    with Client(scheduler, timeout="30s"), parallel_config(backend="dask"):
        yield -1


def _store_results(
    results: Iterator[dict], todo: list[Run], path: Path, chunk_runs: int, fingerprint: str
) -> tuple[int, int]:
    """Write rows in chunks stamped with the design's `fingerprint` as they come; return
    (failed, stored)."""
    by_key = {r.key: r for r in todo}
    buffer: list[dict[str, Any]] = []
    index, failed, stored = next_chunk_index(path), 0, 0
    try:
        for result in results:
            buffer.append(_table_row(by_key[result["key"]], result, path))
            failed += result["status"] != "ok"
            stored += 1
            if len(buffer) >= chunk_runs:
                write_chunk(path, buffer, index, fingerprint)
                index, buffer = index + 1, []
    finally:
        if buffer:  # finished runs survive an interrupt or a crashed worker
            write_chunk(path, buffer, index, fingerprint)
    return failed, stored


def _table_row(run: Run, result: dict[str, Any], path: Path) -> dict[str, Any]:
    row = {"key": run.key, "cell": run.cell, "replicate": run.replicate, "seed": run.seed}
    row.update(run.columns)
    row.update({k: v for k, v in result.items() if k not in row})
    if row.get("series_path"):
        row["series_path"] = os.path.relpath(row["series_path"], path)
    return row


def _write_series(model: Any, series_dir: Path, key: str, twin_model: Any | None) -> str:
    series_dir.mkdir(parents=True, exist_ok=True)
    target = series_dir / f"{key}.parquet"
    atomic_write_parquet(series_with_twin(model, twin_model), target)
    return str(target)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _short(err: BaseException) -> str:
    lines = traceback.format_exception(err, limit=-TRACEBACK_FRAMES)
    return "".join(lines)[-TRACEBACK_CHARS:]
