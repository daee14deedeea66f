"""The shared loader: listing and decoding, with a clear error for every bad file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspect_svdd.errors import DatasetError, ImageError
from inspect_svdd.io.images import decode_image, is_grayscale, list_images


def _png(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_list_images_recursive_sorted_filtered(tmp_path: Path) -> None:
    img = np.zeros((8, 8), np.uint8)
    _png(tmp_path / "b.png", img)
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "a.PNG", img)
    _png(tmp_path / "a.bmp", img)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.bmp", "b.png", "sub/a.PNG"]


def test_list_images_survives_symlink_loop(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    os.symlink(tmp_path, tmp_path / "loop")
    assert [p.name for p in list_images(tmp_path)] == ["a.png"]


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"{tmp_path}: folder is empty"):
        list_images(tmp_path)


def test_folder_without_images_names_an_example(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"no images \(1 other file\(s\), e.g. readme.txt\)"):
        list_images(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(tmp_path / "nope")


def test_decode_gray_and_rgb_order(tmp_path: Path) -> None:
    gray = decode_image(_png(tmp_path / "g.png", np.full((5, 7), 42, np.uint8)))
    assert gray.shape == (5, 7, 1) and gray.dtype == np.uint8 and int(gray[0, 0, 0]) == 42
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    rgb = decode_image(_png(tmp_path / "red.png", bgr))
    assert rgb.shape == (4, 4, 3) and rgb[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "file is empty"),
        ("corrupt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40 + b"IEND\xaeB`\x82", "not a readable image"),
        ("text.jpg", b"hello, I am a text file", "not a readable image"),
    ],
)
def test_bad_files_name_file_and_problem(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        decode_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_files_are_rejected(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(0)
    full = tmp_path / f"full{ext}"
    assert cv2.imwrite(str(full), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert decode_image(full).shape == (64, 64, 3)
    with pytest.raises(ImageError, match="truncated"):
        decode_image(cut)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        decode_image(tmp_path / "gone.png")


def test_16bit_is_scaled_to_8bit(tmp_path: Path) -> None:
    img16 = np.array([[0, 257 * 128, 65535]], np.uint16)
    out = decode_image(_png(tmp_path / "deep.png", img16))
    assert out.dtype == np.uint8 and out[0, :, 0].tolist() == [0, 128, 255]


def test_palette_png_is_expanded(tmp_path: Path) -> None:
    from PIL import Image

    pal = Image.new("P", (4, 4))
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((1, 1), 1)
    path = tmp_path / "pal.png"
    pal.save(path)
    out = decode_image(path)
    assert out.shape == (4, 4, 3) and out[1, 1].tolist() == [10, 200, 30] and out[0, 0].tolist() == [0, 0, 0]


def test_alpha_channel_is_dropped(tmp_path: Path) -> None:
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[..., 3] = 10  # nearly transparent: ignored, colour kept
    out = decode_image(_png(tmp_path / "rgba.png", bgra))
    assert out.shape == (3, 3, 3) and out[0, 0].tolist() == [0, 0, 200]


def test_float_tiff_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    assert cv2.imwrite(str(path), np.ones((4, 4), np.float32))
    with pytest.raises(ImageError, match="unsupported pixel type float32"):
        decode_image(path)


def test_is_grayscale() -> None:
    assert is_grayscale(np.zeros((2, 2, 1), np.uint8))
    assert is_grayscale(np.full((2, 2, 3), 7, np.uint8))
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0, 1] = 1
    assert not is_grayscale(rgb)


def test_load_folder_keeps_only_network_sized_images_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from inspect_svdd.config import PreprocessConfig
    from inspect_svdd.io import datasets
    from inspect_svdd.io import preprocess as preprocess_module

    for i in range(40):
        (tmp_path / f"frame_{i:02d}.png").write_bytes(b"stand-in")  # decoded below as a 6.75 MB camera frame
    monkeypatch.setattr(preprocess_module, "decode_bytes", lambda data, path, reduce: np.full((1500, 1500, 3), 100, np.uint8))
    tracemalloc.start()
    folder = datasets.load_folder(tmp_path, PreprocessConfig(), "auto")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert folder.images.shape == (40, 128, 128, 1) and folder.shapes[0] == (1500, 1500, 3)
    assert peak < 80e6  # all 40 frames decoded at once would be 270 MB


def test_load_folder_keeps_aspect_ratios_only_when_the_golden_shapes_differ(tmp_path: Path) -> None:
    from inspect_svdd.config import PreprocessConfig
    from inspect_svdd.io.datasets import load_folder

    same, mixed = tmp_path / "same", tmp_path / "mixed"
    for folder, shapes in ((same, [(60, 120)] * 3), (mixed, [(60, 120), (100, 100), (120, 40)])):
        folder.mkdir()
        for i, (h, w) in enumerate(shapes):
            image = np.zeros((h, w), np.uint8)
            image[:, : w // 2] = 200  # bright left half
            assert cv2.imwrite(str(folder / f"{i}.png"), image)
    stretched = load_folder(same, PreprocessConfig(image_size=32), "auto")
    assert stretched.preprocess.aspect == "stretch" and (stretched.images[:, :, :15] == 200).all()
    kept = load_folder(mixed, PreprocessConfig(image_size=32), "auto")
    assert kept.preprocess.aspect == "keep" and kept.images.shape == (3, 32, 32, 1)
    assert (kept.images[0, :, :15] == 200).all()  # the 2:1 image fills the width, mirrored above and below
    # the 1:3 image: 11 columns wide at 10-20, bright at 10-14; mirrored, bright again at 5-9 and dark at 21-25
    assert (kept.images[2, :, 5:15] == 200).all() and (kept.images[2, :, 16:26] == 0).all()
    assert (kept.images[2, :, :4] == 0).all()  # stretched, these columns would be the bright half
    fixed = load_folder(mixed, PreprocessConfig(image_size=32, aspect="stretch"), "auto")
    assert fixed.preprocess.aspect == "stretch" and (fixed.images[2, :, :15] == 200).all()


def test_reduced_jpeg_decoding_is_faster_close_and_recorded_at_file_size(tmp_path: Path) -> None:
    from inspect_svdd.config import PreprocessConfig
    from inspect_svdd.io.datasets import load_folder
    from inspect_svdd.io.images import jpeg_reduction, read_file
    from inspect_svdd.io.preprocess import load_image

    yy, xx = np.mgrid[0:1024, 0:1280]
    frame = np.stack([(xx // 5) % 256, (yy // 4) % 256, ((xx + yy) // 9) % 256], axis=-1).astype(np.uint8)
    cv2.circle(frame, (640, 512), 300, (30, 200, 90), -1)
    assert cv2.imwrite(str(tmp_path / "frame.jpg"), frame)
    assert cv2.imwrite(str(tmp_path / "frame.png"), frame)
    data = read_file(tmp_path / "frame.jpg")
    assert [jpeg_reduction(data, side) for side in (128, 256, 400, 600)] == [8, 4, 2, 1]
    assert jpeg_reduction(read_file(tmp_path / "frame.png"), 128) == 1  # only the JPEG decoder scales down
    full, reduced = PreprocessConfig(channels=3), PreprocessConfig(channels=3, decode="reduced")
    a, b = load_image(tmp_path / "frame.jpg", full), load_image(tmp_path / "frame.jpg", reduced)
    assert a.shape == b.shape == (128, 128, 3) and not np.array_equal(a, b)
    assert np.abs(a.astype(int) - b).mean() < 3  # measured 0.34 grey levels on this frame
    assert np.array_equal(load_image(tmp_path / "frame.png", reduced), load_image(tmp_path / "frame.png", full))
    with_roi = PreprocessConfig(channels=3, decode="reduced", roi=(0, 0, 1024, 1024))
    assert np.array_equal(load_image(tmp_path / "frame.jpg", with_roi),
                          load_image(tmp_path / "frame.jpg", PreprocessConfig(channels=3, roi=(0, 0, 1024, 1024))))
    (tmp_path / "frame.png").unlink()
    folder = load_folder(tmp_path, reduced, "auto")
    assert folder.shapes == [(1024, 1280, 3)]  # sizes as in the file, for the size checks of score


def _jpeg(tmp_path: Path) -> bytes:
    full = tmp_path / "frame.jpg"
    assert cv2.imwrite(str(full), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return full.read_bytes()


def test_jpeg_with_bytes_after_its_end_marker_is_accepted(tmp_path: Path) -> None:
    data = _jpeg(tmp_path)
    (tmp_path / "tail.jpg").write_bytes(data + b"CAMERA-META" * 300)  # some cameras append data after the end
    assert np.array_equal(decode_image(tmp_path / "tail.jpg"), decode_image(tmp_path / "frame.jpg"))


def test_truncated_jpeg_with_an_end_marker_in_its_thumbnail_is_rejected(tmp_path: Path) -> None:
    data = _jpeg(tmp_path)
    thumbnail = b"Exif\x00\x00" + b"\xff\xd8" + b"\x11" * 20 + b"\xff\xd9"  # an embedded JPEG ends early
    app1 = b"\xff\xe1" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    with_exif = data[:2] + app1 + data[2:]
    (tmp_path / "exif.jpg").write_bytes(with_exif)
    assert decode_image(tmp_path / "exif.jpg").shape == (64, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(with_exif[: len(with_exif) * 2 // 3])
    with pytest.raises(ImageError, match="truncated"):
        decode_image(tmp_path / "cut.jpg")


def test_an_opencv_exception_while_decoding_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inspect_svdd.io import images

    def broken(*_args: object) -> None:
        raise cv2.error("OpenCV(4.x) error: (-215:Assertion failed) bad header\n  in function imdecode_\n")

    monkeypatch.setattr(images.cv2, "imdecode", broken)
    (tmp_path / "odd.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40 + b"IEND\xaeB`\x82")
    with pytest.raises(ImageError, match=r"odd.png: not a readable image \(OpenCV") as info:
        decode_image(tmp_path / "odd.png")
    assert "\n" not in str(info.value)


def test_first_line_of_an_empty_message_is_the_type_name() -> None:
    from inspect_svdd.errors import first_line

    assert first_line(RuntimeError("")) == "RuntimeError"
    assert first_line(RuntimeError("\n  \nsecond line\nthird")) == "second line"
