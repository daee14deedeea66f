"""Preprocessing: channels, ROI, resize; the parallel loader keeps order and errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ConfigError, ImageError
from inspect_svdd.evaluate.heatmaps import to_image
from inspect_svdd.io.preprocess import content_box, iter_loaded, load_image, preprocess


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


def test_aspect_kept_by_mirroring_and_heat_maps_come_back() -> None:
    """A 2:1 strip fills half the input, mirrored above and below; a heat map drawn there returns to the strip."""
    image = np.zeros((50, 100, 1), np.uint8)
    image[:, 40:60] = 255  # a bright band across the strip's middle
    image[:10, :40] = 100  # its top rows grey left of the band
    cfg = PreprocessConfig(image_size=64, aspect="keep")
    assert content_box(image.shape[:2], cfg) == (16, 0, 32, 64)
    out = preprocess(image, cfg)[:, :, 0]
    assert out.shape == (64, 64)
    assert (out[:, 26:38] == 255).all() and (out[:, :20] < 120).all()  # the band spans every row: no stretch, no seam
    assert (out[16:22, :20] == 100).all() and (out[10:16, :20] == 100).all()  # the grey top mirrored above it
    stretched = preprocess(image, PreprocessConfig(image_size=64))[:, :, 0]
    assert (stretched[:12, :20] == 100).all() and (stretched[20:, :20] == 0).all()
    heat = np.zeros((64, 64), np.float32)
    heat[16:48, 26:38] = 1.0  # hot on the band, inside the strip's box only
    back = to_image(heat, image.shape[:2], cfg)
    assert back.shape == (50, 100) and back[:, 45:55].min() > 0.9 and back[:, :30].max() < 0.1


def test_roi_outside_image_names_file() -> None:
    with pytest.raises(ImageError, match=r"part.png: region of interest 90,0,20,20 does not fit in a 100x50 image"):
        preprocess(np.zeros((50, 100, 1), np.uint8), PreprocessConfig(roi=(90, 0, 20, 20)), "part.png")


@pytest.mark.parametrize(
    "kwargs", [{"channels": 2}, {"image_size": 30}, {"image_size": 4}, {"roi": (0, 0, 0, 5)}, {"resize": "cubic"},
               {"aspect": "pad"}]
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
