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

FRAMEWORKS: tuple[str, ...] = ("tensorflow", "pytorch")  # real runners with their own environment
