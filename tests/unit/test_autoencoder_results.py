"""An autoencoder run through the results: the ARI column, the clustering criterion, the ARI plot,
and nothing of it in a run without autoencoders; parity of a network with dropout."""

from __future__ import annotations

from pathlib import Path

from orchestrator.results import render_run
from orchestrator.results.parity import parity_rows
from orchestrator.results.tidy import final_frame, load_run, metrics_frame
from schemas import JobSpec
from tests.jobs import spec_dict
from tests.unit._factories import make_report, make_spec, write_run


def autoencoder_job(framework: str, repeat: int, ari: float) -> tuple[JobSpec, object]:
    doc = spec_dict(framework, "classification", epochs=3)
    doc["workload"].update(task="autoencoder", loss="mse", code_layer=0,
                           layers=[{"units": 16, "activation": "relu"}, {"units": 784, "activation": "linear"}])  # fmt: skip
    doc.update(seed=100 + repeat, repeat=repeat)
    spec = JobSpec.model_validate(doc)
    base = make_report(make_spec(framework, "regression", repeat=repeat, epochs=3))
    epochs = tuple(e.model_copy(update={"val_ari": ari + 0.01 * e.epoch}) for e in base.epochs)
    return spec, base.model_copy(update={"spec_id": spec.spec_id, "epochs": epochs})


def test_the_clustering_score_reaches_tables_verdicts_and_plots(tmp_path: Path):
    jobs = [autoencoder_job(fw, r, ari) for r in range(5) for fw, ari in (("pytorch", 0.30 + r / 100), ("tensorflow", 0.50 + r / 100))]
    meta = {"name": "ae", "state": "complete", "backend": "fake", "machine": "test",
            "datasets": {"autoencoder": {"used": "mnist-5k", "reason": "test"}}}  # fmt: skip
    run = write_run(tmp_path / "run", jobs, meta)
    final = final_frame(metrics_frame(load_run(run)))
    assert final["final_val_ari"].round(4).tolist()[:2] == [0.33, 0.34]  # epoch 3's value, per job
    render_run(run)
    table = (run / "tables" / "results_autoencoder.md").read_text()
    assert "final val ARI (k-means on codes)" in table and "ARI: adjusted Rand index" in table
    winner = (run / "tables" / "winner.md").read_text()
    (line,) = [row for row in winner.splitlines() if row.startswith("| autoencoder | clustering")]
    assert "ari (higher is better)" in line and "tensorflow better" in line, line
    assert (run / "plots" / "autoencoder_val_ari.png").stat().st_size > 1000


def test_a_run_without_autoencoders_has_no_clustering_anything(tmp_path: Path):
    jobs = [(s, make_report(s)) for r in range(2) for s in (make_spec("pytorch", "regression", repeat=r),
                                                             make_spec("tensorflow", "regression", repeat=r))]  # fmt: skip
    run = write_run(tmp_path / "run", jobs)
    render_run(run)
    assert "ARI" not in (run / "tables" / "results_regression.md").read_text()
    assert "clustering" not in (run / "tables" / "winner.md").read_text()
    assert not list((run / "plots").glob("*val_ari*"))


def test_parity_of_a_dropout_network_checks_only_what_precedes_training(tmp_path: Path):
    def job(framework: str, rate: float, offset: float) -> tuple[JobSpec, object]:
        doc = spec_dict(framework, "classification", epochs=3)
        doc["workload"]["layers"].insert(1, {"kind": "dropout", "rate": rate})
        spec = JobSpec.model_validate(doc)
        base = make_report(make_spec(framework, "classification", repeat=0, epochs=3), epoch1_offset=offset)
        return spec, base.model_copy(update={"spec_id": spec.spec_id})

    for rate, expected in ((0.5, "pass, before training only: dropout (rate 0.5)"), (0.0, "FAIL")):
        run = write_run(tmp_path / f"run{rate}", [job("pytorch", rate, 0.0), job("tensorflow", rate, 0.2)])
        (row,) = parity_rows(load_run(run))
        assert row.check.startswith(expected), row.check
