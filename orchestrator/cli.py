"""`bench`: the root app only composes the command modules."""

from __future__ import annotations

import typer

from orchestrator.commands import (
    calibrate,
    check,
    compare,
    datasets,
    history,
    images,
    orchestrate,
    report,
    runners,
    schema,
)
from orchestrator.signals import install_interrupt_handlers

app = typer.Typer(
    help="Fair, isolated, statistically gated training benchmarks (TensorFlow/Keras vs PyTorch).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    # Before any command: whatever signal dispositions bench inherited (SIGINT ignored under
    # `nohup ... &`), Ctrl-C and SIGTERM take every command's clean KeyboardInterrupt path.
    install_interrupt_handlers()


app.command()(orchestrate.orchestrate)
app.command()(report.report)
app.command()(schema.schema)
app.command()(check.check)
app.command()(calibrate.calibrate)
app.add_typer(datasets.app, name="datasets")
app.add_typer(runners.app, name="runners")
app.add_typer(images.app, name="images")
app.command()(compare.compare)
app.add_typer(history.app, name="history")

if __name__ == "__main__":
    app()
