"""Fuzzing the decoder: random bytes, truncated and bit-flipped files of every format, odd shapes, bombs.

Each input gives a uint8 image the preprocessing accepts, or one :class:`ImageError`
line naming the file; never another exception or a crash. No timing is asserted
(CPUs differ); the bomb test shows that the pixels are never decoded. A few seconds.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ImageError
from inspect_svdd.io.images import MAX_PIXELS, decode_bytes, header_size
from inspect_svdd.io.preprocess import preprocess

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _pil(image: np.ndarray | Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (24, 31, 3), dtype=np.uint8)
    out = {ext: cv2.imencode(ext, rgb)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".tif")}
    out["16-bit png"] = cv2.imencode(".png", rng.integers(0, 65535, (9, 7), dtype=np.uint16))[1].tobytes()
    out["1x1 png"] = cv2.imencode(".png", rgb[:1, :1])[1].tobytes()
    out["1xN jpg"] = cv2.imencode(".jpg", rgb[:1])[1].tobytes()
    out["Nx1 bmp"] = cv2.imencode(".bmp", rgb[:, :1])[1].tobytes()
    out["cmyk jpg"] = _pil(Image.fromarray(rgb).convert("CMYK"), "JPEG")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise"
    out["exif jpg"] = _pil(rgb[:, :20], "JPEG", exif=exif)
    out["lzw tiff"] = _pil(rgb, "TIFF", compression="tiff_lzw")
    return out


SEEDS = _seeds()
CFG = PreprocessConfig(image_size=32, channels=3)


def _check(data: bytes, tmp_name: str = "fuzzed.bin") -> None:
    try:
        image = decode_bytes(data, tmp_name)
    except ImageError as exc:
        message = str(exc)
        assert message.startswith(f"{tmp_name}: ") and "\n" not in message and len(message) < 300
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (1, 3) and min(image.shape[:2]) >= 1
    assert preprocess(image, CFG).shape == (32, 32, 3)


def test_every_seed_decodes() -> None:
    shapes = {name: decode_bytes(data).shape for name, data in SEEDS.items()}
    assert shapes["16-bit png"] == (9, 7, 1) and shapes["1x1 png"] == (1, 1, 3) and shapes["1xN jpg"] == (1, 31, 3)
    assert shapes["exif jpg"] == (24, 20, 3)  # EXIF orientation is not applied: pixels as stored
    red = decode_bytes(SEEDS["cmyk jpg"]).astype(int).mean(axis=(0, 1))
    reference = decode_bytes(SEEDS[".png"]).astype(int).mean(axis=(0, 1))
    assert np.abs(red - reference).max() < 25  # CMYK comes back as RGB, not as inverted or swapped channels


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.integers(min_value=0, max_value=10**6))
def test_truncated_files(name: str, cut: int) -> None:
    data = SEEDS[name]
    _check(data[: cut % len(data)])


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1,
                                                 max_size=8))
def test_bit_flipped_files(name: str, flips: list[tuple[int, int]]) -> None:
    data = bytearray(SEEDS[name])
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    _check(bytes(data))


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_svdd.io import images as images_module

    side = 12_000  # 144 megapixels of zeros: about 140 kB compressed
    squeezer = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = b"".join(squeezer.compress(row) for _ in range(side)) + squeezer.flush()
    bomb = _png(side, side, idat)
    assert len(bomb) < 300_000 and side * side > MAX_PIXELS

    def must_not_decode(*_args: object) -> None:
        raise AssertionError("the decoder was called")

    with monkeypatch.context() as patch:
        patch.setattr(images_module.cv2, "imdecode", must_not_decode)  # refused before a pixel is decoded
        with pytest.raises(ImageError, match=r"bomb.png: image is 12000x12000 pixels, over the limit of 100 megapixels"):
            decode_bytes(bomb, "bomb.png")
        with pytest.raises(ImageError, match="over the limit"):
            decode_bytes(_png(100_000, 100_000, zlib.compress(bytes(100))), "huge-header.png")  # the header alone
    assert decode_bytes(_png(2, 2, zlib.compress(bytes(6))), "small.png").shape == (2, 2, 1)  # under the limit: decoded


def test_header_sizes_match_the_decoded_sizes() -> None:
    for name, data in SEEDS.items():
        image = decode_bytes(data)
        if name != "exif jpg":
            assert header_size(data) == (image.shape[1], image.shape[0]), name


def test_score_survives_a_folder_of_fuzzed_files(model_dir: Path, tmp_path: Path) -> None:
    import csv

    from click.testing import CliRunner

    from inspect_svdd.cli import main

    rng = np.random.default_rng(1)
    names = sorted(SEEDS)
    for i in range(30):
        data = bytearray(SEEDS[names[i % len(names)]])
        if i % 3 == 1:
            data = data[: int(rng.integers(1, len(data)))]
        elif i % 3 == 2:
            for _ in range(4):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        (tmp_path / f"f_{i:02d}{'.png' if i % 2 else '.jpg'}").write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["score", str(tmp_path), "-m", str(model_dir), "--csv", "-"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    errors = [r for r in rows if r["verdict"] == "error"]
    assert len(rows) == 30 and errors, result.output  # seeded: the cut-off files include undecodable ones
    assert result.exit_code == 3, result.output  # unreadable files decide the exit code (3), whatever else failed
    assert all(r["verdict"] in ("pass", "fail") or (r["error"] and "\n" not in r["error"]) for r in rows)
