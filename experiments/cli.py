"""Command line: `cascade-lab` (also `python -m experiments`)."""

from __future__ import annotations

import argparse
import difflib
import sys
import time

from model.risk_config import POLICIES
from model.scenarios import SCENARIOS

DEMO = "cascade-demo"


class UserError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


def _closest(name: str, valid: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, valid, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"{hint}; valid: {', '.join(valid)}"


def parse_value(text: str) -> object:
    """A --set value: int, float, a comma-separated tuple of numbers, or a string."""
    if "," in text:
        return tuple(float(x) for x in text.split(","))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_sets(items: list[str]) -> dict[str, object]:
    """`key=value` pairs from --set into a dict of overrides."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set takes key=value, got {item!r}")
        out[key] = parse_value(value)
    return out


def _print_demo(args: argparse.Namespace) -> None:
    from experiments import scripted

    if args.policy not in POLICIES:
        raise UserError(f"unknown --policy {args.policy!r}{_closest(args.policy, POLICIES)}")
    if not args.pool_usd >= 0:
        raise UserError(f"--pool-usd must be >= 0, got {args.pool_usd}")
    print(
        f"Scripted cascade: {scripted.N_LONGS} crowded longs (10/20/50x) on a thin long-tail "
        f"perp, index falls {scripted.CRASH:.0%} over 3 minutes; pool ${args.pool_usd:,.0f}, "
        f"policy {args.policy}.\n"
    )
    print(scripted.step_table(args.policy, args.pool_usd, args.seed).to_string(index=False))
    print("\nThe same crash under every loss-absorption policy:\n")
    print(scripted.policy_table(args.pool_usd, args.seed).to_string(index=False))


def _print_scenario(args: argparse.Namespace) -> None:
    from model import CascadeModel

    overrides = parse_sets(args.set)
    try:
        model = CascadeModel(scenario=args.target, rng=args.seed, **overrides)
    except ValueError as err:
        raise UserError(str(err)) from None
    started = time.perf_counter()
    summary = model.run()
    seconds = time.perf_counter() - started
    print(
        f"Scenario {args.target}, seed {args.seed}: {model.t} minutes, "
        f"{model.cfg.retail.n_accounts:,} retail accounts, {seconds:.1f} s.\n"
    )
    print(format_summary(summary, model.symbols))


def format_summary(summary: dict[str, float], symbols: tuple[str, ...]) -> str:
    """The summary as two readable tables: market-wide metrics and per-asset metrics."""
    import pandas as pd

    per_asset = ("liq_notional_usd", "drawdown", "fundamental_drop", "amplification")
    rows = {sym: {m: summary[f"{m}_{sym}"] for m in per_asset} for sym in symbols}
    table = pd.DataFrame(rows).T
    market = {
        k: v
        for k, v in summary.items()
        if not any(k.startswith(f"{m}_") and k.split("_")[-1] in symbols for m in per_asset)
    }
    lines = [f"{k:32s} {v:>18,.4f}" for k, v in market.items()]
    return "\n".join(lines) + "\n\n" + table.to_string(float_format=lambda x: f"{x:,.3f}")


def _run(args: argparse.Namespace) -> None:
    import pandas as pd

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.float_format", lambda x: f"{x:,.2f}")
    valid = (*SCENARIOS, DEMO)
    if args.target not in valid:
        raise UserError(f"unknown scenario {args.target!r}{_closest(args.target, valid)}")
    if args.target == DEMO:
        _print_demo(args)
    else:
        _print_scenario(args)


def parameter_rows() -> list[dict]:
    """Every tunable parameter: dotted key, default, unit, range and source."""
    from model.config import ModelConfig, field_metadata, flat_fields

    cfg = ModelConfig()
    values = flat_fields(cfg)
    rows = []
    for key, meta in field_metadata(cfg).items():
        lo, hi = meta["range"]
        rows.append(
            {
                "parameter": key,
                "default": values.get(key),
                "unit": meta["unit"],
                "range": f"[{lo:g}, {hi:g}]",
                "source": meta["source"],
            }
        )
    return rows


def _list(args: argparse.Namespace) -> None:
    print("scenarios:", ", ".join((*SCENARIOS, DEMO)))
    print("loss-absorption policies (liquidation.policy):", ", ".join(POLICIES))
    print("\n| parameter | default | unit | range | source |\n|---|---|---|---|---|")
    for r in parameter_rows():
        print(
            f"| `{r['parameter']}` | {r['default']} | {r['unit']} | {r['range']} | {r['source']} |"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `cascade-lab`."""
    parser = argparse.ArgumentParser(prog="cascade-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and print its summary")
    run.add_argument("target", help=f"scenario: {', '.join((*SCENARIOS, DEMO))}")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. retail.high_leverage_share=0.4",
    )
    run.add_argument("--policy", default="adl_queue", help=f"{DEMO} only: {', '.join(POLICIES)}")
    run.add_argument("--pool-usd", type=float, default=100.0, help=f"{DEMO} only: pool, USD")
    run.set_defaults(func=_run)
    sub.add_parser("list", help="scenarios, policies and parameters").set_defaults(func=_list)
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
