"""Every citation of the reference notes resolves inside the repository (issue 18, item 6).

The notes live in docs/reference/ (docs/reference/README.md). A citation is a note's name with
a section, `exchange-mechanics §2.4` or `DESIGN.md §2.3`; the names are exchange-mechanics,
literature, DESIGN, house-style (and mesa-notes, not in the repository). A § with no name
before it (`Binance §2.5`, `(§5.2)`) belongs to the last name on its line or the line before,
else to exchange-mechanics. Each cited note must be in docs/reference/ and each § number a
heading of it (`## 2. …`, `### 2.4 …`, outside code fences); a range `§4.1–4.2` checks both
ends. Scanned: every .py under model/, agents/, experiments/, tests/; docs/*.md,
docs/reference/README.md and README.md.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
NOTES = {
    "exchange-mechanics": "exchange-mechanics.md",
    "literature": "literature.md",
    "DESIGN": "DESIGN.md",
    "house-style": "house-style.md",
    "mesa-notes": "mesa-notes.md",
}
DEFAULT_NOTE = "exchange-mechanics"
"""The note a § with no name before it belongs to."""

NAME = re.compile(
    r"\b(?:(?P<plain>exchange-mechanics|house[- ]style|mesa-notes)(?:\.md)?"
    r"|(?P<word>literature|DESIGN)(?:\.md|(?=\s*§)))"
)
"""A note's name; `literature` and `DESIGN` only with `.md` or a § after them (they are words)."""

SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)(?:\s?[–-]\s?(\d+(?:\.\d+)*))?")
"""A § number, or a range of two (`§7–8.1`)."""

HEADING = re.compile(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?(?:\s|$)")
OUTSIDE = re.compile(r"shared/reference|/work/shared|\.\./shared")
"""A path to the notes outside the repository."""


def note_of(match: re.Match[str]) -> str:
    name = match["plain"] or match["word"]
    return "house-style" if name.startswith("house") else name


def headings(text: str) -> set[str]:
    """The section numbers of a Markdown file's headings, outside fenced code."""
    numbers, fenced = set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            numbers.add(m[1])
    return numbers


def citations(text: str) -> list[tuple[int, str, str]]:
    """(line, note, section) for every § number in `text`, and (line, note, "") for every
    name with no § of its own (a mention of the file)."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line_of(pos: int) -> int:  # 0-based
        return bisect_right(starts, pos) - 1

    names = list(NAME.finditer(text))
    found, used = [], set()
    for m in SECTION.finditer(text):
        line = line_of(m.start())
        window = [n for n in names if starts[max(line - 1, 0)] <= n.start() < m.start()]
        note = note_of(window[-1]) if window else DEFAULT_NOTE
        used |= {window[-1].start()} if window else set()
        found += [(m.start(), line + 1, note, s) for s in (m[1], m[2]) if s]
    for n in names:
        if n.start() not in used:
            found.append((n.start(), line_of(n.start()) + 1, note_of(n), ""))
    return [(line, note, section) for _, line, note, section in sorted(found)]


@cache
def note_headings(path: Path) -> set[str] | None:
    """The heading numbers of the note at `path`; None if it is not there."""
    return headings(path.read_text(encoding="utf-8")) if path.exists() else None


def problems(text: str, where: str, reference: Path = REFERENCE) -> list[str]:
    """`where:line: …` for each citation that does not resolve in `reference`."""
    found = []
    for line, note, section in citations(text):
        numbers = note_headings(reference / NOTES[note])
        if numbers is None:
            found.append(f"{where}:{line}: {NOTES[note]} is not in {reference.name}/")
        elif section and section not in numbers:
            found.append(f"{where}:{line}: {note} §{section} is not a heading of {NOTES[note]}")
    for i, text_line in enumerate(text.splitlines(), 1):
        if OUTSIDE.search(text_line):
            found.append(f"{where}:{i}: points at the notes outside the repository")
    return found


def scanned() -> list[Path]:
    py = [p for d in ("model", "agents", "experiments", "tests") for p in (ROOT / d).rglob("*.py")]
    py = [p for p in py if p.name != Path(__file__).name]  # its samples are bad on purpose
    docs = [*sorted((ROOT / "docs").glob("*.md")), REFERENCE / "README.md", ROOT / "README.md"]
    return sorted(py) + docs


def test_every_citation_resolves():
    found = []
    for path in scanned():
        found += problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "\n".join(found)


def test_the_notes_are_in_the_repository():
    for name in ("exchange-mechanics", "literature", "DESIGN", "house-style"):
        assert {"1", "2"} <= headings((REFERENCE / NOTES[name]).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(exchange-mechanics.md §2.1 Tables B, A, C)", "1 exchange-mechanics 2.1"),
        ("DESIGN §1; literature §2.4 [D2]", "1 DESIGN 1; 1 literature 2.4"),
        ("(literature.md\n    §1.1) and (Cheng, §2.5)", "2 literature 1.1; 2 literature 2.5"),
        (
            "x\ny\nBinance §2.5, Hyperliquid §4.1–4.2",
            "3 exchange-mechanics 2.5; 3 exchange-mechanics 4.1; 3 exchange-mechanics 4.2",
        ),
        (
            "DESIGN_METHODS; the literature says; §7–8.1",
            "1 exchange-mechanics 7; 1 exchange-mechanics 8.1",
        ),
        ("see mesa-notes.md", "1 mesa-notes "),
    ],
)
def test_citations_are_read_with_their_note(text, expected):
    read = "; ".join(f"{line} {note} {section}" for line, note, section in citations(text))
    assert read == expected


def test_a_bad_citation_fails_naming_file_and_line():
    text = '"""Fine (exchange-mechanics §2.4).\n\nBad: literature §9.9, DESIGN.md §2.3, §11."""\n'
    assert problems(text, "fake.py") == [
        "fake.py:3: literature §9.9 is not a heading of literature.md",
        "fake.py:3: DESIGN §11 is not a heading of DESIGN.md",
    ]
    assert problems("# house style §15\n# mesa-notes §2.1", "fake.py") == [
        "fake.py:1: house-style §15 is not a heading of house-style.md",
        "fake.py:2: mesa-notes.md is not in reference/",
    ]
    assert problems("see ../shared/reference/exchange-mechanics.md", "a.md") == [
        "a.md:1: points at the notes outside the repository"
    ]


def test_headings_skip_code_fences():
    text = "## 8. Calibration\n```\n# 9 not a heading\n```\n### 8.1 Who holds\n#### 10\n"
    assert headings(text) == {"8", "8.1", "10"}
