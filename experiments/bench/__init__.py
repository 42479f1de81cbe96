"""The benchmark suite (``python -m experiments.bench [--quick]``, `make bench`)."""
