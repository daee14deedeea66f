"""Preprocessing: channels, ROI, resize; the parallel loader keeps order and errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ConfigError, ImageError
from inspect_svdd.io.preprocess import iter_loaded, load_image, preprocess


def test_resize_and_channels() -> None:
    rgb = np.zeros((300, 200, 3), np.uint8)
    rgb[..., 0] = 255
    out = preprocess(rgb, PreprocessConfig(image_size=128, channels=3))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8 and out[5, 5].tolist() == [255, 0, 0]
    gray = preprocess(rgb, PreprocessConfig(channels=1))
    assert gray.shape == (128, 128, 1)
    assert int(gray[0, 0, 0]) == int(cv2.cvtColor(np.array([[[255, 0, 0]]], np.uint8), cv2.COLOR_RGB2GRAY)[0, 0])
    back = preprocess(np.full((64, 64, 1), 9, np.uint8), PreprocessConfig(channels=3))
    assert back.shape == (128, 128, 3) and back.min() == 9 and back.max() == 9


def test_roi_crops_before_resize() -> None:
    image = np.zeros((100, 100, 1), np.uint8)
    image[10:30, 50:90] = 200  # the region of interest is bright, the rest black
    out = preprocess(image, PreprocessConfig(image_size=16, roi=(50, 10, 40, 20)))
    assert out.shape == (16, 16, 1) and out.min() == 200


def test_roi_outside_image_names_file() -> None:
    with pytest.raises(ImageError, match=r"part.png: region of interest 90,0,20,20 does not fit in a 100x50 image"):
        preprocess(np.zeros((50, 100, 1), np.uint8), PreprocessConfig(roi=(90, 0, 20, 20)), "part.png")


@pytest.mark.parametrize(
    "kwargs", [{"channels": 2}, {"image_size": 30}, {"image_size": 4}, {"roi": (0, 0, 0, 5)}, {"resize": "cubic"}]
)
def test_invalid_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        PreprocessConfig(**kwargs)  # type: ignore[arg-type]


def test_iter_loaded_keeps_order_and_reports_errors(tmp_path: Path) -> None:
    paths = []
    for i in range(40):
        path = tmp_path / f"{i:02d}.png"
        if i % 7 == 3:
            path.write_bytes(b"")
        else:
            cv2.imwrite(str(path), np.full((20, 20), i, np.uint8))
        paths.append(path)
    cfg = PreprocessConfig(image_size=16)
    results = list(iter_loaded(paths, cfg, workers=3))
    assert [r[0] for r in results] == paths
    for i, (_, image, error) in enumerate(results):
        if i % 7 == 3:
            assert image is None and error is not None and "empty" in str(error)
        else:
            assert error is None and image is not None and int(image[0, 0, 0]) == i
    np.testing.assert_array_equal(results[1][1], load_image(paths[1], cfg))
