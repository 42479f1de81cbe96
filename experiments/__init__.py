"""Cascade Lab's experiments, in packages by job: `sweeps` (designs, the runner, the store, the
catalogue), `analysis` (metrics and plots), `report`, `validation`, `bench`, `page` (the
teaching page); `cli` is the command line.

``from experiments import run_one, run_sweep`` is the public surface of the runner; the names
load lazily, so importing `experiments` does no work."""

from __future__ import annotations

from typing import Any

__all__ = ["run_one", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from experiments.sweeps import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
