"""Verdict statistics: Hodges–Lehmann ratio, the Mann–Whitney-inverted interval, the three-way rule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from orchestrator.results import stats
from orchestrator.results.stats import (
    MIN_MARGIN,
    MIN_REPEATS,
    REPEATS_CAP,
    critical_rank,
    interval_coverage,
    mann_whitney_p,
    margin_for,
    u_counts,
    verdict,
)


def spread(center: float, n: int = 7, rel: float = 0.01) -> list[float]:
    """n values evenly spread +-rel around center (deterministic)."""
    return [center * (1 + rel * x) for x in np.linspace(-1, 1, n)]


def brute_u_counts(n_a: int, n_b: int) -> tuple[int, ...]:
    """U = #{(i, j): a_i > b_j} over every placement of the a's among n_a + n_b ranks."""
    counts = [0] * (n_a * n_b + 1)
    for a_ranks in itertools.combinations(range(n_a + n_b), n_a):
        counts[sum(rank - i for i, rank in enumerate(a_ranks))] += 1  # b's below each a
    return tuple(counts)


@pytest.mark.parametrize(("n_a", "n_b"), [(1, 1), (2, 3), (3, 7), (5, 5), (6, 4), (7, 7)])
def test_u_distribution_is_exact(n_a: int, n_b: int) -> None:
    assert u_counts(n_a, n_b) == brute_u_counts(n_a, n_b)


def test_u_distribution_matches_scipy_exact_p() -> None:
    a, b = [1.0, 2.5, 3.1, 4.7, 5.2], [2.0, 3.0, 4.0, 5.0, 6.0]
    u = sum(x > y for x in a for y in b)
    p_less = sps.mannwhitneyu(a, b, alternative="less", method="exact").pvalue
    assert sum(u_counts(5, 5)[: u + 1]) / math.comb(10, 5) == pytest.approx(p_less)


def test_critical_ranks_at_five_repeats() -> None:
    # 5 vs 5: P(U <= 2) = 4/252 <= 2.5% < P(U <= 3) = 7/252, so the 95% interval is d_(3)..d_(23).
    assert critical_rank(5, 5, 0.95) == 3 and critical_rank(5, 5, 0.90) == 5
    assert interval_coverage(5, 5, 0.95) == pytest.approx(1 - 8 / 252)
    assert interval_coverage(5, 5, 0.90) == pytest.approx(1 - 24 / 252)
    assert critical_rank(2, 2, 0.95) == 0  # too few pairs for any 95% interval: unbounded


@pytest.mark.parametrize(("n_a", "n_b"), [(4, 4), (5, 5), (5, 7), (6, 6), (8, 10), (20, 20)])
@pytest.mark.parametrize("level", [0.90, 0.95])
def test_critical_rank_is_the_largest_with_nominal_coverage(n_a: int, n_b: int, level: float) -> None:
    k = critical_rank(n_a, n_b, level)
    total = math.comb(n_a + n_b, n_a)
    assert interval_coverage(n_a, n_b, level) >= level
    assert 1 - 2 * sum(u_counts(n_a, n_b)[: k + 1]) / total < level  # one rank further would not cover


def test_normal_approximation_agrees_with_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = {(n, lvl): critical_rank(n, n, lvl) for n in (20, 50) for lvl in (0.90, 0.95)}
    critical_rank.cache_clear()
    monkeypatch.setattr(stats, "EXACT_MAX_PAIRS", 0)
    try:
        for (n, lvl), k in exact.items():
            assert abs(critical_rank(n, n, lvl) - k) <= 1
    finally:
        critical_rank.cache_clear()


def test_ratio_and_intervals_are_order_statistics_of_pairwise_ratios() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(0.1, 0.1, 5), rng.lognormal(0.0, 0.1, 5)
    ratios = np.sort(np.exp(np.subtract.outer(np.log(a), np.log(b)).ravel()))
    v = verdict(a, b, better="lower")
    assert v.ratio == pytest.approx(ratios[12])  # the median of 25
    assert (v.ci_lo, v.ci_hi) == pytest.approx((ratios[2], ratios[22]))
    assert (v.eq_lo, v.eq_hi) == pytest.approx((ratios[4], ratios[20]))
    assert v.scale == "log"


def test_clear_time_winner_with_seven_repeats() -> None:
    v = verdict(
        spread(0.7), spread(1.0), better="lower", name_a="pytorch", name_b="tensorflow", adjective="faster"
    )
    assert v.outcome == "better" and v.winner == "pytorch"
    assert v.text == "pytorch faster by 43% [95% CI 41%–44%]"
    assert v.ratio == pytest.approx(0.7, rel=1e-3) and v.ci_hi < 1.0
    assert v.advantage == pytest.approx(1 / 0.7 - 1, rel=1e-3)
    assert v.advantage_lo <= v.advantage <= v.advantage_hi
    assert v.n_a == v.n_b == 7
    assert v.median_a == pytest.approx(0.7) and v.median_b == pytest.approx(1.0)
    # Completely separated samples of 7: the exact two-sided p is 2 / C(14, 7).
    assert v.p_value == pytest.approx(2 / math.comb(14, 7))


def test_large_factor_is_worded_as_a_multiple() -> None:
    v = verdict(spread(0.04), spread(1.0), better="lower", name_a="a", adjective="faster")
    assert v.text == "a 25.0x faster [95% CI 24.8x–25.3x]"
    assert verdict(spread(0.5), spread(1.0), better="lower").text == "a 2.00x better [95% CI 1.98x–2.02x]"


def test_small_but_certain_difference_is_equivalent() -> None:
    # 3% apart with almost no noise: the interval excludes 1, but lies inside the 5% margin.
    v = verdict(spread(1.03, rel=0.001), spread(1.0, rel=0.001), better="lower")
    assert v.ci_lo > 1.0 and v.outcome == "equivalent" and v.winner is None
    assert v.text == "equivalent within ±5% [90% CI 1.029–1.031]"


def test_margin_is_a_parameter() -> None:
    v = verdict(
        spread(1.03, rel=0.001), spread(1.0, rel=0.001), better="lower", margin=0.02, adjective="faster"
    )
    assert v.outcome == "better" and v.text.startswith("b faster by 3.0%") and v.margin == 0.02
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="margin"):
            verdict([1.0] * 5, [1.0] * 5, better="lower", margin=bad)
    assert margin_for(None) == MIN_MARGIN and margin_for(0.01) == MIN_MARGIN and margin_for(0.08) == 0.08


def test_overlapping_noise_is_inconclusive_with_a_repeat_estimate() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 0.1, 7), rng.normal(1.0, 0.1, 7)
    v = verdict(a, b, better="lower")
    assert v.outcome == "inconclusive" and v.winner is None
    assert v.ci_lo <= 1.0 <= v.ci_hi
    assert v.repeats is not None and v.repeats > 7
    assert v.text.startswith("inconclusive — ") and v.text.endswith(" repeats per side would decide")


def test_repeat_estimate_grows_with_noise_and_is_capped() -> None:
    base = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    verdicts = [
        verdict(1.1 * (1 + rel * base), 1 + rel * base, better="lower") for rel in (0.06, 0.1, 0.2, 0.5)
    ]
    assert [v.outcome for v in verdicts] == ["better", "inconclusive", "inconclusive", "inconclusive"]
    assert [v.repeats for v in verdicts] == [None, 7, 24, REPEATS_CAP + 1]
    assert verdicts[1].text == "inconclusive — about 7 repeats per side would decide"
    assert verdicts[-1].text == f"inconclusive — > {REPEATS_CAP} repeats per side would decide"


def test_not_enough_repeats() -> None:
    v = verdict(spread(0.5, n=3), spread(1.0, n=7), better="lower")
    assert v.winner is None and v.outcome == "not enough repeats"
    assert v.text == f"not enough repeats (n=3 vs 7; need {MIN_REPEATS})"
    assert v.ratio == pytest.approx(0.5, rel=1e-3)  # still computed and shown


def test_nan_values_do_not_count_as_repeats() -> None:
    a = [*spread(0.5, n=4), float("nan"), float("inf")]
    v = verdict(a, spread(1.0), better="lower")
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
    v = verdict(spread(a_center), spread(b_center), better=better)  # type: ignore[arg-type]
    assert v.winner == expected and v.text.startswith(expected) and "better" in v.text


def test_degenerate_inputs() -> None:
    assert math.isnan(mann_whitney_p([], [1.0]))
    empty = verdict([], [1.0, 2.0], better="lower")
    assert math.isnan(empty.ratio) and empty.outcome == "not enough repeats"
    v = verdict([1.0] * 6, [1.0] * 6, better="lower")
    assert v.outcome == "equivalent" and v.ratio == 1.0 and v.ci_lo == v.ci_hi == 1.0
    tiny = verdict([1.0, 2.0], [1.0, 2.0], better="lower", min_repeats=1)
    assert tiny.ci_lo == 0.0 and math.isinf(tiny.ci_hi) and tiny.outcome == "inconclusive"


def test_non_positive_values_fall_back_to_raw_differences() -> None:
    a, b = [0.0, 0.1, 0.2, 0.1, 0.0], [1.0, 1.1, 1.2, 1.0, 1.1]
    v = verdict(a, b, better="lower", adjective="faster")
    assert v.scale == "raw" and v.text.endswith("(raw-scale differences: a value <= 0 has no log)")
    # Shift 1.0 - 0.1 = 0.9 below b's median 1.1 (raw ratio = 1 + shift / |median b|).
    assert v.ratio == pytest.approx(1 - 1.0 / 1.1) and v.winner == "a"
    negative = verdict([-1.0, -1.1, -0.9, -1.0, -1.05], [-1.0, -1.1, -0.9, -1.0, -1.05], better="higher")
    assert negative.scale == "raw" and negative.ratio == pytest.approx(1.0)


positive = st.lists(st.floats(0.1, 10.0), min_size=5, max_size=9)


@settings(max_examples=40, deadline=None)
@given(a=positive, b=positive, scale=st.floats(0.5, 4.0))
def test_interval_properties(a: list[float], b: list[float], scale: float) -> None:
    v = verdict(a, b, better="lower")
    pairwise = [x / y for x in a for y in b]
    assert min(pairwise) * (1 - 1e-12) <= v.ci_lo <= v.eq_lo <= v.ratio <= v.eq_hi <= v.ci_hi
    assert v.ci_hi <= max(pairwise) * (1 + 1e-12)  # exp(log(x)) may differ from x in the last bit
    # Scaling one side scales the ratio and its intervals (a shift on the log scale).
    w = verdict([x * scale for x in a], b, better="lower")
    assert w.ratio == pytest.approx(v.ratio * scale)
    assert (w.ci_lo, w.ci_hi) == pytest.approx((v.ci_lo * scale, v.ci_hi * scale))
    # Swapping the sides inverts the ratio and keeps the verdict.
    s = verdict(b, a, better="lower", name_a="b", name_b="a")
    assert s.ratio == pytest.approx(1 / v.ratio) and (s.ci_lo, s.ci_hi) == pytest.approx(
        (1 / v.ci_hi, 1 / v.ci_lo)
    )
    assert (s.outcome, s.winner) == (v.outcome, v.winner)
