"""The self-supervised auxiliary task: predicting each view's turn (0/90/180/270 degrees) during Deep SVDD training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, NetConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.train import TURNS, turned


def test_turned_stacks_the_four_turns_with_their_index() -> None:
    batch = torch.arange(2 * 3 * 3 * 1, dtype=torch.uint8).reshape(2, 3, 3, 1)
    views, which = turned(batch)
    assert views.shape == (TURNS * 2, 3, 3, 1) and which.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(views[:2], batch) and torch.equal(views[2:4], torch.rot90(batch, 1, dims=(1, 2)))
    assert torch.equal(views[6:], torch.rot90(batch, 3, dims=(1, 2)))


def _oriented(count: int, seed: int) -> np.ndarray:
    """Noisy 32 px images whose top rows are bright: upright and turned views differ at a glance."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (count, 32, 32, 1)).astype(np.uint8)
    images[:, :6] = rng.integers(180, 255, (count, 1, 1, 1)).astype(np.uint8)
    return images


def _config(rotation_weight: float) -> FitConfig:
    return FitConfig(PreprocessConfig(image_size=32, channels=1),
                     NetConfig(architecture="pooled", widths=(8, 16), rep_dim=16),
                     TrainConfig(ae_min_steps=0, min_steps=0, ae_epochs=0, epochs=6, batch_size=16, augment="none",
                                 augment_factor=1,
                                 rotation_weight=rotation_weight, holdout=0.2),
                     ScoreConfig("center"))


def test_the_rotation_task_learns_the_turns_and_the_model_keeps_its_form() -> None:
    images = _oriented(48, 0)
    det = DeepSVDD(_config(1.0)).fit(images, progress=False)
    accuracy = [h["rotation_accuracy"] for h in det.history_ if h["stage"] == "svdd"]
    losses = [h["rotation_loss"] for h in det.history_ if h["stage"] == "svdd"]
    # chance is 0.25 and ln 4 = 1.39: with the turns not applied the four views are one image and neither moves
    assert accuracy[-1] > 0.6 and losses[-1] < 0.7 < losses[0], (accuracy, losses)
    plain = DeepSVDD(_config(0.0)).fit(images, progress=False)
    assert "rotation_accuracy" not in plain.history_[-1]
    # the head is dropped: the encoder and its rules are what a plain fit gives, and no bias appears
    assert set(det.encoder_.state_dict()) == set(plain.encoder_.state_dict())
    assert not any(name.endswith("bias") for name in det.encoder_.state_dict())
    assert np.isfinite(det.score(_oriented(8, 1))).all()
    # the task's own score: an image that lies on its side reads worse than an upright one
    upright = _oriented(16, 1)
    sideways = np.ascontiguousarray(np.rot90(upright, 1, axes=(1, 2)))
    losses = det.turn_losses(np.concatenate([upright, sideways]))
    assert losses[16:].min() > losses[:16].max(), losses
    with pytest.raises(ConfigError, match="no rotation task"):
        plain.turn_losses(upright)


def test_a_negative_rotation_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match="rotation weight must be >= 0"):
        TrainConfig(rotation_weight=-1.0)
