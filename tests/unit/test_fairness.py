import numpy as np
import pytest

from runners import fairness
from tests.jobs import make_spec


def test_initial_weights_are_deterministic_glorot_with_zero_bias():
    w = make_spec(task="classification").workload
    a = fairness.initial_weights(w, seed=3)
    b = fairness.initial_weights(w, seed=3)
    assert [k.shape for k, _ in a] == [(784, 128), (128, 128), (128, 10)]
    assert all(k.dtype == np.float32 and (k == k2).all() for (k, _), (k2, _) in zip(a, b, strict=False))
    assert all((bias == 0).all() for _, bias in a)
    limit = np.sqrt(6 / (784 + 128))
    assert np.abs(a[0][0]).max() <= limit and np.abs(a[0][0]).max() > 0.9 * limit
    assert not (fairness.initial_weights(w, seed=4)[0][0] == a[0][0]).all()


def test_permutation_is_per_epoch_and_reproducible():
    p1, p2 = fairness.permutation(100, 5, 1), fairness.permutation(100, 5, 2)
    assert sorted(p1) == list(range(100))
    assert (p1 == fairness.permutation(100, 5, 1)).all()
    assert not (p1 == p2).all()


def test_evaluate_cross_entropy_and_accuracy_by_hand():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    targets = np.array([0, 0])
    loss, acc = fairness.evaluate(logits, targets, "cross_entropy")
    expected = np.mean([np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0))])
    assert loss == pytest.approx(expected, rel=1e-12)
    assert acc == 0.5


def test_mse_refuses_the_broadcast_that_sank_the_papers_regression():
    pred = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(fairness.ShapeMismatch, match=r"\(4, 1\).*\(4,\)"):
        fairness.evaluate(pred, np.zeros(4, dtype=np.float32), "mse")
    loss, _ = fairness.evaluate(pred, np.ones((4, 1), dtype=np.float32), "mse")
    assert loss == 1.0
