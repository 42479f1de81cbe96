"""``python -m experiments.bench [--quick]``: the benchmark suite (`experiments.bench.suite`)."""

import sys

from experiments.bench.suite import main

sys.exit(main())
