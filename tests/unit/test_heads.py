"""Scoring rules in the embedding space, against scikit-learn and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.covariance import LedoitWolf

from inspect_svdd.config import ScoreConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.heads import ScoreHead


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(16, 16))
    train = torch.from_numpy(rng.normal(size=(60, 16)) @ mix).float()  # correlated coordinates
    test = torch.from_numpy(rng.normal(size=(10, 16)) @ mix * 1.5).float()
    return train, test


def test_mahalanobis_matches_scikit_learn(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    train, test = data
    head = ScoreHead.fit(ScoreConfig("mahalanobis", features="embedding"), train, torch.zeros(16))
    expected = LedoitWolf().fit(train.double().numpy()).mahalanobis(test.double().numpy())
    np.testing.assert_allclose(head(test).numpy(), expected, rtol=1e-3)
    center = ScoreHead.fit(ScoreConfig("center"), train, torch.ones(16))(test)
    assert not np.allclose(center.numpy(), expected, rtol=0.1)


def test_knn_is_mean_squared_distance_to_nearest_and_leaves_self_out(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    train, test = data
    head = ScoreHead.fit(ScoreConfig("knn", k=3, features="embedding"), train, torch.zeros(16))
    sq = ((test[:, None, :] - train[None]) ** 2).sum(-1)
    np.testing.assert_allclose(head(test).numpy(), sq.sort(dim=1).values[:, :3].mean(1).numpy(), rtol=1e-4)
    own = ((train[:, None, :] - train[None]) ** 2).sum(-1).sort(dim=1).values[:, 1:4].mean(1)
    np.testing.assert_allclose(head(train, exclude_self=True).numpy(), own.numpy(), rtol=1e-3, atol=1e-3)
    assert float(head(train).min()) < float(own.min())  # without exclusion each point counts itself
    np.testing.assert_allclose(head.bank.numpy() + head.mean.numpy(), train.numpy(), atol=1e-4)  # stored centred
    with pytest.raises(ConfigError, match="more than k=3"):
        ScoreHead.fit(ScoreConfig("knn", k=3, features="embedding"), train[:3], torch.zeros(16))
