"""Winner statistics: ratio of medians, bootstrap CI, Mann-Whitney p, the verdict gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from orchestrator.results.stats import (
    MIN_EFFECT,
    MIN_REPEATS,
    bootstrap_ratio_ci,
    mann_whitney_p,
    verdict,
)

FAST = 500  # resamples where the exact CI value does not matter


def spread(center: float, n: int = 7, rel: float = 0.01) -> list[float]:
    """n values evenly spread +-rel around center (deterministic)."""
    return [center * (1 + rel * x) for x in np.linspace(-1, 1, n)]


def test_clear_time_winner_with_seven_repeats() -> None:
    v = verdict(spread(0.7), spread(1.0), better="lower", name_a="pytorch", name_b="tensorflow")
    assert v.winner == "pytorch" and v.text == "pytorch"
    assert v.ratio == pytest.approx(0.7)
    assert v.ci_hi < 1.0
    assert v.n_a == v.n_b == 7
    assert v.median_a == pytest.approx(0.7) and v.median_b == pytest.approx(1.0)
    assert v.winner_ratio == pytest.approx(0.7)
    # Completely separated samples of 7: the exact two-sided p is 2 / C(14, 7).
    assert v.p_value == pytest.approx(2 / math.comb(14, 7))


def test_overlapping_distributions_tie() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 0.1, 7), rng.normal(1.0, 0.1, 7)
    v = verdict(a.tolist(), b.tolist(), better="lower", n_boot=FAST)
    assert v.winner is None and v.text == "tie"
    assert v.ci_lo <= 1.0 <= v.ci_hi


def test_significant_but_small_difference_is_a_tie() -> None:
    # 3% apart with almost no noise: the CI excludes 1, but the effect is below MIN_EFFECT.
    v = verdict(spread(1.03, rel=0.001), spread(1.0, rel=0.001), better="lower", n_boot=FAST)
    assert v.ci_lo > 1.0
    assert abs(v.ratio - 1) < MIN_EFFECT
    assert v.text == "tie"


def test_not_enough_repeats() -> None:
    v = verdict(spread(0.5, n=3), spread(1.0, n=7), better="lower", n_boot=FAST)
    assert v.winner is None
    assert v.text == f"not enough repeats (n=3 vs 7; need {MIN_REPEATS})"
    assert v.ratio == pytest.approx(0.5)  # still computed and shown


def test_nan_values_do_not_count_as_repeats() -> None:
    a = [*spread(0.5, n=4), float("nan"), float("inf")]
    v = verdict(a, spread(1.0), better="lower", n_boot=FAST)
    assert v.n_a == 4 and v.text.startswith("not enough repeats")


@pytest.mark.parametrize(
    ("better", "a_center", "b_center", "expected"),
    [
        ("higher", 0.99, 0.80, "a"),  # accuracy: higher wins
        ("higher", 0.80, 0.99, "b"),
        ("lower", 0.50, 0.90, "a"),  # mse: lower wins
        ("lower", 0.90, 0.50, "b"),
        ("lower", 2.00, 1.00, "b"),  # time: lower wins
    ],
)
def test_direction(better: str, a_center: float, b_center: float, expected: str) -> None:
    v = verdict(spread(a_center), spread(b_center), better=better, n_boot=FAST)  # type: ignore[arg-type]
    assert v.winner == expected


def test_ci_matches_scipy_bootstrap() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0.0, 0.1, 15), rng.lognormal(0.2, 0.1, 15)
    ratio, lo, hi = bootstrap_ratio_ci(a.tolist(), b.tolist(), n_boot=10_000, seed=0)

    def stat(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(np.median(x, axis=axis) / np.median(y, axis=axis))

    ref = sps.bootstrap(
        (a, b), stat, vectorized=True, paired=False, method="percentile",
        n_resamples=10_000, confidence_level=0.95, rng=np.random.default_rng(12345),
    )  # fmt: skip
    assert ratio == pytest.approx(np.median(a) / np.median(b))
    assert lo == pytest.approx(ref.confidence_interval.low, rel=0.01)
    assert hi == pytest.approx(ref.confidence_interval.high, rel=0.01)


def test_bootstrap_is_reproducible() -> None:
    a, b = spread(0.9, rel=0.1), spread(1.0, rel=0.1)
    assert bootstrap_ratio_ci(a, b, n_boot=FAST) == bootstrap_ratio_ci(a, b, n_boot=FAST)


def test_degenerate_inputs() -> None:
    assert all(math.isnan(x) for x in bootstrap_ratio_ci([], [1.0, 2.0]))
    assert all(math.isnan(x) for x in bootstrap_ratio_ci([1.0], [0.0, 0.0]))
    assert math.isnan(mann_whitney_p([], [1.0]))
    v = verdict([1.0] * 6, [1.0] * 6, better="lower", n_boot=FAST)
    assert v.text == "tie" and v.ratio == 1.0 and v.ci_lo == v.ci_hi == 1.0


@settings(max_examples=30, deadline=None)
@given(
    a=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=9),
    b=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=9),
    scale=st.floats(0.5, 4.0),
)
def test_ci_properties(a: list[float], b: list[float], scale: float) -> None:
    ratio, lo, hi = bootstrap_ratio_ci(a, b, n_boot=200)
    assert 0 < lo <= hi
    assert min(a) / max(b) <= lo and hi <= max(a) / min(b)
    # Scaling one side scales the ratio and its CI (same resampling indices).
    r2, lo2, hi2 = bootstrap_ratio_ci([x * scale for x in a], b, n_boot=200)
    assert r2 == pytest.approx(ratio * scale)
    assert lo2 == pytest.approx(lo * scale) and hi2 == pytest.approx(hi * scale)
