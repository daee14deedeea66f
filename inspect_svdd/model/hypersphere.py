"""Pure functions of the hypersphere: centre, distances, radius.

Rules from Ruff et al. (2018): the centre is the mean embedding of the training
data after an initial forward pass, with coordinates closer than ``eps`` to zero
pushed out to ``+-eps`` (a centre at zero is trivially reachable by a network
whose weights all go to zero). Scores are ``squared distance - R**2``: higher
means more anomalous, > 0 means outside the sphere.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

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


def tolerance_factor(n: int, target_frr: float, confidence: float) -> float:
    """One-sided normal tolerance factor k for ``n`` samples (Natrella's approximation).

    ``mean + k * std`` bounds the ``1 - target_frr`` quantile with the given
    ``confidence``; ``confidence`` 0.5 gives the plain z-value.

    With a few dozen held-out images the median and spread are themselves
    uncertain; a plain z-value puts the radius where the *estimated* quantile
    lies, which new good parts then exceed more often than ``target_frr``.
    """
    z_p = NormalDist().inv_cdf(1 - target_frr) if target_frr > 0 else 8.0
    if confidence <= 0.5 or n < 3:
        return z_p
    z_g = NormalDist().inv_cdf(confidence)
    a = 1 - z_g**2 / (2 * (n - 1))
    b = z_p**2 - z_g**2 / n
    return (z_p + np.sqrt(max(z_p**2 - a * b, 0.0))) / a if a > 0 else 2 * z_p


def log_median_mad(values: np.ndarray) -> tuple[float, float]:
    """Median of the logs of positive statistics and 1.4826 x their MAD (a robust standard deviation)."""
    logs = np.log(np.maximum(np.asarray(values, dtype=np.float64), 1e-12))
    mu = float(np.median(logs))
    return mu, 1.4826 * float(np.median(np.abs(logs - mu)))


def tail_quantile(values: np.ndarray, target_frr: float, confidence: float) -> tuple[float, dict[str, Any]]:
    """The ``1 - target_frr`` quantile of positive statistics under an exponential tail on their logs.

    The logs' excesses over their median are modelled as exponential (a
    Pareto tail for the statistics themselves): its scale is their mean, and
    with ``confidence`` above 0.5 the scale's upper confidence bound (a sum of
    ``m`` exponentials is a scaled chi-square with ``2m`` degrees of freedom),
    so that the few excesses of a small held-out set do not understate it.
    Where a log-normal's tail falls off, this one keeps the proportion of
    the largest excesses, so a held-out set whose largest values stand out
    (good parts that vary more than most) widens the radius accordingly.
    """
    from scipy.stats import chi2

    logs = np.log(np.maximum(values, 1e-12))
    mu = float(np.median(logs))
    excess = logs[logs > mu] - mu
    m = int(excess.size)
    if m == 0:  # every statistic equal: no tail to fit
        return float(np.exp(mu)), {"log_median": mu, "tail_scale": 0.0, "tail_count": 0}
    scale = float(excess.mean())
    bound = scale * 2 * m / float(chi2.ppf(1 - confidence, 2 * m)) if confidence > 0.5 else scale
    q = mu + bound * np.log((m / values.size) / target_frr) if target_frr > 0 else mu + 8 * bound
    return float(np.exp(q)), {"log_median": mu, "tail_scale": scale, "tail_scale_bound": bound, "tail_count": m}


def fit_radius(sq_distances: np.ndarray, target_frr: float, rule: str,
               confidence: float = 0.5) -> tuple[float, dict[str, Any]]:
    """Radius for a ``target_frr`` false-reject rate from held-out golden statistics, and how it was set.

    ``quantile``: the empirical ``1 - target_frr`` quantile (with a few dozen
    held-out images that is their maximum, so the verdict of the next good
    part sits on a knife edge). ``lognormal``: a log-normal fitted robustly
    (median and MAD of the logs) to the statistics, which are positive and
    right-skewed, gives the quantile, never below the empirical one; this
    extrapolates past the largest held-out value instead of stopping at it.
    With ``confidence`` above 0.5 the log-normal quantile is an upper
    tolerance bound (:func:`tolerance_factor`): it holds for new parts with
    that confidence despite the held-out set's small size. ``tail``: the
    quantile of an exponential tail on the logs (:func:`tail_quantile`), with
    the same confidence, never below the empirical quantile.
    """
    values = np.asarray(sq_distances, dtype=np.float64)
    empirical = quantile_radius(values, 1 - target_frr)
    facts: dict[str, Any] = {"rule": rule, "target_frr": target_frr, "n": int(values.size), "empirical_radius": empirical}
    if rule == "quantile":
        return empirical, facts
    if rule == "tail":
        q, tail = tail_quantile(values, target_frr, confidence)
        fitted = float(np.sqrt(q))
        return max(fitted, empirical), facts | tail | {"fitted_radius": fitted, "confidence": confidence}
    # median and MAD: a held-out image that duplicates a training one (statistic ~0) must not stretch the fit
    mu, sigma = log_median_mad(values)
    z = tolerance_factor(values.size, target_frr, confidence)
    fitted = float(np.sqrt(np.exp(mu + z * sigma)))
    return max(fitted, empirical), facts | {"log_median": mu, "log_mad_sigma": sigma, "fitted_radius": fitted,
                                           "confidence": confidence, "factor": z}


def svdd_loss(sq_dist: torch.Tensor, radius: float, objective: str, nu: float,
              anomalous: torch.Tensor | None = None, eta: float = 1.0) -> torch.Tensor:
    """One-class loss ``mean(d^2)`` or soft-boundary ``R^2 + mean(max(0, d^2 - R^2)) / nu``.

    With ``anomalous`` (a boolean per row), Deep SAD (Ruff et al., ICLR 2020):
    anomalous rows contribute ``eta / (d^2 + 1e-6)`` instead, which pushes them
    away from the centre; the normal rows keep the chosen objective.
    """
    if anomalous is not None and bool(anomalous.any()):
        normal = sq_dist[~anomalous]
        pushed = eta / (sq_dist[anomalous] + 1e-6)
        base = svdd_loss(normal, radius, objective, nu) * len(normal) if len(normal) else sq_dist.new_zeros(())
        return (base + pushed.sum()) / len(sq_dist)
    if objective == "soft-boundary":
        r2 = radius**2
        return r2 + torch.clamp(sq_dist - r2, min=0).mean() / nu
    return sq_dist.mean()
