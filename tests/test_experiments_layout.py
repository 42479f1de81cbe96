"""The layout of experiments/: no import cycle, no work at import, the public surface.

Imports are read with `ast` (every ``import`` and ``from … import`` anywhere in a module, also
inside functions); the graph's nodes are the modules of experiments/ (a package is its
``__init__``)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "experiments"
SAFE_BUILTINS = {"tuple", "list", "dict", "set", "frozenset", "zip", "range", "len", "sorted"}
"""Builtins a module may call at its top level (they build constant tables)."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The experiments module that `name` (a module or a name inside one) refers to."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imported(path: Path) -> set[str]:
    """Experiments modules `path` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    base = module_name(path)
    package = base if path.name == "__init__.py" else base.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{parent}.{node.module}" if node.module else parent
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {m for m in map(resolve, names) if m and m != base}
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_names_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_the_experiments_modules():
    graph = {name: imported(path) for name, path in MODULES.items()}
    assert sum(len(v) for v in graph.values()) > 20  # the parser sees the imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cli_and_report_do_not_import_each_other():
    report = {n for n in MODULES if n.startswith("experiments.report")}
    for name in report:
        assert "experiments.cli" not in imported(MODULES[name]), name


def test_no_module_reads_another_modules_private_names():
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("experiments"):
                found += [f"{name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not found


# ------------------------------------------------------------------------ work at import
def top_level_calls(tree: ast.Module) -> list[ast.Call]:
    """Calls that run when the module is imported: in top-level statements and class bodies,
    decorators and default values; not inside function bodies."""
    calls: list[ast.Call] = []

    def scan(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                runs_now = [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]
                calls.extend(
                    c for n in runs_now if n for c in ast.walk(n) if isinstance(c, ast.Call)
                )
            elif isinstance(node, ast.ClassDef):
                for n in [*node.decorator_list, *node.bases]:
                    calls.extend(c for c in ast.walk(n) if isinstance(c, ast.Call))
                scan(node.body)
            elif isinstance(node, ast.If) and _is_main_guard(node):
                continue
            else:
                calls.extend(c for c in ast.walk(node) if isinstance(c, ast.Call))

    scan(tree.body)
    return calls


def _is_main_guard(node: ast.If) -> bool:
    return "__main__" in ast.unparse(node.test)


def import_time_model_calls(path: Path) -> list[str]:
    """Top-level calls of `path` that reach model or agents code: a call of a name imported
    from them, or of a function of the module whose body calls one (followed through the
    module's own functions)."""
    tree = ast.parse(path.read_text())
    external = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {
            "model",
            "agents",
        }:
            external |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            external |= {
                (a.asname or a.name).split(".")[0]
                for a in node.names
                if a.name.split(".")[0] in {"model", "agents"}
            }
    local = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def reaches_model(call: ast.Call, seen: set[str]) -> bool:
        root = call.func
        while isinstance(root, ast.Attribute):
            root = root.value
        name = root.id if isinstance(root, ast.Name) else ""
        if name in external:
            return True
        if name in local and name not in seen:
            seen.add(name)
            body = [c for c in ast.walk(local[name]) if isinstance(c, ast.Call)]
            return any(reaches_model(c, seen) for c in body)
        return False

    return [ast.unparse(c) for c in top_level_calls(tree) if reaches_model(c, set())]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_calls_model_code_at_import(name):
    assert import_time_model_calls(MODULES[name]) == []


def test_the_page_builds_no_config_at_import():
    tree = ast.parse(MODULES["experiments.page.app"].read_text())
    allowed = SAFE_BUILTINS | {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    allowed |= {"dataclass", "solara.component"}  # decorators
    for call in top_level_calls(tree):
        assert ast.unparse(call.func) in allowed, ast.unparse(call)


PROBE = """
import importlib, json, sys
import numpy, pandas, scipy.stats, matplotlib.figure, joblib, tqdm, mesa, solara  # their cost
import model, model.market, model.scenarios, agents  # model code runs on its own import: fine
ROOT = sys.argv[1]
names = json.loads(sys.argv[2])
found = []

def profile(frame, event, arg):
    if event != "call" or frame.f_back is None:
        return
    callee, caller = frame.f_code.co_filename, frame.f_back.f_code.co_filename
    if callee.startswith((ROOT + "/model/", ROOT + "/agents/")) and caller.startswith(
        ROOT + "/experiments/"
    ):
        found.append(f"{caller}:{frame.f_back.f_lineno} -> {frame.f_code.co_name}")

sys.setprofile(profile)
for name in names:
    importlib.import_module(name)
sys.setprofile(None)
print(json.dumps(found))
"""


def test_importing_every_module_runs_no_model_code():
    """In a fresh process: importing every experiments module calls no function of model/ or
    agents/ from experiments code (a config built, a model stepped, a scenario read)."""
    names = [n for n in MODULES if not n.endswith("__main__")]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), json.dumps(names)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_importing_experiments_loads_no_submodule():
    code = "import sys, experiments; print(sorted(m for m in sys.modules if 'experiments.' in m))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------------- public surface
def test_run_one_and_run_sweep_from_the_package():
    from experiments import run_one, run_sweep
    from experiments.sweeps import runner

    assert run_one is runner.run_one
    assert run_sweep is runner.run_sweep
    with pytest.raises(ImportError):
        from experiments import no_such_name  # noqa: F401
