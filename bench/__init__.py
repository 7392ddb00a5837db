"""bench's Python API: run a suite, or open a run directory, and look at the results as pandas
tables and matplotlib figures. The same functions as the `bench` CLI, one code path.

    import bench

    run = bench.run("paper", quick=True)     # = bench orchestrate --suite suites/paper.toml --quick
    run.metrics.head()                       # tidy: one row per job x epoch (metrics.csv)
    run.verdicts                             # the winner table, one row per task x criterion
    run.parity                               # the parity check, one row per pair of jobs
    run.plot("time")                         # a matplotlib Figure, one panel per task
    run.summary, run.report_path, run.run_dir

    again = bench.load(run.run_dir)          # what `bench report RUN_DIR` reads; never writes
    again.render()                           # = bench report RUN_DIR

Every error a user can act on is a BenchError: one line, as the CLI prints it, and `exit_code` as
the CLI exits (2 bad input, 1 the machine failed, 130 interrupted). docs/api.md has the reference;
examples/paper.ipynb walks through a run.
"""

from __future__ import annotations

from bench.console import notebook_console
from bench.launch import PAPER_SUITE, run
from bench.results import Run, load
from orchestrator.errors import BenchError

__all__ = ["PAPER_SUITE", "BenchError", "Run", "load", "notebook_console", "run"]
