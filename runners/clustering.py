"""k-means on an autoencoder's codes, scored against the labels (adjusted Rand index), in numpy.

Run after each epoch, outside the clock, on the validation codes, identically for every framework
(the paper's future work: dimension reduction and clustering). Deterministic for a seed: k-means++
seeding and RESTARTS restarts from one numpy stream, the lowest inertia kept, all in float64 so equal
codes give equal clusters in every runner.
"""

from __future__ import annotations

import numpy as np

_KMEANS_STREAM = 0x4B4D
RESTARTS = 4
MAX_ITERATIONS = 100


def _sq_distances(x: np.ndarray, centres: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    d = x_sq[:, None] - 2.0 * (x @ centres.T) + (centres**2).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _seeds(x: np.ndarray, k: int, rng: np.random.Generator, x_sq: np.ndarray) -> np.ndarray:
    """k-means++: each next centre drawn with probability proportional to its squared distance."""
    centres = [x[rng.integers(len(x))]]
    nearest = _sq_distances(x, np.array(centres), x_sq)[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=nearest / total)
        centres.append(x[pick])
        nearest = np.minimum(nearest, _sq_distances(x, x[pick][None, :], x_sq)[:, 0])
    return np.array(centres)


def kmeans(codes: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels (0..k-1) of each row of `codes`, the best of RESTARTS Lloyd runs."""
    x = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    k = max(1, min(k, len(x)))
    x_sq = (x**2).sum(axis=1)
    rng = np.random.default_rng([seed, _KMEANS_STREAM])
    best, best_inertia = np.zeros(len(x), dtype=np.int64), np.inf
    for _ in range(RESTARTS):
        centres = _seeds(x, k, rng, x_sq)
        labels = np.full(len(x), -1)
        for _ in range(MAX_ITERATIONS):
            d = _sq_distances(x, centres, x_sq)
            new = d.argmin(axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):  # an emptied cluster keeps its centre
                members = x[labels == j]
                if len(members):
                    centres[j] = members.mean(axis=0)
        inertia = float(_sq_distances(x, centres, x_sq)[np.arange(len(x)), labels].sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def _pairs(counts: np.ndarray) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1.0) / 2.0).sum())


def adjusted_rand_index(truth: np.ndarray, found: np.ndarray) -> float:
    """Agreement of two labelings beyond chance: 1 identical partitions, ~0 random, < 0 worse."""
    truth, found = np.asarray(truth).ravel(), np.asarray(found).ravel()
    if len(truth) != len(found):
        raise ValueError(f"{len(truth)} labels against {len(found)} clusters")
    _, t = np.unique(truth, return_inverse=True)
    _, f = np.unique(found, return_inverse=True)
    table = np.zeros((t.max() + 1, f.max() + 1), dtype=np.int64)
    np.add.at(table, (t, f), 1)
    both, rows, cols = _pairs(table), _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    n_pairs = len(truth) * (len(truth) - 1) / 2.0
    expected = rows * cols / n_pairs if n_pairs else 0.0
    best = (rows + cols) / 2.0
    if best == expected:  # both partitions trivial (one cluster, or all singletons): identical
        return 1.0
    return (both - expected) / (best - expected)
