"""The results history: every finished run's per-job values in a local Parquet store, read with DuckDB.

    STORE/hardware=<class key>/suite=<suite key>/<run id>.parquet

One file per run, hardware class and suite (a run on a mixed Ray cluster writes one per class), one
row per ok job and criterion (`HISTORY_CRITERIA`: the winner table's, less time to target), in long
format so that a new criterion never changes the file schema. The store is `--store DIR`, else `$BENCH_HISTORY_DIR`,
else `~/.cache/bench/history`; a directory shared by a team works because:

- a file's name is a hash of the run's identity (name, start time, machine), so adding a run again
  replaces its file instead of duplicating it;
- every file is written to a temp name in its own directory, fsynced and renamed
  (`schemas.common.write_bytes_atomic`): readers and concurrent writers see a whole file or none;
- the reader checks each file on its own; a corrupt, truncated or foreign file is named in
  `Store.problems` and skipped, never a traceback.

The hardware class is the results' own (`tidy.hardware_class`, the tidy frame's `hardware` column);
queries group by it, so two classes are never pooled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from orchestrator.calibration import machine_key
from orchestrator.results import recorded_margin, stats
from orchestrator.results.tables import CRITERIA, TARGET_COLUMNS, criterion_measure, task_metric
from orchestrator.results.tidy import NoCountedJobs, RunData, counted_jobs
from orchestrator.rundir import RunDir, RunDirError
from schemas.common import write_bytes_atomic

if TYPE_CHECKING:
    from rich.console import Console

STORE_VERSION = 1
# A run adds a few KB; anything this large is not one of ours and is not read into memory.
MAX_FILE_BYTES = 64 * 2**20
# (column, Arrow type name, may be null). The reader casts every file to exactly this.
SCHEMA: tuple[tuple[str, str, bool], ...] = (
    ("store_version", "int64", False),
    ("run_id", "string", False),
    ("run_name", "string", False),
    ("run_date", "string", False),  # ISO 8601, when the run started
    ("suite", "string", False),
    ("hardware", "string", False),
    ("machine", "string", False),  # run.json's machine label: host, CPU, OS
    ("margin", "float64", False),  # the run's recorded equivalence margin
    ("task", "string", False),
    ("dataset", "string", True),
    ("metric", "string", True),
    ("arm", "string", False),  # the arm's label (schemas.suite.Arm): 'pytorch', 'pytorch+jit'
    ("arm_version", "string", True),
    ("spec_id", "string", False),
    ("repeat", "int64", True),
    ("criterion", "string", False),
    ("better", "string", False),  # "lower" | "higher"
    ("value", "float64", False),
)
COLUMN_NAMES = tuple(name for name, _, _ in SCHEMA)
# The winner table's criteria, less time to target: its jobs that never reached the target are +inf,
# and a per-run median that left them out would show a run that failed more often as faster.
HISTORY_CRITERIA = tuple((name, column) for name, column in CRITERIA if column not in TARGET_COLUMNS)


class HistoryError(ValueError):
    """A user error (a path that is not a run directory, a run with nothing to add): one line."""


def store_dir(option: Path | None = None) -> Path:
    """Where the history lives: the option, else $BENCH_HISTORY_DIR, else ~/.cache/bench/history."""
    if option is not None:
        return option
    return Path(os.environ.get("BENCH_HISTORY_DIR") or Path.home() / ".cache/bench/history")


def criterion_direction(criterion: str, metric: str) -> str:
    """Which way is better: quality follows the task's metric, clustering the ARI, every other is a cost."""
    return stats.BETTER[criterion_measure(criterion, metric)]


# --- adding a run ------------------------------------------------------------------------------


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value.strip() else None


def suite_label(run_dir: Path, name: str) -> str:
    """'paper~3f2a9c1d': the suite's name and a hash of its tasks as planned (after --quick,
    --epochs-override, ...; the target left out, it changes no training), so a quick or shortened
    run of a suite is its own line in the history, never pooled with the full one."""
    try:
        suite = RunDir(run_dir).stored_suite()
    except RunDirError:
        return name  # an old or partial run directory: its name alone
    tasks = [task.model_dump(mode="json", exclude={"target"}) for task in suite.tasks]
    return f"{name}~{hashlib.sha256(json.dumps(tasks, sort_keys=True).encode()).hexdigest()[:8]}"


def run_identity(run: RunData) -> tuple[str, str]:
    """(run id, run date). The id hashes what names one run wherever its directory was copied to:
    its name, start time and machine; a run.json without a start time falls back to the path."""
    date = _text(run.meta, "created_at") or _text(run.meta, "finished_at")
    if date is None:
        mtime = run.run_dir.joinpath("run.json").stat().st_mtime if (run.run_dir / "run.json").exists() else 0
        date = pd.Timestamp(mtime, unit="s", tz="UTC").isoformat()
        where = str(run.run_dir.resolve())
    else:
        where = _text(run.meta, "machine") or ""
    digest = hashlib.sha256("\0".join((run.name, date, where)).encode()).hexdigest()[:16]
    return f"{machine_key(run.name)[:40]}-{digest}", date


def run_rows(run_dir: Path) -> pd.DataFrame:
    """The store's rows for one run directory: one per job that counts in the verdicts (ok, and not
    contaminated unless the run kept those) and criterion with a finite value."""
    try:
        run, used = counted_jobs(run_dir)
    except NoCountedJobs as exc:
        raise HistoryError(str(exc)) from None
    versions = {
        job.spec_id: job.report.env.framework_version
        for job in run.jobs
        if job.report is not None and job.report.env is not None
    }
    run_id, date = run_identity(run)
    common = {
        "store_version": STORE_VERSION,
        "run_id": run_id,
        "run_name": run.name,
        "run_date": date,
        "suite": suite_label(run_dir, _text(run.meta, "suite") or "unnamed"),
        "machine": _text(run.meta, "machine") or "unknown machine",
        "margin": recorded_margin(run.meta),
    }
    rows = []
    for job in used.itertuples(index=False):
        metric = task_metric(used[used["task"] == job.task], str(job.task))
        for criterion, column in HISTORY_CRITERIA:
            value = getattr(job, column, None)
            if value is None or value is pd.NA or not math.isfinite(float(value)):
                continue
            rows.append({
                **common,
                "hardware": job.hardware if isinstance(job.hardware, str) else "unknown hardware",
                "task": str(job.task),
                "dataset": job.dataset if isinstance(job.dataset, str) else None,
                "metric": metric,
                "arm": str(job.arm),
                "arm_version": versions.get(str(job.spec_id)),
                "spec_id": str(job.spec_id),
                "repeat": None if job.repeat is pd.NA else int(job.repeat),
                "criterion": criterion,
                "better": criterion_direction(criterion, metric),
                "value": float(value),
            })  # fmt: skip
    if not rows:
        raise HistoryError(f"{run_dir}: its ok jobs recorded no finite value, nothing to add")
    return pd.DataFrame(rows, columns=list(COLUMN_NAMES))


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(name, getattr(pa, kind)(), nullable) for name, kind, nullable in SCHEMA])


def _parquet_bytes(rows: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, schema=_arrow_schema(), preserve_index=False)
    sink = pa.BufferOutputStream()
    # Page checksums: a flipped bit in a value is caught on reading instead of shown as a number.
    pq.write_table(table, sink, write_page_checksum=True)
    return bytes(sink.getvalue().to_pybytes())


def add_run(run_dir: Path, store: Path) -> list[Path]:
    """Add (or replace) one run's files in the store; returns the files written."""
    return write_rows(run_rows(run_dir), store)


def write_rows(rows: pd.DataFrame, store: Path) -> list[Path]:
    """Write one run's rows (`run_rows`), a file per hardware class and suite, replacing its old ones."""
    run_id = str(rows["run_id"].iloc[0])
    written = []
    for (hardware, suite), part in rows.groupby(["hardware", "suite"], sort=True):
        folder = store / f"hardware={machine_key(str(hardware))}" / f"suite={machine_key(str(suite))}"
        written.append(write_bytes_atomic(folder / f"{run_id}.parquet", _parquet_bytes(part)))
    # A run re-added with other classes (re-rendered after a fix) must not leave its old files behind.
    for old in store.glob(f"*/*/{run_id}.parquet"):
        if old not in written:
            old.unlink(missing_ok=True)
    return written


def append_finished(run_dir: Path, console: Console) -> None:
    """`bench orchestrate`'s last step: add the run to the history; any failure is one warning line,
    never a failed run (the results are already written)."""
    store = store_dir()
    try:
        add_run(run_dir, store)
        console.print(
            f"added to the history in {store} (bench history)", markup=False, highlight=False, soft_wrap=True
        )
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run itself succeeded
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever the message
        console.print(
            f"warning: not added to the history in {store}: {reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


# --- reading the store -------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    root: Path
    table: Any  # a pyarrow.Table with exactly SCHEMA's columns (DuckDB scans it in place)
    problems: tuple[str, ...]  # one line per skipped file, naming it


def _check_rows(table: Any) -> str | None:
    """Why a file's rows are not ours (None: they are)."""
    import pyarrow.compute as pc

    for name, _, nullable in SCHEMA:
        if not nullable and table.column(name).null_count:
            return f"missing values in column {name}"
    if not pc.all(pc.equal(table.column("store_version"), STORE_VERSION)).as_py() and table.num_rows:
        return f"written by another store version (this bench reads version {STORE_VERSION})"
    if not pc.all(pc.is_finite(table.column("value"))).as_py() and table.num_rows:
        return "non-finite values"
    if not pc.all(pc.is_in(table.column("better"), value_set=_directions())).as_py() and table.num_rows:
        return "column better holds something other than lower/higher"
    return None


def _directions() -> Any:
    import pyarrow as pa

    return pa.array(["lower", "higher"])


def _read_file(path: Path) -> tuple[Any, str | None]:
    """(the file's rows cast to SCHEMA, None) or (None, why it is skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None, f"over {MAX_FILE_BYTES // 2**20} MiB"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    try:
        table = pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
        # A damaged page can decode into offsets or UTF-8 that are wrong: a later scan would crash.
        table.validate(full=True)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for damaged files
        return None, f"not a readable Parquet file ({type(exc).__name__})"
    missing = [name for name in COLUMN_NAMES if name not in table.column_names]
    if missing:
        return None, f"not a history file (no column {missing[0]})"
    try:
        table = table.select(list(COLUMN_NAMES)).cast(_arrow_schema(), safe=True)
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid / ArrowNotImplementedError / ValueError
        return None, f"columns of the wrong type ({type(exc).__name__})"
    reason = _check_rows(table)
    return (None, reason) if reason else (table, None)


def read_store(store: Path) -> Store:
    """Every valid file under `store` (none when it does not exist); the rest named in `problems`.
    Hidden files are skipped silently: they are other writers' temp files in flight."""
    import pyarrow as pa

    tables, problems = [], []
    files = sorted(p for p in store.rglob("*") if not p.name.startswith(".")) if store.is_dir() else []
    for path in files:
        if path.is_dir():
            continue
        if path.suffix != ".parquet" or not path.is_file():
            problems.append(f"{path}: skipped, not a .parquet file")
            continue
        table, reason = _read_file(path)
        if reason is not None:
            problems.append(f"{path}: skipped, {reason}")
        else:
            tables.append(table)
    schema = _arrow_schema()
    combined = pa.concat_tables(tables) if tables else schema.empty_table()
    return Store(store, combined, tuple(problems))


# Per hardware class, suite, task, criterion, arm and run: the median and range over the run's jobs.
# A job's row is counted once even when a copied file holds it twice (QUALIFY keeps one per key).
TREND_SQL = """
WITH rows AS (
    SELECT * FROM history
    WHERE ($suite IS NULL OR suite = $suite OR suite LIKE $suite || '~%') AND ($task IS NULL OR task = $task)
      AND ($arm IS NULL OR arm = $arm)
    QUALIFY row_number() OVER (PARTITION BY run_id, hardware, spec_id, criterion ORDER BY value) = 1
)
SELECT hardware, suite, task, any_value(metric) AS metric, criterion, any_value(better) AS better,
       arm, run_id, any_value(run_name) AS run_name, any_value(run_date) AS run_date,
       any_value(machine) AS machine,
       coalesce(string_agg(DISTINCT arm_version, ', ' ORDER BY arm_version), '') AS versions,
       median(value) AS median, min(value) AS low, max(value) AS high, count(*) AS n
FROM rows
GROUP BY hardware, suite, task, criterion, arm, run_id
ORDER BY hardware, suite, task, criterion, arm, run_date, run_id
"""


def trend(
    store: Store, suite: str | None = None, task: str | None = None, arm: str | None = None
) -> pd.DataFrame:
    """One row per hardware class x suite x task x criterion x arm x run (TREND_SQL), date order."""
    import duckdb

    with duckdb.connect() as con:
        con.register("history", store.table)
        frame = con.execute(TREND_SQL, {"suite": suite, "task": task, "arm": arm}).df()
    frame["median"] = frame["median"].astype("float64")
    frame["n"] = frame["n"].astype("int64")
    return frame
