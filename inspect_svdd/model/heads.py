"""Scoring rules in the embedding space: the number compared with R^2.

The encoder is trained with the Deep SVDD (or Deep SAD) objective around the
centre c; how an embedding is then *scored* is a separate, cheap choice that
was measured to matter more than most training levers (see README):

* ``center``: squared distance to c (the paper's).
* ``mahalanobis``: ``(z - mu)^T P (z - mu)`` with ``mu`` the mean golden
  embedding and ``P`` the inverse of a Ledoit-Wolf shrunk covariance; written as
  ``||(z - mu) L||^2`` with ``P = L L^T`` so that it is never negative.
* ``knn``: mean squared distance to the ``k`` nearest golden embeddings
  (stored centred on their mean, which keeps float32 cancellation small).

:class:`ScoreHead` holds the fitted buffers, so the rule travels with the
weights (``head.pt``) and into the ONNX graph.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from inspect_svdd.config import ScoreConfig
from inspect_svdd.errors import ConfigError
from inspect_svdd.model.hypersphere import squared_distances


def check_golden_count(cfg: ScoreConfig, n_train: int) -> None:
    """Refuse a k-NN rule that has no k other golden embeddings to compare with (before any training).

    Raises:
        ConfigError: ``knn`` with ``n_train <= k``.
    """
    if cfg.rule == "knn" and n_train <= cfg.k:
        raise ConfigError(f"knn scoring needs more than k={cfg.k} golden training images, got {n_train}; lower --k")


class ScoreHead(nn.Module):
    """Embedding batch (N x D) -> anomaly statistic (N,), higher = more anomalous."""

    mean: torch.Tensor
    scale: torch.Tensor
    whiten: torch.Tensor
    bank: torch.Tensor

    def __init__(self, cfg: ScoreConfig, rep_dim: int, bank_size: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(rep_dim))
        self.register_buffer("scale", torch.ones(rep_dim))  # 1 / golden std per feature for stage features
        self.register_buffer("whiten", torch.eye(rep_dim) if cfg.rule == "mahalanobis" else torch.empty(0))
        self.register_buffer("bank", torch.zeros(bank_size, rep_dim) if cfg.rule == "knn" else torch.empty(0))

    @classmethod
    def fit(cls, cfg: ScoreConfig, embeddings: torch.Tensor, center: torch.Tensor) -> ScoreHead:
        """Fit the rule on the golden training embeddings (N x D)."""
        from sklearn.covariance import LedoitWolf

        z = embeddings.detach().double()
        head = cls(cfg, z.shape[1], len(z))
        if cfg.rule == "center":
            head.mean.copy_(center)
            return head
        mean = z.mean(dim=0)  # distances are computed on centred vectors: less float32 cancellation
        head.mean.copy_(mean)
        if cfg.feature_kind != "embedding":  # pooled maxima and means of different stages live on different scales
            std = z.std(dim=0)  # floored: a nearly constant feature would turn float noise into scores
            head.scale.copy_(1 / std.clamp_min(0.05 * float(std.median()) + 1e-12))
        z = (z - mean) * head.scale.double()
        if cfg.rule == "mahalanobis":
            lw = LedoitWolf(assume_centered=True).fit(z.numpy())
            precision = (lw.precision_ + lw.precision_.T) / 2
            head.whiten.copy_(torch.from_numpy(np.linalg.cholesky(precision)))
        else:
            check_golden_count(cfg, len(z))
            head.bank.copy_(z)
        return head

    def forward(self, z: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """Statistic per row of ``z``; ``exclude_self`` (knn) drops each row's own bank entry (for training rows)."""
        if self.cfg.rule == "center":
            return squared_distances(z, self.mean)
        # float64 from here on (in the ONNX graph too): with hundreds of standardised features the
        # sums below cancel, and float32 would let a CPU's other summation order move the verdict
        z = (z.double() - self.mean.double()) * self.scale.double()
        if self.cfg.rule == "mahalanobis":
            return ((z @ self.whiten.double()) ** 2).sum(dim=1).float()
        bank = self.bank.double()
        sq = (z * z).sum(dim=1, keepdim=True) - 2 * z @ bank.T + (bank * bank).sum(dim=1)
        k = self.cfg.k + int(exclude_self)
        nearest = torch.topk(sq.clamp_min(0), k, dim=1, largest=False).values
        return nearest[:, int(exclude_self) :].mean(dim=1).float()
