"""The cascade timeline figure now lives in `experiments.plots`; this name is kept for imports."""

from __future__ import annotations

from experiments.plots import cascade_timeline as plot_timeline

__all__ = ["plot_timeline"]
