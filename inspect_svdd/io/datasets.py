"""Load a folder of golden images into one uint8 NHWC array, through the shared loader.

Unreadable files are reported (callback) and skipped, so one bad photo does not
stop a fit; the caller records what was skipped in the model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspect_svdd.config import ASPECT_SPREAD, PreprocessConfig
from inspect_svdd.errors import DatasetError, InspectError
from inspect_svdd.io.images import is_grayscale, list_images
from inspect_svdd.io.preprocess import file_shape, iter_loaded, load_image


@dataclass
class Folder:
    """Images loaded from a folder, with the settings actually used."""

    images: np.ndarray
    files: list[Path]
    skipped: list[tuple[Path, str]]
    preprocess: PreprocessConfig
    shapes: list[tuple[int, ...]] = dataclasses.field(default_factory=list)  # decoded H x W x C per file

    def format_facts(self) -> dict[str, list[int]]:
        """The decoded images' size range and channel counts, recorded in the model to check incoming images."""
        heights, widths = [s[0] for s in self.shapes], [s[1] for s in self.shapes]
        return {"min_size": [min(widths), min(heights)], "max_size": [max(widths), max(heights)],
                "channels": sorted({s[2] for s in self.shapes})}


def load_folder(
    folder: str | Path,
    cfg: PreprocessConfig,
    channels: str = "auto",
    on_skip: Callable[[InspectError], None] | None = None,
    workers: int = 2,
    paths: list[Path] | None = None,
) -> Folder:
    """Decode and preprocess every image under ``folder``, each as soon as it is decoded.

    Only the network-sized result of each file is kept, so memory is bounded by
    the input size, not by the camera's resolution. With ``channels`` ``auto``
    every image is preprocessed as RGB and reduced to one channel at the end
    if every file was gray (equal channels: the same values as a gray
    preprocessing, since conversion and resize commute there).

    Args:
        cfg: preprocessing settings; its ``channels`` is replaced when
            ``channels`` is ``auto`` (1 if every image is gray, else 3), its
            ``aspect`` when ``auto`` (keep when the files' shapes differ, see
            :func:`aspect_for`; they are then decoded a second time).
        channels: ``auto``, ``1`` or ``3``.
        on_skip: called with the error of each unreadable file.
        paths: the files to load (default: every image under ``folder``).

    Raises:
        DatasetError: no image at all, or none readable.
    """
    paths = list_images(folder) if paths is None else paths
    work_cfg = dataclasses.replace(cfg, channels=3 if channels == "auto" else int(channels))
    facts: dict[Path, tuple[tuple[int, ...], bool]] = {}  # decoded shape and grayness per file

    def record(path: Path, image: np.ndarray, reduce: int) -> None:
        facts[path] = (file_shape(image, reduce), is_grayscale(image))

    images, files, skipped, unfit = [], [], [], []
    for path, image, error in iter_loaded(paths, work_cfg, workers, loader=functools.partial(load_image, on_decoded=record)):
        if image is not None:
            images.append(image)
            files.append(path)
            continue
        skipped.append((path, getattr(error, "problem", str(error))))
        if path in facts:  # decoded, but the settings (e.g. the ROI) do not fit it: reported below
            unfit.append(error)
        elif on_skip and error:
            on_skip(error)
    if not images and unfit:  # a setting fits no image: one message, not one per file
        raise DatasetError(f"{folder}: no image could be preprocessed, e.g. {unfit[0]}")
    if not images:
        raise DatasetError(f"{folder}: none of the {len(paths)} image file(s) could be read")
    for error in unfit:
        if on_skip and error:
            on_skip(error)
    if work_cfg.aspect == "auto":
        kept = work_cfg.roi is None and aspect_for([facts[p][0] for p in files]) == "keep"  # an ROI has one shape
        work_cfg = dataclasses.replace(work_cfg, aspect="keep" if kept else "stretch")
        if kept:  # decoded again in the worker threads, now fitted inside the input (only network-sized images were kept)
            images = []
            for _, image, error in iter_loaded(files, work_cfg, workers):
                if image is None:  # read the first time: the file changed since
                    raise error or DatasetError(f"{folder}: an image could not be decoded a second time")
                images.append(image)
    if channels == "auto":
        gray = all(facts[p][1] for p in files)
        work_cfg = dataclasses.replace(work_cfg, channels=1 if gray else 3)
        if gray:
            images = [image[:, :, :1] for image in images]
    return Folder(np.stack(images), files, skipped, work_cfg, [facts[p][0] for p in files])


def aspect_for(shapes: list[tuple[int, ...]]) -> str:
    """``keep`` when the width-to-height ratios spread beyond :data:`~inspect_svdd.config.ASPECT_SPREAD`, else ``stretch``."""
    ratios = [w / h for h, w, *_ in shapes]
    return "keep" if max(ratios) > ASPECT_SPREAD * min(ratios) else "stretch"


def load_defects(folder: str | Path, golden: Folder, on_skip: Callable[[InspectError], None] | None = None,
                 skip_good: bool = False) -> Folder:
    """Load a folder of real defective parts, preprocessed exactly as ``golden`` (Deep SAD, or fit's validation).

    ``skip_good``: a labelled folder (``good/`` beside one folder per defect
    type, or their parent ``test/``) gives its defect images only.

    Raises:
        DatasetError: no folder or no readable image (from :func:`load_folder`), or a defect image whose size or
            channel count matches no golden image (it would be resized or
            converted differently, and the model would learn the difference
            in format rather than the defect).
    """
    known = {(h, w) for h, w, _ in golden.shapes}
    channels = {c for _, _, c in golden.shapes}
    paths = None
    if skip_good:
        root = Path(folder) / "test" if (Path(folder) / "test").is_dir() else Path(folder)
        paths = [p for p in list_images(root) if p.relative_to(root).parts[0] != "good"]
        if not paths:
            raise DatasetError(f"{folder}: no defect images (only good/ or nothing)")
    found = load_folder(folder, golden.preprocess, str(golden.preprocess.channels), on_skip, paths=paths)
    for path, (h, w, c) in zip(found.files, found.shapes, strict=True):
        if (h, w) not in known:
            sizes = ", ".join(f"{gw}x{gh}" for gh, gw in sorted(known)[:3])
            raise DatasetError(
                f"{path}: defect image is {w}x{h} but the golden images are {sizes}; use images from the same camera")
        if c not in channels:
            raise DatasetError(f"{path}: defect image has {c} channel(s) but the golden images have {min(channels)}")
    return found
