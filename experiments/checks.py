"""Checks the command line makes before any work starts: an output folder that can be
written, a Dask scheduler that answers, a number that is finite and within reason.

Each raises `ValueError` with one line naming the option, the value and what is allowed;
`experiments.cli` reports it with exit code 2.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

SCHEDULER_TIMEOUT_S = 3.0
"""How long `check_scheduler` waits for a Dask scheduler to accept a connection."""


def check_writable_folder(option: str, folder: str | Path) -> Path:
    """Create `folder` (with its parents) and write and remove a probe file in it.

    Raises ValueError naming `option` when a part of the path is a file, the folder cannot be
    created (a read-only or virtual file system, no permission) or cannot be written.
    """
    path = Path(folder)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"{option} {str(folder)!r} must be a folder; {str(part)!r} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(
            f"{option} {str(folder)!r} cannot be created or written ({reason}); "
            "choose a folder you can write"
        ) from None
    return path


def check_number(option: str, value: float, lo: float, hi: float, unit: str = "") -> float:
    """`value` if finite and within [lo, hi], else a ValueError naming `option`."""
    unit = f" {unit}" if unit else ""
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"{option} must be a finite number in [{lo:g}, {hi:g}]{unit}, got {value}")
    return value


def check_scheduler(address: str | None, timeout_s: float = SCHEDULER_TIMEOUT_S) -> None:
    """Refuse a Dask scheduler address that does not accept a TCP connection within
    `timeout_s` (None and "local" start no connection and pass)."""
    if address is None or address == "local":
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme not in ("tcp", "tls") or not parsed.hostname or parsed.port is None:
        raise ValueError(
            f"--scheduler must be 'local' or an address tcp://host:port, got {address!r}"
        )
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout_s):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(
            f"--scheduler {address!r} does not answer within {timeout_s:g} s ({reason}); "
            "start the scheduler first, or use --scheduler local"
        ) from None


def is_empty_folder(path: Path) -> bool:
    """True when `path` does not exist or holds nothing."""
    return not path.exists() or not any(os.scandir(path))
