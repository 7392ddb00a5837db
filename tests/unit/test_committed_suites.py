"""Every suite the project ships loads, plans on a machine with mnist-5k only, and says what it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.plan import apply_options, load_suite
from schemas.common import ROOT

SUITES = sorted((ROOT / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_a_shipped_suite_loads_and_its_quick_form_too(path: Path):
    suite = load_suite(path)
    assert suite.description and suite.tasks
    quick = apply_options(suite, quick=True)
    assert all(t.epochs <= 5 for t in quick.tasks)


def test_the_suites_the_issues_ask_for_are_there():
    assert {"paper", "cnn", "autoencoder", "frameworks"} <= {p.stem for p in SUITES}
    cnn = load_suite(ROOT / "suites" / "cnn.toml").tasks[0]
    assert [layer.kind for layer in cnn.layers][:5] == ["conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten"]
    assert load_suite(ROOT / "suites" / "autoencoder.toml").tasks[0].code_layer == 1
    frameworks = load_suite(ROOT / "suites" / "frameworks.toml")
    assert len(frameworks.arms) == 2 * len(frameworks.frameworks) and frameworks.baseline_arm == "pytorch"
