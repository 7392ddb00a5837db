"""The one exception a user of `bench` (the CLI or the Python API) sees for a run that cannot go on.

    BenchError(message, exit_code)
        message    one line naming the file, field or option at fault (str(exc))
        exit_code  what the CLI exits with: 2 bad input (suite, options, run directory), nothing
                   written; 1 the machine failed (full disk), finished reports kept; 130 interrupted

The planning, run-directory, backend, executor, device and driver errors underneath are turned
into it in one place per entry point (orchestrator/run_suite.py, orchestrator/rerender.py); the
typer commands print it with `cli_errors` and the Python API (`bench`) lets it propagate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape


class BenchError(Exception):
    """A failure the user can act on: `str(exc)` is one line, `exit_code` the CLI's exit status.

    Example:
        >>> BenchError("suites/x.toml: cannot read suite", exit_code=2).exit_code
        2
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def cli_errors(console: Console) -> Iterator[None]:
    """In a typer command: a BenchError becomes `error: MESSAGE` and its exit code, no traceback."""
    try:
        yield
    except BenchError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
