"""Splice generated files into README.md: `python -m experiments.readme [--check]`.

Between the markers

    <!-- include: results/tables/foo.md -->
    ... replaced ...
    <!-- end include -->

the text is replaced by the named file's contents (a path relative to the README's folder),
so every number the README shows comes from a command (`cascade-lab report`), never a hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

INCLUDE = re.compile(
    r"(?P<open><!-- include: (?P<path>\S+) -->\n)(?P<body>.*?)(?P<close><!-- end include -->)",
    re.DOTALL,
)
OPEN_MARKER = re.compile(r"<!-- include: (\S+) -->")


def splice(text: str, root: Path) -> str:
    """Return `text` with every include block's body replaced by its file's contents.

    Raises:
        ValueError: An included file is missing, or an include marker has no end marker.
    """
    closed = {m.group("path") for m in INCLUDE.finditer(text)}
    unclosed = [p for p in OPEN_MARKER.findall(text) if p not in closed]
    if unclosed:
        raise ValueError(f"include of {unclosed[0]} has no '<!-- end include -->' after it")

    def contents(match: re.Match) -> str:
        path = root / match.group("path")
        if not path.is_file():
            raise ValueError(f"included file {match.group('path')} not found (looked in {root})")
        body = path.read_text()
        return match.group("open") + body + ("" if body.endswith("\n") else "\n") + match["close"]

    return INCLUDE.sub(contents, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README in place (or with --check, exit 1 if it is out of date)."""
    parser = argparse.ArgumentParser(prog="python -m experiments.readme", description=__doc__)
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    if not readme.is_file():
        print(f"readme: error: {readme} not found", file=sys.stderr)
        return 2
    old = readme.read_text()
    try:
        new = splice(old, readme.resolve().parent)
    except ValueError as err:
        print(f"readme: error: {err}", file=sys.stderr)
        return 2
    n = len(INCLUDE.findall(old))
    if args.check:
        print(f"{readme}: {'up to date' if new == old else 'out of date'} ({n} includes)")
        return 0 if new == old else 1
    readme.write_text(new)
    print(f"{readme}: {n} includes spliced{'' if new != old else ' (no change)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
