"""The detector object and its model directory: save/load, rules, errors."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError, DatasetError, ModelError
from inspect_svdd.model.artifact import load_model, save_model
from inspect_svdd.model.detector import DeepSVDD, split_holdout
from tests.conftest import draw_part


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.stack([draw_part(i) for i in range(12)])


@pytest.fixture(scope="module")
def fitted(images: np.ndarray) -> DeepSVDD:
    cfg = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                    ae_epochs=1, epochs=2, augment_factor=1, batch_size=8))
    return DeepSVDD(cfg).fit(images, progress=False)


def test_fitted_attributes_and_rules(fitted: DeepSVDD, images: np.ndarray) -> None:
    assert fitted.center_ is not None and fitted.radius_ is not None and fitted.radius_ > 0
    assert bool((fitted.center_.abs() >= fitted.config.train.eps).all())  # centre pushed away from zero
    scores = fitted.score(images)
    assert scores.shape == (12,) and np.std(scores) > 0  # not collapsed to a constant map
    np.testing.assert_array_equal(fitted.predict(images), scores > 0)
    d = fitted.distances(images)
    np.testing.assert_allclose(scores, d - fitted.radius_**2, rtol=1e-6, atol=1e-6 * fitted.radius_**2)
    assert fitted.holdout_["count"] == 5 and len(fitted.holdout_["distances"]) == 5
    assert [h["stage"] for h in fitted.history_] == ["pretrain", "svdd", "svdd"]


def test_radius_lies_at_or_beyond_the_heldout_quantile_with_the_rule_recorded(fitted: DeepSVDD) -> None:
    """The log-normal radius is never below the empirical 99 % quantile; with 5 held-out views that is
    interpolated just below the largest, so one view may lie beyond it (fit_radius's contract, not the max)."""
    hold = np.array(fitted.holdout_["distances"])
    facts = fitted.holdout_["radius"]
    assert facts["rule"] == "lognormal" and facts["n"] == fitted.holdout_["views"] == 5
    assert fitted.radius_ == pytest.approx(max(facts["fitted_radius"], facts["empirical_radius"]))
    assert fitted.radius_ >= np.quantile(np.sqrt(hold), 0.99) * (1 - 1e-6)  # on unsquared distances, as fit_radius
    assert fitted.holdout_["views_false_reject_rate"] <= 1 / 5


def test_quantile_radius_rule_is_the_heldout_quantile(images: np.ndarray) -> None:
    cfg = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                    ae_epochs=1, epochs=2, augment_factor=1, batch_size=8,
                                                                     radius_rule="quantile", radius_views=0))
    det = DeepSVDD(cfg).fit(images, progress=False)
    hold = np.sqrt(np.array(det.holdout_["distances"]))
    assert det.radius_ == pytest.approx(np.quantile(hold, 0.99), rel=1e-4)


def test_center_rule_is_the_squared_distance_to_the_centre(fitted: DeepSVDD, images: np.ndarray) -> None:
    assert fitted.config.score.rule != "auto" and fitted.selection_["chosen"] and fitted.center_ is not None  # chosen
    center = fitted.with_rule(ScoreConfig("center"), images)
    expected = ((fitted.embeddings(images, kind="embedding") - fitted.center_) ** 2).sum(dim=1).numpy()
    np.testing.assert_allclose(center.distances(images), expected, rtol=1e-5)


@pytest.mark.parametrize("rule", ["center", "mahalanobis"])
def test_other_rules_share_the_encoder_and_score_differently(fitted: DeepSVDD, images: np.ndarray, rule: str) -> None:
    other = fitted.with_rule(ScoreConfig(rule, k=2), images)
    assert other.encoder_ is fitted.encoder_ and other.config.score.rule == rule
    assert other.radius_ is not None and other.radius_ > 0 and np.std(other.score(images)) > 0
    assert not np.allclose(other.distances(images), fitted.distances(images), rtol=0.01)


def test_real_defects_are_recorded_and_pushed_out(images: np.ndarray) -> None:
    from tests.conftest import draw_part

    cfg = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                    ae_epochs=1, epochs=2, augment_factor=1, batch_size=8))
    defects = np.stack([draw_part(50 + i, scratch=True) for i in range(3)])
    det = DeepSVDD(cfg).fit(images, progress=False, defects=defects)
    assert det.holdout_["defects"] == 3
    with pytest.raises(ConfigError, match="images must be uint8"):
        DeepSVDD(cfg).fit(images, progress=False, defects=defects[..., :1])


def test_save_load_round_trip_identical_scores(fitted: DeepSVDD, images: np.ndarray, tmp_path: Path) -> None:
    save_model(fitted, tmp_path / "m", {"count": 12})
    loaded, record = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.score(images), fitted.score(images))
    assert loaded.config == fitted.config and record["training"] == {"count": 12}


def test_weights_are_not_unpickled(fitted: DeepSVDD, tmp_path: Path) -> None:
    save_model(fitted, tmp_path / "m")

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    (tmp_path / "m" / "encoder.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelError, match=r"encoder\.pt: weights do not load"):
        load_model(tmp_path / "m")


def test_incompatible_models(fitted: DeepSVDD, tmp_path: Path) -> None:
    save_model(fitted, tmp_path / "m")
    record = json.loads((tmp_path / "m" / "model.json").read_text())
    shutil.copytree(tmp_path / "m", tmp_path / "old")
    (tmp_path / "old" / "model.json").write_text(json.dumps(record | {"format_version": 0}))
    with pytest.raises(ModelError, match=r"model format version 0 .* is not supported"):
        load_model(tmp_path / "old")
    shutil.copytree(tmp_path / "m", tmp_path / "other")
    record["config"]["net"]["rep_dim"] = 64
    (tmp_path / "other" / "model.json").write_text(json.dumps(record))
    with pytest.raises(ModelError, match="weights do not load"):
        load_model(tmp_path / "other")
    (tmp_path / "m" / "encoder.pt").unlink()
    with pytest.raises(ModelError, match="weights file missing"):
        load_model(tmp_path / "m")


def test_split_needs_enough_images() -> None:
    train, hold = split_holdout(20, 0.2, 5, seed=0)
    assert len(hold) == 5 and len(train) == 15 and not set(train) & set(hold)
    with pytest.raises(DatasetError, match="found 9, need at least 10"):
        split_holdout(9, 0.2, 5, seed=0)


def test_wrong_image_shape_and_unfitted(images: np.ndarray) -> None:
    det = DeepSVDD(FitConfig(PreprocessConfig(channels=1)))
    with pytest.raises(ConfigError, match="images must be uint8"):
        det.fit(images)
    with pytest.raises(ConfigError, match="not fitted"):
        det.score(images[..., :1])


def test_soft_boundary_uses_learned_radius(images: np.ndarray) -> None:
    cfg = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                    ae_epochs=1, epochs=4, augment_factor=1, batch_size=8,
                                                                     objective="soft-boundary", nu=0.1),
                    score=ScoreConfig("center"))
    det = DeepSVDD(cfg).fit(images, progress=False)
    assert det.radius_ == det.history_[-1]["radius"] and det.radius_ > 0
    assert torch.is_tensor(det.center_)


def test_bank_views_add_augmented_training_views_to_the_golden_bank(fitted: DeepSVDD, images: np.ndarray) -> None:
    plain = fitted.with_rule(ScoreConfig("knn", k=3, bank_views=0), images)
    viewed = fitted.with_rule(ScoreConfig("knn", k=3, bank_views=2), images)
    assert plain.head_ is not None and viewed.head_ is not None
    n_train = plain.holdout_["train_count"]
    assert len(plain.head_.bank) == n_train and len(viewed.head_.bank) == 3 * n_train
    assert not np.allclose(plain.score(images), viewed.score(images))
    with pytest.raises(ConfigError, match="bank views need held-out"):
        FitConfig(train=TrainConfig(holdout=0), score=ScoreConfig("knn", bank_views=1))
    assert FitConfig(train=TrainConfig(holdout=0), score=ScoreConfig(bank_views=1)).score.selects  # auto: views off


def test_a_refit_starts_fresh_instead_of_continuing(images: np.ndarray) -> None:
    cfg = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                    ae_epochs=1, epochs=2, augment_factor=1, batch_size=8))
    once = DeepSVDD(cfg).fit(images, progress=False)
    twice = DeepSVDD(cfg).fit(images, progress=False).fit(images, progress=False)
    np.testing.assert_array_equal(once.score(images), twice.score(images))
    assert [h["stage"] for h in twice.history_] == ["pretrain", "svdd", "svdd"]
    pretrained = DeepSVDD(cfg).pretrain(images, progress=False)
    first = pretrained.fit(images, progress=False).score(images)
    np.testing.assert_array_equal(first, pretrained.fit(images, progress=False).score(images))


def test_verdicts_near_the_boundary_match_batch_scoring(fitted: DeepSVDD, images: np.ndarray) -> None:
    from inspect_svdd.deploy.scoring import verdict_row

    embeddings = fitted.embeddings(images)  # one forward pass: the arithmetic after it is what is compared
    distances = fitted.statistics(embeddings)
    for i, d in enumerate(distances):  # radii a hair either side of each image's own distance
        for rel in (-3e-8, -1e-8, 0.0, 1e-8, 3e-8):
            radius = float(np.sqrt(float(d) * (1 + rel)))
            scores = fitted.score_embeddings(embeddings, radius=radius)
            assert scores.dtype == np.float64  # as batch scoring and the runtime compute it
            assert (scores[i] > 0) == (verdict_row(Path("x"), float(d), radius).verdict == "fail"), (i, rel)
