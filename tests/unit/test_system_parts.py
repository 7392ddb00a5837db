"""The test policy for system parts pip cannot install (tests/conftest.py): skip with the reason
outside CI, fail instead under CI=true or BENCH_REQUIRE_SYSTEM=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runners.datasets import sources_idx
from tests import conftest

ROOT = Path(__file__).resolve().parents[2]
SWITCHES = ("CI", "BENCH_REQUIRE_SYSTEM", "BENCH_REQUIRE_DOCKER")


def _pytest(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs_part.py").write_text(body)
    clean = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(tmp_path / "test_needs_part.py")],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


SKIPPING = "import pytest\n\n@pytest.mark.system('fashion-mnist')\ndef test_x():\n    pytest.skip('absent')\n"


@pytest.mark.parametrize(
    ("env", "code", "said"),
    [
        ({}, 0, "1 skipped"),
        ({"CI": "true"}, 1, "CI=true, so this test of a system part may not skip"),
        ({"BENCH_REQUIRE_SYSTEM": "1"}, 1, "BENCH_REQUIRE_SYSTEM=1, so this test"),
        ({"BENCH_REQUIRE_DOCKER": "1"}, 0, "1 skipped"),  # docker's switch is docker's alone
    ],
)
def test_a_system_test_skips_outside_ci_and_fails_in_ci(tmp_path, env, code, said):
    proc = _pytest(tmp_path, SKIPPING, **env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert said in proc.stdout


def test_an_unknown_system_part_is_an_error(tmp_path):
    proc = _pytest(tmp_path, "import pytest\n\n@pytest.mark.system('cuda')\ndef test_x():\n    pass\n")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "unknown system part 'cuda'; known: fashion-mnist" in proc.stdout


def test_fashion_mnist_check_names_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_idx, "FASHION_MNIST_SYSTEM_DIRS", (tmp_path,))
    assert "make setup" in conftest.SYSTEM_PARTS["fashion-mnist"]()
    assert "apt-get install dataset-fashion-mnist" in conftest.SYSTEM_PARTS["fashion-mnist"]()
    for name in sources_idx.FILES:
        (tmp_path / name).write_bytes(b"")
    assert conftest.SYSTEM_PARTS["fashion-mnist"]() is None
