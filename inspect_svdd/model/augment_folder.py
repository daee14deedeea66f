"""Write augmented copies of a golden folder, with a manifest and a contact sheet.

Output ``<stem>_augNNN.png`` traces each file to its source; ``manifest.csv``
lists (output, source, seed), and a contact sheet (by default
``<output>_preview.png``, beside the folder so that ``fit`` never trains on it)
shows originals beside their augmentations, so a person can check at a glance
that they still look like good parts. Same seed, same bytes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspect_svdd.errors import ConfigError, ImageError, InspectError
from inspect_svdd.io.images import decode_image, list_images
from inspect_svdd.model.augment import augmented_copy, build_pipeline, image_seed

MANIFEST = "manifest.csv"


@dataclass
class AugmentResult:
    """What :func:`augment_folder` wrote and skipped."""

    written: list[Path]
    skipped: list[tuple[Path, str]]
    manifest: Path
    contact_sheet: Path


def _write_png(path: Path, image: np.ndarray) -> None:
    bgr = image[..., 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr):
        raise ImageError(path, "cannot write file")


def augment_folder(
    source: str | Path,
    output: str | Path,
    copies: int,
    spec: str = "jitter",
    seed: int = 0,
    overwrite: bool = False,
    preview: str | Path | None = None,
    on_skip: Callable[[InspectError], None] | None = None,
) -> AugmentResult:
    """Write ``copies`` augmentations of every image under ``source`` to ``output``.

    Raises:
        ConfigError: ``output`` already holds files we would write and ``overwrite`` is False.
    """
    if copies < 1:
        raise ConfigError(f"number of copies must be at least 1, got {copies}")
    source, output = Path(source), Path(output)
    preview = Path(preview) if preview else output.parent / f"{output.name}_preview.png"
    paths = list_images(source)
    stems = [p.relative_to(source).with_suffix("").as_posix().replace("/", "__") for p in paths]
    clashing = {s for s in stems if stems.count(s) > 1}  # a.png and a.jpg: keep the extension in both names
    names = [Path(f"{stem}_{p.suffix.lstrip('.').lower()}" if stem in clashing else stem)
             for stem, p in zip(stems, paths, strict=True)]
    planned = [output / f"{n}_aug{j:03d}.png" for n in names for j in range(1, copies + 1)]
    clash = [p for p in [*planned, output / MANIFEST, preview] if p.exists()]
    if clash and not overwrite:
        raise ConfigError(f"{output}: would overwrite {len(clash)} file(s), e.g. {clash[0].name}; pass --overwrite")
    output.mkdir(parents=True, exist_ok=True)
    pipeline = build_pipeline(spec, seed)
    written: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    sheet_rows: list[list[np.ndarray]] = []
    with open(output / MANIFEST, "w", newline="", encoding="utf-8") as fh:
        manifest = csv.writer(fh, lineterminator="\n")
        manifest.writerow(["output", "source", "seed"])
        for i, (path, name) in enumerate(zip(paths, names, strict=True)):
            try:
                image = decode_image(path)
            except InspectError as exc:
                skipped.append((path, getattr(exc, "problem", str(exc))))
                if on_skip:
                    on_skip(exc)
                continue
            row = [image]
            for j in range(1, copies + 1):
                s = image_seed(seed, i, j)
                out = augmented_copy(pipeline, image, s)
                target = output / f"{name}_aug{j:03d}.png"
                _write_png(target, out)
                manifest.writerow([target.name, path.relative_to(source).as_posix(), s])
                written.append(target)
                row.append(out)
            if len(sheet_rows) < 8:
                sheet_rows.append(row[:7])
    if not written:
        raise ConfigError(f"{source}: no readable image to augment")
    _write_png(preview, contact_sheet(sheet_rows))
    return AugmentResult(written, skipped, output / MANIFEST, preview)


def contact_sheet(rows: list[list[np.ndarray]], cell: int = 128, gap: int = 4) -> np.ndarray:
    """Tile images (first column: originals) into one RGB image with a small gap."""
    n_cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (cell + gap) + gap, n_cols * (cell + gap) + gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            tile = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_AREA)
            tile = tile.reshape(cell, cell, -1)
            y, x = gap + r * (cell + gap), gap + c * (cell + gap)
            sheet[y : y + cell, x : x + cell] = tile if tile.shape[2] == 3 else np.repeat(tile, 3, axis=2)
    return sheet
