"""Experimental designs: which configurations to run and with which seeds, before any running.

A `Design` is a list of cells (dicts of dotted overrides on a base scenario) crossed with one
tuple of replicate seeds drawn from a single root `SeedSequence`. Every cell uses the same seeds
(common random numbers), so differences between cells are paired comparisons. A design may ask
for each run's counterfactual twin (`Design.twin`, `model.twin`); the flag is part of what
identifies the design and each of its runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import qmc

DESIGN_METHODS = ("cells", "grid", "lhs", "sobol")


@dataclass(frozen=True)
class RunConfig:
    """One model configuration: a scenario name and its dotted overrides, sorted by key.

    Picklable and hashable; it is what crosses the process boundary to a worker.
    """

    scenario: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, scenario: str, overrides: Mapping[str, Any]) -> RunConfig:
        """Build from a dict of overrides (values canonicalised, keys sorted)."""
        items = sorted((k, _canonical(v)) for k, v in overrides.items())
        return cls(scenario, tuple((k, _as_tuple(v)) for k, v in items))

    def as_dict(self) -> dict[str, Any]:
        """The overrides as a dict, ready for ``CascadeModel(scenario=..., **overrides)``."""
        return dict(self.overrides)


@dataclass(frozen=True)
class Run:
    """One (configuration, seed) pair of a design, with its resume key and its table columns."""

    cell: int
    replicate: int
    seed: int
    config: RunConfig
    key: str
    columns: dict[str, Any]


@dataclass(frozen=True)
class Design:
    """Cells × replicate seeds on one base scenario.

    Attributes:
        experiment: Name of the experiment (the results folder).
        scenario: Base scenario name (`model.scenarios.SCENARIOS`).
        cells: Per cell, the dotted overrides that vary between cells.
        seeds: Replicate seeds, identical for every cell (common random numbers).
        root_seed: The root of `seeds` (``SeedSequence(root_seed).generate_state(n)``).
        base_overrides: Overrides applied to every cell (e.g. a shortened horizon).
        tags: Per cell, descriptive columns for the results table (not passed to the model).
        method: How the cells were made: cells, grid, lhs or sobol.
        size: Label of the size (default, full, custom), part of the sweep id.
        twin: Run every run together with its counterfactual twin (`model.twin.run_pair`) and
            store the twin's columns; part of the fingerprint and of every run key.
    """

    experiment: str
    scenario: str
    cells: tuple[dict[str, Any], ...]
    seeds: tuple[int, ...]
    root_seed: int
    base_overrides: dict[str, Any] = field(default_factory=dict)
    tags: tuple[dict[str, Any], ...] = ()
    method: str = "cells"
    size: str = "custom"
    twin: bool = False

    @property
    def n_runs(self) -> int:
        """Number of (cell, seed) runs."""
        return len(self.cells) * len(self.seeds)

    def runs(self) -> list[Run]:
        """Every run, cell-major then replicate, each with its key (see `run_key`)."""
        out = []
        for c, cell in enumerate(self.cells):
            config = RunConfig.of(self.scenario, {**self.base_overrides, **cell})
            tags = self.tags[c] if self.tags else {}
            columns = {**{k: _as_tuple(_canonical(v)) for k, v in cell.items()}, **tags}
            for r, seed in enumerate(self.seeds):
                key = run_key(config, seed, twin=self.twin)
                out.append(Run(c, r, seed, config, key, columns))
        return out

    def to_json(self) -> dict[str, Any]:
        """The design as plain JSON data (for the manifest).

        ``twin`` appears only when it is True, so a design without twins has the JSON, and the
        fingerprint, it had before the flag existed (its stored sweeps still resume).
        """
        data = dataclasses.asdict(self)
        if not self.twin:
            del data["twin"]
        return _jsonable(data)

    def fingerprint(self) -> str:
        """A hex digest of everything that defines the runs (names a sweep folder)."""
        return _digest(self.to_json())


def run_key(config: RunConfig, seed: int, twin: bool = False) -> str:
    """The resume key of a run: a digest of (scenario, sorted overrides, seed[, "twin"]).

    Two runs with the same key are the same simulation, whatever design or sweep they come
    from; a sweep skips keys already stored. A run with its twin has another key than the run
    alone (its row holds more columns); without the twin the key is what it always was.
    """
    data: list[Any] = [config.scenario, [list(kv) for kv in config.overrides], int(seed)]
    return _digest([*data, "twin"] if twin else data)[:20]


def config_digest(config: RunConfig, twin: bool = False) -> str:
    """A hex digest of (scenario, sorted overrides[, "twin"]): one per configuration, whatever
    the seed (`cascade-lab run` names a run's folder with its first 8 characters)."""
    data: list[Any] = [config.scenario, [list(kv) for kv in config.overrides]]
    return _digest([*data, "twin"] if twin else data)


def replicate_seeds(root_seed: int, n_seeds: int) -> tuple[int, ...]:
    """`n_seeds` seeds drawn from one root: ``SeedSequence(root_seed).generate_state(n)``.

    The first k seeds of a longer draw equal a draw of k, so adding seeds extends a sweep.
    """
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    state = np.random.SeedSequence(root_seed).generate_state(n_seeds, dtype=np.uint32)
    return tuple(int(s) for s in state)


def full_factorial(levels: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the levels, the first key varying slowest.

    Args:
        levels: Dotted parameter → the values it takes.

    Returns:
        One dict of overrides per cell (prod of the numbers of levels).
    """
    for key, values in levels.items():
        if len(values) == 0:
            raise ValueError(f"{key} has no levels")
    keys = list(levels)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*levels.values())]


def latin_hypercube(
    ranges: Mapping[str, tuple[float, float]],
    n_cells: int,
    sample_seed: int = 0,
    scenario: str = "shock",
) -> list[dict[str, Any]]:
    """A Latin hypercube of `n_cells` points: each range cut into n strata, one point in each.

    Args:
        ranges: Dotted parameter → closed range (lo, hi), within the parameter's declared range.
        n_cells: Number of points.
        sample_seed: Seed of the sampler (not of the model runs).
        scenario: Scenario whose parameter types and ranges are checked against.

    Returns:
        One dict of overrides per point; integer parameters are rounded.
    """
    sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.default_rng(sample_seed))
    return _scaled_cells(sampler.random(n_cells), ranges, scenario)


def sobol(
    ranges: Mapping[str, tuple[float, float]],
    n_cells: int,
    sample_seed: int = 0,
    scenario: str = "shock",
) -> list[dict[str, Any]]:
    """The first `n_cells` points of a scrambled Sobol sequence over the ranges.

    Balance holds for powers of two; other sizes take the first points of the next power.
    Arguments as `latin_hypercube`.
    """
    sampler = qmc.Sobol(d=len(ranges), scramble=True, rng=np.random.default_rng(sample_seed))
    m = max(0, math.ceil(math.log2(max(1, n_cells))))
    return _scaled_cells(sampler.random_base2(m)[:n_cells], ranges, scenario)


def make_design(
    experiment: str,
    scenario: str,
    cells: Sequence[Mapping[str, Any]],
    *,
    n_seeds: int,
    root_seed: int,
    base_overrides: Mapping[str, Any] | None = None,
    tags: Sequence[Mapping[str, Any]] | None = None,
    method: str = "cells",
    size: str = "custom",
    twin: bool = False,
    check: bool = True,
) -> Design:
    """Cross `cells` with `n_seeds` common replicate seeds drawn from `root_seed`; with `twin`,
    every run is run with its counterfactual twin (`Design.twin`).

    With `check` (the default) every cell's configuration is built now (`check_cells`), so
    an invalid cell is refused here, naming the cell, not recorded as a failed run later."""
    if not cells:
        raise ValueError("a design needs at least one cell")
    if tags is not None and len(tags) != len(cells):
        raise ValueError(f"tags needs one entry per cell ({len(cells)}), got {len(tags)}")
    if method not in DESIGN_METHODS:
        raise ValueError(f"method must be one of {DESIGN_METHODS}, got {method!r}")
    configs = [RunConfig.of(scenario, {**(base_overrides or {}), **c}) for c in cells]
    if len(set(configs)) < len(configs):
        raise ValueError("two cells give the same configuration; their runs would share keys")
    if check:
        check_cells(configs, twin=twin)
    return Design(
        experiment=experiment,
        scenario=scenario,
        cells=tuple(dict(c) for c in cells),
        seeds=replicate_seeds(root_seed, n_seeds),
        root_seed=int(root_seed),
        base_overrides=dict(base_overrides or {}),
        tags=tuple(dict(t) for t in tags) if tags else (),
        method=method,
        size=size,
        twin=bool(twin),
    )


def check_cells(configs: Sequence[RunConfig], twin: bool = False) -> None:
    """Build every configuration (`model.overrides.with_overrides`; with `twin`, its twin's,
    `model.twin.twin_config`); raise ValueError naming the first invalid cell."""
    from model.overrides import with_overrides
    from model.scenarios import scenario as named_scenario
    from model.twin import twin_config

    bases: dict[str, Any] = {}
    for c, config in enumerate(configs):
        try:
            if config.scenario not in bases:
                bases[config.scenario] = named_scenario(config.scenario)
            cfg = with_overrides(bases[config.scenario], config.as_dict())
            if twin:
                twin_config(cfg)
        except ValueError as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in config.overrides)
            raise ValueError(f"cell {c} ({shown or 'no overrides'}) is invalid: {err}") from None


def parameter_specs(scenario: str) -> dict[str, tuple[Any, tuple[float, float] | None]]:
    """Every dotted parameter of a scenario: (its value, its declared range or None)."""
    from model.scenarios import scenario as named_scenario

    out: dict[str, tuple[Any, tuple[float, float] | None]] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value, key = getattr(obj, f.name), f"{prefix}{f.name}"
            if dataclasses.is_dataclass(value):
                walk(value, key + ".")
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                for i, item in enumerate(value):
                    walk(item, f"{key}.{i}.")
            else:
                out[key] = (value, f.metadata.get("range"))

    walk(named_scenario(scenario), "")
    return out


def _scaled_cells(
    unit: np.ndarray, ranges: Mapping[str, tuple[float, float]], scenario: str
) -> list[dict[str, Any]]:
    specs = parameter_specs(scenario)
    lows, highs = _check_ranges(ranges, specs)
    points = qmc.scale(unit, lows, highs) if unit.size else unit
    cells = []
    for row in points:
        cell = {}
        for key, x in zip(ranges, row, strict=True):
            is_int = isinstance(specs[key][0], int) and not isinstance(specs[key][0], bool)
            cell[key] = round(float(x)) if is_int else float(x)
        cells.append(cell)
    return cells


def _check_ranges(
    ranges: Mapping[str, tuple[float, float]], specs: Mapping[str, Any]
) -> tuple[list[float], list[float]]:
    if not ranges:
        raise ValueError("a sampled design needs at least one parameter range")
    lows, highs = [], []
    for key, (lo, hi) in ranges.items():
        if key not in specs:
            raise ValueError(f"unknown parameter {key!r}")
        declared = specs[key][1]
        if not lo < hi:
            raise ValueError(f"{key}: range must have lo < hi, got {(lo, hi)!r}")
        if declared is not None and not declared[0] <= lo < hi <= declared[1]:
            raise ValueError(f"{key}: range {(lo, hi)!r} is outside its declared {declared!r}")
        lows.append(float(lo))
        highs.append(float(hi))
    return lows, highs


def _canonical(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list | np.ndarray):
        return [_canonical(v) for v in value]
    return value


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | np.ndarray):
        return [_jsonable(v) for v in value]
    return _canonical(value)


def _digest(data: Any) -> str:
    text = json.dumps(_jsonable(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
