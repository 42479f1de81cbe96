"""The results store: one reproducible folder per sweep, written atomically in chunks.

Layout of ``results/<experiment>/<sweep-id>/``:

- ``manifest.json``: the design, root seed, whether each run has its counterfactual twin
  (``twin``), package versions and git commit (at creation and for each later invocation,
  which may resume it).
- ``runs-00001.parquet``, ...: chunks of finished runs, each written to a hidden temporary
  file and renamed into place (`os.replace`), so a killed sweep leaves only whole chunks.
- ``runs.parquet``: the union of all rows, written when a sweep invocation ends; its chunks
  are then removed.
- ``series/<key>.parquet``: per-run time series, when asked for.

`load_runs` reads ``runs.parquet`` and every chunk and keeps one row per run key (the last
written), so the folder reads the same whether or not the final consolidation happened.
"""

from __future__ import annotations

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


def open_sweep(path: Path, design: Design, *, resume: bool, run_info: Mapping[str, Any]) -> set:
    """Create or reopen a sweep folder and record this invocation in its manifest.

    Args:
        path: The sweep folder.
        design: The design about to run; must match the manifest's when the folder exists.
        resume: Reopen a folder that already holds runs (else raise `SweepExistsError`).
        run_info: Backend details stored with this invocation (backend, n_jobs, ...).

    Returns:
        The keys of the runs already stored (to be skipped).
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
    done = completed_keys(path)
    if done and not resume:
        raise SweepExistsError(f"{path} already holds {len(done)} runs; resume to continue it")
    invocation = {**_provenance(), **dict(run_info), "skipped": len(done)}
    manifest = manifest or _new_manifest(path, design, invocation)
    manifest["invocations"].append(invocation)
    atomic_write_text(path / MANIFEST, json.dumps(manifest, indent=2, default=str))
    return done


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The sweep's manifest as a dict, or None if there is none yet."""
    file = Path(path) / MANIFEST
    return json.loads(file.read_text()) if file.exists() else None


def manifest_twin(manifest: Mapping[str, Any]) -> bool:
    """Whether the sweep's runs have their twins (False for manifests older than the flag)."""
    return bool(manifest.get("twin", False))


def write_chunk(path: Path, rows: Iterable[Mapping[str, Any]], index: int) -> Path:
    """Write rows as ``runs-<index>.parquet`` atomically; return the chunk's path."""
    target = path / f"runs-{index:05d}.parquet"
    atomic_write_parquet(pd.DataFrame(list(rows)), target)
    return target


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
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["key", *ORDER_COLUMNS, "seed", "status"])
    runs = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last")
    return runs.sort_values(list(ORDER_COLUMNS), kind="stable").reset_index(drop=True)


def completed_keys(path: str | Path) -> set[str]:
    """Keys of the runs stored in the folder (finished, successfully or not)."""
    return set(load_runs(path)["key"])


def consolidate(path: Path) -> pd.DataFrame:
    """Write the union of all rows to ``runs.parquet`` atomically, then remove the chunks."""
    runs = load_runs(path)
    chunks = [f for _, f in _chunks(path)]
    atomic_write_parquet(runs, path / RUNS)
    for chunk in chunks:
        chunk.unlink(missing_ok=True)
    return runs


def atomic_write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """Write a DataFrame to a hidden temporary file beside `target`, then rename it."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
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


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the source tree, or None (no git, not a checkout)."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _chunks(path: Path) -> list[tuple[int, Path]]:
    if not path.exists():
        return []
    found = ((CHUNK_PATTERN.match(f.name), f) for f in path.iterdir())
    return sorted((int(m.group(1)), f) for m, f in found if m)


def _provenance() -> dict[str, Any]:
    return {
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "versions": package_versions(),
    }


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
        "versions": first["versions"],
        "design": design.to_json(),
        "layout": {"runs": RUNS, "chunks": "runs-NNNNN.parquet", "series": f"{SERIES_DIR}/"},
        "invocations": [],
    }
