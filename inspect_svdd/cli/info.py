"""``info``: what a model directory is (torch-free)."""

from __future__ import annotations

from pathlib import Path

import click

from inspect_svdd.cli.common import handle_errors, main


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@handle_errors
def info(model: Path) -> None:
    """Print what MODEL is: data, settings, radius, held-out figures, fit time, versions, ONNX pairing."""
    from inspect_svdd.deploy.info import describe

    lines = describe(model)
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        click.echo(f"{label + ':':{width}s}{text}")
