"""The one place where a decoded image becomes the network's input.

``decoded uint8 HxWxC -> channel conversion -> ROI crop -> resize (-> mirrored margins) -> uint8 SxSxC``.
Training, torch scoring, ONNX export and the ONNX runtime all call
:func:`preprocess`; normalisation to floats happens inside the network (and so
inside the ONNX graph), never here. numpy/OpenCV only: the runtime imports it.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ImageError, InspectError
from inspect_svdd.io.images import decode_bytes, is_grayscale, jpeg_reduction, read_file

_INTERPOLATION = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}

INPUT_CONTRACT = (
    "uint8 array of shape (N, H, W, C): N images, H = W = frame_size (tiled models) or image_size; a local model "
    "with image_height: H = image_height, W = image_size; "
    "C = channels (1 = gray, 3 = RGB in that order), values 0-255, channels last; with aspect keep, the image "
    "resized to fit with its aspect ratio kept, centred, the margins filled by mirroring it"
)


def preprocess(image: np.ndarray, cfg: PreprocessConfig, path: str | Path = "<array>") -> np.ndarray:
    """Turn a decoded uint8 HxWxC image into the uint8 network input (``cfg.input_shape`` x C).

    Args:
        image: uint8 array from :func:`inspect_svdd.io.images.decode_image`.
        cfg: the model's preprocessing settings.
        path: used only to name the file in error messages.

    Raises:
        ImageError: the region of interest does not fit inside the image.
    """
    image = _convert_channels(image, cfg.channels)
    if cfg.roi is not None:
        x, y, w, h = cfg.roi
        rows, cols = image.shape[:2]
        if x + w > cols or y + h > rows:
            raise ImageError(path, f"region of interest {x},{y},{w},{h} does not fit in a {cols}x{rows} image")
        image = image[y : y + h, x : x + w]
    rows, cols = cfg.input_shape
    y, x, h, w = content_box(image.shape[:2], cfg)
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=_INTERPOLATION[cfg.resize])
    if image.ndim == 2:
        image = image[:, :, None]
    if (h, w) != (rows, cols):  # aspect kept: mirror the image into the rest of the input
        image = np.pad(image, ((y, rows - h - y), (x, cols - w - x), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(image)


def content_box(shape: tuple[int, ...], cfg: PreprocessConfig) -> tuple[int, int, int, int]:
    """Where an image (or its ROI) of ``shape`` (rows, columns) lies in the network input: ``(y, x, h, w)``.

    The largest box of the image's aspect ratio that fits, centred, when
    ``cfg.aspect`` is ``keep``; otherwise (``stretch``, or ``auto`` not
    resolved by a fit) the whole input.
    """
    rows, cols = cfg.input_shape
    if cfg.aspect != "keep":
        return 0, 0, rows, cols
    scale = min(rows / shape[0], cols / shape[1])
    h, w = min(rows, max(1, round(shape[0] * scale))), min(cols, max(1, round(shape[1] * scale)))
    return (rows - h) // 2, (cols - w) // 2, h, w


def _convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    have = image.shape[2]
    if have == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)


def load_image(path: str | Path, cfg: PreprocessConfig,
               on_decoded: Callable[[Path, np.ndarray, int], None] | None = None) -> np.ndarray:
    """Decode and preprocess one file (the shared loader's unit of work).

    With ``cfg.decode`` ``reduced`` (and no ROI) a large JPEG is decoded at
    1/2, 1/4 or 1/8 scale first (:func:`~inspect_svdd.io.images.jpeg_reduction`).
    ``on_decoded`` sees the decoded image and that scale-down before the image
    is preprocessed (and dropped): golden folders record size and grayness,
    scoring the size.
    """
    data = read_file(path)
    reduce = jpeg_reduction(data, min(cfg.input_shape)) if cfg.decode == "reduced" and cfg.roi is None else 1
    image = decode_bytes(data, path, reduce)
    if on_decoded is not None:
        on_decoded(Path(path), image, reduce)
    return preprocess(image, cfg, path)


def file_shape(image: np.ndarray, reduce: int) -> tuple[int, int, int]:
    """H x W x C of the file a decoded image came from, so every file is described alike.

    Sizes are those before a reduced decode, and a gray JPEG decoded reduced
    (as three equal channels) counts as gray.
    """
    channels = 1 if reduce > 1 and is_grayscale(image) else image.shape[2]
    return image.shape[0] * reduce, image.shape[1] * reduce, channels


LoadResult = tuple[Path, np.ndarray | None, InspectError | None]


def iter_loaded(
    paths: Sequence[Path], cfg: PreprocessConfig, workers: int = 2, loader: Callable[..., np.ndarray] = load_image
) -> Iterator[LoadResult]:
    """Yield ``(path, image or None, error or None)`` in the order of ``paths``.

    Decoding runs in ``workers`` threads (OpenCV releases the GIL), a bounded
    window ahead of the consumer so memory stays flat on large folders.
    """

    def work(path: Path) -> LoadResult:
        try:
            return path, loader(path, cfg), None
        except InspectError as exc:
            return path, None, exc

    if workers <= 1:
        yield from map(work, paths)
        return
    window = max(4 * workers, 16)
    todo = iter(paths)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(pool.submit(work, p) for p in itertools.islice(todo, window))
        while pending:
            result = pending.popleft().result()
            for path in itertools.islice(todo, 1):
                pending.append(pool.submit(work, path))
            yield result
