"""Determinism and resumable fits: same data and seed, same weights; an interrupted fit resumes to the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, PreprocessConfig, TrainConfig
from inspect_svdd.errors import ModelError
from inspect_svdd.model.checkpoint import Checkpoint, fit_key
from inspect_svdd.model.detector import DeepSVDD
from tests.conftest import draw_part, killed_after_checkpoint

# synthetic defects, augmentation and the rotation task on: every random source and every trained module a resumed
# fit must restore is in use
CFG = FitConfig(PreprocessConfig(channels=3), train=TrainConfig(ae_min_steps=0, min_steps=0,
                                                                ae_epochs=3, epochs=5, augment_factor=1, batch_size=8,
                                                                  anomalies="cutpaste-scar", lr_milestones=(3,),
                                                                  rotation_weight=0.5))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.stack([draw_part(i) for i in range(12)])


def _state(det: DeepSVDD) -> dict[str, torch.Tensor]:
    encoder, head, _ = det._fitted()
    return {**{f"encoder.{k}": v for k, v in encoder.state_dict().items()},
            **{f"head.{k}": v for k, v in head.state_dict().items()},
            **{f"rotation.{k}": v for k, v in (det.rotation_head_.state_dict() if det.rotation_head_ else {}).items()}}


def _same_model(a: DeepSVDD, b: DeepSVDD, images: np.ndarray) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys() and "rotation.weight" in sa
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert a.radius_ == b.radius_ and torch.equal(a.center_, b.center_)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.score(images), b.score(images))
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]


@pytest.fixture(scope="module")
def straight(images: np.ndarray) -> DeepSVDD:
    return DeepSVDD(CFG).fit(images, progress=False)


def test_two_fits_with_the_same_seed_are_identical(straight: DeepSVDD, images: np.ndarray) -> None:
    _same_model(straight, DeepSVDD(CFG).fit(images, progress=False), images)
    import dataclasses

    other = DeepSVDD(dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, seed=1))).fit(images, progress=False)
    assert not torch.equal(_state(other)["encoder.fc.weight"], _state(straight)["encoder.fc.weight"])  # the seed matters


@pytest.mark.parametrize(("stage", "epoch"), [("pretrain", 2), ("svdd", 2), ("svdd", 4)])
def test_an_interrupted_fit_resumes_to_the_straight_fit(straight: DeepSVDD, images: np.ndarray, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, stage: str, epoch: int) -> None:
    key = fit_key(CFG.to_dict(), images, None)
    path = tmp_path / "checkpoint.pt"
    with killed_after_checkpoint(monkeypatch, stage, epoch):
        DeepSVDD(CFG).fit(images, progress=False, checkpoint=Checkpoint(path, key, every=2))
    saved = Checkpoint(path, key, resume=True)
    assert (saved.stage(), saved.saved["epoch"]) == (stage, epoch)  # type: ignore[index]
    resumed = DeepSVDD(CFG).fit(images, progress=False, checkpoint=saved)
    _same_model(straight, resumed, images)


def test_a_checkpoint_of_another_fit_is_refused(images: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    DeepSVDD(CFG).fit(images, progress=False, checkpoint=Checkpoint(path, fit_key(CFG.to_dict(), images, None)))
    with pytest.raises(ModelError, match="checkpoint of another fit"):
        Checkpoint(path, fit_key(CFG.to_dict(), images[:-1], None), resume=True)
    path.write_bytes(b"cut off")
    with pytest.raises(ModelError, match="unreadable checkpoint"):
        Checkpoint(path, "any", resume=True)
