"""List image files and decode one image to uint8 HxWxC, with explicit errors.

This module (like :mod:`inspect_svdd.io.preprocess`) uses only numpy and OpenCV so
that the torch-free runtime can import it.

Pixel types are normalised here, once, for every caller:

* 8-bit gray, RGB, palette: used as they are (palette indices are expanded).
* 16-bit: scaled to 8 bits (``v * 255 / 65535``, rounded).
* 4-channel (alpha): the alpha channel is dropped.
* CMYK JPEG: converted to RGB by OpenCV.
* anything else (float or 32-bit TIFFs, 2-channel images): an :class:`ImageError`.

EXIF orientation is **not** applied: pixels are used as stored, the same for
golden and incoming images. Line cameras write no orientation; a phone photo
tagged "rotate 90°" is scored as the sensor saw it.

Images larger than :data:`MAX_PIXELS` are refused from their header, before
any pixel is decoded, so a decompression bomb (a small file that decodes to a
huge image) cannot exhaust memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from inspect_svdd.errors import DatasetError, ImageError, first_line

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
MAX_PIXELS = int(os.environ.get("INSPECT_SVDD_MAX_PIXELS", 100_000_000))  # 100 MP: 10,000 x 10,000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))  # OpenCV's own check, for headers not read here

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # quiet: codec warnings would mix with results


def list_images(root: str | Path) -> list[Path]:
    """Return the image files under ``root``, recursive and sorted.

    Sorting is on the path relative to ``root`` so the order does not depend on
    the file system. Symbolic links to folders are followed once (cycles are
    skipped).

    Raises:
        DatasetError: ``root`` is missing, not a folder, empty, or holds no image.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    found: list[Path] = []
    others: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            (found if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    if not found:
        if not others:
            raise DatasetError(f"{root}: folder is empty")
        example = sorted(others)[0].relative_to(root)
        raise DatasetError(
            f"{root}: no images ({len(others)} other file(s), e.g. {example}); "
            f"expected {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_file(path: str | Path) -> bytes:
    """A file's bytes, or an :class:`ImageError` naming it (missing, a folder, unreadable)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageError(path, "is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(path, f"cannot read file ({exc.strerror})") from None


def jpeg_reduction(data: bytes, min_side: int) -> int:
    """1, 2, 4 or 8: the largest JPEG scale-down that keeps the shorter side at least ``min_side`` (1: not a JPEG)."""
    size = header_size(data) if data.startswith(b"\xff\xd8") else None
    if size is None:
        return 1
    return next((f for f in (8, 4, 2) if min(size) >= f * min_side), 1)


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


LIST_SUFFIXES = (".txt", ".lst")


def list_sources(source: str | Path) -> list[Path]:
    """The images to score: those under a folder (:func:`list_images`), or those a text file lists.

    A list (``.txt``/``.lst``) holds one path per line (blank lines and ``#``
    comments skipped; relative paths are relative to the list's folder), in
    its order. Listed files are not checked here: a missing one becomes an
    error row when it is scored.

    Raises:
        DatasetError: the folder or list is missing, or the list names no file.
    """
    source = Path(source)
    if source.is_file() and source.suffix.lower() in LIST_SUFFIXES:
        lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
        paths = [Path(line) if Path(line).is_absolute() else source.parent / line
                 for line in lines if line and not line.startswith("#")]
        if not paths:
            raise DatasetError(f"{source}: the list names no image")
        return paths
    return list_images(source)


def decode_image(path: str | Path) -> np.ndarray:
    """Decode one file to a uint8 array of shape HxWx1 (gray) or HxWx3 (RGB).

    Raises:
        ImageError: the file is missing, empty, truncated, corrupt, or of an
            unsupported pixel type. The message names the file.
    """
    return decode_bytes(read_file(path), path)


def decode_bytes(data: bytes, path: str | Path = "<bytes>", reduce: int = 1) -> np.ndarray:
    """:func:`decode_image` of a file's content; ``path`` names it in errors.

    ``reduce`` 2, 4 or 8 (from :func:`jpeg_reduction`) decodes a JPEG at that
    scale-down in the decoder (RGB; a gray JPEG comes back with three equal
    channels, which the preprocessing turns back into the same gray values).
    """
    path = Path(path)
    if not data:
        raise ImageError(path, "file is empty (0 bytes)")
    _check_complete(path, data)
    size = header_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise ImageError(path, f"image is {size[0]}x{size[1]} pixels, over the limit of {MAX_PIXELS / 1e6:g} megapixels "
                               "(refused before decoding; set INSPECT_SVDD_MAX_PIXELS to allow it)")
    try:
        flags = cv2.IMREAD_UNCHANGED if reduce == 1 else _REDUCED[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:  # OpenCV raises instead of returning None for some broken headers
        raise ImageError(path, f"not a readable image ({first_line(exc)})") from None
    if image is None or image.size == 0:
        raise ImageError(path, "not a readable image (corrupt or unknown format)")
    return _to_uint8_gray_or_rgb(path, image)


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, JPEG, BMP or TIFF header, without decoding; None when not found."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if data.startswith(b"\xff\xd8"):
            return _jpeg_size(data)
        if data.startswith(b"BM") and len(data) >= 26:
            if int.from_bytes(data[14:18], "little") == 12:  # OS/2 core header
                return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
            return (abs(int.from_bytes(data[18:22], "little", signed=True)),
                    abs(int.from_bytes(data[22:26], "little", signed=True)))
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data, "little" if data[:2] == b"II" else "big")
    except (IndexError, ValueError):
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame: precision, height, width
            return int.from_bytes(data[pos + 7 : pos + 9], "big"), int.from_bytes(data[pos + 5 : pos + 7], "big")
        if marker == 0xDA:
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return None


def _tiff_size(data: bytes, order: Literal["little", "big"]) -> tuple[int, int] | None:
    ifd = int.from_bytes(data[4:8], order)
    count = int.from_bytes(data[ifd : ifd + 2], order)
    found: dict[int, int] = {}
    for i in range(count):
        entry = data[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        tag, kind = int.from_bytes(entry[0:2], order), int.from_bytes(entry[2:4], order)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            found[tag] = int.from_bytes(entry[8:10] if kind == 3 else entry[8:12], order)
    return (found[256], found[257]) if len(found) == 2 else None


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HxWx1 or HxWx3 (RGB) image; :func:`decode_bytes` reads them back."""
    ok, data = cv2.imencode(".png", image if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ImageError("<array>", "cannot encode as PNG")
    return data.tobytes()


def _check_complete(path: Path, data: bytes) -> None:
    """Reject truncated PNG/JPEG files, which OpenCV would half-decode silently."""
    if data.startswith(b"\x89PNG") and b"IEND" not in data[-64:]:
        raise ImageError(path, "PNG file is truncated (no end marker)")
    if data.startswith(b"\xff\xd8") and not _jpeg_has_end(data):
        raise ImageError(path, "JPEG file is truncated (no end marker)")


def _jpeg_has_end(data: bytes) -> bool:
    """True if the JPEG's end-of-image marker follows its image data; bytes a camera appends after it are fine.

    Walks the marker segments from the start to the first scan (so an end
    marker inside an EXIF thumbnail does not count), then looks for the end
    marker in the rest: inside entropy-coded data 0xFF is always stuffed, so
    0xFF 0xD9 there is the real end.
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one must be: corrupt
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the image data follows
            return data.find(b"\xff\xd9", pos) != -1
        if marker == 0xD9:
            return False  # an end before any image data
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _to_uint8_gray_or_rgb(path: Path, image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(path, f"unsupported pixel type {image.dtype} (use 8- or 16-bit images)")
    if image.ndim == 2:
        return image[:, :, None]
    channels = image.shape[2]
    if channels == 1:
        return image
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ImageError(path, f"unsupported number of channels ({channels})")


def is_grayscale(image: np.ndarray) -> bool:
    """True for 1-channel images and RGB images whose three channels are equal."""
    if image.shape[2] == 1:
        return True
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))
