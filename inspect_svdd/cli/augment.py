"""``augment``: golden folder -> augmented training folder (same pipelines as ``fit``)."""

from __future__ import annotations

from pathlib import Path

import click

from inspect_svdd.cli.common import CliError, handle_errors, log, main
from inspect_svdd.config import TrainConfig
from inspect_svdd.errors import InspectError


@main.command()
@click.argument("golden", type=click.Path(path_type=Path), required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder for the augmented images (or the file for --dump-preset).")
@click.option("-n", "--copies", default=20, show_default=True, help="Augmented copies per golden image.")
@click.option("--augment", "spec", default=TrainConfig().augment, show_default=True,
              help="Preset (none, photometric, jitter), synthetic-defect preset to preview what fit --anomalies "
                   "trains on (cutpaste, scar, cutpaste-scar), or an albumentations .json/.yaml file.")
@click.option("--seed", default=0, show_default=True, help="Seed of the augmentation (the same seed writes the same files).")
@click.option("--overwrite", is_flag=True, help="Allow replacing files already in the output folder.")
@click.option("--preview", type=click.Path(path_type=Path), help="Contact sheet PNG (default: OUTPUT_preview.png).")
@click.option("--dump-preset", metavar="PRESET", help="Write PRESET as an albumentations file to -o and stop.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log lines.")
@handle_errors
def augment(golden: Path | None, output: Path, copies: int, spec: str, seed: int, overwrite: bool,
            preview: Path | None, dump_preset: str | None, quiet: bool) -> None:
    """Write augmented copies of the good images under GOLDEN (keeps good parts good)."""
    from inspect_svdd.model.augment import dump_pipeline

    if dump_preset:
        if output.exists() and not overwrite:
            raise CliError(f"{output}: file exists; pass --overwrite")
        dump_pipeline(dump_preset, output)
        click.echo(f"wrote preset {dump_preset} to {output} (albumentations format; edit and pass with --augment)", err=True)
        return
    if golden is None:
        raise CliError("missing GOLDEN folder (or use --dump-preset)")
    from inspect_svdd.model.augment_folder import augment_folder

    def skip(err: InspectError) -> None:
        click.echo(f"skipped: {err}", err=True)

    result = augment_folder(golden, output, copies, spec, seed, overwrite, preview, on_skip=skip)
    log(f"wrote {len(result.written)} images to {output} ({len(result.skipped)} source file(s) skipped); "
        f"manifest {result.manifest}, preview {result.contact_sheet}", quiet)
