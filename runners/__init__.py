"""Code that runs INSIDE an isolated runner environment (numpy + pydantic + one framework).

    harness.py      spec in, report out: data, weights, batch order, evaluation, status, atomic write
    fairness.py     shared initial weights, batch order, shape checks, numpy evaluation maths
    environment.py  fingerprint pieces (CPU, installed-distribution hash, NVIDIA driver)
    datasets/       prepare once into a float32 .npz, validate on load
    <framework>/    a plug-in: `session.build(spec, data, weights)` -> Session (see harness.Session)

Adding a framework: a package here with `__main__.py` calling `harness.main(NAME)` and a
`session.py`, an `images/NAME/requirements.txt`, NAME in `FRAMEWORKS` and in schemas.job.Framework;
the contract tests in tests/integration then cover it.
"""

FRAMEWORKS: tuple[str, ...] = ("tensorflow", "pytorch", "keras-jax", "keras-torch", "jax")  # real runners with their own environment


def module_for(framework: str) -> str:
    """The runner package of a framework name: "keras-jax" -> "runners.keras_jax" (a Python module
    cannot have '-'; images, venvs and reports keep the hyphenated name). The one place that maps
    the two: launchers run `python -m module_for(name)`, the harness imports its `.session`."""
    return "runners." + framework.replace("-", "_")
