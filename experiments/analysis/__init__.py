"""Analysis and plots: pure functions over recorded tables and the figures drawn from them.

- `returns`: stylized facts of returns (Cont 2001; Hill 1975; literature.md §3);
- `saved_runs`: a saved run's metrics (`run_metrics`) and ADL metrics;
- `sweeps`: the cascade amplification (a run's drawdown / its counterfactual twin's,
  DESIGN.md §2.3), the phase table, the critical 50–100x share, early warning;
- `plots`: figures of those tables (matplotlib, no model imports).

The package re-exports the metrics of the first three (``from experiments import analysis``,
``analysis.critical_share``); the figures are ``experiments.analysis.plots``.
"""

from experiments.analysis.returns import (
    AGGREGATION_MINUTES,
    autocorrelation,
    excess_kurtosis,
    hill_tail_index,
    kurtosis_by_aggregation,
    log_returns,
    require_columns,
    stylized_facts,
)
from experiments.analysis.saved_runs import (
    RUN_INFO_KEYS,
    RUN_TABLES,
    SERIES_KEYS,
    adl_metrics,
    liquidatable_share,
    retail_liquidated_share,
    run_metrics,
    series_arrays,
)
from experiments.analysis.sweeps import (
    AMPLIFICATION_THRESHOLD,
    CASCADE_AMPLIFICATION,
    CASCADE_SIZE,
    EARLY_WARNING_INDICATORS,
    EARLY_WARNING_OUTCOMES,
    SHARE,
    SHOCK,
    asset_amplification,
    critical_share,
    crossing,
    early_warning,
    exceeds,
    format_share,
    ok_runs,
    phase_table,
    run_amplification,
    seed_spread,
)

__all__ = [
    "AGGREGATION_MINUTES",
    "AMPLIFICATION_THRESHOLD",
    "CASCADE_AMPLIFICATION",
    "CASCADE_SIZE",
    "EARLY_WARNING_INDICATORS",
    "EARLY_WARNING_OUTCOMES",
    "RUN_INFO_KEYS",
    "RUN_TABLES",
    "SERIES_KEYS",
    "SHARE",
    "SHOCK",
    "adl_metrics",
    "asset_amplification",
    "autocorrelation",
    "critical_share",
    "crossing",
    "early_warning",
    "exceeds",
    "excess_kurtosis",
    "format_share",
    "hill_tail_index",
    "kurtosis_by_aggregation",
    "liquidatable_share",
    "log_returns",
    "ok_runs",
    "phase_table",
    "require_columns",
    "retail_liquidated_share",
    "run_amplification",
    "run_metrics",
    "seed_spread",
    "series_arrays",
    "stylized_facts",
]
