"""Sweeps: designs of runs (`design`), the one runner (`runner`: `run_one`, `run_sweep`,
`map_runs`), the results store (`store`) and the catalogue of named experiments
(`catalogue`)."""
