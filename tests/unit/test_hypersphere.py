"""Centre, distances and radius: the pure maths of the hypersphere."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspect_svdd.hypersphere import init_center, quantile_radius, squared_distances, svdd_loss


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
