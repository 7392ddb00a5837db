"""Keras 3 on the TensorFlow backend. The heavy part (`session`) is imported only when a job runs."""
