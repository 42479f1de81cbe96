"""`python -m experiments` is the `cascade-lab` command."""

import sys

from experiments.cli import main

sys.exit(main())
