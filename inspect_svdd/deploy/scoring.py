"""Batch scoring of image files through any backend (torch or ONNX Runtime).

Files are decoded in threads, preprocessed by the shared code, scored in
batches and reported one row at a time, in file order. A bad file becomes an
``error`` row and the run goes on. No torch import here: the runtime uses it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import InspectError
from inspect_svdd.io.preprocess import file_shape, iter_loaded, load_image


class Backend(Protocol):
    """What scoring needs from a model: its input settings, radius and distances."""

    name: str
    provider: str
    preprocess: PreprocessConfig
    radius: float
    drift_reference: float | None  # the held-out golden images' distance the drift alarm is based on

    def distances(self, batch: np.ndarray) -> np.ndarray:
        """Squared distances to the centre of a uint8 NHWC batch."""
        ...


@dataclass(frozen=True)
class Row:
    """One image's result; ``score``/``distance`` are None for an error row."""

    path: str
    score: float | None
    distance: float | None
    radius: float
    verdict: str  # "pass", "fail" or "error"
    error: str = ""


class FormatCheck:
    """Does an incoming image look like the golden ones (size range, channel count)?

    A colour model silently converts a gray image, and a model fitted on large
    frames silently scores thumbnails; both give scores that mean little, so
    scoring warns. Sizes within 10 % of the golden range pass.
    """

    def __init__(self, facts: dict[str, Any] | None) -> None:
        self.facts = facts or {}

    def problem(self, shape: tuple[int, ...]) -> tuple[str, str] | None:
        """``(kind, warning)`` for a decoded H x W x C shape (kind: ``channels`` or ``size``), or None when it fits."""
        if not self.facts:
            return None
        (w0, h0), (w1, h1) = self.facts["min_size"], self.facts["max_size"]
        h, w, c = shape
        if c not in self.facts["channels"]:
            kinds = {1: "gray", 3: "colour"}
            golden = " and ".join(kinds.get(k, str(k)) for k in self.facts["channels"])
            return "channels", f"{kinds.get(c, c)} image but the golden images were {golden}; scores may be meaningless"
        if not (0.9 * w0 <= w <= 1.1 * w1 and 0.9 * h0 <= h <= 1.1 * h1):
            golden = f"{w0}x{h0}" if (w0, h0) == (w1, h1) else f"{w0}x{h0} to {w1}x{h1}"
            return "size", f"{w}x{h} pixels but the golden images were {golden}; scores may be meaningless"
        return None


def verdict_row(path: Path, distance: float, radius: float) -> Row:
    """Row for a scored image: fail where ``distance > radius**2``."""
    score = float(distance) - radius**2
    return Row(str(path), score, float(distance), radius, "fail" if score > 0 else "pass")


def error_row(path: Path, error: InspectError, radius: float) -> Row:
    """Row for a file that could not be scored."""
    problem = getattr(error, "problem", str(error))
    return Row(str(path), None, None, radius, "error", problem)


def score_files(
    paths: Sequence[Path],
    backend: Backend,
    on_row: Callable[[Row], None],
    radius: float | None = None,
    batch_size: int = 32,
    workers: int = 2,
    on_warning: Callable[[Path, str, str], None] | None = None,
) -> None:
    """Score ``paths`` in order, calling ``on_row`` for each result as soon as its batch is done.

    Args:
        radius: decision radius overriding the model's (no re-export needed).
        batch_size: images per network call.
        workers: decoding threads.
        on_warning: called with a file, the kind of difference and the
            warning when it differs from the golden images in size or
            channels (it is scored all the same).
    """
    check = FormatCheck(getattr(backend, "golden_format", None))
    shapes: dict[Path, tuple[int, ...]] = {}

    def record(path: Path, image: np.ndarray, reduce: int) -> None:
        shapes[path] = file_shape(image, reduce)

    r = backend.radius if radius is None else radius
    pending: list[tuple[Path, np.ndarray | None, InspectError | None]] = []
    n_images = 0

    def flush() -> None:
        nonlocal n_images
        images = [img for _, img, _ in pending if img is not None]
        dist = iter(backend.distances(np.stack(images)) if images else [])
        for path, img, err in pending:
            if img is None:
                on_row(error_row(path, err or InspectError("unknown error"), r))
            else:
                on_row(verdict_row(path, next(dist), r))
        pending.clear()
        n_images = 0

    for item in iter_loaded(paths, backend.preprocess, workers, loader=functools.partial(load_image, on_decoded=record)):
        problem = check.problem(shapes.pop(item[0])) if item[0] in shapes else None
        if problem and on_warning:
            on_warning(item[0], *problem)
        pending.append(item)
        n_images += item[1] is not None
        if n_images >= batch_size:
            flush()
    flush()


def decode_rate(paths: Sequence[Path], cfg: PreprocessConfig, workers: int = 2) -> float:
    """Images per second of decoding and preprocessing alone (the scoring ceiling)."""
    start = time.perf_counter()
    count = sum(1 for _ in iter_loaded(paths, cfg, workers))
    return count / max(time.perf_counter() - start, 1e-9)
