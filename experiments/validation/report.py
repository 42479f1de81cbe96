"""The validation report: the pass/miss table as text and markdown, figures, and the folder.

`validate` runs `experiments.validation.run_studies` and writes ``results/validation/``:
``targets.md`` (the table), ``oct-2025.md``, ``leverage.md``, ``stylized.md`` (details),
``readme_section.md`` (docs/validation.md's "How well does it match reality?" section),
``per_seed_<study>.csv``, ``summary.json`` and three figures (matplotlib Figure API).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.validation.diagnoses import diagnose
from experiments.validation.figures import (
    empty_figure,
    leverage_figure,
    oct_figure,
    stylized_figure,
)
from experiments.validation.studies import SIZES, check_options, run_studies
from experiments.validation.tables import Results
from experiments.validation.targets import OCT, TARGETS, Target, target

FIGURES = ("oct-2025.png", "leverage.png", "stylized.png")
DPI = 80


# ------------------------------------------------------------------------------ formats
def fmt_value(x: float, unit: str) -> str:
    """A metric value for a table: pct as %, count as an integer, num with 2 decimals."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if unit == "pct":
        return f"{100 * x:.1f} %"
    if unit == "count":
        return f"{x:.0f}"
    return f"{x:.2f}"


def fmt_band(t: Target) -> str:
    """The band of a target: "a–b", "≥ a", "> 0", "≤ b" (no lower end, or a share from 0)."""
    if math.isinf(t.lo) or (t.lo == 0 and t.unit == "pct"):
        return f"≤ {fmt_value(t.hi, t.unit)}"
    lo = "0" if 0 < t.lo < 1e-6 else fmt_value(t.lo, t.unit)
    if math.isinf(t.hi):
        return f"> {lo}" if 0 < t.lo < 1e-6 else f"≥ {lo}"
    if 0 < t.lo < 1e-6:
        return f"> 0, ≤ {fmt_value(t.hi, t.unit)}"
    return f"{lo} – {fmt_value(t.hi, t.unit)}"


def table_rows(res: Results) -> list[dict[str, str]]:
    """The target table as strings, one dict per target."""
    out = []
    for row in res.table.itertuples():
        t = target(row.key)
        spread = f"{fmt_value(row.p25, t.unit)} – {fmt_value(row.p75, t.unit)}"
        out.append(
            {
                "study": row.study,
                "target": row.target,
                "model": fmt_value(row.value, t.unit),
                "p25–p75": spread if row.n > 1 else "n/a",
                "seeds": f"{row.n}/{row.n_seeds}",
                "band": fmt_band(t),
                "reality": t.reality,
                "result": "PASS" if row.status == "pass" else f"MISS{_side(row.side)}",
                "source": t.source,
            }
        )
    return out


def _side(side: str) -> str:
    return f" ({side})" if side else ""


def text_table(res: Results) -> str:
    """The table for a terminal: fixed-width columns, one line per target."""
    rows = table_rows(res)
    cols = ("study", "target", "model", "p25–p75", "seeds", "band", "result")
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(width[c]) for c in cols)]
    lines.append("  ".join("-" * width[c] for c in cols))
    lines += ["  ".join(r[c].ljust(width[c]) for c in cols) for r in rows]
    passed = int((res.table["status"] == "pass").sum())
    lines.append(f"\n{passed} of {len(rows)} targets pass (median over seeds inside the band).")
    return "\n".join(lines)


def markdown_table(res: Results) -> str:
    """The table in markdown, with reality and source columns."""
    cols = ("target", "model (median)", "p25–p75", "seeds", "band", "reality", "result", "source")
    keys = ("target", "model", "p25–p75", "seeds", "band", "reality", "result", "source")
    lines = ["| study | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for r in table_rows(res):
        cells = [r["study"], *(r[k] for k in keys)]
        cells[7] = f"**{cells[7]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _frame_md(df: pd.DataFrame, digits: int = 3) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ figures


# ------------------------------------------------------------------------------ writing
def diagnosis_lines(res: Results) -> list[str]:
    """One bullet per missed target: the side of the band and the recorded diagnosis."""
    lines = []
    for row in res.table.itertuples():
        if row.status == "pass":
            continue
        t = target(row.key)
        where = f"{row.side} the band" if row.side else "no value"
        why = diagnose(res, row.key, row.side)
        why = why[:1].upper() + why[1:]
        lines.append(
            f"- **{t.name}** ({t.study}): model {fmt_value(row.value, t.unit)}, band "
            f"{fmt_band(t)}, {where}. {why}"
        )
    return lines


def failure_lines(res: Results) -> list[str]:
    """One line per run that raised (left out of the tables): study, seed, overrides, error."""
    return [
        f"- run failed and was left out: {f['study']} seed {f['seed']} "
        f"overrides {f['overrides'] or '{}'}: {f['error']}"
        for f in res.failures
    ]


def readme_section(res: Results, figures_dir: str = "results/validation") -> str:
    """The README's "How well does it match reality?" section, generated."""
    sz = SIZES[res.size]
    passed = int((res.table["status"] == "pass").sum())
    head = [
        "## How well does it match reality?",
        "",
        f"Generated by `cascade-lab validate` (size `{res.size}`: oct-2025 "
        f"{len(res.per_seed[OCT])} seeds, each with its twin (the same seed with forced closes "
        "off the book); leverage: calm with Gaussian fundamentals, "
        f"{len(res.per_seed['stylized'])} seeds × max leverage "
        f"{', '.join(f'{x:g}x' for x in sz.levels)}; stylized: calm as configured, "
        f"{_days(sz.stylized_overrides)}; {res.seconds / 60:.1f} min on "
        f"this machine; commit {_git_commit()}). A target passes when the **median over seeds** "
        f"lies in the reality band; p25–p75 is the spread over seeds. "
        f"**{passed} of {len(res.table)} pass.**",
        "",
        markdown_table(res),
        "",
        *(f"![{f}]({figures_dir}/{f})" for f in FIGURES),
        "",
        "### Where it misses, and why",
        "",
        *(diagnosis_lines(res) or ["Every target passes."]),
        *(["", *failure_lines(res)] if res.failures else []),
    ]
    return "\n".join(head) + "\n"


def write_outputs(res: Results, out: str | Path) -> Path:
    """Write tables, per-seed CSVs, figures and the README section into `out`."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "targets.md").write_text(markdown_table(res) + "\n")
    for study, df in res.per_seed.items():
        df.to_csv(folder / f"per_seed_{study}.csv", index=False)
    (folder / "leverage.md").write_text(
        "# Leverage sweep (calm, 1-min mark returns)\n\n" + _frame_md(res.leverage) + "\n"
    )
    (folder / "stylized.md").write_text(
        "# Stylized facts (calm, pooled over seeds)\n\n" + _frame_md(res.stylized) + "\n"
    )
    (folder / "oct-2025.md").write_text(
        "# oct-2025, per seed\n\n" + _frame_md(res.per_seed[OCT]) + "\n"
    )
    makers = (oct_figure, leverage_figure, stylized_figure)
    has_data = (bool(res.oct_runs), not res.leverage.empty, not res.stylized.empty)
    for name, make, ok in zip(FIGURES, makers, has_data, strict=True):
        fig = make(res) if ok else empty_figure(f"{name}: every run of this study failed")
        fig.savefig(folder / name, dpi=DPI)
    (folder / "readme_section.md").write_text(readme_section(res))
    summary = {
        "size": res.size,
        "seeds": list(res.seeds),
        "seconds": res.seconds,
        "commit": _git_commit(),
        "failures": res.failures,
        "targets": res.table.replace({np.inf: None, -np.inf: None}).to_dict(orient="records"),
        "bands": {t.key: [t.lo, t.hi] for t in TARGETS},
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, default=_json))
    return folder


def _json(x: object) -> object:
    return None if isinstance(x, float) and not math.isfinite(x) else str(x)


def _days(overrides) -> str:
    minutes = overrides.get("horizon_minutes")
    return "one day" if minutes is None else f"{minutes / 1440:g} days"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def validate(
    size: str = "default",
    n_seeds: int | None = None,
    n_jobs: int = -1,
    out: str | Path = "results/validation",
    progress: bool | None = None,
) -> tuple[Results, str]:
    """Run every study, write the report folder, return the results and the printed text.

    Raises:
        ValueError: A bad option (named, with the value and what is allowed).
    """
    check_options(size, n_seeds, n_jobs)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out must be a folder, got the file {str(folder)!r}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {str(folder)!r} cannot be created: {err.strerror}") from None
    res = run_studies(size, n_seeds, n_jobs, progress=progress)
    write_outputs(res, folder)
    text = (
        f"Validation ({size}): {res.seconds:.0f} s, oct-2025 {len(res.per_seed[OCT])} seeds "
        "with their twins, "
        f"calm {len(res.per_seed['stylized'])} seeds per max-leverage level.\n\n"
        f"{text_table(res)}\n\nwrote {folder}/ (targets.md, readme_section.md, figures)"
    )
    if res.failures:
        text += "\n\n" + "\n".join(failure_lines(res))
    return res, text
