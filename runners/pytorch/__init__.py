"""PyTorch runner. The heavy part (`session`) is imported only when a job runs."""
