"""JAX runner (Flax + Optax). The heavy part (`session`) is imported only when a job runs."""
