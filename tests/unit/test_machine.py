"""`bench check`'s probes on fake /proc and /sys trees, the calibration store, and both commands."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator import calibration, machine
from orchestrator.calibration import Calibration, CalibrationError, GemmRate, TimerInfo
from orchestrator.cli import app
from orchestrator.machine import Finding
from runners import FRAMEWORKS, noise

runner = CliRunner()
STAT = "cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 1 0 1 1 0 0 0 0 0 0\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def stat(user: int = 100, system: int = 0, idle: int = 1000, steal: int = 0) -> str:
    return STAT.format(user=user, system=system, idle=idle, steal=steal)


# ---- probes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("governors", "status"), [(["performance", "performance"], "ok"), (["performance", "powersave"], "warn")]
)
def test_governor(tmp_path, governors, status):
    files = {f"sys/devices/system/cpu/cpu{i}/cpufreq/scaling_governor": g for i, g in enumerate(governors)}
    found = machine.governor(tree(tmp_path, files))
    assert found.status == status
    assert ("cpupower" in found.advice) == (status == "warn")


def test_missing_cpufreq_says_vm_when_the_cpu_says_so(tmp_path):
    tree(tmp_path, {"proc/cpuinfo": "flags\t\t: fpu vme hypervisor lahf_lm\n"})
    assert machine.governor(tmp_path).value == "not exposed (VM)"
    assert machine.boost(tmp_path).value == "not exposed (VM)"
    assert machine.governor(tmp_path / "nowhere").value == "not exposed"


@pytest.mark.parametrize(
    ("rel", "value", "status"),
    [
        ("intel_pstate/no_turbo", "0", "warn"),
        ("intel_pstate/no_turbo", "1", "ok"),
        ("cpufreq/boost", "1", "warn"),
        ("cpufreq/boost", "0", "ok"),
        ("cpufreq/boost", "garbage", "info"),
    ],
)
def test_boost(tmp_path, rel, value, status):
    found = machine.boost(tree(tmp_path, {f"sys/devices/system/cpu/{rel}": value + "\n"}))
    assert found.status == status
    if status == "warn":
        assert f"sudo tee /sys/devices/system/cpu/{rel}" in found.advice


@pytest.mark.parametrize(("active", "status"), [("1", "warn"), ("0", "ok"), (None, "info")])
def test_smt(tmp_path, active, status):
    files = {"sys/devices/system/cpu/smt/active": active} if active else {}
    assert machine.smt(tree(tmp_path, files)).status == status


def test_load_quiet_machine(tmp_path, monkeypatch):
    tree(tmp_path, {"proc/stat": stat(), "proc/loadavg": "0.10 0.20 0.30 1/100 42\n"})
    monkeypatch.setattr(
        machine.time, "sleep", lambda s: (tmp_path / "proc/stat").write_text(stat(101, 0, 1099))
    )
    found = machine.load(tmp_path, seconds=1)
    assert found.status == "ok"
    assert found.value == "load 0.10 on 2 CPU(s); 1% busy, 0% steal over 1 s"


@pytest.mark.parametrize(
    ("after", "load1", "word"),
    [(stat(150, 0, 1050), "0.1", "50% busy"), (stat(100, 0, 1090, 10), "0.1", "10% steal"),
     (stat(), "1.5", "load 1.50")],
)  # fmt: skip
def test_load_busy_steal_or_loaded_warns(tmp_path, monkeypatch, after, load1, word):
    tree(tmp_path, {"proc/stat": stat(), "proc/loadavg": f"{load1} 0 0 1/1 1\n"})
    monkeypatch.setattr(machine.time, "sleep", lambda s: (tmp_path / "proc/stat").write_text(after))
    found = machine.load(tmp_path, seconds=1)
    assert found.status == "warn"
    assert word in found.value
    assert "stop other work" in found.advice


@pytest.mark.parametrize(
    "text",
    [
        "cpu  12 x 3 4 5 6 7 8 0 0\n",  # garbage in a field
        "cpu  1 2\n",  # too short
        "cpu  -5 0 0 10 0 0 0 0 0 0\n",  # negative
        "cpu  " + "9" * 5000 + " 0 0 1 0 0 0 0\n",  # more digits than int() takes
        "\x00\xff\xfe binary",
        "cpu  " + "1 " * 100_000,  # larger than the read bound
    ],
)
def test_hostile_proc_stat_never_raises(tmp_path, text):
    tree(tmp_path, {"proc/stat": text, "proc/loadavg": "nan? 0 0\n"})
    found = machine.load(tmp_path, seconds=0)
    assert found.status == "info"
    assert machine.cpu_count(tmp_path) >= 1


def test_a_directory_where_a_file_should_be_is_unreadable_not_fatal(tmp_path):
    for rel in ("proc/stat", "proc/meminfo", "proc/loadavg", "sys/devices/system/cpu/smt/active"):
        (tmp_path / rel).mkdir(parents=True)
    findings = machine.machine_findings(tmp_path, sample_seconds=0)
    assert {f.status for f in findings} <= {"ok", "warn", "info"}


def test_swap_in_use_and_memory(tmp_path):
    meminfo = "MemTotal: 16000000 kB\nMemAvailable: 1000000 kB\nSwapTotal: 2097152 kB\nSwapFree: 1048576 kB\n"
    swaps = "Filename Type Size Used Priority\n/swapfile file 2097152 1048576 -2\n"
    tree(tmp_path, {"proc/meminfo": meminfo, "proc/swaps": swaps})
    found = machine.swap(tmp_path)
    assert (found.status, found.value) == ("warn", "1.0 GiB of 2.0 GiB in use on /swapfile")
    assert "swapoff" in found.advice
    assert machine.memory(tmp_path).status == "warn"  # 1 GB available: below 2 GiB


def test_no_swap_and_plenty_of_memory(tmp_path):
    tree(tmp_path, {"proc/meminfo": "MemTotal: 16000000 kB\nMemAvailable: 15000000 kB\nSwapTotal: 0 kB\n"
                    "SwapFree: 0 kB\nHugePages_Total: garbage\n"})  # fmt: skip
    assert machine.swap(tmp_path).value == "no swap"
    assert machine.memory(tmp_path).status == "ok"
    assert machine.swap(tmp_path / "x").status == "info"


def _zone(root: Path, n: int, temp: str, trip: str | None = None) -> None:
    files = {
        f"sys/class/thermal/thermal_zone{n}/temp": temp,
        f"sys/class/thermal/thermal_zone{n}/type": "x86_pkg",
    }
    if trip:
        files[f"sys/class/thermal/thermal_zone{n}/trip_point_0_type"] = "passive"
        files[f"sys/class/thermal/thermal_zone{n}/trip_point_0_temp"] = trip
    tree(root, files)


@pytest.mark.parametrize(
    ("temp", "trip", "status"),
    [("45000", "95000", "ok"), ("91000", "95000", "warn"), ("86000", None, "warn"), ("9" * 60, None, "info")],
)
def test_thermal(tmp_path, temp, trip, status):
    _zone(tmp_path, 0, temp, trip)
    assert machine.thermal(tmp_path).status == status


def test_cgroup_v2_quota_and_throttling(tmp_path):
    tree(tmp_path, {
        "proc/stat": stat(), "proc/self/cgroup": "0::/job/inner\n",
        "sys/fs/cgroup/cgroup.controllers": "cpu memory\n",
        "sys/fs/cgroup/job/cpu.max": "50000 100000\n",  # the limit sits on the parent
        "sys/fs/cgroup/job/inner/cpu.max": "max 100000\n",
        "sys/fs/cgroup/job/inner/cpu.stat": "usage_usec 10\nnr_periods 40\nnr_throttled 7\n",
    })  # fmt: skip
    found = machine.cgroup(tmp_path)
    assert found.status == "warn"
    assert found.value == "limited to 0.50 CPUs, throttled in 7 of 40 periods"


def test_cgroup_v1_no_quota(tmp_path):
    tree(tmp_path, {
        "proc/stat": stat(), "proc/self/cgroup": "4:memory:/x\n1:cpu,cpuacct:/\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/cpu,cpuacct/cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    })  # fmt: skip
    assert machine.cgroup(tmp_path) == Finding("cgroup CPU", "ok", "no CPU quota, never throttled")
    assert machine.cgroup(tmp_path / "none").status == "info"


@pytest.mark.parametrize(
    ("csv", "statuses"),
    [
        ("0, NVIDIA H100, Enabled, 1980, 1980, 40, 0x0000000000000000\n", ["ok", "info"]),
        ("0, NVIDIA H100, Disabled, 1200, 1980, 88, 0x0000000000000040\n", ["warn", "warn"]),
        ("0, NVIDIA H100, [N/A], 1200, 1980, 40, [Not Supported]\n", ["info", "info"]),
        ("garbage\n\x00,,,\n", ["info"]),
    ],
)
def test_gpu(csv, statuses):
    assert [f.status for f in machine.gpu(lambda: csv)] == statuses


def test_no_nvidia_smi_is_info():
    assert machine.gpu(lambda: None) == [Finding("gpu", "info", "no NVIDIA GPU (nvidia-smi not found)")]


def test_machine_findings_backstops_a_failing_probe(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "governor", lambda root: 1 / 0)
    findings = machine.machine_findings(tmp_path, sample_seconds=0)
    assert findings[0].name == "cpu governor"
    assert findings[0].value.startswith("could not check: ZeroDivisionError")
    assert [f.name for f in findings][1:8] == [
        "turbo/boost",
        "SMT",
        "load",
        "swap",
        "memory",
        "thermal",
        "cgroup CPU",
    ]


# ---- calibration store --------------------------------------------------------------------------


def _calibration(**changes) -> Calibration:
    fields = dict(
        machine_key="amd-epyc-x2", hardware="AMD EPYC x2", cpu_model="AMD EPYC", cpu_count=2,
        measured_at="2026-01-01T00:00:00+00:00", seconds=12.5, load_before="load 0.1",
        gemm=[GemmRate(framework="pytorch", version="2.13.0", size=512, threads=2, gflops=60.0,
                       seconds=0.0045, calls=22, repeats=5)],
        memory_bandwidth_gbs=12.0,
        timer=TimerInfo(implementation="clock_gettime(CLOCK_MONOTONIC)", stated_resolution=1e-9,
                        smallest_step=4e-8, monotonic=True),
    )  # fmt: skip
    return Calibration.model_validate({**fields, **changes})


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BENCH_CALIBRATION_DIR", str(tmp_path / "cal"))
    monkeypatch.setattr(calibration, "this_machine", lambda: ("AMD EPYC x2", None))
    return tmp_path / "cal" / "amd-epyc-x2.json"


def test_store_round_trip(store):
    saved = _calibration()
    assert calibration.save(saved) == store
    assert calibration.load_calibration() == saved
    assert calibration.margin(saved) == 0.05


def test_missing_store_is_silently_not_calibrated(store):
    warnings: list[str] = []
    assert calibration.load_calibration(warn=warnings.append) is None
    assert warnings == []


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[" * 100_000, b'{"schema_version": 99}', b'{"schema_version": 1, "hardware": 3}',
     b"\xff\xfe", b" " * (2 << 20), b"[]"],
)  # fmt: skip
def test_damaged_store_is_one_warning_and_not_calibrated(store, content):
    store.parent.mkdir(parents=True)
    store.write_bytes(content)
    warnings: list[str] = []
    assert calibration.load_calibration(warn=warnings.append) is None
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "not calibrated" in warnings[0]


def test_margin_uses_the_aa_floor_when_larger():
    assert calibration.margin(None) == 0.05
    assert calibration.margin(_calibration(aa_floor=0.08)) == 0.08
    assert calibration.margin(_calibration(aa_floor=0.01)) == 0.05
    assert calibration.margin(_calibration(aa_floor=float("nan"))) == 0.05


def test_aa_floor_needs_ten_repeats_and_grows_with_the_noise():
    assert calibration.aa_noise_floor({"pytorch": [1.0] * 9}) is None
    rng = np.random.default_rng(0)
    quiet = {fw: list(np.exp(rng.normal(0.0, 0.01, 10))) for fw in ("pytorch", "tensorflow")}
    noisy = {**quiet, "tensorflow": list(np.exp(rng.normal(0.0, 0.10, 10)))}
    low, high = calibration.aa_noise_floor(quiet), calibration.aa_noise_floor(noisy)
    assert low is not None and high is not None
    assert 0 < low < 0.03 and 0.05 < high < 0.2  # identical jobs; the floor is the noisier framework's
    freak = {"pytorch": [1.0, 1.01, 0.99, 1.0, 1.02, 3.0, 0.98, 1.0, 1.01, 0.99]}
    assert (calibration.aa_noise_floor(freak) or 1) < 0.03  # one freak repeat does not set the floor
    assert calibration.aa_noise_floor({"pytorch": [2.0] * 10}) == 0.0


def test_machine_key_is_a_filesystem_safe_slug():
    assert calibration.machine_key("AMD EPYC x2") == "amd-epyc-x2"
    hardware = calibration.hardware_class(
        "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 4, "NVIDIA H100/80GB"
    )
    assert hardware == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz x4, NVIDIA H100/80GB"
    assert (
        calibration.machine_key(hardware) == "intel-r-xeon-r-platinum-8481c-cpu-2.70ghz-x4-nvidia-h100-80gb"
    )
    assert calibration.machine_key("../..") == "unknown"


def test_small_measurements():
    assert calibration.memory_bandwidth(megabytes=8, repeats=1) > 0
    timer = calibration.timer_resolution(reads=2000)
    assert 0 < timer.smallest_step < 0.01 and timer.monotonic


def test_outside_share_subtracts_our_own_cpu_time():
    def share(busy: float, own: float, seconds: float = 1.0, readable: bool = True) -> float | None:
        a = noise.Sample(0.0, busy=0.0, steal=0.0, own=0.0, throttled=0.0, readable=readable)
        b = noise.Sample(seconds, busy=busy, steal=0.0, own=own, throttled=0.0, readable=readable)
        return calibration.outside_share(noise.between(a, b), readable, cpu_count=2)

    # 1 s on 2 CPUs: 1.5 CPU-seconds busy, of which our 0.5: others used 1.0 of 2.0.
    assert share(busy=1.5, own=0.5) == 0.5
    assert share(busy=1.5, own=9.0) == 0.0
    assert share(busy=1.5, own=0.5, readable=False) is None
    assert share(busy=0.0, own=0.0, seconds=0.0) is None


def test_gemm_rate_numpy_and_failures():
    rate = calibration.gemm_rate("numpy", Path(sys.executable), 64, threads=1, repeats=1)
    assert rate.framework == "numpy" and rate.gflops > 0
    with pytest.raises(CalibrationError, match="cannot run"):
        calibration.gemm_rate("numpy", Path("/nonexistent/python"), 64, threads=1)
    with pytest.raises(CalibrationError, match="exit 2: .*invalid choice"):
        calibration.gemm_rate("nope", Path(sys.executable), 64, threads=1)


@pytest.mark.parametrize(
    ("stdout", "code", "match"),
    [("{broken\n", 0, "not valid JSON"), ('{"gflops": -1}\n', 0, "unexpected output"),
     ('{"error": "unavailable: no torch"}\n', 1, "exit 1: unavailable: no torch"), ("", 0, "exit 0: boom")],
)  # fmt: skip
def test_gemm_rate_bad_output_is_one_line(tmp_path, stdout, code, match):
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{stdout.strip()}'; echo; echo boom >&2; exit {code}\n")
    fake.chmod(0o755)
    with pytest.raises(CalibrationError, match=match):
        calibration.gemm_rate("pytorch", fake, 64, threads=1)


# ---- commands -----------------------------------------------------------------------------------


def test_check_json_parses_and_exits_0(monkeypatch):
    monkeypatch.setattr(
        "orchestrator.commands.check.machine_findings", lambda: machine.machine_findings(sample_seconds=0)
    )
    result = runner.invoke(app, ["check", "--json"])
    assert result.exit_code == 0
    findings = json.loads(result.output)
    assert {"cpu governor", "load", "swap", "memory"} <= {f["name"] for f in findings}
    assert set(findings[0]) == set(asdict(Finding("n", "ok", "v")))


def test_check_table(monkeypatch):
    warn = Finding("load", "warn", "load 3.00 on 2 CPU(s)", "stop other work")
    monkeypatch.setattr("orchestrator.commands.check.machine_findings", lambda: [warn])
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0
    assert "1 warning(s): load" in result.output
    assert "stop other work" in result.output


def test_calibrate_show(store):
    result = runner.invoke(app, ["calibrate", "--show"])
    assert result.exit_code == 1
    assert "not calibrated" in result.output
    calibration.save(_calibration())
    result = runner.invoke(app, ["calibrate", "--show"])
    assert result.exit_code == 0
    assert "60.0 GFLOP/s" in result.output
    assert "rerun bench calibrate" not in result.output
    calibration.save(_calibration(outside_busy=0.4))
    result = runner.invoke(app, ["calibrate", "--show"])
    assert "other processes used 40% of the CPUs" in result.output
    assert "A/A floor: not measured (bench calibrate --aa)" in result.output
    store.write_text("{broken")
    result = runner.invoke(app, ["calibrate", "--show"])
    assert result.exit_code == 1
    assert "warning: damaged calibration" in result.output and "Traceback" not in result.output


def test_calibrate_measures_stores_and_prints(store, monkeypatch):
    seen = {}

    def measure(pythons, sizes, threads, repeats, log, notes):
        seen.update(pythons=dict(pythons), sizes=list(sizes), notes=list(notes))
        return _calibration(notes=list(notes))

    monkeypatch.setattr(calibration, "measure", measure)
    monkeypatch.setattr(
        "orchestrator.envs.ensure", lambda fw, log, variant="cpu": Path(f"/venvs/{fw}/bin/python")
    )
    result = runner.invoke(app, ["calibrate", "--size", "256"])
    assert result.exit_code == 0, result.output
    assert seen["sizes"] == [256] and set(seen["pythons"]) == {"numpy", *FRAMEWORKS}
    assert calibration.load_calibration() is not None
    assert "calibrated in" in result.output and str(store) in result.output.replace("\n", "")


def test_calibrate_usage_error():
    result = runner.invoke(app, ["calibrate", "--size", "5"])
    assert result.exit_code == 2
    assert "--size must be between 16 and 8192" in result.output


def test_a_run_records_the_machine_check_and_the_calibrated_margin(store, tmp_path):
    """bench orchestrate writes bench check's findings and the stored calibration into run.json;
    the A/A floor becomes the verdicts' margin and the GEMM rate the tables' share column."""
    fake_rate = GemmRate(framework="fake", version="1", size=2048, threads=1, gflops=50.0, seconds=0.3,
                         calls=3, repeats=5)  # fmt: skip
    calibration.save(_calibration(aa_floor=0.08, gemm=[fake_rate]))
    out = tmp_path / "run"
    suite = Path(__file__).resolve().parents[1] / "suites" / "fake.toml"
    result = CliRunner().invoke(
        app, ["orchestrate", "--suite", str(suite), "--out", str(out), "--repeats", "1"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "run.json").read_text())
    assert meta["margin"] == 0.08
    assert meta["calibration"]["gemm_gflops"] == {"fake": 50.0} and meta["calibration"]["aa_floor"] == 0.08
    assert {f["name"] for f in meta["machine_check"]} >= {"load", "swap", "memory"}
    table = (out / "tables" / "results_classification.md").read_text()
    assert "share of calibrated GEMM rate" in table and "% of 50 |" in table
