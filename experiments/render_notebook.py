"""Execute the tutorial notebook and commit it with its outputs: `python -m
experiments.render_notebook` (so it teaches when read on a code host; tests/test_notebook.py
checks the committed figures and runs it again from scratch)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "experiments" / "notebooks" / "tutorial.ipynb"
CELL_TIMEOUT_S = 300


def render(path: Path = NOTEBOOK) -> Path:
    """Run every cell from scratch with this venv's kernel and write the outputs back."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    resources = {"metadata": {"path": str(ROOT)}}
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources=resources).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # wall-clock stamps: noise in the diff
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    print(f"wrote {render()}")
