"""report.html: one self-contained page (inline CSS, plots as data: URIs, no external URL).

Every value that comes from a file passes through `esc` (html.escape); markup is only ever built by
`el`, which escapes any child that is not already `Markup`. A run named
`<img src=x onerror=alert(1)>` renders as that text.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from orchestrator.results._format import MISSING, Table
from orchestrator.results.parity import ParityRow
from orchestrator.results.plots import Plot
from orchestrator.results.stats import METHOD
from orchestrator.results.tidy import Job, RunData, contaminated_jobs

# The paper's datasets; anything else is a substitute and the banner says so in red.
PAPER_DATASETS = {"classification": "mnist", "regression": "petrol"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.meta{color:#555}
.banner{border:3px solid #1f5fa8;background:#e8f1fb;padding:.8rem 1rem;margin:1rem 0;
border-radius:6px;font-size:1.1rem}
.banner.loud{border-color:#b00020;background:#fde8ea}
.banner.warn{border-color:#a86b00;background:#fff4de}
.banner strong{text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
tr.fail td{background:#fde8ea}tr.warn td{background:#fff4de}tr.win td{background:#eaf7ea}
tr.differs td{background:#fff4de}
.caption{color:#444;font-size:.85rem;max-width:1100px}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85rem}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem}
code{font-size:.85rem}
"""


class Markup(str):
    """A string that is already safe HTML."""


def esc(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def el(tag: str, *children: object, **attrs: str) -> Markup:
    """<tag attrs>children</tag>; `class_` stands for `class`. Tag names are code constants."""
    attr = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{html.escape(v, quote=True)}"'
        for k, v in attrs.items()
        if v != ""
    )
    return Markup(f"<{tag}{attr}>{join(children)}</{tag}>")


def table(headers: Sequence[object], rows: Sequence[Sequence[object]], marks: Sequence[str] = ()) -> Markup:
    head = el("thead", el("tr", *(el("th", h) for h in headers)))
    body_rows = []
    for i, row in enumerate(rows):
        mark = marks[i] if i < len(marks) else ""
        body_rows.append(el("tr", *(el("td", c) for c in row), class_=mark))
    return el("table", head, el("tbody", *body_rows))


def table_section(t: Table) -> Markup:
    body = table(t.headers, t.rows, t.row_marks) if t.rows else el("p", "No rows.")
    return join([el("h3", t.title), el("p", t.caption, class_="caption"), body])


def flat(value: Any) -> str:
    """One cell of text for a JSON-ish value."""
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return ", ".join(f"{k}={flat(v)}" for k, v in sorted(value.items())) or MISSING
    if isinstance(value, (list, tuple)):
        return "; ".join(flat(v) for v in value) or MISSING
    return str(value)


def representatives(run: RunData, task: str | None = None) -> dict[str, Job]:
    """One ok job per arm, from the same (repeat, seed) when some repeat has all arms ok (so
    fairness hashes are comparable), else each arm's first by (repeat, spec id)."""
    ok = sorted(
        (j for j in run.jobs if j.ok and j.report is not None and j.spec is not None
         and (task is None or j.task == task)),
        key=lambda j: (j.spec.repeat if j.spec else 0, j.spec_id),
    )  # fmt: skip
    frameworks = sorted({str(j.arm) for j in ok})
    groups: dict[tuple[int, int], dict[str, Job]] = {}
    for j in ok:
        assert j.spec is not None
        groups.setdefault((j.spec.repeat, j.spec.seed), {}).setdefault(str(j.arm), j)
    for _, by_fw in sorted(groups.items()):
        if sorted(by_fw) == frameworks:
            return dict(sorted(by_fw.items()))
    out: dict[str, Job] = {}
    for j in ok:
        out.setdefault(str(j.arm), j)
    return dict(sorted(out.items()))


def side_by_side(run: RunData, part: str, task: str | None = None) -> Markup:
    """EnvInfo or Fairness fields, one column per arm (see `representatives`)."""
    firsts = representatives(run, task)
    columns: dict[str, dict[str, Any]] = {}
    for fw, job in firsts.items():
        model = getattr(job.report, part, None)
        columns[fw] = model.model_dump(mode="json") if model is not None else {}
    if not columns:
        return el("p", "No job ended ok, so there is nothing to show.")
    fields = sorted({k for col in columns.values() for k in col})
    rows, marks = [], []
    for field in fields:
        values = [flat(columns[fw].get(field)) for fw in columns]
        rows.append([field, *values])
        marks.append("differs" if len(set(values)) > 1 else "")
    note = el(
        "p",
        "From the reports of "
        f"{', '.join(f'{fw}: {job.spec_id}' for fw, job in firsts.items())}. "
        "Highlighted rows differ between frameworks.",
        class_="caption",
    )
    return join([note, table(["field", *columns], rows, marks)])


def fairness_sections(run: RunData, tasks: Sequence[str]) -> Markup:
    if not tasks:
        return el("p", "No job ended ok, so there is nothing to show.")
    return join(join([el("h3", task), side_by_side(run, "fairness", task)]) for task in tasks)


def gpu_sections(run: RunData, tasks: Sequence[str]) -> Markup:
    """GPU runs only: where each framework's jobs were placed and what their GPU did."""
    if not any(j.report is not None and j.report.gpu_telemetry is not None for j in run.jobs):
        return join([])
    parts = [el("h2", "GPU placement and telemetry")]
    for task in tasks:
        parts += [
            el("h3", task),
            side_by_side(run, "placement", task),
            side_by_side(run, "gpu_telemetry", task),
        ]
    return join(parts)


def dataset_banners(run: RunData, tasks: Sequence[str]) -> Markup:
    declared = run.meta.get("datasets")
    declared = declared if isinstance(declared, dict) else {}
    used_by_task: dict[str, set[str]] = {}
    for job in run.jobs:
        if job.spec is not None:
            used_by_task.setdefault(job.spec.workload.task, set()).add(job.spec.workload.dataset)
    parts = []
    for task in sorted(set(tasks) | {str(k) for k in declared}):
        info = declared.get(task)
        info = info if isinstance(info, dict) else {}
        used = info.get("used") or ", ".join(sorted(used_by_task.get(task, set()))) or "unknown"
        reason = info.get("reason") or "run.json gives no reason"
        paper = PAPER_DATASETS.get(task)
        substitute = paper is not None and str(used) != paper
        lead = f"Dataset for {task}: {used}"
        if substitute:
            lead += f" (NOT the paper's {paper})"
        parts.append(
            el(
                "div",
                el("strong", "dataset"),
                " — ",
                lead,
                ". Why: ",
                reason,
                class_="banner loud" if substitute else "banner",
            )
        )
    return join(parts)


def noise_banner(run: RunData, keep_contaminated: bool) -> Markup:
    """The noise guard's findings: which jobs were timed on a busy machine, and what was seen."""
    flagged = contaminated_jobs(run)
    if not flagged:
        return join([])
    ok = sum(1 for job in run.jobs if job.ok)
    fate = (
        "kept in the verdicts (--keep-contaminated)"
        if keep_contaminated
        else "left out of the medians and verdicts"
    )
    items = el("ul", *(el("li", f"{job.arm} {job.task} repeat {job.spec.repeat if job.spec else '?'} "
                                f"({job.spec_id}): {why}") for job, why in flagged))  # fmt: skip
    return el(
        "div", el("strong", "busy machine"), f" — {len(flagged)} of {ok} ok jobs were timed while other "
        f"processes loaded the machine (contaminated), {fate}; re-runs of them, when the machine was quiet "
        "again, are their own rows. What was seen:", items, class_="banner loud" if keep_contaminated else "banner warn",
    )  # fmt: skip


def status_banners(run: RunData, parity: Sequence[ParityRow]) -> Markup:
    parts = []
    if run.state != "complete":
        parts.append(
            el("div", el("strong", "partial run"), f" — state is {run.state!r}: numbers cover only "
               "the jobs that reported.", class_="banner warn")
        )  # fmt: skip
    failed = [r for r in parity if r.failed]
    if failed:
        parts.append(
            el("div", el("strong", "parity check failed"), f" — {len(failed)} of {len(parity)} "
               "job pairs did not start from the same point; see the parity table.",
               class_="banner loud")
        )  # fmt: skip
    if run.problems:
        items = el("ul", *(el("li", p) for p in run.problems))
        parts.append(el("div", el("strong", "run directory problems"), items, class_="banner warn"))
    return join(parts)


def failed_jobs(run: RunData) -> Markup:
    bad = sorted((j for j in run.jobs if not j.ok), key=lambda j: (str(j.task), j.spec_id))
    if not bad:
        return el("p", "Every job ended ok.")
    rows = []
    for job in bad:
        rep = job.report
        tail = rep.error.traceback_tail if rep is not None and rep.error is not None else ()
        detail: object = el("details", el("summary", "traceback"), el("pre", "\n".join(tail)))
        rows.append([
            el("code", job.spec_id), job.arm or MISSING, job.task or MISSING,
            job.spec.repeat if job.spec else MISSING, job.status, job.reason or MISSING,
            MISSING if rep is None or rep.exit_code is None else rep.exit_code,
            detail if tail else MISSING,
        ])  # fmt: skip
    headers = ["spec id", "framework", "task", "repeat", "status", "error", "exit code", "details"]
    return table(headers, rows, ["fail"] * len(rows))


def plot_figures(plots: Sequence[Plot]) -> Markup:
    if not plots:
        return el("p", "No plots were rendered (no task has jobs, or plots were skipped).")
    figs = []
    for p in plots:
        uri = "data:image/png;base64," + base64.b64encode(p.png).decode("ascii")
        img = Markup(f'<img src="{html.escape(uri)}" alt="{html.escape(p.title)}">')
        figs.append(el("figure", img, el("figcaption", p.title)))
    return join(figs)


def render_html(
    run: RunData,
    summary: str,
    result_tables: Sequence[Table],
    parity_tab: Table,
    parity: Sequence[ParityRow],
    plots: Sequence[Plot],
    keep_contaminated: bool = False,
    wall_time: str = "",
    wall_per_job: Table | None = None,
) -> str:
    tasks = sorted({str(j.task) for j in run.jobs if j.task is not None})
    meta_bits = [f"state: {run.state}"]
    for key in ("created_at", "backend", "machine"):
        if key in run.meta:
            meta_bits.append(f"{key.replace('_', ' ')}: {flat(run.meta[key])}")
    body = join([
        el("h1", f"bench report: {run.name}"),
        el("p", " · ".join(meta_bits), class_="meta"),
        dataset_banners(run, tasks),
        status_banners(run, parity),
        noise_banner(run, keep_contaminated),
        el("p", el("strong", "Summary: "), summary),
        el("p", el("strong", "Where the wall time went: "), wall_time, " (tables/wall_time.json)") if wall_time else join([]),
        el("p", el("strong", "How verdicts are made: "), METHOD, class_="caption"),
        el("h2", "Results"),
        *(table_section(t) for t in result_tables),
        el("h2", "Parity"),
        table_section(parity_tab),
        el("h2", "Plots"),
        plot_figures(plots),
        table_section(wall_per_job) if wall_per_job is not None and wall_per_job.rows else join([]),
        el("h2", "Environment fingerprint"),
        side_by_side(run, "env"),
        el("h2", "Fairness manifest"),
        fairness_sections(run, tasks),
        gpu_sections(run, tasks),
        el("h2", "Jobs that did not end ok"),
        failed_jobs(run),
    ])  # fmt: skip
    head = join([
        Markup('<meta charset="utf-8">'),
        el("title", f"bench report: {run.name}"),
        el("style", Markup(CSS)),
    ])  # fmt: skip
    return f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>{body}</body>\n</html>\n'
