"""The hand-written training loops of benchmarks/minimal_loop.py, one module per framework.

Each module has `loop(data, epochs, bs, threads, compiled, model_name) -> (epoch_seconds, val_accuracy)`
and imports its framework inside the function (minimal_loop.py imports only the one it runs). What
they share (the networks' shapes, the epoch order, Keras's Adam, Keras `fit` as a loop) is common.py.
"""

LOOPS = {  # framework -> module under benchmarks/loops/
    "pytorch": "pytorch",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "keras-jax": "keras_jax",
    "keras-torch": "keras_torch",
}
