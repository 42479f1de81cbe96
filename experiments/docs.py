"""Write the generated documentation: ``python -m experiments.docs`` writes
docs/parameters.md (`experiments.parameters.page`); ``--check`` only says whether it is
current (exit 1 when not)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"
"""The generated parameters page in the source tree."""


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) docs/parameters.md; return the exit code."""
    from experiments.parameters import page

    parser = argparse.ArgumentParser(prog="python -m experiments.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=PAGE, help=f"the page (default {PAGE})")
    args = parser.parse_args(argv)
    text = page()
    if args.check:
        current = args.out.exists() and args.out.read_text() == text
        print(f"{args.out} is {'current' if current else 'out of date'}")
        return 0 if current else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
