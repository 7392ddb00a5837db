"""The noise guard: the runner's probes, the contamination rules, re-runs, and what the results do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator import noise
from orchestrator.jobs import History, JobPolicy, advance, next_run
from orchestrator.results import render_run
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from runners import noise as probe
from schemas.report import REPORT_SCHEMA_VERSION, Noise, RunReport
from tests.unit._factories import make_report, make_spec, write_run

QUIET: dict[str, Any] = {
    "seconds": 10.0,
    "outside_cpu_seconds": 0.2,
    "outside_cores": 0.02,
    "timed_outside_cores": 0.01,
    "steal_seconds": 0.0,
    "throttled_seconds": 0.0,
    "cpu_count": 2,
}


def with_noise(report: RunReport, **changes: Any) -> RunReport:
    return report.model_copy(update={"noise": Noise(**{**QUIET, **changes})})


def report(**changes: Any) -> RunReport:
    return with_noise(make_report(make_spec("pytorch", "classification", epochs=6)), **changes)


def test_a_quiet_job_is_clean() -> None:
    verdict = noise.judge_noise(report())
    assert verdict.measured and not verdict.contaminated and verdict.text == "quiet"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"outside_cores": 0.5}, "other processes used 0.50 of 2 CPUs during the job (25% > 10%)"),
        ({"timed_outside_cores": 1.9}, "while timed"),
        ({"steal_seconds": 2.0}, "the hypervisor stole 10%"),
        ({"throttled_seconds": 1.0}, "CPU-throttled by its cgroup 10%"),
        ({"gpu_other_processes": 1}, "1 other process(es) computed on its GPU"),
        ({"gpu_throttle_reasons": ("sw_power_cap", "hw_thermal_slowdown")}, "hw_thermal_slowdown"),
    ],
)
def test_each_rule_flags_with_its_evidence(changes: dict[str, Any], words: str) -> None:
    verdict = noise.judge_noise(report(**changes))
    assert verdict.contaminated
    assert words in verdict.text


def test_just_under_each_threshold_is_clean() -> None:
    edge = report(outside_cores=0.199, timed_outside_cores=0.199, steal_seconds=0.99, throttled_seconds=0.49,
                  gpu_throttle_reasons=("sw_power_cap",))  # fmt: skip
    assert not noise.judge_noise(edge).contaminated


def test_epoch_spread_needs_enough_long_epochs() -> None:
    spec = make_spec("pytorch", "classification", epochs=6)
    slow_one = make_report(spec, epoch_seconds=1.0, noise=0.0)
    epochs = list(slow_one.epochs)
    epochs[3] = epochs[3].model_copy(update={"train_seconds": 2.5})
    spread = with_noise(slow_one.model_copy(update={"epochs": tuple(epochs)}))
    assert "steady epochs spread 2.50x" in noise.judge_noise(spread).text
    tiny = make_report(spec, epoch_seconds=0.01, noise=0.0)  # petrol-sized epochs: jitter, not load
    epochs = list(tiny.epochs)
    epochs[3] = epochs[3].model_copy(update={"train_seconds": 0.05})
    assert not noise.judge_noise(with_noise(tiny.model_copy(update={"epochs": tuple(epochs)}))).contaminated


def test_reports_without_evidence_are_not_measured_never_contaminated() -> None:
    old = make_report(make_spec("pytorch", "classification"))  # schema-1 style: no noise field
    assert old.noise is None and noise.judge_noise(old).text == "not measured"
    blind = report(readable=False, outside_cores=5.0)
    assert not noise.judge_noise(blind).contaminated
    failed = with_noise(make_report(make_spec("pytorch", "classification"), status="error", error="x"),
                        outside_cores=5.0)  # fmt: skip
    assert not noise.judge_noise(failed).measured


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_older_reports_still_load(version: int) -> None:
    text = make_report(make_spec("pytorch", "regression")).model_dump_json(exclude_none=True)
    current = f'"schema_version":{REPORT_SCHEMA_VERSION}'
    old = RunReport.model_validate_json(text.replace(current, f'"schema_version":{version}'))
    assert old.schema_version == version and old.noise is None and old.placement is None
    assert old.resources is None


def test_policy_reruns_a_contaminated_job_as_often_as_asked() -> None:
    dirty, policy, history = report(outside_cores=1.5), JobPolicy(rerun_contaminated=2), History()
    why = next_run(dirty, history, policy)
    assert why is not None and why.startswith("re-run: contaminated (other processes used 1.50")
    advance(history, why)
    assert history.attempt == 2 and history.reran == 1 and history.why == why
    advance(history, next_run(dirty, history, policy) or "")
    assert next_run(dirty, history, policy) is None  # two re-runs spent
    assert next_run(report(), History(), policy) is None
    assert next_run(dirty, History(), JobPolicy(rerun_contaminated=0)) is None


def test_a_crash_is_retried_before_anything_else() -> None:
    crashed = make_report(make_spec("pytorch", "regression"), status="crashed", error="killed")
    assert next_run(crashed, History(), JobPolicy(retries=1)) == "retry after crash"
    assert next_run(crashed, History(), JobPolicy(retries=0)) is None


def test_wait_until_quiet_waits_then_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = iter([1.9, 1.9, 0.0, 0.0])
    monkeypatch.setattr(noise, "machine_load", lambda window=1.0: next(loads))
    said: list[str] = []
    quiet = noise.wait_until_quiet(60, said.append)
    assert quiet.quiet
    assert "waiting up to 60s" in said[0] and "quiet after" in said[-1]


def test_wait_until_quiet_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(noise, "machine_load", lambda window=1.0: 1.9)
    said: list[str] = []
    quiet = noise.wait_until_quiet(0, said.append)
    assert not quiet.quiet and "still busy" in said[-1] and "anyway" in said[-1]


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n", b"cpu a b c d\n", b"cpu 1 2\n", b"cpu " + b"9" * 5000 + b"\n", b"\xff\xfe\x00"],
)
def test_proc_stat_probe_never_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "stat"
    path.write_bytes(content)
    result = probe.proc_stat(path)
    assert result is None or all(v >= 0 for v in result)


def test_proc_stat_probe_reads_busy_and_steal(tmp_path: Path) -> None:
    path = tmp_path / "stat"
    path.write_text("cpu  100 0 50 1000 10 5 5 40 0 0\ncpu0 1 2 3\n")
    busy, steal, total = probe.proc_stat(path) or (0, 0, 0)
    assert busy == pytest.approx(200 / probe.HZ) and steal == pytest.approx(40 / probe.HZ)
    assert total == pytest.approx(1210 / probe.HZ)
    assert probe.proc_stat(tmp_path / "missing") is None


def test_a_window_never_goes_negative() -> None:
    a = probe.Sample(0.0, busy=10.0, steal=1.0, own=5.0, throttled=0.0, readable=True)
    b = probe.Sample(1.0, busy=10.01, steal=1.0, own=5.5, throttled=0.0, readable=True)
    window = probe.between(a, b)
    assert window.outside_cpu == 0.0 and window.outside_cores == 0.0


def test_gpu_throttle_mask_names() -> None:
    assert probe._throttle_names("0x0000000000000044") == ("sw_power_cap", "hw_thermal_slowdown")
    assert probe._throttle_names("[N/A]") == ()


def _run_with_one_dirty_job(tmp_path: Path, meta: dict[str, Any] | None = None) -> tuple[Path, str]:
    jobs = []
    dirty_id = ""
    for r in range(5):
        for fw, seconds in (("pytorch", 0.7), ("tensorflow", 1.0)):
            spec = make_spec(fw, "classification", r, epochs=4)
            rep = with_noise(make_report(spec, epoch_seconds=seconds))
            if fw == "pytorch" and r == 2:  # slowed 5x by a busy machine
                rep = with_noise(make_report(spec, epoch_seconds=5.0), outside_cores=1.8)
                dirty_id = spec.spec_id
            jobs.append((spec, rep))
    return write_run(tmp_path, jobs, meta), dirty_id


def test_contaminated_jobs_stay_in_the_table_marked_but_out_of_the_verdicts(tmp_path: Path) -> None:
    root, dirty_id = _run_with_one_dirty_job(tmp_path)
    final = final_frame(metrics_frame(load_run(root)))
    row = final[final["spec_id"] == dirty_id].iloc[0]
    assert bool(row["contaminated"]) and not bool(row["in_verdicts"]) and "1.80 of 2 CPUs" in row["noise"]
    assert int(final["in_verdicts"].sum()) == 9
    rendered = render_run(root, plots=False)
    assert "10 ok (1 contaminated, left out of the verdicts)" in rendered.summary
    table = (root / "tables" / "results_classification.md").read_text()
    assert "5 / 5 (1 contaminated, left out)" in table
    page = (root / "report.html").read_text()
    assert "busy machine" in page and dirty_id in page
    csv = (root / "metrics.csv").read_text().splitlines()
    assert "outside_cores,job_outside_cores,contaminated,noise," in csv[0]


def test_keep_contaminated_counts_them_and_is_remembered(tmp_path: Path) -> None:
    root, _ = _run_with_one_dirty_job(tmp_path, meta={"name": "kept", "state": "complete",
                                                       "keep_contaminated": True})  # fmt: skip
    kept = render_run(root, plots=False)
    assert "(1 contaminated, kept in the verdicts)" in kept.summary
    dropped = render_run(root, plots=False, keep_contaminated=False)
    assert "left out of the verdicts" in dropped.summary


def test_a_window_of_milliseconds_is_not_judged() -> None:
    """/proc/stat ticks at 1/100 s per CPU: 15 ms of timed steps cannot show anyone's load."""
    quick = make_report(make_spec("pytorch", "classification", epochs=3), epoch_seconds=0.005)
    assert not noise.judge_noise(with_noise(quick, timed_outside_cores=1.9)).contaminated
    assert noise.judge_noise(with_noise(quick, outside_cores=1.9)).contaminated  # the job's window is 10 s
