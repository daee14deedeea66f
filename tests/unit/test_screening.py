"""Golden-set screening: the robust rule, its records, and a planted defect in a small golden folder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspect_svdd.config import FitConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.screening import remapped, screen, screen_any, with_names
from tests.conftest import draw_part


def test_a_far_image_is_flagged_and_clean_ones_are_not() -> None:
    stats = np.random.default_rng(0).lognormal(0.0, 0.3, 200)
    assert screen(stats, 4.0)["suspects"] == []
    stats[17] = 8.0  # about seven robust deviations out (on the logs)
    record = screen(stats, 4.0)
    assert record["suspects"] == [17]
    assert record["least_typical"][0] == 17 and record["relative"][17] > 1
    assert stats[record["most_typical"][0]] == stats.min()


def test_screening_off_or_too_few() -> None:
    assert screen(np.ones(50), 0.0)["suspects"] == []
    assert "too few" in screen(np.arange(1, 6, dtype=float), 3.0)["rule"]


def test_records_map_back_to_the_original_files() -> None:
    record = {"threshold": 2.0, "rule": "r", "suspects": [1], "relative": [0.5, 1.5, 0.2],
              "most_typical": [2], "least_typical": [1, 0]}
    full = remapped(record, np.array([0, 2, 3]), 4)  # a refit on images 0, 2 and 3 of four
    assert full["suspects"] == [2] and full["relative"] == [0.5, None, 1.5, 0.2]
    named = with_names(full | {"dropped": [1], "before_drop": {"relative": [0.1, 9.0, 0.3, 0.4]}}, ["a", "b", "c", "d"])
    assert named["suspects"] == [{"file": "c", "relative": 1.5}]
    assert named["dropped"] == [{"file": "b", "relative": 9.0}]
    assert "before_drop" not in named and "relative" not in named


def test_dropping_suspects_needs_screening() -> None:
    with pytest.raises(ConfigError, match="screen z"):
        TrainConfig(screen_z=0, drop_suspects=True)


def _polluted_golden() -> np.ndarray:
    """24 good parts (one part, fresh sensor noise each) and, at index 5, one with a big red patch."""
    rng = np.random.default_rng(0)
    part = draw_part(0, size=64).astype(np.float64)
    parts = [np.clip(part + rng.normal(0, 4, part.shape), 0, 255).astype(np.uint8) for _ in range(24)]
    broken = parts[5].copy()
    cv2.rectangle(broken, (10, 10), (40, 40), (250, 20, 20), -1)  # a big red patch: nothing like the others
    parts[5] = broken
    return np.stack(parts)


@pytest.mark.parametrize("drop", [False, True])
def test_a_planted_defect_in_a_small_golden_folder_is_flagged(drop: bool) -> None:
    cfg = FitConfig(PreprocessConfig(image_size=64, channels=3),
                    train=TrainConfig(ae_epochs=3, epochs=3, ae_min_steps=0, min_steps=0, augment="none",
                                      batch_size=8, holdout=0.34, drop_suspects=drop),
                    score=ScoreConfig(rule="knn", k=3, features="embedding"))
    det = DeepSVDD(cfg).fit(_polluted_golden(), progress=False)
    record = det.screening_
    first = record["before_drop"] if drop else record
    assert first["suspects"][0] == 5 and first["least_typical"][0] == 5, first
    others = np.delete(np.array(first["relative"], dtype=float), 5)
    assert first["relative"][5] > 10 * others.max()  # far outside, not at the threshold's edge
    if drop:
        assert 5 in record["dropped"] and record["dropped"] == first["suspects"]
        assert record["relative"][5] is None  # not in the refit
        assert det.holdout_["count"] + det.holdout_["train_count"] == 24 - len(record["dropped"])
    else:
        assert det.holdout_["count"] + det.holdout_["train_count"] == 24


def test_an_image_far_out_on_any_scorer_is_a_suspect() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0.0, 0.3, 60), rng.lognormal(0.0, 0.3, 60)
    a[3], b[9] = 10.0, 12.0  # each scorer sees one of them
    record = screen_any({"knn/stages": a, "mahalanobis/embedding": b}, 4.0)
    assert sorted(record["suspects"]) == [3, 9]
    assert record["flagged_by"] == {"9": ["mahalanobis/embedding"], "3": ["knn/stages"]}
    assert record["relative"][3] > 1 and record["relative"][9] > 1


def test_cross_fitted_screening_flags_a_defect_the_encoder_trained_on() -> None:
    cfg = FitConfig(PreprocessConfig(image_size=64, channels=3),
                    train=TrainConfig(ae_epochs=3, epochs=3, ae_min_steps=0, min_steps=0, augment="none",
                                      batch_size=8, holdout=0.2, screen_folds=2),
                    score=ScoreConfig(rule="knn", k=3, features="embedding"))
    det = DeepSVDD(cfg).fit(_polluted_golden(), progress=False)
    assert 5 in det.split_[0]  # type: ignore[index]  # the broken part is among the training images
    record = det.screening_
    assert record["folds"] == 2 and record["rule"].startswith("cross-fitted")
    assert record["suspects"][0] == 5 and record["least_typical"][0] == 5, record
    others = np.delete(np.array(record["relative"], dtype=float), 5)
    assert record["relative"][5] > 10 * others.max()
    assert len(record["relative"]) == 24


def test_screen_folds_must_be_zero_or_two_and_more() -> None:
    with pytest.raises(ConfigError, match="screen folds"):
        TrainConfig(screen_folds=1)
