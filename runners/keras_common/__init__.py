"""What the Keras runners (tensorflow, keras-jax, keras-torch) share: the model built from the spec's
layers with the shared weights, and the optimizer and loss it is compiled with (network.py). Keras only:
each runner sets KERAS_BACKEND before importing it, so the same code runs on every backend."""
