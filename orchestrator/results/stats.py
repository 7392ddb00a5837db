"""When is one framework a winner? Ratio of medians, a bootstrap CI, Mann-Whitney U, and a gate.

Definitions (the report cites them):

- ratio = median(a) / median(b), with a and b the two frameworks in sorted name order.
- 95% CI: percentile bootstrap. Each group is resampled independently, with replacement, at its
  own size, `n_boot` times from `numpy.random.default_rng(seed)`; the CI is the (2.5%, 97.5%)
  quantiles (numpy's default linear interpolation) of the resampled ratios.
- p: two-sided Mann-Whitney U (scipy's default method: exact for small samples without ties).
  It is shown, not used by the gate.
- verdict: with fewer than MIN_REPEATS finite values on either side, "not enough repeats";
  otherwise a winner only when the CI excludes 1 (lo > 1 or hi < 1) AND |ratio - 1| >= MIN_EFFECT
  (i.e. the medians differ by at least 5% of b's median); the winner is the side that is better
  in the criterion's direction (time and MSE: lower; accuracy: higher); otherwise "tie".

Fixed seeds make every number byte-for-byte reproducible.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

MIN_REPEATS = 5
MIN_EFFECT = 0.05
CI_LEVEL = 0.95
N_BOOT = 10_000
SEED = 0

Direction = Literal["lower", "higher"]
Values = Sequence[float] | NDArray[np.float64]
# Which way is better for each criterion the winner table knows.
BETTER: dict[str, Direction] = {"time": "lower", "accuracy": "higher", "mse": "lower"}


def _array(values: Values) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def ratio_of_medians(a: Values, b: Values) -> float:
    xa, xb = _array(a), _array(b)
    if xa.size == 0 or xb.size == 0:
        return math.nan
    mb = float(np.median(xb))
    if mb == 0.0:
        return math.nan
    return float(np.median(xa)) / mb


def bootstrap_ratio_ci(
    a: Values,
    b: Values,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = CI_LEVEL,
) -> tuple[float, float, float]:
    """(ratio, lo, hi) for median(a) / median(b); NaNs when either side is empty or a resampled
    median of b is 0 (the ratio is undefined there)."""
    xa, xb = _array(a), _array(b)
    ratio = ratio_of_medians(xa, xb)
    if math.isnan(ratio):
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    med_a = np.median(xa[rng.integers(0, xa.size, size=(n_boot, xa.size))], axis=1)
    med_b = np.median(xb[rng.integers(0, xb.size, size=(n_boot, xb.size))], axis=1)
    if np.any(med_b == 0.0):
        return ratio, math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(med_a / med_b, [alpha, 1.0 - alpha])
    return ratio, float(lo), float(hi)


def mann_whitney_p(a: Values, b: Values) -> float:
    """Two-sided Mann-Whitney U p-value; NaN when either side is empty."""
    xa, xb = _array(a), _array(b)
    if xa.size == 0 or xb.size == 0:
        return math.nan
    with warnings.catch_warnings():
        # All-identical samples make scipy warn and may return NaN; NaN is the honest answer.
        warnings.simplefilter("ignore")
        result = sps.mannwhitneyu(xa, xb, alternative="two-sided")
    return float(result.pvalue)


@dataclass(frozen=True)
class Verdict:
    name_a: str
    name_b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float  # median_a / median_b
    ci_lo: float
    ci_hi: float
    p_value: float
    winner: str | None  # name_a, name_b, or None (tie or not enough repeats)
    text: str  # "pytorch", "tie", "not enough repeats (n=3 vs 5; need 5)"

    @property
    def winner_ratio(self) -> float:
        """Winner's median over the loser's (e.g. 0.71 = the winner takes 0.71x the time)."""
        if self.winner == self.name_a:
            return self.ratio
        if self.winner == self.name_b and self.ratio != 0:
            return 1.0 / self.ratio
        return math.nan


def _median(x: NDArray[np.float64]) -> float:
    return float(np.median(x)) if x.size else math.nan


def verdict(
    a: Values,
    b: Values,
    *,
    better: Direction,
    name_a: str = "a",
    name_b: str = "b",
    n_boot: int = N_BOOT,
    seed: int = SEED,
    min_repeats: int = MIN_REPEATS,
    min_effect: float = MIN_EFFECT,
) -> Verdict:
    """Compare two groups of per-repeat values (see the module docstring for the rule)."""
    xa, xb = _array(a), _array(b)
    ratio, lo, hi = bootstrap_ratio_ci(xa, xb, n_boot=n_boot, seed=seed)
    p = mann_whitney_p(xa, xb)
    winner: str | None = None
    if xa.size < min_repeats or xb.size < min_repeats:
        text = f"not enough repeats (n={xa.size} vs {xb.size}; need {min_repeats})"
    elif math.isnan(lo) or math.isnan(hi):
        text = "tie (ratio undefined)"
    elif (lo > 1.0 or hi < 1.0) and abs(ratio - 1.0) >= min_effect:
        a_larger = ratio > 1.0
        winner = name_a if a_larger == (better == "higher") else name_b
        text = winner
    else:
        text = "tie"
    return Verdict(
        name_a=name_a,
        name_b=name_b,
        n_a=int(xa.size),
        n_b=int(xb.size),
        median_a=_median(xa),
        median_b=_median(xb),
        ratio=ratio,
        ci_lo=lo,
        ci_hi=hi,
        p_value=p,
        winner=winner,
        text=text,
    )
