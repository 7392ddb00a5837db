"""report.html (escaping, self-containment), plots, render_run and its summary line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.results import _verdict_phrase, render_run, stats
from orchestrator.results.html import el, esc
from orchestrator.results.tables import WinnerRow
from tests.unit._factories import make_report, make_spec, paper_run, write_run

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A full two-task run with plots, rendered once for the tests below."""
    root = paper_run(tmp_path_factory.mktemp("run"), repeats=5, epochs=4)
    return root, render_run(root).paths


def test_render_run_writes_every_file(rendered: tuple[Path, list[Path]]) -> None:
    root, paths = rendered
    rel = sorted(str(p.relative_to(root)) for p in paths)
    assert "metrics.csv" in rel and "metrics.parquet" in rel and "report.html" in rel
    for task in ("classification", "regression"):
        for what in ("time", "train_metric", "val_metric"):
            assert f"plots/{task}_{what}.png" in rel and f"plots/{task}_{what}.svg" in rel
    assert all(p.stat().st_size > 0 for p in paths)
    assert not [p for p in root.rglob("*.tmp")]


def test_plots_are_valid_and_undated(rendered: tuple[Path, list[Path]]) -> None:
    root, _ = rendered
    png = (root / "plots" / "classification_time.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    svg = (root / "plots" / "regression_val_metric.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<dc:date>" not in svg


def test_svg_is_reproducible(tmp_path: Path) -> None:
    root = paper_run(tmp_path, repeats=1, epochs=2, tasks=("regression",))
    render_run(root)
    first = (root / "plots" / "regression_time.svg").read_bytes()
    render_run(root)
    assert (root / "plots" / "regression_time.svg").read_bytes() == first


def test_html_is_self_contained(rendered: tuple[Path, list[Path]]) -> None:
    root, _ = rendered
    page = (root / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 6
    assert not re.search(r"(?:src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page
    for section in (
        "Table 1: classification",
        "Table 3: winner table",
        "Parity check",
        "Environment fingerprint",
        "Fairness manifest",
        "Jobs that did not end ok",
    ):
        assert section in page
    assert "Dataset for classification: mnist-5k (NOT the paper&#x27;s mnist)" in page
    assert "How verdicts are made: " in page and "Hodges–Lehmann" in page and "pytorch faster by 4" in page


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    jobs = []
    for fw in ("pytorch", "tensorflow"):
        spec = make_spec(fw, epochs=2)
        jobs.append((spec, make_report(spec)))
    bad = make_spec("pytorch", repeat=1, epochs=2)
    jobs.append((bad, make_report(bad, status="error", n_epochs=0, error=f"{HOSTILE}</td>")))
    meta = {
        "name": HOSTILE,
        "state": "<b>done</b>",
        "machine": '"><script>alert(3)</script>',
        "datasets": {"classification": {"used": "<i>mnist</i>", "reason": f"because {HOSTILE}"}},
    }
    root = write_run(tmp_path, jobs, meta)
    render_run(root, plots=False)
    page = (root / "report.html").read_text()
    assert HOSTILE not in page and "<script>" not in page and "<b>done" not in page
    assert "<i>mnist" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 4  # title, h1, banner, error


def test_el_escapes_children_and_attributes() -> None:
    assert el("td", "<x>") == "<td>&lt;x&gt;</td>"
    assert el("tr", el("td", "a"), class_='"q') == '<tr class="&quot;q"><td>a</td></tr>'
    assert esc(esc("<")) == "&lt;"  # already-safe markup is not escaped twice


def test_summarize(tmp_path: Path) -> None:
    root = paper_run(tmp_path, repeats=5, epochs=3)
    extra = make_spec("tensorflow", repeat=9, epochs=3)
    root = write_run(root, [(extra, None)])
    line = render_run(root, plots=False).summary
    assert re.fullmatch(
        r"21 jobs: 20 ok, 1 crashed; "
        r"classification: time pytorch faster by 4\d%, epoch time pytorch faster by 4\d%, "
        r"quality equivalent \(±5%\); regression: time equivalent \(±5%\), "
        r"epoch time equivalent \(±5%\), quality tensorflow better by 1\d%",
        line,
    ), line


@pytest.mark.parametrize(
    ("a", "b", "phrase"),
    [
        ([1.0, 1.3, 0.8, 1.1, 0.9], [1.0, 1.2, 0.85, 1.05, 0.95], "time inconclusive (> 50 repeats)"),
        ([1.00, 1.10, 1.05, 1.15, 1.20], [1.0, 1.05, 0.95, 1.02, 0.98], "time inconclusive (~6 repeats)"),
        ([1.0, 1.1], [1.0, 1.1, 1.2, 1.0, 1.1], "time not enough repeats (n=2 vs 5; need 5)"),
        ([0.1, 0.11, 0.1, 0.12, 0.1], [1.0, 1.1, 1.2, 1.0, 1.1], "time a 10.0x faster"),
    ],
)
def test_summary_phrases(a: list[float], b: list[float], phrase: str) -> None:
    v = stats.verdict(a, b, better="lower", adjective="faster")
    row = WinnerRow("classification", "time", "total_train_seconds", "lower", v)
    assert _verdict_phrase(row) == phrase
