"""``evaluate``: a model's metrics on a labelled folder (MVTec AD layout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inspect_svdd.cli.common import handle_errors, log, main
from inspect_svdd.cli.score import open_backend
from inspect_svdd.errors import DatasetError

if TYPE_CHECKING:
    from inspect_svdd.deploy.scoring import Row


def labelled_files(folder: Path) -> list[tuple[Path, str]]:
    """``(file, label)`` for every image of an MVTec-style folder: ``good/`` and one folder per defect type.

    A dataset root with a ``test/`` folder is read from ``test/``.

    Raises:
        DatasetError: an image outside a label folder, or no good or no defect images.
    """
    from inspect_svdd.io.images import list_images

    root = folder / "test" if (folder / "test").is_dir() else folder
    files = []
    for path in list_images(root):
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            raise DatasetError(f"{path}: a labelled image must sit in good/ or in a folder named after its defect type")
        files.append((path, parts[0]))
    labels = {label for _, label in files}
    if "good" not in labels or labels == {"good"}:
        raise DatasetError(f"{root}: evaluation needs good/ and at least one defect folder, found {', '.join(sorted(labels))}")
    return files


@main.command()
@click.argument("labeled", type=click.Path(path_type=Path))
@click.option("-m", "--model", type=click.Path(path_type=Path), default=Path("model"), show_default=True,
              help="Model directory (or its .onnx file).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("evaluation"), show_default=True,
              help="Folder for metrics.json and scores.csv.")
@click.option("--backend", type=click.Choice(["auto", "onnx", "torch"]), default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@handle_errors
def evaluate(labeled: Path, model: Path, output: Path, backend: str, quiet: bool) -> None:
    """Score LABELED (good/ and one folder per defect type) and write its metrics: AUROC, AUPR, F1-max, rates at R."""
    import numpy as np

    from inspect_svdd.deploy.results import CsvWriter
    from inspect_svdd.deploy.scoring import score_files
    from inspect_svdd.evaluate.metrics import evaluation

    files = labelled_files(labeled)
    label_of = {str(path): label for path, label in files}
    scorer = open_backend(model, backend, "auto", None)
    output.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with open(output / "scores.csv", "w", newline="", encoding="utf-8") as stream:
        writer = CsvWriter(stream, extra=("label",))

        def on_row(row: Row) -> None:
            writer.write(row, label_of[row.path])
            rows.append(row)

        log(f"evaluating {model} on {len(files)} labelled images from {labeled}", quiet)
        score_files([path for path, _ in files], scorer, on_row)
    scored = [r for r in rows if r.score is not None]
    result = evaluation([label_of[r.path] for r in scored], np.array([r.score for r in scored]))
    result |= {"model": str(model), "backend": scorer.name, "radius": scorer.radius, "labelled": str(labeled),
               "unreadable": [{"path": r.path, "problem": r.error} for r in rows if r.score is None]}
    (output / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    click.echo(f"AUROC {result['auroc']:.4f}, AUPR {result['aupr']:.4f}, F1-max {result['f1_max']:.3f}; at the radius: "
               f"{result['false_reject_rate']:.1%} of {result['good']} good parts rejected, "
               f"{result['escape_rate']:.1%} of {result['defects']} defects passed; written to {output}", err=True)
    sys.exit(3 if result["unreadable"] else 0)
