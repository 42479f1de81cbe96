"""The tutorial notebook runs top to bottom without errors (nbclient, this venv's kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "experiments" / "notebooks" / "tutorial.ipynb"
CELL_TIMEOUT_S = 120


def test_tutorial_notebook_runs_top_to_bottom():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the tutorial with its outputs stripped"
    )
    # kernel "python3" is ipykernel's own spec: jupyter_client runs it with sys.executable
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 3  # liquidation map, cascade timeline, phase diagram
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "the shock hits" in text
    assert "notebook ran in" in text
