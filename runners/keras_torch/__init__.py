"""Keras 3 on the PyTorch backend (framework name keras-torch). The heavy part (`session`) is imported only when
a job runs."""
