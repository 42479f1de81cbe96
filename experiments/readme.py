"""Splice generated files into README.md and the docs: `python -m experiments.readme [FILE]
[--root .] [--check]` (`make figures` does README.md and docs/*.md).

Between the markers

    <!-- include: results/tables/foo.md -->
    ... replaced ...
    <!-- end include -->

the text is replaced by the named file's contents (a path relative to the README's folder),
so every number the README shows comes from a command (`cascade-lab report`), never a hand.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

INCLUDE = re.compile(
    r"(?P<open><!-- include: (?P<path>\S+) -->\n)(?P<body>.*?)(?P<close><!-- end include -->)",
    re.DOTALL,
)
OPEN_MARKER = re.compile(r"<!-- include: (\S+) -->")


LINK = re.compile(r"\]\((?![a-z]+:|#|/)")
"""A Markdown link or image whose target is a relative path."""


def splice(text: str, root: Path, link_prefix: str = "") -> str:
    """Return `text` with every include block's body replaced by its file's contents.

    Include paths are relative to `root`; `link_prefix` is put before every relative link
    of an included body (the way from the including file's folder to `root`, e.g. "../"
    for a page in docs/ including a table written for the README).

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
        body = LINK.sub("](" + link_prefix, path.read_text()) if link_prefix else path.read_text()
        return match.group("open") + body + ("" if body.endswith("\n") else "\n") + match["close"]

    return INCLUDE.sub(contents, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README in place (or with --check, exit 1 if it is out of date)."""
    parser = argparse.ArgumentParser(prog="python -m experiments.readme", description=__doc__)
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    parser.add_argument(
        "--root", default=None, help="folder the include paths start from (default: the file's)"
    )
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    if not readme.is_file():
        print(f"readme: error: {readme} not found", file=sys.stderr)
        return 2
    folder = readme.resolve().parent
    root = Path(args.root).resolve() if args.root else folder
    prefix = "" if root == folder else os.path.relpath(root, folder) + "/"
    old = readme.read_text()
    try:
        new = splice(old, root, prefix)
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
