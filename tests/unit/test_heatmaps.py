"""Heat maps: occlusion finds what differs from the reference, one scale per model, regions, localisation figures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspect_svdd.config import PreprocessConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.evaluate.heatmaps import (
    HeatMapper,
    Occlusion,
    hottest_region,
    localisation,
    mask_for,
    overlay,
    to_image,
)

SIZE = 64


class PixelBackend:
    """A stand-in model whose statistic is the squared difference from a flat gray part, R = 1."""

    name = "stand-in"
    provider = "numpy"
    preprocess = PreprocessConfig(image_size=SIZE, channels=1)
    radius = 1.0
    reference = np.full((SIZE, SIZE, 1), 100, np.uint8)

    def distances(self, batch: np.ndarray) -> np.ndarray:
        diff = batch.astype(np.float64) - self.reference
        return (diff**2).sum(axis=(1, 2, 3)) / 1e4


def _with_spot(y: int, x: int, side: int = 8) -> np.ndarray:
    image = PixelBackend.reference.copy()
    image[y : y + side, x : x + side] = 200
    return image


def test_occlusion_heat_sits_on_the_defect_and_is_zero_on_a_good_part() -> None:
    backend = PixelBackend()
    heat = Occlusion().heat(backend, _with_spot(40, 10), backend.reference)
    truth = np.zeros((SIZE, SIZE), bool)
    truth[40:48, 10:18] = True
    region = hottest_region(heat)
    assert (region & truth).any() and region.mean() < 0.1  # on the spot, and not the whole image
    assert heat[:20, 40:].max() == 0  # far from the spot nothing changes when hidden
    assert heat.max() > 1  # hiding the spot removes more than one R^2 (the spot adds 1.28 R^2 here)
    assert Occlusion().heat(backend, backend.reference.copy(), backend.reference).max() == 0


def test_a_missing_feature_is_found_by_hiding_with_the_reference() -> None:
    backend = PixelBackend()
    backend.reference = _with_spot(20, 30, side=10)  # the nominal part has a print here
    missing = np.full((SIZE, SIZE, 1), 100, np.uint8)  # and this one lacks it: nothing to blur away
    heat = Occlusion().heat(backend, missing, backend.reference)
    assert heat[20:30, 30:40].mean() > 1 and hottest_region(heat)[20:30, 30:40].any()
    assert heat[50:, :10].max() == 0


def test_heat_is_on_one_scale_per_model_not_stretched_per_image() -> None:
    backend = PixelBackend()
    faint = _with_spot(40, 10, side=2)  # a small difference must stay faint, not become full colour
    strong = _with_spot(40, 10, side=8)
    assert 0 < Occlusion().heat(backend, faint, backend.reference).max() < 0.2 * Occlusion().heat(
        backend, strong, backend.reference).max()
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    assert np.array_equal(overlay(image, np.zeros((SIZE, SIZE))), image)  # no heat: the picture as it was
    assert not np.array_equal(overlay(image, np.full((SIZE, SIZE), 0.5)), image)


def test_hottest_region_is_the_component_around_the_peak() -> None:
    heat = np.zeros((50, 50))
    heat[5:10, 5:10] = 1.0
    heat[30:45, 30:45] = 0.7  # larger and hot, but not connected to the peak
    region = hottest_region(heat)
    assert region[7, 7] and not region[35, 35] and region.sum() == 25
    assert not hottest_region(np.zeros((5, 5))).any()


def test_heat_goes_back_into_the_roi_of_the_original_image() -> None:
    cfg = PreprocessConfig(image_size=SIZE, channels=1, roi=(10, 20, 30, 40))
    heat = to_image(np.ones((SIZE, SIZE)), (100, 80), cfg)
    assert heat.shape == (100, 80) and heat[20:60, 10:40].min() == 1 and heat.sum() == 30 * 40


def test_localisation_figures() -> None:
    truth = np.zeros((20, 20), bool)
    truth[2:5, 2:5] = True
    good_heat = np.zeros((20, 20))
    right = np.zeros((20, 20))
    right[3, 3] = 1.0
    wrong = np.zeros((20, 20))
    wrong[15, 15] = 1.0
    result = localisation([right, wrong, good_heat], [truth, truth, np.zeros_like(truth)])
    assert result["defects"] == 2 and result["hottest_region_hits"] == 0.5
    assert result["hottest_region_area"] == pytest.approx(1 / 400)


def test_localisation_per_defect_type_pools_each_type_with_the_good_images() -> None:
    truth = np.zeros((20, 20), bool)
    truth[2:5, 2:5] = True
    wide = np.zeros((20, 20), bool)
    wide[:, :10] = True  # a large fuzzy defect the map misses: it drags the pooled figure down
    found = truth.astype(float)
    missed = np.zeros((20, 20))
    missed[15, 15] = 1.0
    good = np.zeros((20, 20))
    good[10, 12] = 1.0  # as hot as the spot: only counted when the good images are pooled with each type
    result = localisation([found, missed, good], [truth, wide, np.zeros_like(truth)], ["spot", "uneven", "good"])
    spot, uneven = result["per_type"]["spot"], result["per_type"]["uneven"]
    assert sorted(result["per_type"]) == ["spot", "uneven"]
    assert spot["defects"] == 1 and spot["hottest_region_hits"] == 1.0 and 0.99 < spot["pixel_auroc"] < 1.0
    assert uneven["defects"] == 1 and uneven["hottest_region_hits"] == 0.0 and uneven["pixel_auroc"] < 0.6
    assert uneven["pixel_auroc"] < result["pixel_auroc"] < spot["pixel_auroc"]
    assert "per_type" not in localisation([found], [truth])


def test_pixel_auroc_is_one_for_perfect_heat_and_half_for_flat_heat() -> None:
    truth = np.zeros((20, 20), bool)
    truth[2:5, 2:5] = True
    assert localisation([truth.astype(float)], [truth])["pixel_auroc"] == 1.0
    assert localisation([np.ones((20, 20))], [truth])["pixel_auroc"] == 0.5


def test_masks_are_found_in_both_layouts(tmp_path: Path) -> None:
    image = tmp_path / "incoming" / "scratch" / "s_001.png"
    mvtec = tmp_path / "ground_truth" / "scratch" / "s_001_mask.png"
    tile = tmp_path / "ds" / "ground_truth" / "crack" / "c_7.png"
    for path in (image, mvtec, tile):
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((4, 4), np.uint8))
    assert mask_for(image, tmp_path / "incoming") == mvtec
    assert mask_for(tmp_path / "ds" / "test" / "crack" / "c_7.jpg", tmp_path / "ds") == tile
    assert mask_for(tmp_path / "ds" / "test" / "crack" / "c_8.jpg", tmp_path / "ds") is None


def test_gradcam_without_pytorch_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="Grad-CAM needs PyTorch: use --backend torch"):
        HeatMapper(PixelBackend(), "gradcam")
    assert HeatMapper(PixelBackend(), "auto").method == "occlusion"


class RegisteringMapBackend:
    """A stand-in local model that registers its input: its map is hot where the reference has the spot."""

    name = "stand-in"
    provider = "numpy"
    preprocess = PreprocessConfig(image_size=SIZE, channels=1)
    radius = 1.0
    has_map = True

    def __init__(self) -> None:
        from inspect_svdd.io.align import Aligner

        self.reference = _with_spot(20, 20)
        self.aligner = Aligner(self.reference, limit=10.0)

    def maps(self, batch: np.ndarray) -> np.ndarray:
        cells = np.zeros((len(batch), SIZE // 4, SIZE // 4))
        cells[:, 6, 6] = 4.0  # the spot's place in the reference: cells 5-6 cover pixels 20-27
        return cells


def test_a_registered_models_map_is_drawn_where_the_part_is() -> None:
    from inspect_svdd.io.align import shift

    backend = RegisteringMapBackend()
    photo = shift(backend.reference, 6.0, 4.0)  # the part 6 px right and 4 px down
    heat = HeatMapper(backend, "map").heat(photo)
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert abs(y - (25.5 + 4)) <= 2.5 and abs(x - (25.5 + 6)) <= 2.5  # the spot's cell centre, moved with the part


def test_a_registered_models_gradcam_is_drawn_where_the_part_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grad-CAM runs on the registered input, so its map is in the reference's place until moved back."""
    import inspect_svdd.evaluate.gradcam as gradcam_module
    from inspect_svdd.io.align import shift

    def hot_at_reference_spot(_det: object, images: np.ndarray) -> np.ndarray:
        heat = np.zeros((len(images), SIZE, SIZE))
        heat[:, 20:28, 20:28] = 4.0  # where the reference has its spot (pixels 20-27)
        return heat

    monkeypatch.setattr(gradcam_module, "gradcam", hot_at_reference_spot)
    backend = RegisteringMapBackend()
    backend.det = object()  # type: ignore[attr-defined]  # what HeatMapper asks of a PyTorch backend
    photo = shift(backend.reference, 6.0, 4.0)  # the part 6 px right and 4 px down
    heat = HeatMapper(backend, "gradcam").heat(photo)
    rows, cols = np.indices(heat.shape)
    y, x = (rows * heat).sum() / heat.sum(), (cols * heat).sum() / heat.sum()  # the hot square's centre
    assert abs(y - (23.5 + 4)) <= 1.5 and abs(x - (23.5 + 6)) <= 1.5
