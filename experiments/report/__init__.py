"""The report: the sweeps behind every figure and table (`build`), their Markdown tables
(`tables`), and a single run's files and printed summary (`run_output`)."""
