"""Command line: `cascade-lab` (also `python -m experiments`)."""

from __future__ import annotations

import argparse
import difflib
import sys

from model.risk_config import POLICIES

COMMANDS = ("run",)
RUNNABLE = ("cascade-demo",)


class UserError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


def _closest(name: str, valid: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, valid, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"{hint}; valid: {', '.join(valid)}"


def _run(args: argparse.Namespace) -> None:
    import pandas as pd

    from experiments import scripted

    if args.target not in RUNNABLE:
        raise UserError(f"unknown scenario {args.target!r}{_closest(args.target, RUNNABLE)}")
    if args.policy not in POLICIES:
        raise UserError(f"unknown --policy {args.policy!r}{_closest(args.policy, POLICIES)}")
    if not args.pool_usd >= 0:
        raise UserError(f"--pool-usd must be >= 0, got {args.pool_usd}")
    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.float_format", lambda x: f"{x:,.2f}")
    print(
        f"Scripted cascade: {scripted.N_LONGS} crowded longs (10/20/50x) on a thin long-tail "
        f"perp, index falls {scripted.CRASH:.0%} over 3 minutes; pool ${args.pool_usd:,.0f}, "
        f"policy {args.policy}.\n"
    )
    print(scripted.step_table(args.policy, args.pool_usd, args.seed).to_string(index=False))
    print("\nThe same crash under every loss-absorption policy:\n")
    print(scripted.policy_table(args.pool_usd, args.seed).to_string(index=False))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `cascade-lab`."""
    parser = argparse.ArgumentParser(prog="cascade-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and print its tables")
    run.add_argument("target", help=f"scenario: {', '.join(RUNNABLE)}")
    run.add_argument("--policy", default="adl_queue", help=f"one of {', '.join(POLICIES)}")
    run.add_argument("--pool-usd", type=float, default=100.0, help="insurance pool, USD")
    run.add_argument("--seed", type=int, default=0)
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; user mistakes exit 2 with one line on stderr, no traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"cascade-lab: error: {err}", file=sys.stderr)
        return 2
    return 0
