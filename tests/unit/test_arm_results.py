"""Four arms (two frameworks x compile none/jit) in synthetic run directories: every result groups by
arm — tidy columns, the Holm-adjusted winner table against the suite's baseline, every parity pair,
the compile table's break-even, one plot line per arm, history rows and `bench compare`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from orchestrator import history
from orchestrator.plan import load_suite
from orchestrator.results import judge, render_run
from orchestrator.results.compare import compare_runs
from orchestrator.results.compile_time import break_even, compile_rows
from orchestrator.results.parity import parity_rows
from orchestrator.results.plots import arm_colour, curves
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from schemas import EpochRecord, JobSpec, RunReport
from schemas.suite import Arm
from tests.unit._factories import make_report, make_spec, write_run

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 12
# (framework, compile) -> (first epoch, steady epoch) seconds. fake+jit pays 2.5 s more up front and
# saves 0.4 s an epoch: its cumulative time is lower from epoch 8 on (4 + 0.6 * 7 = 8.2 < 8.5);
# pytorch+jit saves nothing and never breaks even.
TIMES = {("fake", "none"): (1.5, 1.0), ("fake", "jit"): (4.0, 0.6),
         ("pytorch", "none"): (1.0, 0.7), ("pytorch", "jit"): (3.0, 0.7)}  # fmt: skip


def arm_spec(framework: str, mode: str, repeat: int) -> JobSpec:
    spec = make_spec(framework, "classification", repeat, epochs=EPOCHS)
    return JobSpec.model_validate({**spec.model_dump(), "compile": mode})


def arm_report(spec: JobSpec) -> RunReport:
    """make_report's report with this arm's epoch times (1% noise, seeded by the spec)."""
    report = make_report(spec)
    first, steady = TIMES[(spec.framework, spec.compile)]
    rng = np.random.default_rng(int(spec.spec_id.rsplit("-", 1)[1], 16) % 2**32)
    seconds = [(first if e == 1 else steady) * (1 + 0.01 * rng.standard_normal()) for e in range(1, EPOCHS + 1)]
    cumulative = np.cumsum(seconds)
    epochs = tuple(
        EpochRecord.model_validate({**rec.model_dump(), "train_seconds": s, "cumulative_seconds": c})
        for rec, s, c in zip(report.epochs, seconds, cumulative, strict=True)
    )
    assert report.timing is not None
    timing = report.timing.model_copy(update={
        "first_epoch_seconds": seconds[0], "steady_epoch_seconds": float(np.median(seconds[1:])),
        "total_train_seconds": float(cumulative[-1]),
    })  # fmt: skip
    return report.model_copy(update={"epochs": epochs, "timing": timing})


def four_arm_run(root: Path, baseline: str | None = "fake", repeats: int = 5) -> Path:
    jobs = [(spec, arm_report(spec)) for r in range(repeats) for (fw, mode) in TIMES
            for spec in [arm_spec(fw, mode, r)]]  # fmt: skip
    write_run(root, jobs)
    if baseline is not None:  # the stored suite names the baseline (its tasks do not matter here)
        text = (ROOT / "tests/suites/fake.toml").read_text().replace(
            'frameworks = ["fake"]', f'frameworks = ["fake", "pytorch"]\ncompile = ["none", "jit"]\nbaseline = "{baseline}"'
        )
        (root / "suite.toml").write_text(text)
        (root / "suite.json").write_text(load_suite(root / "suite.toml").model_dump_json())
    return root


ARMS = ["fake", "fake+jit", "pytorch", "pytorch+jit"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return four_arm_run(tmp_path_factory.mktemp("arms"))


def test_tidy_carries_the_arm_and_the_compile_mode(run_dir: Path) -> None:
    metrics = metrics_frame(load_run(run_dir))
    pairs = metrics[["framework", "compile", "arm"]].drop_duplicates()
    assert sorted(map(tuple, pairs.to_numpy())) == [
        ("fake", "jit", "fake+jit"), ("fake", "none", "fake"),
        ("pytorch", "jit", "pytorch+jit"), ("pytorch", "none", "pytorch"),
    ]  # fmt: skip
    assert list(metrics["arm"].drop_duplicates()) == ARMS  # sorted by arm within the task


def test_winner_table_ranks_all_arms_against_the_baseline_with_holm(run_dir: Path) -> None:
    judged = judge(load_run(run_dir))
    time_rows = [r for r in judged.rows if r.criterion == "time"]
    # Totals over 12 epochs: pytorch 8.7 s, fake+jit 10.6 s, pytorch+jit 10.7 s, fake 12.5 s.
    assert [(r.arm, r.rank) for r in time_rows] == [("pytorch", 1), ("fake+jit", 2), ("pytorch+jit", 3), ("fake", 4)]
    assert all(r.baseline == "fake" and r.arms == 4 for r in time_rows)
    judged_rows = {r.arm: r.verdict for r in time_rows if r.verdict is not None}
    assert set(judged_rows) == {"pytorch", "fake+jit", "pytorch+jit"}  # the baseline is not judged against itself
    assert all(v.name_b == "fake" and v.winner == v.name_a for v in judged_rows.values())
    # Three clear differences: Holm steps down through 1 - 5%/3, 1 - 5%/2 and 95%.
    assert sorted(v.ci_level for v in judged_rows.values()) == pytest.approx([0.95, 0.975, 1 - 0.05 / 3])
    winner = next(t for t in judged.tables if t.name == "winner")
    assert "| 4 of 4 | fake | fake |" in winner.markdown() and "baseline" in winner.markdown()
    # One phrase per criterion, the arms named: the best, then each decision against the baseline.
    assert "time: best pytorch; vs fake: pytorch faster by" in judged.summary
    assert "fake+jit faster by" in judged.summary and "time n/a" not in judged.summary


def test_the_suites_baseline_is_used_and_defaults_to_the_first_arm(tmp_path: Path) -> None:
    rows = judge(load_run(four_arm_run(tmp_path / "a", baseline="pytorch+jit"))).rows
    assert {r.baseline for r in rows} == {"pytorch+jit"}
    rows = judge(load_run(four_arm_run(tmp_path / "b", baseline=None))).rows  # no suite.json
    assert {r.baseline for r in rows} == {"fake"}


def test_parity_pairs_every_two_arms(run_dir: Path) -> None:
    rows = parity_rows(load_run(run_dir))
    assert len(rows) == 6 * 5  # C(4, 2) pairs per repeat
    assert {(r.framework_a, r.framework_b) for r in rows} == {
        (a, b) for i, a in enumerate(ARMS) for b in ARMS[i + 1:]
    }  # fmt: skip
    assert all(r.check == "pass" for r in rows)


def test_compile_time_and_break_even(run_dir: Path) -> None:
    metrics = metrics_frame(load_run(run_dir))
    rows = {r.framework: r for r in compile_rows(metrics, final_frame(metrics))}
    assert rows["fake"].compile_jit == pytest.approx(3.4, abs=0.1)
    assert rows["fake"].compile_none == pytest.approx(0.5, abs=0.05)
    assert rows["fake"].break_even == 8 and rows["fake"].break_even_text == "epoch 8"
    assert rows["pytorch"].break_even is None
    assert rows["pytorch"].break_even_text == f"never within {EPOCHS} epochs"


def test_break_even_needs_the_jit_arm_to_stay_ahead() -> None:
    import pandas as pd

    none = pd.Series([1.0, 2.0, 3.0, 4.0], index=[1, 2, 3, 4])
    assert break_even(none, pd.Series([2.0, 1.9, 3.1, 3.9], index=[1, 2, 3, 4])) == (4, 4)
    assert break_even(none, pd.Series([2.0, 2.5, 3.5, 4.5], index=[1, 2, 3, 4])) == (None, 4)


def test_one_plot_line_per_arm_in_fixed_colours(run_dir: Path) -> None:
    lines = curves(metrics_frame(load_run(run_dir)), "classification", "cumulative_seconds")
    assert [c.arm for c in lines] == ARMS and all(c.n_repeats == 5 for c in lines)
    assert len({arm_colour(arm) for arm in ARMS}) == 4
    assert arm_colour("pytorch+jit") == arm_colour(Arm("pytorch", "jit").label)  # by label, not position
    assert arm_colour("jax+jit") == arm_colour("jax+jit")


def test_rendered_tables_hold_the_compile_table_and_re_render_byte_identically(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    render_run(copy, plots=False)
    tables = {p.name: p.read_bytes() for p in (copy / "tables").glob("*.*")}
    assert {"compile.md", "compile.csv", "winner.csv", "parity.csv"} <= set(tables)
    assert b"| classification | fake | " in tables["compile.md"] and b"epoch 8" in tables["compile.md"]
    assert b"| arm | ok / total |" in tables["results_classification.md"]
    render_run(copy, plots=False)
    assert {p.name: p.read_bytes() for p in (copy / "tables").glob("*.*")} == tables


def test_history_and_compare_are_per_arm(run_dir: Path, tmp_path: Path) -> None:
    rows = history.run_rows(run_dir)
    assert sorted(rows["arm"].unique()) == ARMS
    other = four_arm_run(tmp_path / "b")
    comparison = compare_runs(run_dir, other)
    assert sorted({line.arm for line in comparison.lines}) == ARMS
    assert all(line.change == "no change" for line in comparison.lines)  # the very same values
    assert not any(math.isnan(line.verdict.ratio) for line in comparison.lines)
