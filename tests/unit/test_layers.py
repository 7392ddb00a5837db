"""Layer kinds: shapes, weights in the canonical layout, the errors a user sees, and the autoencoder's
clustering score (numpy k-means + adjusted Rand index)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runners import clustering, fairness
from schemas import JobSpec
from schemas.errors import describe
from schemas.layers import Conv2D, conv_pads, forward_flops, shapes
from tests.jobs import make_spec, spec_dict

LENET = [
    {"kind": "conv2d", "filters": 6, "kernel": 5, "padding": "same", "activation": "relu"},
    {"kind": "max_pool2d", "pool": 2},
    {"kind": "conv2d", "filters": 16, "kernel": 5, "padding": "valid", "activation": "relu"},
    {"kind": "max_pool2d", "pool": 2},
    {"kind": "flatten"},
    {"units": 120, "activation": "relu"},
    {"kind": "batch_norm", "momentum": 0.99, "epsilon": 1e-3},
    {"kind": "dropout", "rate": 0.0},
    {"units": 84, "activation": "relu"},
    {"units": 10, "activation": "linear"},
]


def test_lenet_shapes_weights_and_work():
    w = make_spec("pytorch", "classification", layers=LENET).workload
    assert w.input_shape == (28, 28, 1)  # a conv net sees the image
    assert shapes(w.layers, w.input_shape)[1:5] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16)]
    weights = fairness.initial_weights(w, seed=3)
    assert [k.shape for k, _ in weights] == [(5, 5, 1, 6), (5, 5, 6, 16), (400, 120), (120,), (120, 84), (84, 10)]
    conv = weights[1][0]  # glorot over fan_in = 5*5*6 and fan_out = 5*5*16, as Keras and PyTorch count them
    assert np.abs(conv).max() <= np.sqrt(6 / (150 + 400)) and np.abs(conv).max() > 0.9 * np.sqrt(6 / 550)
    gamma, beta = weights[3]
    assert (gamma == 1).all() and (beta == 0).all()
    # forward multiply-adds: conv1 28*28*6*25, conv2 10*10*16*150, then the dense layers
    assert forward_flops(w.layers, w.input_shape) == 2 * (117600 + 240000 + 400 * 120 + 120 * 84 + 84 * 10)


def test_an_mlp_keeps_its_weights_and_flat_input():
    """Dense-only networks: the same numbers as before other layer kinds existed (the same stream)."""
    w = make_spec("pytorch", "classification").workload
    assert w.input_shape == (784,)
    rng = np.random.default_rng([3, 0x1417])
    first = rng.uniform(-np.sqrt(6 / (784 + 128)), np.sqrt(6 / (784 + 128)), size=(784, 128)).astype(np.float32)
    assert np.array_equal(fairness.initial_weights(w, seed=3)[0][0], first)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(28, 5, 1, (2, 2)), (28, 3, 2, (0, 1)), (28, 4, 1, (1, 2)), (5, 7, 1, (3, 3)), (28, 2, 2, (0, 0))],
)
def test_same_padding_is_tensorflows(size, kernel, stride, expected):
    layer = Conv2D(kind="conv2d", filters=1, kernel=kernel, stride=stride, padding="same", activation="relu")
    top, bottom, _, _ = conv_pads(layer, size, size)
    assert (top, bottom) == expected
    assert (size + top + bottom - kernel) // stride + 1 == -(-size // stride)  # ceil(size / stride)


def _error(mutate) -> str:
    doc = spec_dict("pytorch", "classification")
    mutate(doc["workload"])
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(doc)
    return describe(info.value, "job.json")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda w: w["layers"].insert(0, {"kind": "conv3d"}), "workload.layers[0].kind: is 'conv3d'; expected one of"),
        (lambda w: w["layers"].insert(0, LENET[0]), "workload.layers[1]: dense needs a flat input but gets 28x28x6: put a flatten"),
        (lambda w: w.update(layers=[{**LENET[2], "kernel": 30}, *LENET[4:]]), "workload.layers[0].kernel: a 30x30 kernel does not fit"),
        (lambda w: w.update(layers=[{"kind": "max_pool2d", "pool": 40}, *LENET[4:]]), "workload.layers[0].pool: a 40x40 window"),
        (lambda w: w["layers"].append({"kind": "dropout", "rate": 0.5}), "workload.layers[-1]: is dropout; the last layer must be dense"),
        (lambda w: w["layers"].insert(0, {"kind": "batch_norm", "momentum": 0.9}), "workload.layers[0].epsilon: Field required"),
        (lambda w: w["layers"].insert(0, {"kind": "dropout", "rate": 1.0}), "workload.layers[0].rate: Input should be less than 1"),
        (lambda w: w["layers"].insert(1, {"kind": "flatten", "x": 1}), "workload.layers[1].x: Extra inputs are not permitted"),
        (lambda w: w.update(code_layer=0), "workload.code_layer: only an autoencoder has a code"),
        (lambda w: w.update(task="autoencoder", loss="mse"), "workload.layers[-1].units: is 10 but mnist-5k needs 784 outputs"),
        (lambda w: w.update(task="autoencoder", loss="mse", layers=[{"units": 8, "activation": "relu"},
                                                                    {"units": 784, "activation": "linear"}]),
         "workload.code_layer: missing"),
        (lambda w: w.update(task="autoencoder", loss="mse", code_layer=1, layers=[{"units": 8, "activation": "relu"},
                                                                                  {"units": 784, "activation": "linear"}]),
         "workload.code_layer: is 1; the code must come before the last layer"),
        (lambda w: w.update(dataset="petrol", task="regression", loss="mse", layers=[LENET[0], LENET[4], {"units": 1, "activation": "linear"}]),
         "workload.layers[0]: needs an image dataset"),
    ],
)  # fmt: skip
def test_bad_networks_are_one_line_naming_the_layer(mutate, expected):
    message = _error(mutate)
    assert expected in message, message
    assert "\n" not in message


def test_a_layer_without_kind_is_dense_and_spec_ids_do_not_move():
    with_kind = spec_dict("pytorch", "classification")
    for layer in with_kind["workload"]["layers"]:
        layer["kind"] = "dense"
    assert JobSpec.model_validate(with_kind).spec_id == make_spec("pytorch", "classification").spec_id
    # the id of the paper's classification job, as it was before layer kinds (tests/jobs.py's spec)
    assert make_spec("pytorch", "classification").spec_id == "pytorch-mnist-5k-c70740fa77619289"


layer_docs = st.one_of(
    st.fixed_dictionaries({"units": st.integers(-2, 70_000), "activation": st.sampled_from(["relu", "linear", "x"])}),
    st.fixed_dictionaries({"kind": st.just("conv2d"), "filters": st.integers(-1, 8), "kernel": st.integers(-1, 40),
                           "stride": st.integers(0, 4), "padding": st.sampled_from(["same", "valid", "full"]),
                           "activation": st.just("relu")}),  # fmt: skip
    st.fixed_dictionaries({"kind": st.just("max_pool2d"), "pool": st.integers(-1, 40)}),
    st.just({"kind": "flatten"}),
    st.fixed_dictionaries({"kind": st.just("batch_norm"), "momentum": st.floats(-1, 2), "epsilon": st.floats(-1, 2)}),
    st.fixed_dictionaries({"kind": st.just("dropout"), "rate": st.floats(-1, 2) | st.just(float("nan"))}),
    st.dictionaries(st.sampled_from(["kind", "units", "pool", "rate"]), st.integers(-3, 3) | st.text(max_size=4)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(layer_docs, min_size=0, max_size=8), st.sampled_from(["mnist-5k", "petrol"]))
def test_any_layer_list_is_a_valid_spec_or_one_line(layers, dataset):
    doc = spec_dict("pytorch", "classification" if dataset == "mnist-5k" else "regression", layers=layers)
    try:
        spec = JobSpec.model_validate(doc)
    except ValidationError as exc:
        message = describe(exc, "job.json")
        assert message.startswith("job.json: ") and "\n" not in message
        return
    w = spec.workload  # valid: every layer takes its input, and the weights follow the shapes
    assert len(fairness.initial_weights(w, seed=1)) == sum(k not in ("max_pool2d", "flatten", "dropout")
                                                            for k in (layer.kind for layer in w.layers))  # fmt: skip


def test_ari_known_values():
    a = np.array([0, 0, 1, 1, 2, 2])
    assert clustering.adjusted_rand_index(a, a) == 1.0
    assert clustering.adjusted_rand_index(a, np.array([5, 5, 7, 7, 9, 9])) == 1.0  # names do not matter
    # scikit-learn's adjusted_rand_score([0,0,1,1], [0,0,1,2]) = 0.5714285714285715
    assert clustering.adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5714285714285715)
    # [0,0,0,1,1,1] against [0,1,0,1,0,1]: 2 agreeing pairs, 6 * 6 / 15 = 2.4 expected by chance, at
    # most 6: (2 - 2.4) / (6 - 2.4) = -1/9 (worse than chance)
    assert clustering.adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 0, 1]) == pytest.approx(-1 / 9)
    rng = np.random.default_rng(0)
    random = [clustering.adjusted_rand_index(rng.integers(0, 10, 2000), rng.integers(0, 10, 2000)) for _ in range(20)]
    assert abs(float(np.mean(random))) < 0.01


def test_kmeans_recovers_separated_clusters_deterministically():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 10, size=(5, 3))
    truth = np.repeat(np.arange(5), 200)
    x = centres[truth] + rng.normal(0, 0.5, size=(1000, 3))
    found = clustering.kmeans(x.astype(np.float32), 5, seed=7)
    assert clustering.adjusted_rand_index(truth, found) > 0.99
    assert np.array_equal(found, clustering.kmeans(x.astype(np.float32), 5, seed=7))
    for k, row in itertools.product((1, 3), (x[:2],)):  # fewer rows than clusters, or one cluster
        assert len(clustering.kmeans(row, k, seed=0)) == 2
