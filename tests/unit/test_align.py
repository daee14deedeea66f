"""Registration onto the golden reference (inspect_svdd.io.align)."""

from __future__ import annotations

import numpy as np
import pytest

from inspect_svdd.errors import ConfigError, ModelError
from inspect_svdd.io.align import Aligner, aligner_from, fit_aligner, shift
from tests.conftest import draw_part


def _gray(seed: int) -> np.ndarray:
    return draw_part(seed)[:, :, :1].copy()


def test_a_shifted_part_is_moved_back_onto_the_reference() -> None:
    reference = _gray(0)
    moved = shift(reference, 3.0, -2.0)
    aligned, offsets = Aligner(reference, limit=6.0).apply(moved[None])
    assert offsets[0] == pytest.approx(np.hypot(3, 2), abs=0.3)
    before = np.abs(moved.astype(float) - reference).mean()
    after = np.abs(aligned[0].astype(float) - reference).mean()
    assert after < before / 3


def test_a_part_beyond_the_limit_is_scored_unmoved() -> None:
    reference = _gray(0)
    far = shift(reference, 14.0, 0.0)
    aligned, offsets = Aligner(reference, limit=6.0).apply(far[None])
    assert offsets[0] > 6.0
    np.testing.assert_array_equal(aligned[0], far)


def test_exposure_is_registered_within_its_limit_only() -> None:
    reference = _gray(0)
    darker = np.clip(reference * 0.9, 0, 255).astype(np.uint8)
    much_darker = (reference // 2).astype(np.uint8)
    aligner = Aligner(reference, limit=6.0, gain_limit=float(np.log(1.15)))
    out = aligner(np.stack([darker, much_darker]))
    assert abs(out[0].mean() - reference.mean()) < 1.0  # brought to the reference's brightness
    assert abs(out[1].mean() - much_darker.mean()) < 1.0  # beyond the limit: left dark, so it still fails
    no_gain = Aligner(reference, limit=6.0)(darker[None])
    assert abs(no_gain[0].mean() - darker.mean()) < 1.0


def test_fit_decides_on_placed_parts_and_not_on_textures() -> None:
    parts = np.stack([_gray(seed) for seed in range(12)])
    aligner, facts = fit_aligner(parts, "auto")
    assert aligner is not None and facts["aligned"]
    assert facts["limit"] >= 0.05 * 128  # the floor
    assert aligner.limit >= 1.5 * facts["offset_p99"] - 1e-6 and facts["offset_p99"] <= facts["largest_golden_offset"]
    texture = np.random.default_rng(0).integers(0, 256, (12, 128, 128, 1), dtype=np.uint8)
    none, facts = fit_aligner(texture, "auto")
    assert none is None and not facts["aligned"] and facts["median_peak"] < 0.2
    assert fit_aligner(texture, "on")[0] is not None
    assert fit_aligner(parts, "off") == (None, {"mode": "off", "aligned": False})


def test_bad_input_is_one_clear_error() -> None:
    reference = _gray(0)
    with pytest.raises(ConfigError, match="cannot be aligned"):
        Aligner(reference, 6.0).apply(np.zeros((1, 64, 64, 1), np.uint8))
    with pytest.raises(ConfigError, match="limits must be"):
        Aligner(reference, -1.0)
    with pytest.raises(ModelError, match="no reference image"):
        aligner_from({"aligned": True, "limit": 6.0}, None, "m")
    with pytest.raises(ModelError, match="unusable alignment"):
        aligner_from({"aligned": True, "limit": "x"}, reference, "m")
    assert aligner_from({}, reference, "m") is None  # models from before registration


def test_measuring_an_offset_changes_nothing_and_repeats_exactly() -> None:
    """OpenCV's phaseCorrelate windows its inputs in place: the aligner must hand it copies."""
    reference, part = _gray(0), shift(_gray(0), 2.0, 1.0)
    kept_reference, kept_part = reference.copy(), part.copy()
    aligner = Aligner(reference, limit=6.0)
    assert aligner.offset(part) == aligner.offset(part)
    np.testing.assert_array_equal(aligner.reference, kept_reference)
    np.testing.assert_array_equal(part, kept_part)


def test_shift_is_exact_bilinear_with_edges_repeated() -> None:
    """numpy, not OpenCV's fixed-point warp, so every OpenCV version registers to the same pixels."""
    image = np.arange(64, dtype=np.uint8).reshape(8, 8, 1) * 3
    whole = shift(image, 1.0, 0.0)
    np.testing.assert_array_equal(whole[:, 1:], image[:, :-1])
    np.testing.assert_array_equal(whole[:, 0], image[:, 0])  # the edge column repeated
    half = shift(image, 0.0, 0.5).astype(float)
    np.testing.assert_array_equal(half[1:], np.rint((image[1:].astype(float) + image[:-1]) / 2))
    np.testing.assert_array_equal(shift(image, 0.0, 0.0), image)


def test_values_of_a_registered_part_go_back_to_where_the_part_was() -> None:
    reference = _gray(0)
    photo = shift(reference, 5.0, 3.0)  # the part sits 5 px right and 3 px down of the reference
    aligner = Aligner(reference, limit=8.0)
    heat = np.zeros(reference.shape[:2])
    heat[40, 30] = 1.0  # a hot pixel in the reference's (registered) coordinates
    back = aligner.unregister(photo, heat)
    y, x = np.unravel_index(int(np.argmax(back)), back.shape)
    assert abs(x - 35) <= 1 and abs(y - 43) <= 1
    assert back.sum() == pytest.approx(1.0, abs=0.05)  # moved, not smeared away
    far = shift(reference, 14.0, 0.0)  # beyond the limit: scored unmoved, so its map stays
    np.testing.assert_array_equal(aligner.unregister(far, heat), heat)
