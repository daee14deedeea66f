"""Pure functions of the hypersphere: centre, distances, radius.

Rules from Ruff et al. (2018): the centre is the mean embedding of the training
data after an initial forward pass, with coordinates closer than ``eps`` to zero
pushed out to ``+-eps`` (a centre at zero is trivially reachable by a network
whose weights all go to zero). Scores are ``squared distance - R**2``: higher
means more anomalous, > 0 means outside the sphere.
"""

from __future__ import annotations

import numpy as np
import torch


def init_center(embeddings: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Mean of ``embeddings`` (N x D) with near-zero coordinates pushed to +-eps."""
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError("init_center needs a non-empty N x D tensor")
    c = embeddings.mean(dim=0).clone()
    small = c.abs() < eps
    c[small & (c < 0)] = -eps
    c[small & (c >= 0)] = eps
    return c


def squared_distances(embeddings: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance of each row of ``embeddings`` to ``center``."""
    return ((embeddings - center) ** 2).sum(dim=1)


def quantile_radius(sq_distances: np.ndarray | torch.Tensor, quantile: float) -> float:
    """Radius R such that a ``quantile`` share of the points lie within it.

    Computed on the (unsquared) distances with linear interpolation, as in the
    paper's soft-boundary update; ``quantile = 1 - target false-reject rate``.
    """
    values = np.sqrt(np.asarray(torch.as_tensor(sq_distances).detach().cpu(), dtype=np.float64))
    if values.size == 0:
        raise ValueError("quantile_radius needs at least one distance")
    return float(np.quantile(values, min(max(quantile, 0.0), 1.0)))


def svdd_loss(sq_dist: torch.Tensor, radius: float, objective: str, nu: float) -> torch.Tensor:
    """One-class loss ``mean(d^2)`` or soft-boundary ``R^2 + mean(max(0, d^2 - R^2)) / nu``."""
    if objective == "soft-boundary":
        r2 = radius**2
        return r2 + torch.clamp(sq_dist - r2, min=0).mean() / nu
    return sq_dist.mean()
