"""Is one framework faster/better, equivalent, or can we not tell yet? Hodges–Lehmann with exact intervals.

Definitions (the report cites them). a and b are the two frameworks' per-repeat values, frameworks in
sorted name order; only finite values count.

- Scale: when every value is > 0, the analysis works on log values (a ratio model: "A takes 0.8x
  B's time"). Otherwise it falls back to differences on the raw scale, relative to |median(b)|
  (the verdict says so); everything below then reads with u = x / |median(b)| in place of log x.
- Pairwise differences: d_ij = log a_i - log b_j for all N = n_a * n_b pairs, sorted d_(1) <= ... <= d_(N).
- Estimate: the Hodges–Lehmann shift delta = median of the d_ij; ratio = exp(delta) (the median of
  all pairwise ratios a_i / b_j). On the raw scale, ratio = 1 + delta.
- Interval at level 1 - alpha: [d_(k), d_(N+1-k)], with k the largest integer such that
  P(U <= k - 1) <= alpha / 2 under the exact null distribution of the Mann–Whitney U statistic for
  (n_a, n_b) (no ties; computed exactly up to EXACT_MAX_PAIRS pairs, normal approximation with
  continuity correction above). This is the interval obtained by inverting the two-sided
  Mann–Whitney test for a shift; it covers the true shift with probability >= 1 - 2 P(U <= k - 1)
  for any continuous distribution shape, at any n (ties make it conservative). At 5 vs 5: k = 3,
  95% interval = 3rd smallest to 3rd largest of the 25 pairwise ratios, exact coverage
  1 - 8/252 = 96.8%; 90% interval: k = 5, coverage 1 - 24/252 = 90.5%. With fewer pairs than an
  interval needs (k = 0), it is unbounded.
- Margin m (default MIN_MARGIN = 5%; `margin_for` gives max(5%, a measured A/A noise floor)). On the
  log scale the margin is the symmetric band |delta| < log(1 + m), i.e. ratio in (1/(1+m), 1+m).
- p: two-sided Mann–Whitney U (scipy's default method). It is shown, the rule below uses the intervals.
- Verdict, with at least MIN_REPEATS finite values per side (else "not enough repeats"):
  * "A faster/better by X% [95% CI lo–hi]" when the 95% interval excludes 0 (ratio 1) AND
    |delta| > log(1 + m). X = exp(|delta|) - 1: the slower/worse side's value over the faster/better
    side's, minus 1 (for higher-is-better quality: better over worse, minus 1); the CI maps the
    95% interval the same way. "Better" follows the criterion's direction (time, MSE: lower;
    accuracy: higher).
  * "equivalent within ±m" when the 90% interval lies inside (-log(1 + m), log(1 + m)): the two
    one-sided tests (TOST) of H0: delta <= -log(1+m) and H0: delta >= log(1+m), each at level 5%,
    both reject. The two outcomes exclude each other (delta lies inside its own 90% interval).
  * otherwise "inconclusive — about N repeats per side would decide", N from a normal
    approximation on the observed spread: s = pooled standard deviation of the log values, the
    interval half-width at n per side ~ t(2n - 2) quantile * s * sqrt(2 / n) * sqrt(pi / 3)
    (pi/3: Hodges–Lehmann's variance relative to the mean's under normal noise); N = the smallest n
    above the current one whose half-width is below |delta| (95%: to exclude 0, when |delta| is beyond
    the margin) or below log(1 + m) - |delta| (90%: to show equivalence, when it is inside). Above
    REPEATS_CAP it says "> 50". It assumes the observed shift and spread are the true ones: "about".

Time to target (`censored=True`): a job that never reached the target is +inf, slower than any job
that did; it is kept, never dropped. +inf needs no special case in the rank-based rule above: its
log is +inf, its pairs with finite values are -inf or +inf and sort to the ends, and two +inf
values tie (their pair counts as 0). So an arm that never reaches the target loses to one that
always does (every pair is infinite: the interval excludes 0), a mixed arm ranks below one that
always reaches it, and the estimate or its interval may be infinite: the ratio then reads inf (or
0) and the verdict states how many jobs of each side reached the target. With such values the
spread of log values is infinite, so "about N repeats" comes from Noether's approximation for the
Mann–Whitney test instead: N = z^2 / (6 (p - 1/2)^2) per side, p = P(a < b) over all pairs (ties
count half), z the 95% normal quantile. If no job on either side reached the target there is no
comparison to make: "inconclusive", no N.

More than two arms: each arm against a baseline, the same rule at wider levels chosen by Holm's
step-down over the family (`level`, `tost_level`; holm.py states that rule and its guarantee).

Under A/A (both sides from one distribution) the chance of a false "faster/better" is at most
1 - (95% interval coverage) = 8/252 = 3.2% at 5 vs 5, whatever the noise's shape; with a true
difference beyond the margin, the chance of a false "equivalent" is at most 5% (TOST).
tests/unit/test_verdict_simulation.py measures both, and the power. Nothing is random here, so every
number is byte-for-byte reproducible.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

MIN_REPEATS = 5
MIN_MARGIN = 0.05
CI_LEVEL = 0.95  # the interval shown and used for "faster/better"
TOST_LEVEL = 0.90  # two one-sided tests at 5% each
REPEATS_CAP = 50  # "about N repeats" is not worth stating beyond this
EXACT_MAX_PAIRS = 2500  # exact U distribution up to 50 x 50 repeats; normal approximation above

Direction = Literal["lower", "higher"]
Scale = Literal["log", "raw"]
Outcome = Literal["better", "equivalent", "inconclusive", "not enough repeats"]
Values = Sequence[float] | NDArray[np.float64]
FloatArray = NDArray[np.float64]
# Which way is better for each criterion the winner table knows.
BETTER: dict[str, Direction] = {"time": "lower", "accuracy": "higher", "mse": "lower", "ari": "higher"}

# Decision codes of the vectorised rule (`decide`): the sign says which side's values are larger.
A_HIGHER, A_LOWER, EQUIVALENT, INCONCLUSIVE = 1, -1, 0, 2
# Hodges–Lehmann's variance over the mean's for normal noise (its efficiency is 3/pi).
HL_VARIANCE_FACTOR = math.pi / 3.0

METHOD = (
    "The ratio is the Hodges–Lehmann estimate on log values (the median of all pairwise ratios of the "
    "two frameworks' repeats), with the distribution-free interval from inverting the exact Mann–Whitney "
    f"test. Verdict, at >= {MIN_REPEATS} ok repeats per side and margin m: faster/better when the 95% "
    "interval excludes 1 and the ratio is beyond 1±m; equivalent when the 90% interval lies within "
    "±m (two one-sided tests); otherwise inconclusive, with the repeats per side that the observed "
    "spread suggests would decide."
)


def margin_for(noise_floor: float | None) -> float:
    """The equivalence margin m = max(5%, the machine's A/A noise floor) (None: no floor measured)."""
    if noise_floor is None or not math.isfinite(noise_floor):
        return MIN_MARGIN
    return max(MIN_MARGIN, noise_floor)


def finite_array(values: Values, censored: bool = False) -> FloatArray:
    """The values a verdict uses: the finite ones; with `censored`, +inf (never reached the target) too."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(arr) | (censored & (arr == math.inf))
    return arr[keep]


def _median(x: FloatArray) -> float:
    return float(np.median(x)) if x.size else math.nan


def mann_whitney_p(a: Values, b: Values, censored: bool = False) -> float:
    """Two-sided Mann-Whitney U p-value; NaN when either side is empty. `censored`: +inf counts, as
    the highest rank (ties among themselves)."""
    xa, xb = finite_array(a, censored), finite_array(b, censored)
    if xa.size == 0 or xb.size == 0:
        return math.nan
    with warnings.catch_warnings():
        # All-identical samples make scipy warn and may return NaN; NaN is the honest answer.
        warnings.simplefilter("ignore")
        result = sps.mannwhitneyu(xa, xb, alternative="two-sided")
    return float(result.pvalue)


# --- the exact Mann–Whitney distribution and the interval's ranks ---------------------------------


@functools.lru_cache(maxsize=128)
def u_counts(n_a: int, n_b: int) -> tuple[int, ...]:
    """How many of the C(n_a + n_b, n_a) equally likely rankings give U = 0, 1, ..., n_a * n_b.

    These are the coefficients of the Gaussian binomial prod_{i=1..n_a} (1 - q^(n_b+i)) / (1 - q^i),
    in exact integers. Dividing by (1 - q^i) is a running sum, which only reads lower coefficients,
    so truncating at degree n_a * n_b is safe."""
    size = n_a * n_b + 1
    c = [1] + [0] * (size - 1)
    for i in range(1, n_a + 1):
        step = n_b + i
        for u in range(size - 1, step - 1, -1):
            c[u] -= c[u - step]
        for u in range(i, size):
            c[u] += c[u - i]
    return tuple(c)


@functools.lru_cache(maxsize=256)
def critical_rank(n_a: int, n_b: int, level: float) -> int:
    """k such that [d_(k), d_(N+1-k)] is the Mann–Whitney-inverted interval at `level` (0: unbounded).

    The largest k with P(U <= k - 1) <= (1 - level) / 2; exact up to EXACT_MAX_PAIRS pairs."""
    if n_a < 1 or n_b < 1:
        return 0
    half_alpha = (1.0 - level) / 2.0
    pairs = n_a * n_b
    if pairs <= EXACT_MAX_PAIRS:
        counts = u_counts(n_a, n_b)
        total = math.comb(n_a + n_b, n_a)
        k, cumulative = 0, 0
        # Exact integer comparison: cumulative / total <= half_alpha, with a tiny slack for alpha's float.
        while k < pairs and (cumulative + counts[k]) <= half_alpha * total * (1 + 1e-12):
            cumulative += counts[k]
            k += 1
        return min(k, (pairs + 1) // 2)
    mean = pairs / 2.0
    sd = math.sqrt(pairs * (n_a + n_b + 1) / 12.0)
    z = float(sps.norm.ppf(1.0 - half_alpha))
    return max(0, min(math.floor(mean + 0.5 - z * sd), (pairs + 1) // 2))


def interval_coverage(n_a: int, n_b: int, level: float) -> float:
    """The exact coverage 1 - 2 P(U <= k - 1) of the interval `critical_rank` picks (continuous data)."""
    k = critical_rank(n_a, n_b, level)
    if k == 0:
        return 1.0
    return 1.0 - 2.0 * sum(u_counts(n_a, n_b)[:k]) / math.comb(n_a + n_b, n_a)


# --- the rule, vectorised over trials (rows); `verdict` calls it with one row --------------------


@dataclass(frozen=True)
class Shifts:
    """Hodges–Lehmann shift of row-wise samples and its Mann–Whitney-inverted intervals."""

    estimate: FloatArray
    lo95: FloatArray
    hi95: FloatArray
    lo90: FloatArray
    hi90: FloatArray


def _order_stat(d: FloatArray, k: int, low: bool) -> FloatArray:
    """d_(k) (low) or d_(N+1-k) of each sorted row; -inf/+inf when k = 0 (the interval is unbounded)."""
    if k == 0:
        return np.full(d.shape[0], -math.inf if low else math.inf)
    return d[:, k - 1] if low else d[:, d.shape[1] - k]


def shifts(x: FloatArray, y: FloatArray, level: float = CI_LEVEL, tost_level: float = TOST_LEVEL) -> Shifts:
    """x: (trials, n_a), y: (trials, n_b), already on the analysis scale (log values); `level`,
    `tost_level`: the intervals' levels (a family of comparisons asks for wider ones: holm.py)."""
    n_a, n_b = x.shape[1], y.shape[1]
    with np.errstate(invalid="ignore"):  # inf - inf: two jobs that never reached a target tie
        d = (x[:, :, None] - y[:, None, :]).reshape(x.shape[0], n_a * n_b)
    d = np.sort(np.where(np.isnan(d), 0.0, d), axis=1)
    k95, k90 = critical_rank(n_a, n_b, level), critical_rank(n_a, n_b, tost_level)
    return Shifts(
        estimate=np.median(d, axis=1),
        lo95=_order_stat(d, k95, low=True),
        hi95=_order_stat(d, k95, low=False),
        lo90=_order_stat(d, k90, low=True),
        hi90=_order_stat(d, k90, low=False),
    )


def decide(s: Shifts, bound: float) -> NDArray[np.int64]:
    """A_HIGHER / A_LOWER / EQUIVALENT / INCONCLUSIVE per row; `bound` = log(1 + m) on the log scale."""
    excludes_zero = (s.lo95 > 0.0) | (s.hi95 < 0.0)
    decisive = excludes_zero & (np.abs(s.estimate) > bound)
    equivalent = (s.lo90 > -bound) & (s.hi90 < bound)
    sign = np.where(s.estimate > 0.0, A_HIGHER, A_LOWER)
    return np.where(decisive, sign, np.where(equivalent, EQUIVALENT, INCONCLUSIVE)).astype(np.int64)


@functools.lru_cache(maxsize=8)
def _half_width_per_sd(level: float, cap: int) -> FloatArray:
    """Approximate interval half-width per unit of spread at n = 2..cap per side."""
    n = np.arange(2, cap + 1, dtype=np.float64)
    t = sps.t.ppf(1.0 - (1.0 - level) / 2.0, 2.0 * n - 2.0)
    return np.asarray(t * np.sqrt(2.0 / n * HL_VARIANCE_FACTOR), dtype=np.float64)


def repeats_needed(
    x: FloatArray, y: FloatArray, s: Shifts, bound: float, cap: int = REPEATS_CAP,
    level: float = CI_LEVEL, tost_level: float = TOST_LEVEL,
) -> NDArray[np.int64]:  # fmt: skip
    """Per row: about how many repeats per side would decide (see the module docstring); cap + 1
    stands for "more than cap". Meaningful for inconclusive rows only."""
    n_a, n_b = x.shape[1], y.shape[1]
    dof = max(n_a + n_b - 2, 1)
    ss = np.var(x, axis=1) * n_a + np.var(y, axis=1) * n_b
    sd = np.sqrt(ss / dof)
    effect = np.abs(s.estimate)
    beyond = effect > bound
    # Beyond the margin, the 95% interval must exclude 0; inside it, the 90% one must fit in the band.
    target = np.where(beyond, effect, bound - effect)
    per_sd = np.where(
        beyond[:, None],
        _half_width_per_sd(level, cap)[None, :],
        _half_width_per_sd(tost_level, cap)[None, :],
    )
    n = np.arange(2, cap + 1)
    ok = (sd[:, None] * per_sd < target[:, None]) & (n[None, :] > max(n_a, n_b))
    return np.where(ok.any(axis=1), n[np.argmax(ok, axis=1)], cap + 1).astype(np.int64)


def censored_repeats(xa: FloatArray, xb: FloatArray, cap: int = REPEATS_CAP) -> int:
    """About how many repeats per side would decide, by Noether's approximation for the Mann–Whitney
    test (see the module docstring): for samples with +inf, whose log spread is infinite."""
    p = float(np.mean(xa[:, None] < xb[None, :]) + 0.5 * np.mean(xa[:, None] == xb[None, :]))
    effect = abs(p - 0.5)
    if effect == 0.0:
        return cap + 1
    z = float(sps.norm.ppf(1.0 - (1.0 - CI_LEVEL) / 2.0))
    n = max(math.floor(z * z / (6.0 * effect * effect)) + 1, xa.size + 1, xb.size + 1)
    return min(n, cap + 1)


@dataclass(frozen=True)
class Decisions:
    codes: NDArray[np.int64]
    shifts: Shifts
    repeats: NDArray[np.int64]


def decide_log(
    x: FloatArray, y: FloatArray, margin: float = MIN_MARGIN, level: float = CI_LEVEL, tost_level: float = TOST_LEVEL
) -> Decisions:
    """The whole rule on rows of log values (the simulation test calls this directly)."""
    bound = math.log1p(_checked_margin(margin))
    s = shifts(x, y, level, tost_level)
    return Decisions(decide(s, bound), s, repeats_needed(x, y, s, bound, REPEATS_CAP, level, tost_level))


def _checked_margin(margin: float) -> float:
    if not (math.isfinite(margin) and 0.0 < margin < 1.0):
        raise ValueError(f"margin must be in (0, 1), got {margin!r}")
    return margin


# --- one comparison, worded ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    name_a: str
    name_b: str
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    ratio: float  # exp(Hodges–Lehmann shift of log a vs log b); raw scale: 1 + shift / |median_b|
    ci_lo: float  # 95% interval of the ratio
    ci_hi: float
    eq_lo: float  # 90% interval of the ratio (the TOST)
    eq_hi: float
    p_value: float
    margin: float  # m
    scale: Scale
    outcome: Outcome
    winner: str | None  # name_a or name_b when outcome == "better"
    adjective: str  # how a winner is worded: "faster" (times) or "better"
    advantage: float  # X as a fraction (0.25 = "by 25%") when there is a winner, else NaN
    advantage_lo: float  # its 95% interval
    advantage_hi: float
    repeats: int | None  # inconclusive: repeats per side that would decide (REPEATS_CAP + 1: more)
    text: str  # "pytorch faster by 25% [95% CI 18–31%]", "equivalent within ±5% [...]", ...
    ci_level: float = CI_LEVEL  # the level of ci_lo..ci_hi (wider in a Holm family: holm.py)
    eq_level: float = TOST_LEVEL  # the level of eq_lo..eq_hi


def percent_text(x: float, multiple: bool = False) -> str:
    """A fraction as '25%' / '4.8%' / '120%', or with `multiple` as x + 1 times: '2.02x', '12.4x', '126x'."""
    if math.isinf(x):
        return "inf"
    if multiple:
        times = x + 1.0
        # Decide the digits on the rounded value: 9.999 prints as 10.0x, not 10.00x.
        if float(f"{times:.2f}") < 10:
            return f"{times:.2f}x"
        return f"{times:.1f}x" if float(f"{times:.1f}") < 100 else f"{times:.0f}x"
    return f"{x * 100:.1f}%" if float(f"{x * 100:.1f}") < 10 else f"{x * 100:.0f}%"


def level_text(level: float) -> str:
    """'95%', '98.3%': an interval's level as the tables print it."""
    return f"{level * 100:.3g}%"


def advantage_text(
    winner: str, adjective: str, x: float, lo: float | None = None, hi: float | None = None, level: float = CI_LEVEL
) -> str:
    """'pytorch faster by 25% [95% CI 18%–31%]', or from 100% up as a multiple, interval included:
    'pytorch 12.4x faster [95% CI 11.9x–13.0x]' (the slower takes 12.4 times as long). An infinite
    X (the other side mostly never reached a target) has no size: 'pytorch faster'."""
    if math.isinf(x):
        return f"{winner} {adjective}"
    multiple = x >= 1.0
    head = (
        f"{winner} {percent_text(x, True)} {adjective}"
        if multiple
        else f"{winner} {adjective} by {percent_text(x)}"
    )
    if lo is None or hi is None:
        return head
    return f"{head} [{level_text(level)} CI {percent_text(lo, multiple)}–{percent_text(hi, multiple)}]"


def _ratio_text(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3f}"


def repeats_text(repeats: int | None) -> str:
    if repeats is None:
        return ""
    return f"> {REPEATS_CAP}" if repeats > REPEATS_CAP else f"about {repeats}"


def analysis_scale(xa: FloatArray, xb: FloatArray) -> tuple[FloatArray, FloatArray, Scale]:
    """Log values when all are > 0; else values over |median(b)| (|median(a)|, or 1, when that is 0),
    so that the margin stays a fraction of b's level (medians of the finite values: +inf stays +inf)."""
    if bool(np.all(xa > 0.0) and np.all(xb > 0.0)):
        return np.log(xa), np.log(xb), "log"
    levels = (abs(_median(x[np.isfinite(x)])) for x in (xb, xa))
    ref = next((level for level in levels if level > 0.0), 1.0)  # NaN (no finite value) is not > 0
    return xa / ref, xb / ref, "raw"


def _to_ratio(shift: float, scale: Scale) -> float:
    return math.exp(shift) if scale == "log" else 1.0 + shift


def _to_advantage(shift: float, scale: Scale) -> float:
    """X of "better by X%": worse over better minus 1 (log scale), or |shift| (raw scale)."""
    return math.expm1(abs(shift)) if scale == "log" else abs(shift)


def verdict(
    a: Values,
    b: Values,
    *,
    better: Direction,
    name_a: str = "a",
    name_b: str = "b",
    margin: float = MIN_MARGIN,
    adjective: str = "better",
    min_repeats: int = MIN_REPEATS,
    censored: bool = False,
    level: float = CI_LEVEL,
    tost_level: float = TOST_LEVEL,
) -> Verdict:
    """Compare two groups of per-repeat values (see the module docstring for every definition).
    `adjective` words the winner ("faster" for times). `censored` (time to target, lower is better):
    +inf is a job that never reached the target, kept and ranked slower than every job that did.
    `level`, `tost_level`: the levels of the "better" and "equivalent" intervals (95%, 90%; a
    comparison in a family gets Holm's: holm.family_verdicts)."""
    _checked_margin(margin)
    if censored and better != "lower":
        raise ValueError("censored values (+inf: never reached) need lower-is-better")
    xa, xb = finite_array(a, censored), finite_array(b, censored)
    med_a, med_b = _median(xa), _median(xb)
    p = mann_whitney_p(xa, xb, censored)
    reached_a, reached_b = int(np.isfinite(xa).sum()), int(np.isfinite(xb).sum())
    unreached = reached_a < xa.size or reached_b < xb.size
    nan = math.nan
    ratio = ci_lo = ci_hi = eq_lo = eq_hi = nan
    scale: Scale = "log"
    code = INCONCLUSIVE
    if xa.size and xb.size:
        x, y, scale = analysis_scale(xa, xb)
        bound = math.log1p(margin) if scale == "log" else margin
        s = shifts(x[None, :], y[None, :], level, tost_level)
        code = int(decide(s, bound)[0])
        est, lo95, hi95 = float(s.estimate[0]), float(s.lo95[0]), float(s.hi95[0])
        ratio, ci_lo, ci_hi = (_to_ratio(v, scale) for v in (est, lo95, hi95))
        eq_lo, eq_hi = _to_ratio(float(s.lo90[0]), scale), _to_ratio(float(s.hi90[0]), scale)
    winner: str | None = None
    adv, adv_lo, adv_hi = nan, nan, nan
    repeats: int | None = None
    outcome: Outcome
    if xa.size < max(min_repeats, 1) or xb.size < max(min_repeats, 1):  # else x, y, s, bound are set
        outcome = "not enough repeats"
        text = f"not enough repeats (n={xa.size} vs {xb.size}; need {min_repeats})"
    elif reached_a == reached_b == 0:  # only censored values: all tie, but nothing was measured
        outcome = "inconclusive"
        text = "inconclusive — no job reached the target"
    elif code in (A_HIGHER, A_LOWER):
        outcome = "better"
        winner = name_a if (code == A_HIGHER) == (better == "higher") else name_b
        adv = _to_advantage(est, scale)
        adv_lo, adv_hi = sorted((_to_advantage(lo95, scale), _to_advantage(hi95, scale)))
        text = advantage_text(winner, adjective, adv, adv_lo, adv_hi, level)
    elif code == EQUIVALENT:
        outcome = "equivalent"
        text = (f"equivalent within ±{margin * 100:.3g}% "
                f"[{level_text(tost_level)} CI {_ratio_text(eq_lo)}–{_ratio_text(eq_hi)}]")  # fmt: skip
    else:
        outcome = "inconclusive"
        if unreached:
            repeats = censored_repeats(xa, xb)
        else:
            repeats = int(repeats_needed(x[None, :], y[None, :], s, bound, REPEATS_CAP, level, tost_level)[0])
        text = f"inconclusive — {repeats_text(repeats)} repeats per side would decide"
    if scale == "raw" and outcome != "not enough repeats":
        text += " (raw-scale differences: a value <= 0 has no log)"
    if unreached:
        first, second = (name_b, name_a) if winner == name_b else (name_a, name_b)
        counts = {name_a: (reached_a, xa.size), name_b: (reached_b, xb.size)}
        reach = (f"{first} reached the target in {counts[first][0]}/{counts[first][1]} jobs, "
                 f"{second} in {counts[second][0]}/{counts[second][1]}")  # fmt: skip
        text = f"{winner} {adjective}: {reach}" if math.isinf(adv) else f"{text}; {reach}"
    return Verdict(
        name_a=name_a,
        name_b=name_b,
        n_a=int(xa.size),
        n_b=int(xb.size),
        median_a=med_a,
        median_b=med_b,
        ratio=ratio,
        ci_lo=ci_lo,
        ci_hi=ci_hi,
        eq_lo=eq_lo,
        eq_hi=eq_hi,
        p_value=p,
        margin=margin,
        scale=scale,
        outcome=outcome,
        winner=winner,
        adjective=adjective,
        advantage=adv,
        advantage_lo=adv_lo,
        advantage_hi=adv_hi,
        repeats=repeats,
        text=text,
        ci_level=level,
        eq_level=tost_level,
    )
