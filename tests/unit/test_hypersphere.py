"""Centre, distances and radius: the pure maths of the hypersphere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspect_svdd.model.hypersphere import fit_radius, init_center, quantile_radius, squared_distances, svdd_loss


def test_center_is_mean_with_eps_rule() -> None:
    z = torch.tensor([[1.0, 0.05, -0.02, -3.0], [3.0, 0.01, -0.04, -1.0]])
    c = init_center(z, eps=0.1)
    assert c.tolist() == pytest.approx([2.0, 0.1, -0.1, -2.0])
    assert bool((c.abs() >= 0.1).all())
    exact_zero = init_center(torch.zeros(3, 2), eps=0.1)
    assert exact_zero.tolist() == pytest.approx([0.1, 0.1])


def test_squared_distances() -> None:
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert squared_distances(z, torch.zeros(2)).tolist() == [0.0, 25.0]


def test_quantile_radius_on_unsquared_distances() -> None:
    sq = np.array([1.0, 4.0, 9.0, 16.0, 25.0])  # distances 1..5
    assert quantile_radius(sq, 1.0) == pytest.approx(5.0)
    assert quantile_radius(sq, 0.5) == pytest.approx(3.0)
    assert quantile_radius(torch.tensor(sq), 0.75) == pytest.approx(4.0)


def test_losses() -> None:
    d = torch.tensor([1.0, 4.0, 9.0])
    assert float(svdd_loss(d, 0.0, "one-class", 0.1)) == pytest.approx(14 / 3)
    # R = 2: only 9 lies outside, by 5; loss = R^2 + mean(0, 0, 5) / nu
    assert float(svdd_loss(d, 2.0, "soft-boundary", 0.5)) == pytest.approx(4 + (5 / 3) / 0.5)


def test_deep_sad_pushes_anomalies_away() -> None:
    d = torch.tensor([1.0, 4.0, 9.0, 0.5], requires_grad=True)
    anomalous = torch.tensor([False, False, False, True])
    loss = svdd_loss(d, 0.0, "one-class", 0.1, anomalous, eta=2.0)
    assert float(loss) == pytest.approx((1 + 4 + 9 + 2 / (0.5 + 1e-6)) / 4)
    loss.backward()
    assert d.grad is not None and float(d.grad[3]) < 0 < float(d.grad[0])  # anomaly: descent grows its distance
    none = torch.zeros(4, dtype=torch.bool)
    assert float(svdd_loss(d, 0.0, "one-class", 0.1, none)) == pytest.approx(float(svdd_loss(d, 0.0, "one-class", 0.1)))


def test_lognormal_radius_holds_the_rate_where_the_sample_maximum_does_not() -> None:
    rng = np.random.default_rng(0)
    misses = {"quantile": [], "lognormal": []}
    for _ in range(200):  # 24 held-out values, then 10,000 new good parts from the same distribution
        held, new = rng.lognormal(0, 0.3, 24), rng.lognormal(0, 0.3, 10_000)
        for rule in misses:
            radius, facts = fit_radius(held, 0.01, rule)
            misses[rule].append(float(np.mean(new > radius**2)))
            assert facts["rule"] == rule and facts["n"] == 24
    assert np.mean(misses["quantile"]) > 0.03  # the maximum of 24: about 4 % of good parts fail
    assert 0.005 < np.mean(misses["lognormal"]) < 0.02  # the stated 1 %
    spiky = np.array([1.0, 1.0, 1.0, 100.0])
    assert fit_radius(spiky, 0.01, "lognormal")[0] == pytest.approx(quantile_radius(spiky, 0.99))  # never below it
    with_zeros = np.array([0.0] * 5 + list(rng.lognormal(0, 0.3, 19)))  # duplicates of training images score ~0
    facts = fit_radius(with_zeros, 0.01, "lognormal")[1]
    assert facts["log_mad_sigma"] < 1.0 and facts["log_median"] > -1.0  # the fit is not stretched by them


def test_tail_radius_holds_the_rate_where_a_heavy_tail_defeats_the_lognormal() -> None:
    rng = np.random.default_rng(1)
    misses = {"lognormal": [], "tail": []}
    for _ in range(200):  # log-Laplace statistics: the largest of 24 held-out values stand out more than a log-normal's
        held, new = np.exp(rng.laplace(0, 0.25, 24)), np.exp(rng.laplace(0, 0.25, 10_000))
        for rule in misses:
            radius, facts = fit_radius(held, 0.01, rule, confidence=0.9)
            misses[rule].append(float(np.mean(new > radius**2)))
    assert np.mean(misses["lognormal"]) > 0.015  # about 2.4 %: the log-normal understates such a tail
    assert np.mean(misses["tail"]) < 0.01  # about 0.5 %
    assert facts["tail_count"] == 12 and facts["tail_scale_bound"] > facts["tail_scale"] > 0
    spiky = np.array([1.0, 1.0, 1.0, 100.0])
    assert fit_radius(spiky, 0.01, "tail")[0] >= quantile_radius(spiky, 0.99)  # never below the empirical quantile
    assert fit_radius(np.full(10, 4.0), 0.01, "tail")[0] == pytest.approx(2.0)  # no spread, no tail
