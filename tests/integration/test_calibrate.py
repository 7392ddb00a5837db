"""`bench calibrate`'s measurements for real: GEMM in both runner virtualenvs, bandwidth, timer (~20 s)."""

from __future__ import annotations

import os
import sys

import pytest

from orchestrator import calibration, envs
from runners import FRAMEWORKS

pytestmark = pytest.mark.frameworks


def test_measure_in_every_runner_environment(monkeypatch, tmp_path):
    for fw in FRAMEWORKS:
        if not envs.is_current(fw):
            pytest.fail(f"runner venv for {fw} missing or stale: run `make runners`")
    pythons = {"numpy": sys.executable, **{fw: str(envs.venv_python(fw)) for fw in FRAMEWORKS}}
    result = calibration.measure(pythons, [256], threads=os.cpu_count() or 1, repeats=2, log=lambda _: None)
    assert result.notes == []
    assert sorted(r.framework for r in result.gemm) == sorted(pythons)
    for rate in result.gemm:
        # Plausible for any CPU from a laptop to a server: a wrong FLOP count or a skipped multiply
        # (lazy evaluation, a cached result) would land far outside.
        assert 0.5 < rate.gflops < 1e5, rate
        assert rate.size == 256 and rate.version
    assert result.memory_bandwidth_gbs is not None and 0.1 < result.memory_bandwidth_gbs < 1e4
    assert result.timer is not None and 0 < result.timer.smallest_step < 1e-3
    assert result.aa_floor is None and calibration.margin(result) == 0.05
    assert result.outside_busy is not None and 0 <= result.outside_busy <= 1
    monkeypatch.setenv("BENCH_CALIBRATION_DIR", str(tmp_path))
    assert calibration.load_calibration(calibration.save(result)) == result
