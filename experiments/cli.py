"""Command line: `cascade-lab` (also `python -m experiments`)."""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from pathlib import Path

from experiments.report.run_output import TWIN_FOLDER, format_summary, format_twin, save_run
from model.engine.risk_config import POLICIES
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


def _print_depeg(args: argparse.Namespace) -> None:
    from experiments import scripted_depeg as depeg

    try:
        table = depeg.side_by_side(args.seed, args.haircut)
        venue, ref = (depeg.outcome(v, args.seed, args.haircut) for v in ("venue", "reference"))
    except ValueError as err:
        raise UserError(str(err)) from None
    share = table["venue:mm_usd"][0] / table["venue:equity_usd"][0]
    print(
        f"Scripted collateral depeg: an account margined only with {depeg.COINS:,.0f} "
        f"{depeg.COIN} (haircut {args.haircut:.0%}) holds a {depeg.LEVERAGE:.0f}x long BTC perp "
        "bought at the index; the perp stays flat. A seller dumps the coin on the venue's thin "
        f"spot book to {depeg.DUMP_TO_USD[-1]:.2f}. venue: the coin valued at its last trade "
        "on the venue's book; ref: at an outside reference held at 1.00. Its maintenance is "
        f"{share:.0%} of its margin at 1.00, so a coin valued below about {share:.2f} "
        "liquidates it.\n"
    )
    print(table.to_string(index=False))
    sold = f", the engine sold {venue['coins_sold_by_engine']:,.0f} of its coins into the book"
    print(
        f"\nvaluation=venue: liquidated {venue['liquidated']} with its perp UPnL never below "
        f"{venue['min_perp_upnl_usd']:,.2f}{sold if venue['coins_sold_by_engine'] else ''}; "
        f"valuation=reference: liquidated {ref['liquidated']}."
    )


def _print_scenario(args: argparse.Namespace) -> None:
    from model import CascadeModel
    from model.scenarios import scenario
    from model.twin import twin_config, with_twin
    from model.venues import VENUES, venue_overrides

    if args.venue not in VENUES:
        raise UserError(f"unknown --venue {args.venue!r}{_closest(args.venue, VENUES)}")
    n_assets = len(scenario(args.target).assets)
    overrides = {**venue_overrides(args.venue, n_assets), **parse_sets(args.set)}
    try:
        model = CascadeModel(scenario=args.target, rng=args.seed, **overrides)
        twin = CascadeModel(scenario=twin_config(model.cfg), rng=args.seed) if args.twin else None
    except ValueError as err:
        raise UserError(str(err)) from None
    started = time.perf_counter()
    summary = model.run()
    if twin is not None:  # as `model.twin.run_pair`, with bad input caught before running
        summary = with_twin(summary, twin.run(), model.symbols)
    seconds = time.perf_counter() - started
    pair = " (the run and its twin)" if twin is not None else ""
    print(
        f"Scenario {args.target}, seed {args.seed}: {model.t} minutes, "
        f"{model.cfg.retail.n_accounts:,} retail accounts, {seconds:.1f} s{pair}.\n"
    )
    print(format_summary(summary, model.symbols))
    if twin is not None:
        print(
            "\nCounterfactual twin (the same seed, forced closes off the book):\n"
            "cascade amplification = drawdown / twin drawdown, "
            "endogenous share = 1 − twin drawdown / drawdown\n"
        )
        print(format_twin(summary, model.symbols))
    out = save_run(model, summary, Path(args.out) / f"{args.target}-seed{args.seed}", twin=twin)
    files = "summary.json, run.json, tables as Parquet, timeline.png"
    if twin is not None:
        files += f"; the twin's in {TWIN_FOLDER}/"
    print(f"\nwrote {out}/ ({files})")


def _check_twin(target: str) -> None:
    """Refuse --twin where a run has no twin: the scripted demo, a scenario without a shock."""
    from model.scenarios import scenario

    shocked = ", ".join(name for name in SCENARIOS if scenario(name).shocks)
    if target == DEMO:
        raise UserError(
            f"--twin does not apply to {DEMO} (a scripted crash, not a model run); "
            f"use it with a scenario that has a shock: {shocked}"
        )
    if target in SCENARIOS and not scenario(target).shocks:
        raise UserError(
            f"--twin needs a scenario with a shock, got {target!r} (its shocks are empty, "
            f"there is no fall to attribute); use one of {shocked}"
        )


def _run(args: argparse.Namespace) -> None:
    import pandas as pd

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.float_format", lambda x: f"{x:,.2f}")
    valid = (*SCENARIOS, DEMO)
    if args.target not in valid:
        raise UserError(f"unknown scenario {args.target!r}{_closest(args.target, valid)}")
    if args.twin:
        _check_twin(args.target)
    if args.collateral_depeg and args.target != DEMO:
        raise UserError(f"--collateral-depeg applies to {DEMO} only, got {args.target!r}")
    if args.target == DEMO and args.collateral_depeg:
        _print_depeg(args)
    elif args.target == DEMO:
        _print_demo(args)
    else:
        _print_scenario(args)


def parameter_rows() -> list[dict]:
    """Every tunable parameter: dotted key, default, unit, range and source."""
    from model.config import ModelConfig
    from model.overrides import field_metadata, flat_fields

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
    from experiments.sweeps.catalogue import experiment_rows

    print("scenarios:", ", ".join((*SCENARIOS, DEMO)))
    print("\nexperiments (cascade-lab sweep NAME):")
    for row in experiment_rows():
        print(
            f"  {row['experiment']:16s} {row['scenario']:9s} default: {row['default']}; "
            f"full: {row['full']}\n  {'':16s} {row['question']}"
        )
    print("loss-absorption policies (liquidation.policy):", ", ".join(POLICIES))
    print("\n| parameter | default | unit | range | source |\n|---|---|---|---|---|")
    for r in parameter_rows():
        print(
            f"| `{r['parameter']}` | {r['default']} | {r['unit']} | {r['range']} | {r['source']} |"
        )


def _sweep(args: argparse.Namespace) -> None:
    from experiments.sweeps.catalogue import EXPERIMENTS, SIZES, design_for
    from experiments.sweeps.runner import run_sweep
    from experiments.sweeps.store import SweepExistsError

    names = tuple(EXPERIMENTS)
    if args.experiment not in names:
        raise UserError(f"unknown experiment {args.experiment!r}{_closest(args.experiment, names)}")
    if args.size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(SIZES)}, got {args.size!r}")
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs == 0 or args.jobs < -1:
        raise UserError(f"--jobs must be -1 (all cores) or >= 1, got {args.jobs}")
    design = design_for(args.experiment, size=args.size, n_seeds=args.seeds)
    if args.twin:
        _check_twin(design.scenario)
    try:
        report = run_sweep(
            design,
            results_dir=args.out,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            resume=args.resume,
            save_series=args.series,
            progress=True,
            twin=args.twin,
        )
    except SweepExistsError as err:
        raise UserError(f"{err} with --resume") from None
    except ValueError as err:
        raise UserError(str(err)) from None
    print(report.describe())


def _report(args: argparse.Namespace) -> None:
    from experiments.report.build import ReportConfig, build_report
    from experiments.sweeps.catalogue import SIZES

    if args.size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(SIZES)}, got {args.size!r}")
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs == 0 or args.jobs < -1:
        raise UserError(f"--jobs must be -1 (all cores) or >= 1, got {args.jobs}")
    if args.scenario not in SCENARIOS:
        raise UserError(f"unknown --scenario {args.scenario!r}{_closest(args.scenario, SCENARIOS)}")
    cfg = ReportConfig(
        results_dir=Path(args.out),
        size=args.size,
        n_seeds=args.seeds,
        n_jobs=args.jobs,
        scenario=args.scenario,
        seed=args.seed,
    )
    try:
        build_report(cfg)
    except ValueError as err:
        raise UserError(str(err)) from None


def _validate(args: argparse.Namespace) -> None:
    from experiments.validation.report import validate

    try:
        _, text = validate(args.size, args.seeds, args.jobs, args.out, progress=True)
    except ValueError as err:
        raise UserError(str(err)) from None
    print(text)


TWIN_HELP = (
    "also run the counterfactual twin (the same seed, forced closes off the book) and add "
    "twin drawdown, cascade amplification and endogenous share per asset; needs a shock"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `cascade-lab`."""
    parser = argparse.ArgumentParser(prog="cascade-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario and print its summary")
    run.add_argument("target", help=f"scenario: {', '.join((*SCENARIOS, DEMO))}")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default="results/runs", help="folder for the run's files")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. retail.high_leverage_share=0.4",
    )
    run.add_argument("--policy", default="adl_queue", help=f"{DEMO} only: {', '.join(POLICIES)}")
    run.add_argument("--pool-usd", type=float, default=100.0, help=f"{DEMO} only: pool, USD")
    run.add_argument("--twin", action="store_true", help=TWIN_HELP)
    run.add_argument(
        "--venue",
        default="binance",
        help="the exchange's rules: binance (default) or hyperliquid (model/venues.py); "
        "--set overrides win",
    )
    run.add_argument(
        "--collateral-depeg",
        action="store_true",
        help=f"{DEMO} only: a coin-margined account and the coin dumped on the venue's book, "
        "valued on the venue's book vs an outside reference, side by side",
    )
    run.add_argument(
        "--haircut", type=float, default=0.05, help="--collateral-depeg only: the coin's haircut"
    )
    run.set_defaults(func=_run)
    sub.add_parser("list", help="scenarios, experiments, policies and parameters").set_defaults(
        func=_list
    )
    sweep = sub.add_parser("sweep", help="run a named experiment (resumable Parquet results)")
    sweep.add_argument("experiment")
    sweep.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    sweep.add_argument("--seeds", type=int, default=None, help="replicates per cell")
    sweep.add_argument("--size", default="default", help="default or full")
    sweep.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address tcp://host:port, or 'local' for a local cluster",
    )
    sweep.add_argument("--resume", action="store_true", help="continue a stored sweep")
    sweep.add_argument("--series", action="store_true", help="also store per-minute series")
    sweep.add_argument("--twin", action="store_true", help=TWIN_HELP)
    sweep.add_argument("--out", default="results", help="results folder")
    sweep.set_defaults(func=_sweep)
    report = sub.add_parser("report", help="run the report's sweeps, render figures and tables")
    report.add_argument("--size", default="default", help="sweep size: default or full")
    report.add_argument("--seeds", type=int, default=None, help="replicates per cell")
    report.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    report.add_argument("--scenario", default="oct-2025", help="scenario of the timeline run")
    report.add_argument("--seed", type=int, default=0, help="seed of the timeline run")
    report.add_argument("--out", default="results", help="results folder")
    report.set_defaults(func=_report)
    validate = sub.add_parser("validate", help="model vs reality: every target, pass/miss")
    validate.add_argument("--size", default="default", help="quick (tests) or default")
    validate.add_argument("--seeds", type=int, default=None, help="seeds per study")
    validate.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    validate.add_argument("--out", default="results/validation", help="report folder")
    validate.set_defaults(func=_validate)
    demo = sub.add_parser("demo", help="serve the teaching page on 127.0.0.1 (offline)")
    demo.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1")
    demo.set_defaults(func=_demo)
    return parser


DEMO_HOST = "127.0.0.1"
"""The teaching page listens on this machine only."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _demo(args: argparse.Namespace) -> None:
    """Run `solara run experiments/page/app.py` (this venv's solara) until Ctrl-C."""
    import os
    import signal
    import socket
    import subprocess
    import threading

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    solara = Path(sys.executable).with_name("solara")
    if not solara.exists():
        raise UserError(f"solara is not installed next to {sys.executable}")
    with socket.socket() as probe:
        if probe.connect_ex((DEMO_HOST, args.port)) == 0:
            raise UserError(f"port {args.port} is in use; pick another with --port")
    app = Path(__file__).with_name("page") / "app.py"
    cmd = [str(solara), "run", str(app), "--host", DEMO_HOST, "--port", str(args.port)]
    cmd += ["--production", "--no-open", "--no-check-version"]
    # the server imports the page's package from this tree (the one this command runs from)
    tree = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false", "PYTHONPATH": path}
    print(f"Cascade Lab teaching page: http://{DEMO_HOST}:{args.port}/ (Ctrl-C stops it)")
    sys.stdout.flush()
    server = subprocess.Popen(cmd, env=env)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server too
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        print("\nstopped")
        return
    if code != 0:
        raise UserError(f"the solara server exited with code {code}")


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
