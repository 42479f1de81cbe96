"""The settable parameters: every dotted key of the configuration with its default, unit,
allowed values and source, grouped by section; what `cascade-lab list` and
`cascade-lab explain KEY` print and what docs/parameters.md holds (`python -m experiments.docs`
writes it; a test checks it is current).

The metadata comes from the fields themselves (`model.engine.params.param` / `choice`); a
field declared without it (a switch such as ``liquidation.enabled``) is described by the
docstring written under it in its class. Indexed sections (``assets.N``, ``shocks.N``) are
shown once with a default column per index.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import math
import re
import textwrap
from dataclasses import dataclass
from typing import Any

INDEXED = ("assets", "shocks")
"""Sections that are tuples of dataclasses: keys ``<section>.<index>.<field>``."""
TOP_LEVEL = "run"
"""Section name of the top-level keys (horizon_minutes, tier_scale, mark_rule)."""


UNDOCUMENTED = {
    "symbol": "the asset's ticker: a label in tables, figures and per-asset summary keys",
}
"""Descriptions of the few fields that declare neither metadata nor a docstring."""
ALLOWED = {"major_markets": "perp indices (0 = assets.0), comma-separated"}
"""Allowed values of fields whose type alone does not say them."""


@dataclass(frozen=True)
class Parameter:
    """One settable key (or, for an indexed section, one field of every index).

    Attributes:
        section: The first part of the key (`TOP_LEVEL` for a top-level key).
        key: The dotted key; ``assets.N.depth_usd`` for an indexed section.
        defaults: The default value(s), as ``--set`` takes them (one per index when indexed).
        unit: The unit ("" when the field declares none).
        allowed: The declared range, choices or "true/false".
        source: Where the default comes from, or what the field does.
    """

    section: str
    key: str
    defaults: tuple[str, ...]
    unit: str
    allowed: str
    source: str


def parameters() -> list[Parameter]:
    """Every settable key of `ModelConfig()`, shocks (from the `shock` scenario) included."""
    from model.config import ModelConfig
    from model.scenarios import shock

    cfg, shocked = ModelConfig(), shock()
    out: list[Parameter] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "shocks":
            out += _indexed("shocks", shocked.shocks)
        elif f.name in INDEXED:
            out += _indexed(f.name, value)
        elif dataclasses.is_dataclass(value):
            out += [
                _parameter(f.name, f"{f.name}.{g.name}", g, type(value), (getattr(value, g.name),))
                for g in dataclasses.fields(value)
            ]
        else:
            out.append(_parameter(TOP_LEVEL, f.name, f, type(cfg), (value,)))
    return out


def _indexed(section: str, items: tuple) -> list[Parameter]:
    cls = type(items[0])
    return [
        _parameter(section, f"{section}.N.{g.name}", g, cls, [getattr(i, g.name) for i in items])
        for g in dataclasses.fields(cls)
    ]


def _parameter(section: str, key: str, f: dataclasses.Field, cls: type, values) -> Parameter:
    meta = f.metadata
    note = attribute_docs(cls).get(f.name, "")
    if "choices" in meta:
        unit, allowed = "name", "one of " + ", ".join(meta["choices"])
    elif "range" in meta:
        unit, allowed = meta["unit"], _range_text(meta, values[0])
    elif isinstance(values[0], bool):
        unit, allowed = "switch", "true/false (also yes/no, on/off, 1/0)"
    elif isinstance(values[0], tuple):
        unit, allowed = "comma-separated list", "whole numbers" if values[0] else ""
    else:
        unit, allowed = "", "text"
    source = meta.get("source") or note or UNDOCUMENTED.get(f.name, "")
    if f.name in ALLOWED:
        allowed = ALLOWED[f.name]
    return Parameter(section, key, tuple(set_text(v) for v in values), unit, allowed, source)


def _range_text(meta: dict, value: Any) -> str:
    lo, hi = meta["range"]
    open_lo, open_hi = meta.get("open", (False, False))
    if not math.isfinite(lo) and not math.isfinite(hi):
        text = "any number"
    elif not math.isfinite(hi):
        text = f"{'>' if open_lo else '≥'} {set_text(lo)}"
    elif not math.isfinite(lo):
        text = f"{'<' if open_hi else '≤'} {set_text(hi)}"
    else:
        text = f"{'(' if open_lo else '['}{set_text(lo)}, {set_text(hi)}{')' if open_hi else ']'}"
    if isinstance(value, tuple):
        text += " each"
    if value is None:
        text += ", or none"
    return text


def set_text(value: Any) -> str:
    """A value as ``--set`` takes it: 100_000, 0.0003, 50,100, none, true."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(set_text(v) for v in value)
    if isinstance(value, int | float) and math.isfinite(value) and float(value).is_integer():
        return f"{int(value):_}"
    return str(value)


@functools.cache
def attribute_docs(cls: type) -> dict[str, str]:
    """{field: the docstring written under it} of a class (the convention for fields
    declared without `param` metadata)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, after in itertools.pairwise(body):
        is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and is_doc:
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def sections() -> list[str]:
    """Section names in the configuration's order."""
    return list(dict.fromkeys(p.section for p in parameters()))


def index_labels(section: str) -> list[str]:
    """Column labels of an indexed section: ``0 BTC``, ``1 ETH``, ... / ``0``."""
    from model.config import ModelConfig

    if section == "assets":
        return [f"{i} {a.symbol}" for i, a in enumerate(ModelConfig().assets)]
    return ["0"]


SECTION_NOTES = {
    TOP_LEVEL: "Top-level keys: `--set horizon_minutes=480`.",
    "assets": "One column of defaults per asset; set one asset's field with its index, e.g. "
    "`--set assets.0.depth_usd=1_000_000` (BTC).",
    "shocks": "The `shock` and `oct-2025` scenarios have one shock (`shocks.0.*`; defaults of "
    "`shock` below, `oct-2025` differs); `calm` has none, so these keys do not apply to it.",
}


def markdown(section: str | None = None) -> str:
    """The parameter tables in Markdown, one per section (only `section` when given)."""
    chosen = [s for s in sections() if section in (None, s)]
    params = parameters()
    blocks = []
    for name in chosen:
        rows = [p for p in params if p.section == name]
        indexed = name in INDEXED
        labels = index_labels(name) if indexed else ["default"]
        head = ["key", *labels, "unit", "allowed", "source"]
        lines = [f"## {name}", ""]
        if name in SECTION_NOTES:
            lines += [SECTION_NOTES[name], ""]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for p in rows:
            cells = [f"`{p.key}`", *p.defaults, p.unit, p.allowed, p.source]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


PAGE_HEADER = """# Parameters

Every key `cascade-lab run --set KEY=VALUE` (and a sweep design) can set, with its default,
unit, allowed values and source, grouped by section. Values are written as `--set` takes
them: `100_000`, a list as `50,100`, `none`, a switch as `true`/`false`.
`cascade-lab explain KEY` prints one key; `cascade-lab list SECTION` one section.

Generated by `python -m experiments.docs` from the configuration's field metadata
(`model/config.py`, `model/trader_config.py`, `model/engine/risk_config.py`); do not edit by
hand (`tests/test_cli.py` checks that this page is current).
"""


def page() -> str:
    """The whole of docs/parameters.md."""
    return PAGE_HEADER + "\n" + markdown()


def explain_parameter(key: str) -> str | None:
    """Several lines about one dotted key (an indexed key such as ``assets.3.depth_usd`` gets
    that index's default); None when it is not a parameter."""
    m = re.fullmatch(r"(assets|shocks)\.(\d+)\.(\w+)", key)
    pattern = f"{m.group(1)}.N.{m.group(3)}" if m else key
    found = next((p for p in parameters() if p.key == pattern), None)
    if found is None:
        return None
    if m:
        i = int(m.group(2))
        if i >= len(found.defaults):
            return None
        label = index_labels(found.section)[i]
        default = f"{found.defaults[i]} ({label})"
    else:
        default = found.defaults[0]
    lines = [
        f"{key}  (section {found.section})",
        f"  default: {default}",
        f"  unit:    {found.unit or '-'}",
        f"  allowed: {found.allowed or '-'}",
        f"  source:  {found.source or '-'}",
    ]
    return "\n".join(lines)


def parameter_keys() -> list[str]:
    """Every key as `explain` and `list` show it (indexed ones with N)."""
    return [p.key for p in parameters()]
