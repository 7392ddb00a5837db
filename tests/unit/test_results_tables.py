"""Results, winner and parity tables; byte-for-byte re-rendering."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.results import render_run
from orchestrator.results._format import fmt
from orchestrator.results.parity import EPOCH1_RTOL, INITIAL_LOSS_RTOL, parity_rows, parity_table
from orchestrator.results.tables import build_tables, winner_rows
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from schemas import JobSpec, RunReport
from tests.unit._factories import make_report, make_spec, paper_run, write_run


def tables_for(root: Path) -> dict[str, str]:
    final = final_frame(metrics_frame(load_run(root)))
    tables, _ = build_tables(final)
    return {t.name: t.markdown() for t in tables}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.976, "0.9760"), (2.6, "2.600"), (140.0, "140.0"), (12345.6, "12346"), (0.0000237, "2.370e-05"),
     (0.0, "0"), (None, "—"), (float("nan"), "—"), (-1.5, "-1.500"), (2e6, "2.000e+06")],
)  # fmt: skip
def test_fmt_four_significant_digits(value: float | None, text: str) -> None:
    assert fmt(value) == text


def test_results_and_winner_tables(tmp_path: Path) -> None:
    final = final_frame(metrics_frame(load_run(paper_run(tmp_path, repeats=5, epochs=4))))
    tables, rows = build_tables(final)
    assert [t.name for t in tables] == ["results_classification", "results_regression", "winner"]
    cls = tables[0]
    assert cls.title.startswith("Table 1: classification on mnist-5k")
    assert "min–max" in cls.caption
    assert cls.headers[:4] == ("framework", "ok / total", "final train accuracy", "final val accuracy")
    assert [r[:2] for r in cls.rows] == [("pytorch", "5 / 5"), ("tensorflow", "5 / 5")]
    winner = tables[2]
    assert "ratio pytorch/tensorflow (HL)" in winner.headers and "median pytorch" in winner.headers
    assert "margin m" in winner.headers and "Hodges–Lehmann" in winner.caption
    verdicts = {(r.task, r.criterion): r.verdict.text for r in rows if r.verdict}
    assert verdicts == {
        ("classification", "time"): "pytorch faster by 43% [95% CI 40%–46%]",
        ("classification", "epoch time"): "pytorch faster by 45% [95% CI 40%–49%]",
        ("classification", "quality"): "equivalent within ±5% [90% CI 0.996–1.004]",
        ("regression", "time"): "equivalent within ±5% [90% CI 0.995–1.025]",
        ("regression", "epoch time"): "equivalent within ±5% [90% CI 0.986–1.018]",
        ("regression", "quality"): "tensorflow better by 18% [95% CI 17%–18%]",
    }
    assert all("| ±5% |" in line for line in winner.markdown().splitlines()[6:])
    # With m = 20% (a noisy machine's floor) the 18% quality gap lies inside the margin: equivalent.
    wide = {(r.task, r.criterion): r.verdict.text for r in build_tables(final, margin=0.2)[1] if r.verdict}
    assert wide[("regression", "quality")].startswith("equivalent within ±20%")
    assert wide[("classification", "time")].startswith("pytorch faster by 43%")
    assert winner.csv().splitlines()[0].startswith("task,criterion,measure,better,framework_a")


def test_one_framework_and_missing_task(tmp_path: Path) -> None:
    root = paper_run(tmp_path, repeats=2, epochs=2, tasks=("regression",), frameworks=("pytorch",))
    final = final_frame(metrics_frame(load_run(root)))
    tables, rows = build_tables(final)
    assert [t.name for t in tables] == ["results_regression", "winner"]
    assert [r.verdict for r in rows] == [None, None, None]
    assert all("only one framework (pytorch)" in row[-1] for row in tables[-1].rows)


def test_all_jobs_failed(tmp_path: Path) -> None:
    jobs = []
    for r in range(3):
        for fw in ("pytorch", "tensorflow"):
            spec = make_spec(fw, repeat=r)
            jobs.append((spec, make_report(spec, status="oom", n_epochs=0, error="out of memory")))
    root = write_run(tmp_path, jobs)
    md = tables_for(root)
    assert "| pytorch | 0 / 3 | — | — |" in md["results_classification"]
    assert "not enough repeats (n=0 vs 0; need 5)" in md["winner"]
    paths = render_run(root, plots=False).paths
    assert all(p.exists() for p in paths)


def test_no_jobs_at_all(tmp_path: Path) -> None:
    paths = render_run(tmp_path, plots=False).paths
    names = sorted(p.name for p in paths)
    assert "winner.md" in names and "parity.md" in names and "report.html" in names
    assert "_No rows._" in (tmp_path / "tables" / "winner.md").read_text()


def test_parity_pass_and_fail(tmp_path: Path) -> None:
    jobs: list[tuple[JobSpec, RunReport | None]] = []
    offsets = {0: (0.0, 0.0), 1: (INITIAL_LOSS_RTOL * 10, 0.0), 2: (0.0, EPOCH1_RTOL * 10)}
    for r, (init_off, e1_off) in offsets.items():
        a, b = make_spec("pytorch", repeat=r, epochs=2), make_spec("tensorflow", repeat=r, epochs=2)
        jobs += [(a, make_report(a)), (b, make_report(b, initial_loss_offset=init_off * 2.3,
                                                       epoch1_offset=e1_off * 2.0))]  # fmt: skip
    c = make_spec("tensorflow", repeat=3, epochs=2)
    jobs += [(make_spec("pytorch", repeat=3, epochs=2), None), (c, make_report(c))]
    rows = parity_rows(load_run(write_run(tmp_path, jobs)))
    checks = [r.check for r in rows]
    assert checks[0] == "pass"
    assert checks[1] == f"FAIL: initial loss > {INITIAL_LOSS_RTOL:g}"
    assert checks[2] == f"FAIL: epoch-1 loss > {EPOCH1_RTOL:g}"
    assert checks[3] == "n/a: pytorch crashed, no fairness manifest"
    table = parity_table(rows)
    assert table.row_marks == ("", "fail", "fail", "warn")
    assert "4 pairs, 2 failing" in table.caption


def test_rerender_is_byte_for_byte_identical(tmp_path: Path) -> None:
    root = paper_run(tmp_path / "a", repeats=5, epochs=3)
    render_run(root, plots=False)
    stable = ["metrics.csv", *(f"tables/{p.name}" for p in sorted((root / "tables").iterdir()))]
    first = {name: (root / name).read_bytes() for name in stable}
    render_run(root, plots=False)
    assert {name: (root / name).read_bytes() for name in stable} == first
    # A copy elsewhere renders to the same bytes too (nothing depends on the path or the clock).
    copy = tmp_path / "b"
    shutil.copytree(root / "specs", copy / "specs")
    shutil.copytree(root / "reports", copy / "reports")
    shutil.copy(root / "run.json", copy / "run.json")
    render_run(copy, plots=False)
    assert {name: (copy / name).read_bytes() for name in stable} == first
    assert len(stable) == 1 + 2 * 5 + 1  # metrics, (results x2, winner, parity, wall_time) x (md, csv), .json


def test_winner_rows_with_three_arms_rank_every_arm_against_the_baseline(tmp_path: Path) -> None:
    """More than two arms: per task x criterion every arm gets a row, ranked by median, and each arm
    but the baseline is judged against it (arm/baseline), not every pair."""
    root = paper_run(tmp_path, repeats=1, epochs=2, tasks=("classification",),
                     frameworks=("fake", "pytorch", "tensorflow"))  # fmt: skip
    final = final_frame(metrics_frame(load_run(root)))
    rows = winner_rows(final, baseline="tensorflow")
    assert [(r.arm, r.baseline) for r in rows if r.criterion == "time"] == [
        ("pytorch", "tensorflow"), ("fake", "tensorflow"), ("tensorflow", "tensorflow"),
    ]  # fmt: skip  (paper_run: pytorch's epochs take 0.7 s, the others' 1.0 s; fake < tensorflow by name)
    pairs = [(r.verdict.name_a, r.verdict.name_b) for r in rows if r.verdict]
    assert pairs == [("pytorch", "tensorflow"), ("fake", "tensorflow")] * 3
    assert [r.rank for r in rows if r.criterion == "time"] == [1, 2, 3]
    assert all(r.verdict is None and r.note == "baseline" for r in rows if r.is_baseline)
    md = build_tables(final, baseline="tensorflow")[0][-1].markdown()
    assert "| rank | arm | baseline |" in md and "interval (Holm)" in md and "| 1 of 3 | pytorch |" in md
    # Without a baseline (a run directory without suite.json): the first arm by name.
    assert {r.baseline for r in winner_rows(final)} == {"fake"}


def test_mixed_hardware_is_never_pooled_into_a_verdict(tmp_path: Path) -> None:
    """Fleet runs: a task whose jobs ran on two CPU types gets no verdict, and the tables say why."""
    jobs = []
    for repeat in range(5):
        for fw, cpu in (("pytorch", "CPU A"), ("tensorflow", "CPU B")):
            spec = make_spec(fw, task="regression", repeat=repeat, epochs=3)
            report = make_report(spec)
            report = report.model_copy(update={"env": report.env.model_copy(update={"cpu_model": cpu})})
            jobs.append((spec, report))
    final = final_frame(metrics_frame(load_run(write_run(tmp_path / "run", jobs))))
    tables, rows = build_tables(final)
    assert all(r.verdict is None and "mixed hardware, not pooled" in r.note for r in rows)
    assert "MIXED" in tables[0].caption and "CPU A x2 | CPU B x2" in tables[0].caption


def test_parity_fails_when_the_timed_regions_do_different_work(tmp_path: Path) -> None:
    """The fairness manifest states each runner's host waits per step and its float32 mode: a runner
    that reads the loss back every step, or runs TF32 while the other does not, fails parity."""
    jobs: list[tuple[JobSpec, RunReport | None]] = []
    variants = {
        0: ({"per_step": 0, "per_epoch": 1}, "matmul ieee, cudnn.conv ieee"),
        1: ({"per_step": 1, "per_epoch": 1}, "matmul ieee, cudnn.conv ieee"),
        2: ({"per_step": 0, "per_epoch": 1}, "matmul tf32, cudnn.conv tf32"),
    }
    same = {"host_syncs": {"per_step": 0, "per_epoch": 1}, "tf32_applied": "matmul ieee, cudnn.conv ieee"}
    for r, (syncs, tf32) in variants.items():
        a, b = make_spec("pytorch", repeat=r, epochs=2), make_spec("tensorflow", repeat=r, epochs=2)
        ra, rb = make_report(a), make_report(b)
        assert ra.fairness is not None and rb.fairness is not None
        ra = ra.model_copy(update={"fairness": ra.fairness.model_copy(update=same)})
        rb = rb.model_copy(
            update={"fairness": rb.fairness.model_copy(update={"host_syncs": syncs, "tf32_applied": tf32})}
        )
        jobs += [(a, ra), (b, rb)]
    checks = [r.check for r in parity_rows(load_run(write_run(tmp_path, jobs)))]
    assert checks[0] == "pass"
    assert checks[1].startswith("FAIL: host syncs differ")
    assert checks[2].startswith("FAIL: float32 mode differs")
