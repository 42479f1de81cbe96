"""Command line: `cascade-lab` (also `python -m experiments`)."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import time
from pathlib import Path

from experiments.checks import check_number, check_writable_folder, is_empty_folder
from experiments.report.run_output import TWIN_FOLDER, format_summary, format_twin, save_run
from model.engine.risk_config import POLICIES
from model.scenarios import SCENARIOS
from model.venues import VENUES

DEMO = "cascade-demo"


class UserError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


class SweepInterruptedError(Exception):
    """Ctrl-C: reported in one line (what was kept, how to continue) with exit code 130."""


def _closest(name: str, valid: tuple[str, ...]) -> str:
    near = difflib.get_close_matches(name, valid, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    return f"{hint}; valid: {', '.join(valid)}"


def parse_value(text: str) -> object:
    """A --set value: int, float, a comma-separated tuple, or a string (a word such as
    "false" or "none" is left to `model.overrides` to read in the field's own type)."""
    if "," in text:
        return tuple(_number_or_text(x.strip()) for x in text.split(","))
    return _number_or_text(text)


def _number_or_text(text: str) -> object:
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


DEMO_POLICY = "adl_queue"
DEMO_POOL_USD = 100.0
DEMO_HAIRCUT = 0.05
MAX_POOL_USD = 1e12
"""Largest --pool-usd of the scripted demo: a trillion USD already takes over every loss."""


def _print_demo(args: argparse.Namespace) -> None:
    from experiments import scripted

    policy = args.policy or DEMO_POLICY
    pool_usd = DEMO_POOL_USD if args.pool_usd is None else args.pool_usd
    print(
        f"Scripted cascade: {scripted.N_LONGS} crowded longs (10/20/50x) on a thin long-tail "
        f"perp, index falls {scripted.CRASH:.0%} over 3 minutes; pool ${pool_usd:,.0f}, "
        f"policy {policy}.\n"
    )
    print(scripted.step_table(policy, pool_usd, args.seed).to_string(index=False))
    print("\nThe same crash under every loss-absorption policy:\n")
    print(scripted.policy_table(pool_usd, args.seed).to_string(index=False))


def _check_demo_options(args: argparse.Namespace) -> None:
    """The scripted demo's own options, and the scenario options it refuses."""
    demo_refuses = (
        ("--set", args.set),
        ("--out", args.out),
        ("--venue", args.venue),
        ("--horizon", args.horizon),
    )
    for flag, value in demo_refuses:
        if value:
            raise UserError(f"{flag} does not apply to {DEMO} (a scripted crash, not a model run)")
    if args.force:
        raise UserError(f"--force does not apply to {DEMO} (it writes no files)")
    if args.collateral_depeg:
        for flag, value in (("--policy", args.policy), ("--pool-usd", args.pool_usd)):
            if value is not None:
                raise UserError(f"{flag} does not apply to {DEMO} --collateral-depeg")
        return  # --haircut is checked by the depeg itself, naming its field
    if args.haircut is not None:
        raise UserError("--haircut applies to --collateral-depeg only")
    if args.policy is not None and args.policy not in POLICIES:
        raise UserError(f"unknown --policy {args.policy!r}{_closest(args.policy, POLICIES)}")
    if args.pool_usd is not None:
        _checked(check_number, "--pool-usd", args.pool_usd, 0.0, MAX_POOL_USD, "USD")


def _check_scenario_options(args: argparse.Namespace) -> None:
    """Refuse the demo's options on a scenario, pointing to the scenario's own keys."""
    instead = {
        "--policy": "--set liquidation.policy=NAME",
        "--pool-usd": "--set liquidation.pool_initial_usd=USD",
        "--haircut": "--collateral-depeg (cascade-demo)",
    }
    for flag, value in (
        ("--policy", args.policy),
        ("--pool-usd", args.pool_usd),
        ("--haircut", args.haircut),
    ):
        if value is not None:
            raise UserError(
                f"{flag} applies to {DEMO} only; for scenario {args.target!r} use {instead[flag]}"
            )
    if args.venue is not None and args.venue not in VENUES:
        raise UserError(f"unknown --venue {args.venue!r}{_closest(args.venue, VENUES)}")


def _checked(check, *args):
    """Call a check of `experiments.checks`; its ValueError becomes a UserError."""
    try:
        return check(*args)
    except ValueError as err:
        raise UserError(str(err)) from None


def _print_depeg(args: argparse.Namespace) -> None:
    from experiments import scripted_depeg as depeg

    try:
        haircut = DEMO_HAIRCUT if args.haircut is None else args.haircut
        table = depeg.side_by_side(args.seed, haircut)
        venue, ref = (depeg.outcome(v, args.seed, haircut) for v in ("venue", "reference"))
    except ValueError as err:
        raise UserError(str(err)) from None
    share = table["venue:mm_usd"][0] / table["venue:equity_usd"][0]
    print(
        f"Scripted collateral depeg: an account margined only with {depeg.COINS:,.0f} "
        f"{depeg.COIN} (haircut {haircut:.0%}) holds a {depeg.LEVERAGE:.0f}x long BTC perp "
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


RUNS_FOLDER = "results/runs"
"""Where `cascade-lab run` writes a scenario's files unless --out says otherwise."""
PRE_SHOCK_MINUTES_HINT = 60
"""Minutes before a shock that the pre-shock measures average over
(`model.summary.PRE_SHOCK_MINUTES`)."""


def run_folder_name(scenario: str, seed: int, overrides: dict, twin: bool) -> str:
    """``<scenario>-seed<seed>-<8 hex>``: the hex is a digest of the scenario, the overrides
    (sorted; --venue's included) and the twin flag, so each configuration has its folder and
    seeds of one configuration share the suffix."""
    from experiments.sweeps.design import RunConfig, config_digest

    digest = config_digest(RunConfig.of(scenario, overrides), twin=twin)
    return f"{scenario}-seed{seed}-{digest[:8]}"


def _scenario_config(args: argparse.Namespace) -> tuple[dict, object]:
    """(the run's overrides, each as the model reads it, and its validated configuration),
    or a UserError naming the key."""
    from model.overrides import flat_fields, with_overrides
    from model.scenarios import scenario
    from model.twin import twin_config
    from model.venues import venue_overrides

    base = scenario(args.target)
    sets = parse_sets(args.set)
    overrides = {**venue_overrides(args.venue or "binance", len(base.assets))}
    if args.horizon is not None:
        overrides.update(scaled_timeline(base, args.horizon))
    overrides.update(sets)  # the user's own keys win
    try:
        cfg = with_overrides(scenario(args.target), overrides)
        if args.twin:
            twin_config(cfg)
    except ValueError as err:
        raise UserError(str(err)) from None
    effective = flat_fields(cfg)  # each value as the model reads it: "off" -> False
    overrides = {key: effective[key] for key in overrides}
    if cfg.shocks and min(s.start_minute for s in cfg.shocks) < 1:
        raise UserError(
            "shocks.0.start_minute=0 leaves no minute before the shock, and the pre-shock "
            "measures (oi_before_usd, liquidatable_oi_within_5pct) are taken the minute before "
            "it; set shocks.0.start_minute >= 1"
        )
    return overrides, cfg


def scaled_timeline(cfg, horizon: int) -> dict[str, int]:
    """Overrides that fit a scenario into `horizon` minutes: the horizon, and each shock's
    start moved in proportion (720 of 1,440 → 300 of 600); a shock keeps its duration and
    recovery, so it is the same event, earlier (as the sweeps' default size does)."""
    if horizon < 2:
        raise UserError(f"--horizon must be a whole number of minutes >= 2, got {horizon}")
    out = {"horizon_minutes": horizon}
    for i, shock in enumerate(cfg.shocks):
        start = round(shock.start_minute * horizon / cfg.horizon_minutes)
        out[f"shocks.{i}.start_minute"] = min(max(1, start), horizon - 1)
    return out


def _target_folder(args: argparse.Namespace, overrides: dict) -> Path:
    """The run's folder under --out, checked before running: writable, and empty unless
    --force."""
    out = _checked(check_writable_folder, "--out", args.out or RUNS_FOLDER)
    folder = out / run_folder_name(args.target, args.seed, overrides, args.twin)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out: {str(folder)!r} is a file, not a run folder")
    if not is_empty_folder(folder) and not args.force:
        raise UserError(
            f"{folder} already holds a run of this configuration and seed; --force overwrites it"
        )
    return folder


def _print_scenario(args: argparse.Namespace) -> None:
    from experiments.sweeps.store import provenance
    from model import CascadeModel
    from model.twin import twin_config, with_twin

    overrides, cfg = _scenario_config(args)
    folder = _target_folder(args, overrides)
    shock = min((s.start_minute for s in cfg.shocks), default=None)
    if shock is not None and shock < PRE_SHOCK_MINUTES_HINT:
        print(
            f"note: the shock starts at minute {shock}, so the pre-shock measures "
            f"(perp_premium_pre_shock: {PRE_SHOCK_MINUTES_HINT} minutes) see only {shock}",
            file=sys.stderr,
        )
    made = provenance()
    model = CascadeModel(scenario=cfg, rng=args.seed)
    twin = CascadeModel(scenario=twin_config(cfg), rng=args.seed) if args.twin else None
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
    made.update(
        scenario=args.target,
        overrides={k: _jsonable(v) for k, v in sorted(overrides.items())},
        venue=args.venue or "binance",
        seed=args.seed,
        twin=bool(args.twin),
        command=["cascade-lab", *(args.argv or [])],
        seconds=round(seconds, 3),
    )
    out = save_run(model, summary, folder, twin=twin, provenance=made)
    files = "summary.json, run.json, tables as Parquet, timeline.png"
    if twin is not None:
        files += f"; the twin's in {TWIN_FOLDER}/"
    print(f"\nwrote {out}/ ({files}); cascade-lab explain KEY says what a key means")


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


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
    if args.seed < 0:
        raise UserError(f"--seed must be a whole number >= 0, got {args.seed}")
    if args.twin:
        _check_twin(args.target)
    if args.collateral_depeg and args.target != DEMO:
        raise UserError(f"--collateral-depeg applies to {DEMO} only, got {args.target!r}")
    if args.target == DEMO:
        _check_demo_options(args)
        (_print_depeg if args.collateral_depeg else _print_demo)(args)
    else:
        _check_scenario_options(args)
        _print_scenario(args)


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
        raise UserError(f"unknown section {args.section!r}{_closest(args.section, valid)}")
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
        raise UserError(f"unknown experiment {args.experiment!r}{_closest(args.experiment, names)}")
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
        _check_twin(design.scenario)
        design = dataclasses.replace(design, twin=True)
    _checked(check_writable_folder, "--out", args.out)
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
        raise UserError(f"unknown --scenario {args.scenario!r}{_closest(args.scenario, SCENARIOS)}")
    out = _checked(check_writable_folder, "--out", args.out)
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

    _checked(check_writable_folder, "--out", args.out)
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
    run.set_defaults(func=_run)
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
