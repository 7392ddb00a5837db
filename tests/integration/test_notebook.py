"""examples/paper.ipynb, executed in a real Jupyter kernel on the fake runner (seconds, no framework)."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "paper.ipynb"


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow  # about 8 s: a kernel starts, then four fake jobs run
def test_the_notebook_runs_a_suite_and_shows_a_table_verdicts_and_a_plot(tmp_path, monkeypatch):
    # The notebook's settings cell reads these; the kernel inherits them (and the conftest's
    # BENCH_BACKEND=venv, BENCH_QUIET_WAIT=0): the fake suite instead of the paper's.
    monkeypatch.setenv("BENCH_NOTEBOOK_SUITE", str(ROOT / "tests" / "suites" / "fake.toml"))
    monkeypatch.setenv("BENCH_NOTEBOOK_QUICK", "0")
    monkeypatch.setenv("BENCH_NOTEBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("BENCH_HISTORY_DIR", str(tmp_path / "history"))
    committed = NOTEBOOK.read_bytes()
    notebook = nbformat.reads(committed.decode("utf-8"), as_version=4)
    # Executed in memory, in the notebook's folder (as Jupyter runs it): the file is never written.
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails

    (run_dir,) = (tmp_path / "results").iterdir()
    assert (run_dir / "report.html").is_file() and (run_dir / "tables" / "winner.md").is_file()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "4 jobs: 4 ok" in text and f"report: {run_dir}/report.html" in text
    assert "\x1b[" not in text  # plain lines in a cell, not a terminal's cursor movements
    html = "".join(o["data"].get("text/html", "") for o in outputs if o.output_type == "execute_result")
    assert "spec_id" in html and "only one framework (fake)" in html  # metrics.head(), verdicts
    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1 and base64.b64decode(pngs[0]).startswith(b"\x89PNG")  # run.plot("time")
    assert NOTEBOOK.read_bytes() == committed
