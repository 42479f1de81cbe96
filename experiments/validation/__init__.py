"""Validation against reality: three studies (oct-2025, leverage, stylized facts) over seeds.

- `targets`: the targets as data (bands, sources);
- `metrics`: pure metrics of recorded series;
- `runs`: the runs, each in a worker, and what each measures;
- `tables`: per-seed and pooled tables, the target table (`Results`);
- `studies`: sizes and `run_studies` (through the sweeps' runner, `map_runs`);
- `diagnoses`: why a target misses (the table of `oct_diagnoses` and `calm_diagnoses`, which
  read `Results` through `readings`);
- `figures` and `report`: ``results/validation/`` and `validate`.

The package re-exports the names its callers use (``from experiments import validation``).
"""

from experiments.validation.metrics import (
    ABS_RETURN_LAGS,
    DEPTH_BASELINE_MINUTES,
    EVENT_WINDOW_MINUTES,
    RETURN_LAGS,
    ROUTE_OF_KIND,
    ROUTES,
    WORST_WINDOW_MINUTES,
    Z95,
    acf_z,
    adl_thin_concentration,
    daily_ratio,
    depth_collapse,
    forced_sell_usd,
    guarded_ratio,
    liquidation_routes,
    oi_over_depth,
    pool_losses,
    pre_shock_depth_usd,
    return_stats,
    worst_window_share,
)
from experiments.validation.runs import (
    CALM_SKIP_MINUTES,
    GAUSSIAN_WORLD,
    book_metrics,
    calm_run,
    cascade_metrics,
    leverage_overrides,
    long_oi_holders,
    oct_run,
    pool_metrics,
)
from experiments.validation.studies import SIZES, Size, check_options, run_studies
from experiments.validation.tables import Results, evaluate, target_table
from experiments.validation.targets import (
    LEVERAGE_ASSETS,
    OCT,
    STUDIES,
    TAIL_ASSETS,
    TARGETS,
    Target,
    target,
)

__all__ = [
    "ABS_RETURN_LAGS",
    "CALM_SKIP_MINUTES",
    "DEPTH_BASELINE_MINUTES",
    "EVENT_WINDOW_MINUTES",
    "GAUSSIAN_WORLD",
    "LEVERAGE_ASSETS",
    "OCT",
    "RETURN_LAGS",
    "ROUTES",
    "ROUTE_OF_KIND",
    "SIZES",
    "STUDIES",
    "TAIL_ASSETS",
    "TARGETS",
    "WORST_WINDOW_MINUTES",
    "Z95",
    "Results",
    "Size",
    "Target",
    "acf_z",
    "adl_thin_concentration",
    "book_metrics",
    "calm_run",
    "cascade_metrics",
    "check_options",
    "daily_ratio",
    "depth_collapse",
    "evaluate",
    "forced_sell_usd",
    "guarded_ratio",
    "leverage_overrides",
    "liquidation_routes",
    "long_oi_holders",
    "oct_run",
    "oi_over_depth",
    "pool_losses",
    "pool_metrics",
    "pre_shock_depth_usd",
    "return_stats",
    "run_studies",
    "target",
    "target_table",
    "worst_window_share",
]
