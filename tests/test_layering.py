"""The layers, read from the imports (DESIGN.md §2): the engine imports nothing above it, and
nothing imports the experiments."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path, *, top_level: bool = False) -> set[str]:
    """Every module a file imports (absolute names; `from a import b` gives a and a.b); with
    `top_level`, only those imported when the file is imported: its top-level statements,
    not the ones under `if TYPE_CHECKING:` nor inside functions (lazy imports)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body if top_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("model/engine"), ids=lambda p: p.name)
def test_engine_imports_nothing_above_it(path):
    above = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] in ("mesa", "agents", "experiments")
        or (name.startswith("model") and not name.startswith("model.engine") and name != "model")
    }
    assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


@pytest.mark.parametrize(
    "path", _sources("model") + _sources("agents"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_model_and_agents_never_import_experiments(path):
    found = {n for n in imported_modules(path) if n.split(".")[0] == "experiments"}
    assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"


def test_the_reader_sees_an_engine_import():
    # the check above can fail: a file that imports the Mesa model is caught
    tree = ROOT / "model" / "market.py"
    assert "model.engine.exchange" in imported_modules(tree)
    assert "mesa" in imported_modules(tree)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycle_in_the_model_and_the_agents():
    paths = _sources("model") + _sources("agents")
    modules = {_module_name(p): p for p in paths}
    graph = {
        name: sorted(
            m for m in imported_modules(path, top_level=True) if m in modules and m != name
        )
        for name, path in modules.items()
    }
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert "model.engine.exchange" in graph["model.market"]  # the graph has the wiring
