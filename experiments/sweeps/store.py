"""The results store: one reproducible folder per sweep, written atomically in chunks.

Layout of ``results/<experiment>/<sweep-id>/``:

- ``manifest.json``: the design, root seed, whether each run has its counterfactual twin
  (``twin``), package versions and git commit (at creation and for each later invocation,
  which may resume it). Each invocation records whether the git tree had local changes
  (``git_dirty``), what it skipped and retried, and how it ended (``status``: running,
  completed, failed with its ``error``, interrupted; ``ran``, ``failed``, ``ended_utc``).
- ``runs-00001.parquet``, ...: chunks of finished runs, each written to a hidden temporary
  file and renamed into place (`os.replace`), so a killed sweep leaves only whole chunks.
  Each carries in its Parquet metadata the sweep's design fingerprint and a SHA-256 of its
  rows: a chunk from another sweep, or one that is damaged or whose rows changed, is refused
  by name when the folder is read (`read_checked`).
- ``runs.parquet``: the union of all rows, written when a sweep invocation ends (with its
  fingerprint and checksum too); its chunks are then removed.
- ``series/<key>.parquet``: per-run time series, when asked for.

`load_runs` reads ``runs.parquet`` and every chunk and keeps one row per run key (the last
written), so the folder reads the same whether or not the final consolidation happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from experiments.sweeps.design import Design

MANIFEST = "manifest.json"
RUNS = "runs.parquet"
SERIES_DIR = "series"
CHUNK_PATTERN = re.compile(r"^runs-(\d{5,})\.parquet$")
ORDER_COLUMNS = ("cell", "replicate")
VERSIONED_PACKAGES = (
    "cascade-lab",
    "mesa",
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "joblib",
    "dask",
    "distributed",
)


class SweepExistsError(RuntimeError):
    """The sweep folder already holds runs and resuming was not asked for."""


def default_sweep_id(design: Design) -> str:
    """``<size>-<first 8 hex of the design fingerprint>``: the same design, the same folder.

    A design with twins (`Design.twin`) gets ``<size>-twin-<8 hex>``: its fingerprint differs
    anyway, the word says so in a listing.
    """
    twin = "twin-" if design.twin else ""
    return f"{design.size}-{twin}{design.fingerprint()[:8]}"


def sweep_path(results_dir: str | Path, design: Design, sweep_id: str | None = None) -> Path:
    """``<results_dir>/<experiment>/<sweep_id or default_sweep_id(design)>``."""
    return Path(results_dir) / design.experiment / (sweep_id or default_sweep_id(design))


class StaleSweepError(RuntimeError):
    """The folder holds runs stored by another commit and mixing them was not allowed."""


def open_sweep(
    path: Path,
    design: Design,
    *,
    resume: bool,
    run_info: Mapping[str, Any],
    retry_errors: bool = True,
    allow_stale: bool = False,
) -> set:
    """Create or reopen a sweep folder and record this invocation in its manifest.

    Args:
        path: The sweep folder.
        design: The design about to run; must match the manifest's when the folder exists.
        resume: Reopen a folder that already holds runs (else raise `SweepExistsError`).
        run_info: Backend details stored with this invocation (backend, n_jobs, ...).
        retry_errors: Run again the runs stored with status "error" (they are not skipped);
            False skips them as finished.
        allow_stale: Reuse runs stored by another git commit (`stored_commits`); if False
            and the folder holds such runs, raise `StaleSweepError` naming both commits.

    Returns:
        The keys of the runs to skip: stored with status "ok" (and "error" unless
        `retry_errors`). The invocation is recorded with status "running"; `end_invocation`
        records how it ended.
    """
    path.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(path)
    if manifest and manifest_twin(manifest) != design.twin:
        raise ValueError(
            f"{path} holds a sweep with twin={manifest_twin(manifest)}, this one has "
            f"twin={design.twin}; runs with and without twins do not mix: choose another sweep id"
        )
    if manifest and manifest["fingerprint"] != design.fingerprint():
        raise ValueError(f"{path} holds a different design; choose another sweep id")
    runs = load_runs(path)
    if len(runs) and not resume:
        raise SweepExistsError(f"{path} already holds {len(runs)} runs; resume to continue it")
    made = provenance()
    others = sorted(c for c in stored_commits(manifest) if c and c != made["git_commit"])
    if len(runs) and others and not allow_stale:
        raise StaleSweepError(
            f"{path} holds runs stored by commit {', '.join(c[:10] for c in others)}, this is "
            f"commit {str(made['git_commit'])[:10]}; --allow-stale mixes them, or choose "
            "another --out to start afresh"
        )
    errors = set(runs.loc[runs["status"] != "ok", "key"])
    done = set(runs["key"]) - (errors if retry_errors else set())
    invocation = {
        **made,
        **dict(run_info),
        "status": "running",
        "skipped": len(done),
        "retrying": len(errors) if retry_errors else 0,
        "stale_commits": others,
    }
    manifest = manifest or _new_manifest(path, design, invocation)
    manifest["invocations"].append(invocation)
    atomic_write_text(path / MANIFEST, json.dumps(manifest, indent=2, default=str))
    return done


def end_invocation(path: Path, status: str, **details: Any) -> None:
    """Record how the last invocation of the sweep ended: status ("completed", "failed",
    "interrupted"), end time and `details` (runs done, failures, the error)."""
    manifest = read_manifest(path)
    if not manifest or not manifest.get("invocations"):
        return
    last = manifest["invocations"][-1]
    last.update(status=status, ended_utc=datetime.now(UTC).isoformat(timespec="seconds"))
    last.update(details)
    atomic_write_text(path / MANIFEST, json.dumps(manifest, indent=2, default=str))


def stored_commits(manifest: Mapping[str, Any] | None) -> set[str | None]:
    """Git commits of the invocations that may have stored runs: those that ran at least
    one run, or whose outcome was not recorded (older manifests, killed invocations)."""
    if not manifest:
        return set()
    found = {
        inv.get("git_commit") for inv in manifest.get("invocations", []) if inv.get("ran", 1) > 0
    }
    return found or {manifest.get("git_commit")}


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The sweep's manifest as a dict, or None if there is none yet.

    Raises ValueError naming the file when it is not a JSON object (a truncated or edited
    manifest)."""
    file = Path(path) / MANIFEST
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"the sweep manifest {file} is corrupt ({err}); move the folder away or choose "
            "another --out"
        ) from None
    if not isinstance(manifest, dict) or "fingerprint" not in manifest:
        raise ValueError(
            f"the sweep manifest {file} is corrupt (no design fingerprint); move the folder "
            "away or choose another --out"
        )
    manifest.setdefault("invocations", [])
    return manifest


def manifest_twin(manifest: Mapping[str, Any]) -> bool:
    """Whether the sweep's runs have their twins (False for manifests older than the flag)."""
    return bool(manifest.get("twin", False))


def write_chunk(
    path: Path, rows: Iterable[Mapping[str, Any]], index: int, fingerprint: str
) -> Path:
    """Write rows as ``runs-<index>.parquet`` atomically, stamped with the sweep's design
    `fingerprint` and with its rows' checksum (`atomic_write_parquet`); return its path."""
    target = path / f"runs-{index:05d}.parquet"
    frame = pd.DataFrame(list(rows))
    frame.attrs["fingerprint"] = fingerprint
    atomic_write_parquet(frame, target)
    return target


def rows_sha256(frame: pd.DataFrame) -> str:
    """Hex SHA-256 of a frame's rows as Arrow writes them (index and metadata left out): the
    same for the frame written and the frame read back from Parquet, list columns included."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    # pandas' own string dtype comes back from Parquet as Arrow large_string
    plain = [
        pa.field(f.name, pa.string()) if f.type == pa.large_string() else f for f in table.schema
    ]
    table = table.cast(pa.schema(plain)).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def read_checked(file: Path, fingerprint: str | None) -> pd.DataFrame:
    """A stored runs file, refused (ValueError naming it) when it cannot be read, its rows do
    not match the checksum stamped in it, or another sweep than `fingerprint` stamped it
    (None: not checked). Files written before the stamps are read as they are."""
    try:
        frame = pd.read_parquet(file)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise ValueError(
            f"{file} is corrupt ({type(err).__name__}); delete it and run the sweep again "
            "with --resume to redo its runs"
        ) from None
    stamp, digest = frame.attrs.get("fingerprint"), frame.attrs.get("rows_sha256")
    if digest and rows_sha256(frame) != digest:
        raise ValueError(
            f"{file} is corrupt: its rows do not match the checksum stored in it; delete it "
            "and run the sweep again with --resume to redo its runs"
        )
    if fingerprint and stamp and stamp != fingerprint:
        raise ValueError(
            f"{file} belongs to another sweep (design {stamp[:8]}, this folder's "
            f"{fingerprint[:8]}); move it out of {file.parent}"
        )
    return frame


def next_chunk_index(path: Path) -> int:
    """One more than the highest chunk number in the folder (1 when there is none)."""
    return max((n for n, _ in _chunks(path)), default=0) + 1


def load_runs(path: str | Path) -> pd.DataFrame:
    """Every stored run of a sweep, one row per key, ordered by cell then replicate.

    Reads ``runs.parquet`` and then every chunk in number order; when a key appears twice
    (a kill between consolidation and chunk removal, or a retried failure) the last written
    row wins. Temporary files of interrupted writes are ignored.
    """
    path = Path(path)
    files = ([path / RUNS] if (path / RUNS).exists() else []) + [f for _, f in _chunks(path)]
    manifest = read_manifest(path)
    fingerprint = manifest["fingerprint"] if manifest else None
    frames = [read_checked(f, fingerprint) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["key", *ORDER_COLUMNS, "seed", "status"])
    runs = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")
    return runs.sort_values(list(ORDER_COLUMNS), kind="stable").reset_index(drop=True)


def completed_keys(path: str | Path, with_errors: bool = True) -> set[str]:
    """Keys of the runs stored in the folder: finished, successfully or not (only the
    successful ones without `with_errors`)."""
    runs = load_runs(path)
    return set(runs["key"] if with_errors else runs.loc[runs["status"] == "ok", "key"])


def consolidate(path: Path) -> pd.DataFrame:
    """Write the union of all rows to ``runs.parquet`` atomically, then remove the chunks."""
    runs = load_runs(path)
    chunks = [f for _, f in _chunks(path)]
    manifest = read_manifest(path)
    if manifest:
        runs.attrs["fingerprint"] = manifest["fingerprint"]
    atomic_write_parquet(runs, path / RUNS)
    for chunk in chunks:
        chunk.unlink(missing_ok=True)
    return runs


def atomic_write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Write a DataFrame, its rows' SHA-256 stamped in the Parquet metadata, to a hidden
    temporary file beside `target`, then rename it."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    frame = frame.copy(deep=False)
    frame.attrs["rows_sha256"] = rows_sha256(frame)
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)


def atomic_write_text(target: Path, text: str) -> None:
    """Write text to a hidden temporary file beside `target`, then rename it."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, target)


def package_versions() -> dict[str, str | None]:
    """Installed versions of Python and of the packages a result depends on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git(*args: str) -> str | None:
    """stdout of ``git -C <source tree> ARGS``, or None (no git, not a checkout, an error)."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the source tree, or None (no git, not a checkout)."""
    out = _git("rev-parse", "HEAD")
    return (out.strip() or None) if out is not None else None


def git_dirty() -> bool | None:
    """Whether tracked files of the source tree differ from its commit (None: no git)."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return bool(out.strip()) if out is not None else None


def provenance() -> dict[str, Any]:
    """When and from which code a result is made: UTC time, git commit, whether the tree
    had local changes (``git_dirty``) and the package versions."""
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "versions": package_versions(),
    }


def _chunks(path: Path) -> list[tuple[int, Path]]:
    if not path.exists():
        return []
    found = ((CHUNK_PATTERN.match(f.name), f) for f in path.iterdir())
    return sorted((int(m.group(1)), f) for m, f in found if m)


def _new_manifest(path: Path, design: Design, first: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "experiment": design.experiment,
        "sweep_id": path.name,
        "fingerprint": design.fingerprint(),
        "root_seed": design.root_seed,
        "n_runs": design.n_runs,
        "twin": design.twin,
        "created_utc": first["started_utc"],
        "git_commit": first["git_commit"],
        "git_dirty": first.get("git_dirty"),
        "versions": first["versions"],
        "design": design.to_json(),
        "layout": {"runs": RUNS, "chunks": "runs-NNNNN.parquet", "series": f"{SERIES_DIR}/"},
        "invocations": [],
    }
