"""Command line: `cascade-lab` (also `python -m experiments`)."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
from pathlib import Path

from experiments.checks import check_writable_folder
from experiments.cli_common import (  # noqa: F401 (parse_value: part of the CLI's API)
    DEMO,
    SweepInterruptedError,
    UserError,
    checked,
    closest,
    parse_sets,
    parse_value,
)
from experiments.cli_run import (
    DEMO_HAIRCUT,
    DEMO_POLICY,
    DEMO_POOL_USD,
    RUNS_FOLDER,
    check_twin,
    run_command,
)
from model.engine.risk_config import POLICIES
from model.scenarios import SCENARIOS
from model.venues import VENUES


def _list(args: argparse.Namespace) -> None:
    from experiments import parameters
    from experiments.sweeps.catalogue import experiment_rows

    if args.markdown:
        if args.section is not None:
            raise UserError("--markdown prints the whole page; leave out SECTION")
        print(parameters.page(), end="")
        return
    valid = (*parameters.sections(), "metrics")
    if args.section is not None and args.section not in valid:
        raise UserError(f"unknown section {args.section!r}{closest(args.section, valid)}")
    if args.section == "metrics":
        print(_metrics_table())
        return
    if args.section is None:
        print("scenarios:", ", ".join((*SCENARIOS, DEMO)))
        print("\nexperiments (cascade-lab sweep NAME):")
        for row in experiment_rows():
            print(
                f"  {row['experiment']:16s} {row['scenario']:9s} default: {row['default']}; "
                f"full: {row['full']}\n  {'':16s} {row['question']}"
            )
        print("loss-absorption policies (liquidation.policy):", ", ".join(POLICIES))
        print("venues (--venue):", ", ".join(VENUES))
        print(
            f"parameter sections: {', '.join(parameters.sections())}; "
            "summary metrics: cascade-lab list metrics; one key: cascade-lab explain KEY\n"
        )
    print(parameters.markdown(args.section), end="")


def _metrics_table() -> str:
    from model.metrics_doc import all_names, lookup

    lines = ["| key | unit | meaning |", "|---|---|---|"]
    for name in all_names():
        _, metric = lookup(name)
        lines.append(f"| `{name}` | {metric.unit} | {metric.meaning} |")
    return "\n".join(lines)


def _explain(args: argparse.Namespace) -> None:
    from experiments.parameters import explain_parameter, parameter_keys
    from model.metrics_doc import all_names, explain

    for key in args.keys:
        text = explain(key) or explain_parameter(key)
        if text is None:
            valid = (*all_names(), *parameter_keys())
            near = difflib.get_close_matches(key, valid, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise UserError(
                f"{key!r} is neither a summary metric nor a parameter{hint} "
                "(cascade-lab list metrics, cascade-lab list)"
            )
        print(text)


def _sweep(args: argparse.Namespace) -> None:
    from experiments.sweeps.catalogue import EXPERIMENTS, SIZES, design_for
    from experiments.sweeps.runner import run_sweep
    from experiments.sweeps.store import StaleSweepError, SweepExistsError, sweep_path

    names = tuple(EXPERIMENTS)
    if args.experiment not in names:
        raise UserError(f"unknown experiment {args.experiment!r}{closest(args.experiment, names)}")
    if args.size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(SIZES)}, got {args.size!r}")
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    if args.jobs == 0 or args.jobs < -1:
        raise UserError(f"--jobs must be -1 (all cores) or >= 1, got {args.jobs}")
    if (args.skip_errors or args.allow_stale) and not args.resume:
        flag = "--skip-errors" if args.skip_errors else "--allow-stale"
        raise UserError(f"{flag} applies to --resume only")
    try:
        design = design_for(args.experiment, size=args.size, n_seeds=args.seeds)
    except ValueError as err:
        raise UserError(str(err)) from None
    if args.twin:
        check_twin(design.scenario)
        design = dataclasses.replace(design, twin=True)
    checked(check_writable_folder, "--out", args.out)
    try:
        report = run_sweep(
            design,
            results_dir=args.out,
            n_jobs=args.jobs,
            scheduler=args.scheduler,
            resume=args.resume,
            save_series=args.series,
            progress=True,
            retry_errors=not args.skip_errors,
            allow_stale=args.allow_stale,
        )
    except SweepExistsError as err:
        raise UserError(f"{err} with --resume") from None
    except StaleSweepError as err:
        raise UserError(str(err)) from None
    except ValueError as err:
        raise UserError(str(err)) from None
    except KeyboardInterrupt:
        path = sweep_path(args.out, design)
        raise SweepInterruptedError(
            f"interrupted; the finished runs are stored in {path}: run the same command with "
            "--resume to continue"
        ) from None
    print(report.describe())
    _print_cells(report.path, design)


def _print_cells(path: Path, design) -> None:
    """The closing table: each cell's mean ± sd over seeds of the headline metrics."""
    from experiments.sweeps.cells import cell_table
    from experiments.sweeps.store import load_runs

    table = cell_table(load_runs(path), design)
    print(f"\nper cell, mean ± sd over {len(design.seeds)} seeds (cascade-lab explain KEY):\n")
    print(table.to_string(index=False))


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
        raise UserError(f"unknown --scenario {args.scenario!r}{closest(args.scenario, SCENARIOS)}")
    out = checked(check_writable_folder, "--out", args.out)
    cfg = ReportConfig(
        results_dir=out,
        size=args.size,
        n_seeds=args.seeds,
        n_jobs=args.jobs,
        scenario=args.scenario,
        seed=args.seed,
        progress=True,
    )
    try:
        build_report(cfg)
    except ValueError as err:
        raise UserError(str(err)) from None


def _validate(args: argparse.Namespace) -> None:
    from experiments.validation.report import validate

    checked(check_writable_folder, "--out", args.out)
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
    run.add_argument(
        "--out",
        default=None,
        help=f"folder for the run's files (default {RUNS_FOLDER}); each configuration and seed "
        "gets its own subfolder <scenario>-seed<N>-<hash>",
    )
    run.add_argument(
        "--force", action="store_true", help="overwrite a stored run of the same configuration"
    )
    run.add_argument(
        "--horizon",
        type=int,
        default=None,
        metavar="MINUTES",
        help="shorten (or lengthen) the run, moving each shock's start in proportion "
        "(720 of 1,440 -> 300 of 600); --set keys win",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. retail.high_leverage_share=0.4",
    )
    run.add_argument(
        "--policy", default=None, help=f"{DEMO} only ({DEMO_POLICY}): {', '.join(POLICIES)}"
    )
    run.add_argument(
        "--pool-usd", type=float, default=None, help=f"{DEMO} only: pool, USD ({DEMO_POOL_USD:g})"
    )
    run.add_argument("--twin", action="store_true", help=TWIN_HELP)
    run.add_argument(
        "--venue",
        default=None,
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
        "--haircut",
        type=float,
        default=None,
        help=f"--collateral-depeg only: the coin's haircut ({DEMO_HAIRCUT:g})",
    )
    run.set_defaults(func=run_command)
    listing = sub.add_parser(
        "list", help="scenarios, experiments, policies and every parameter by section"
    )
    listing.add_argument(
        "section", nargs="?", default=None, help="one section (retail, liquidation, ...) or metrics"
    )
    listing.add_argument(
        "--markdown", action="store_true", help="print docs/parameters.md (the whole page)"
    )
    listing.set_defaults(func=_list)
    explain = sub.add_parser("explain", help="what a summary metric or a parameter means")
    explain.add_argument("keys", nargs="+", metavar="KEY", help="e.g. liq_over_oi, drawdown_BTC")
    explain.set_defaults(func=_explain)
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
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue a stored sweep: runs stored as errors are run again",
    )
    sweep.add_argument(
        "--skip-errors", action="store_true", help="with --resume: do not retry errored runs"
    )
    sweep.add_argument(
        "--allow-stale",
        action="store_true",
        help="with --resume: reuse runs another git commit stored (refused otherwise)",
    )
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
    env["SOLARA_THEME_SHOW_BANNER"] = "false"  # its badge sat over the page's bottom right
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
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"cascade-lab: error: {err}", file=sys.stderr)
        return 2
    except SweepInterruptedError as err:
        print(f"\ncascade-lab: {err}", file=sys.stderr)
        return 130
    return 0
