"""More than two arms: each arm against one baseline, the decisions adjusted with Holm's step-down.

With K arms besides the baseline, a task x criterion asks K questions at once; judged one by one at
95%, one of K identical arms would be called "faster" K times as often as one pair is. The rule here
keeps the two-arm rule of `stats` (Hodges–Lehmann shift, Mann–Whitney-inverted intervals, margin m)
for every comparison and only widens its intervals, by Holm's step-down over the family:

- For arm j against the baseline, d = the pairwise differences (arm − baseline) on the analysis scale
  (log values; `stats.analysis_scale`), b = log(1 + m).
- Difference family ("better"): c_j = min(#(d <= 0), #(d >= 0)); the (1 − a) interval excludes 0
  exactly when c_j <= k − 1 (k = `stats.critical_rank`), so p_j = 2 P(U <= c_j) is the exact
  two-sided Mann–Whitney p of the interval. Sort the p_j ascending; step i = 0, 1, ... tests its
  comparison with the interval at level 1 − 0.05 / (K − i) and rejects when that interval excludes
  0; the first step that does not reject stops, and every later comparison is tested at the
  stopping step's level (so cannot reject either: its p is no smaller).
- Equivalence family ("equivalent"): the same with c_j = max(#(d <= −b), #(d >= b)),
  p_j = P(U <= c_j) (the TOST's p: the larger of its two one-sided p's) and levels
  1 − 0.10 / (K − i): the interval at that level must lie inside (−b, b).
- Each comparison's verdict is then `stats.verdict` at its two levels: "better" when its Holm
  interval excludes 1 AND the ratio is beyond 1±m (the margin filter only removes rejections),
  "equivalent" when its Holm TOST interval lies inside ±m, else inconclusive, "about N repeats"
  computed at its levels. K = 1 is the two-arm rule exactly (levels 95% and 90%).

Holm's procedure bounds the chance of any false rejection in the family by 5% whatever the
dependence between its tests (they share the baseline's values), so: P(some arm called faster or
better although none differs) <= 5%, and P(some arm called equivalent although its true difference
is beyond m) <= 5%. tests/unit/test_holm_simulation.py measures both and the power. The statements
"p_j <= threshold" and "the interval at that level excludes 0" coincide exactly up to
stats.EXACT_MAX_PAIRS pairs; above it both use the same normal approximation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from orchestrator.results import stats

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def family_levels(base_level: float, k: int) -> list[float]:
    """Holm's interval level at each step of a family of `k`: 1 − (1 − base_level) / (k − i)."""
    return [1.0 - (1.0 - base_level) / (k - i) for i in range(k)]


def u_tail(n_a: int, n_b: int, c: IntArray) -> stats.FloatArray:
    """P(U <= c) under the null for each c (exact up to stats.EXACT_MAX_PAIRS pairs, as
    `stats.critical_rank`; its normal approximation above)."""
    pairs = n_a * n_b
    if pairs <= stats.EXACT_MAX_PAIRS:
        cdf = np.cumsum(np.array(stats.u_counts(n_a, n_b), dtype=np.float64)) / math.comb(n_a + n_b, n_a)
        return np.asarray(cdf[np.clip(c, 0, pairs)], dtype=np.float64)
    sd = math.sqrt(pairs * (n_a + n_b + 1) / 12.0)
    return np.asarray(sps.norm.cdf((np.minimum(c, pairs) + 0.5 - pairs / 2.0) / sd), dtype=np.float64)


def pairwise(x: stats.FloatArray, y: stats.FloatArray) -> stats.FloatArray:
    """(trials, n_x * n_y) differences x_i − y_j; inf − inf (two jobs that never reached a target) is a tie."""
    with np.errstate(invalid="ignore"):
        d = (x[:, :, None] - y[:, None, :]).reshape(x.shape[0], -1)
    return np.where(np.isnan(d), 0.0, d)


@dataclass(frozen=True)
class Steps:
    """Where each comparison of each trial ended in one Holm family."""

    level: stats.FloatArray  # (trials, K): the interval level it is judged at
    rejected: BoolArray  # (trials, K): Holm rejected its null


def step_down(
    counts: IntArray, sizes: Sequence[tuple[int, int]], base_level: float, two_sided: bool
) -> Steps:
    """Holm's step-down over K comparisons. `counts` (trials, K): each comparison's c (module
    docstring); `sizes`: its (n_arm, n_baseline); `base_level`: 95% (difference) or 90% (TOST)."""
    trials, k = counts.shape
    levels = family_levels(base_level, k)
    # ranks[j, i]: the interval rank k of comparison j at step i; it rejects there when c <= k - 1.
    ranks = np.array([[stats.critical_rank(n_a, n_b, level) for level in levels] for n_a, n_b in sizes])
    tails = np.stack([u_tail(n_a, n_b, counts[:, j]) for j, (n_a, n_b) in enumerate(sizes)], axis=1)
    p = np.minimum(1.0, 2.0 * tails) if two_sided else tails
    order = np.argsort(p, axis=1, kind="stable")
    position = np.argsort(order, axis=1)
    own_rank = ranks[np.arange(k)[None, :], position]  # (trials, K): the rank at its own step
    passes = counts <= own_rank - 1
    failed_in_order = ~np.take_along_axis(passes, order, axis=1)
    stop = np.where(failed_in_order.any(axis=1), failed_in_order.argmax(axis=1), k)
    at = np.minimum(position, stop[:, None])
    return Steps(np.asarray(levels)[at], position < stop[:, None])


def _counts(d: stats.FloatArray, bound: float) -> tuple[IntArray, IntArray]:
    """(difference c, equivalence c) per row of pairwise differences `d`."""
    diff = np.minimum((d <= 0.0).sum(axis=1), (d >= 0.0).sum(axis=1))
    eq = np.maximum((d <= -bound).sum(axis=1), (d >= bound).sum(axis=1))
    return diff.astype(np.int64), eq.astype(np.int64)


@dataclass(frozen=True)
class FamilyDecisions:
    codes: IntArray  # (trials, K): stats.A_HIGHER / A_LOWER / EQUIVALENT / INCONCLUSIVE, arm vs baseline
    better: Steps
    equivalent: Steps


def decide_family(
    baseline: stats.FloatArray, arms: Sequence[stats.FloatArray], margin: float = stats.MIN_MARGIN
) -> FamilyDecisions:
    """The rule on rows of log values (the simulation test calls this): `baseline` (trials, n_0),
    each arm (trials, n_j); codes read as `stats.decide`'s with the arm in the first slot."""
    bound = math.log1p(margin)
    diffs = [pairwise(arm, baseline) for arm in arms]
    sizes = [(arm.shape[1], baseline.shape[1]) for arm in arms]
    counted = [_counts(d, bound) for d in diffs]
    better = step_down(np.stack([c for c, _ in counted], axis=1), sizes, stats.CI_LEVEL, two_sided=True)
    equivalent = step_down(
        np.stack([c for _, c in counted], axis=1), sizes, stats.TOST_LEVEL, two_sided=False
    )
    estimate = np.stack([np.median(d, axis=1) for d in diffs], axis=1)
    sign = np.where(estimate > 0.0, stats.A_HIGHER, stats.A_LOWER)
    decisive = better.rejected & (np.abs(estimate) > bound)
    codes = np.where(decisive, sign, np.where(equivalent.rejected, stats.EQUIVALENT, stats.INCONCLUSIVE))
    return FamilyDecisions(codes.astype(np.int64), better, equivalent)


def family_verdicts(
    values: Mapping[str, stats.Values],
    baseline: str,
    *,
    better: stats.Direction,
    margin: float = stats.MIN_MARGIN,
    adjective: str = "better",
    censored: bool = False,
    min_repeats: int = stats.MIN_REPEATS,
) -> dict[str, stats.Verdict]:
    """Every arm of `values` but `baseline` against it (name_a = the arm, ratio arm/baseline), each
    `stats.verdict` at its Holm levels (module docstring). A comparison without enough repeats, or
    with no job on either side that reached the target, stays in the family (as p = 1: it cannot
    reject, and a smaller family would make the others' intervals narrower than they should be)."""
    others = [arm for arm in values if arm != baseline]
    base = stats.finite_array(values[baseline], censored)
    sizes, diff_counts, eq_counts = [], [], []
    for arm in others:
        xa = stats.finite_array(values[arm], censored)
        sizes.append((max(xa.size, 1), max(base.size, 1)))
        reached = np.isfinite(xa).any() or np.isfinite(base).any()
        if min(xa.size, base.size) < max(min_repeats, 1) or not reached:
            never = sizes[-1][0] * sizes[-1][1]  # more than any rank: never rejects
            diff_counts.append(never)
            eq_counts.append(never)
            continue
        x, y, scale = stats.analysis_scale(xa, base)
        bound = math.log1p(margin) if scale == "log" else margin
        diff, eq = _counts(pairwise(x[None, :], y[None, :]), bound)
        diff_counts.append(int(diff[0]))
        eq_counts.append(int(eq[0]))
    if not others:
        return {}
    steps = step_down(np.array([diff_counts]), sizes, stats.CI_LEVEL, two_sided=True)
    eq_steps = step_down(np.array([eq_counts]), sizes, stats.TOST_LEVEL, two_sided=False)
    return {
        arm: stats.verdict(
            values[arm],
            values[baseline],
            better=better,
            name_a=arm,
            name_b=baseline,
            margin=margin,
            adjective=adjective,
            min_repeats=min_repeats,
            censored=censored,
            level=float(steps.level[0, j]),
            tost_level=float(eq_steps.level[0, j]),
        )  # fmt: skip
        for j, arm in enumerate(others)
    }
