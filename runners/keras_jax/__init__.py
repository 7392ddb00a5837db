"""Keras 3 on the JAX backend (framework name keras-jax). The heavy part (`session`) is imported only when a job
runs."""
