"""Where `bench.run` shows its progress: a terminal, a notebook cell, or a log file."""

from __future__ import annotations

import importlib.util
import os

from rich.console import JUPYTER_DEFAULT_COLUMNS, Console


def notebook_console() -> Console:
    """Rich's console for wherever Python runs; needs no terminal and never reads stdin.

    In a Jupyter kernel rich draws its live progress bar with ipywidgets. Without them it would only
    warn, and plain text is the way out; but ipykernel sets FORCE_COLOR, which would make rich
    redraw the bar with cursor movements a cell cannot show. So there the console writes plain
    text into the cell, as into a log file: each job's line as it ends, the bar once at the end.

    Example:
        >>> bench.run("paper", quick=True, console=notebook_console())
    """
    console = Console()
    if console.is_jupyter and importlib.util.find_spec("ipywidgets") is None:
        # A cell is wider than a terminal's 80 columns: rich's own width for Jupyter, unless set.
        width = None if os.environ.get("COLUMNS") else JUPYTER_DEFAULT_COLUMNS
        return Console(force_jupyter=False, force_terminal=False, force_interactive=False, width=width)
    return console
