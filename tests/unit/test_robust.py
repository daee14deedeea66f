"""RCAE pretraining and the OC-NN objective: what each promises, and the options that do not go with them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from inspect_svdd.config import FitConfig, LocalConfig, NetConfig, PreprocessConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.detector import DeepSVDD
from inspect_svdd.model.nets import AutoEncoder
from inspect_svdd.model.robust import pretrain_rcae, shrink
from inspect_svdd.model.train import embed, seed_everything
from tests.conftest import draw_part

SIZE = 32
SQUARE = (slice(8, 16), slice(18, 26))


def _golden(n: int = 24, corrupt: int | None = 5) -> np.ndarray:
    """``n`` gray parts at 32 px; the ``corrupt`` one has a white square where no part has anything white."""
    images = np.stack([draw_part(i, size=SIZE)[..., :1] for i in range(n)])
    if corrupt is not None:
        images[corrupt][SQUARE] = 255
    return images


def _config(**train: object) -> FitConfig:
    base = {"ae_epochs": 30, "epochs": 20, "ae_min_steps": 0, "min_steps": 0, "batch_size": 8, "augment": "none",
            "augment_factor": 1, "ae_lr": 3e-3, "lr": 1e-3}
    return FitConfig(preprocess=PreprocessConfig(image_size=SIZE, channels=1),
                     net=NetConfig(widths=(8, 16), rep_dim=16), train=TrainConfig(**(base | train)))  # type: ignore[arg-type]


def test_shrink_is_the_soft_threshold() -> None:
    r = torch.tensor([-2.0, -0.3, 0.0, 0.2, 1.5])
    assert shrink(r, 0.5).tolist() == pytest.approx([-1.5, 0.0, 0.0, 0.0, 1.0])


def test_rcae_noise_part_absorbs_a_planted_corruption() -> None:
    images = _golden()
    cfg = _config(ae_kind="rcae", ae_lambda=1.0)
    generator = seed_everything(0)
    ae = AutoEncoder(cfg.net, 1, SIZE)
    ae.fit_input(images, 0)
    history, noise = pretrain_rcae(ae, images, cfg.train, generator, progress=False)
    magnitude = noise.abs()[:, 0]  # views x H x W
    inside = float(magnitude[5][SQUARE].mean())
    outside = float(magnitude[5].sum() - magnitude[5][SQUARE].sum()) / (SIZE * SIZE - 64)
    clean = float(torch.cat([magnitude[:5], magnitude[6:]]).mean())
    assert inside > 0.5  # the square lies 1.4 to 3.6 normalised units above the part: much of it is in N
    assert inside > 20 * max(outside, clean, 1e-3)  # measured: 1.4 inside, 0.004 on the clean images
    assert history[-1]["noise_share"] < 0.1  # sparse: most pixels stay in the clean part (measured 3.7 %)
    assert history[-1]["loss"] < history[0]["loss"]


def test_rcae_fit_records_its_pretraining() -> None:
    det = DeepSVDD(_config(ae_kind="rcae", ae_epochs=3, epochs=2)).fit(_golden(corrupt=None), progress=False)
    assert det.schedule_["pretrain"]["kind"] == "rcae"
    assert det.noise_ is not None and det.noise_.shape[0] == len(det.split_[0])  # type: ignore[index]
    assert "noise_share" in det.history_[0]


@pytest.mark.parametrize("training", ["joint", "codes"])
def test_ocnn_r_is_the_nu_quantile_of_the_training_scores(training: str) -> None:
    images = _golden(40, corrupt=None)
    det = DeepSVDD(_config(objective="ocnn", nu=0.1, ocnn_training=training)).fit(images, progress=False)
    assert det.config.score.rule == "ocnn" and det.radius_ == 1.0
    head, encoder = det.head_, det.encoder_
    train_idx = det.split_[0]  # type: ignore[index]
    with torch.no_grad():
        scores = head.hyperplane(embed(encoder, images[train_idx])).double().numpy()  # type: ignore[union-attr,operator]
    assert float(head.r) == pytest.approx(np.quantile(scores, 0.1), abs=1e-6)  # type: ignore[union-attr,arg-type]
    stats = det.distances(images[train_idx])  # exp(r - f): outside (> 1) for about nu of the training images
    assert np.mean(stats > 1 + 1e-6) <= 0.1 + 1 / len(train_idx)
    assert stats.max() > stats.min()  # not collapsed to one score
    assert [h["stage"] for h in det.history_].count("ocnn") == 20


def test_joint_ocnn_moves_the_encoder_and_codes_only_does_not() -> None:
    images = _golden(30, corrupt=None)
    moved = {}
    for training in ("joint", "codes"):
        det = DeepSVDD(_config(objective="ocnn", ocnn_training=training, epochs=5)).fit(images, progress=False)
        pretrained = det.autoencoder_.encoder  # type: ignore[union-attr]
        moved[training] = max(float((a - b).detach().abs().max()) for a, b in
                              zip(pretrained.parameters(), det.encoder_.parameters(), strict=True))  # type: ignore[union-attr]
    assert moved["codes"] == 0.0 and moved["joint"] > 1e-4


@pytest.mark.parametrize(("change", "message"), [
    ({"score": ScoreConfig(rule="knn")}, "hyperplane"),
    ({"local": LocalConfig(model_kind="local")}, "own training"),
])
def test_ocnn_refuses_other_scorers_and_the_local_model(change: dict[str, object], message: str) -> None:
    cfg = _config(objective="ocnn")
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(cfg, **change)  # type: ignore[arg-type]


def test_options_that_do_not_go_with_ocnn_or_rcae() -> None:
    with pytest.raises(ConfigError, match="hyperplane"):
        FitConfig(score=ScoreConfig(rule="ocnn"))
    with pytest.raises(ConfigError, match="golden images alone"):
        TrainConfig(objective="ocnn", anomalies="cutpaste")
    with pytest.raises(ConfigError, match="lambda"):
        TrainConfig(ae_kind="rcae", ae_lambda=0)
    det = DeepSVDD(_config(objective="ocnn"))
    with pytest.raises(ConfigError, match="--defects"):
        det.fit(_golden(corrupt=None), progress=False, defects=_golden(3, corrupt=0))
