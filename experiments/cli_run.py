"""`cascade-lab run`: a scenario (with its twin, its venue, its provenance) or the scripted
demos on the bare engine."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from experiments.checks import check_number, check_writable_folder, is_empty_folder
from experiments.cli_common import DEMO, UserError, checked, closest, parse_sets
from experiments.report.run_output import TWIN_FOLDER, format_summary, format_twin, save_run
from model.engine.risk_config import POLICIES
from model.scenarios import SCENARIOS
from model.venues import VENUES

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
        raise UserError(f"unknown --policy {args.policy!r}{closest(args.policy, POLICIES)}")
    if args.pool_usd is not None:
        checked(check_number, "--pool-usd", args.pool_usd, 0.0, MAX_POOL_USD, "USD")


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
        raise UserError(f"unknown --venue {args.venue!r}{closest(args.venue, VENUES)}")


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
    overrides = {**venue_overrides(args.venue or "binance", base)}
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
    out = checked(check_writable_folder, "--out", args.out or RUNS_FOLDER)
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


def check_twin(target: str) -> None:
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


def run_command(args: argparse.Namespace) -> None:
    import pandas as pd

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.float_format", lambda x: f"{x:,.2f}")
    valid = (*SCENARIOS, DEMO)
    if args.target not in valid:
        raise UserError(f"unknown scenario {args.target!r}{closest(args.target, valid)}")
    if args.seed < 0:
        raise UserError(f"--seed must be a whole number >= 0, got {args.seed}")
    if args.twin:
        check_twin(args.target)
    if args.collateral_depeg and args.target != DEMO:
        raise UserError(f"--collateral-depeg applies to {DEMO} only, got {args.target!r}")
    if args.target == DEMO:
        _check_demo_options(args)
        (_print_depeg if args.collateral_depeg else _print_demo)(args)
    else:
        _check_scenario_options(args)
        _print_scenario(args)
