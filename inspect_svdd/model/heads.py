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


def _whitening(z: np.ndarray) -> np.ndarray:
    """W with ``||x W||^2`` the squared Mahalanobis distance under the Ledoit-Wolf shrunk covariance of ``z`` (centred).

    With ``cov = C C^T`` (Cholesky), ``W = C^-T``: ``W W^T`` is the precision.
    One Cholesky factor and a triangular solve, where inverting the
    covariance by eigendecomposition costs seconds with a thousand features.
    """
    from scipy.linalg import solve_triangular
    from sklearn.covariance import ledoit_wolf_shrinkage

    shrink = float(ledoit_wolf_shrinkage(z, assume_centered=True))
    emp = z.T @ z / len(z)
    cov = (1 - shrink) * emp + shrink * np.trace(emp) / len(emp) * np.eye(len(emp))
    chol = np.linalg.cholesky((cov + cov.T) / 2)
    return solve_triangular(chol, np.eye(len(emp)), lower=True).T


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
            head.whiten.copy_(torch.from_numpy(_whitening(z.numpy())))
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


def member_config(cfg: ScoreConfig, member: str) -> ScoreConfig:
    """The single-rule config of one ``rule/features`` member (sharing ``k`` and ``bank_views``)."""
    rule, _, kind = member.partition("/")
    return ScoreConfig(rule=rule, k=cfg.k, features=kind, bank_views=cfg.bank_views)  # type: ignore[arg-type]


def feature_dims(stage_dim: int, rep_dim: int) -> dict[str, int]:
    """Row size of each feature kind (as :meth:`Encoder.feature_dim`, from the two sizes a head knows)."""
    return {"stages": stage_dim, "embedding": rep_dim, "both": stage_dim + rep_dim}


def feature_slice(kind: str, stage_dim: int) -> slice:
    """Where ``kind`` lies in the ``both`` features (pooled stages first, then the embedding)."""
    return {"stages": slice(0, stage_dim), "embedding": slice(stage_dim, None)}.get(kind, slice(None))


class FusionHead(nn.Module):
    """Several scoring rules on one forward pass, each standardised on held-out golden statistics, combined.

    Each member's statistic ``s`` becomes ``z = (log s - m) / v`` with ``m`` and
    ``v`` the median and spread (MAD) of its logs on the held-out golden images;
    the fused statistic is ``exp(mean z * mean v)`` (the exponent clamped to
    +-80): ``mean z`` back on the members' typical log scale, so a part twice
    as far as usual on every member scores about 2; positive, higher = more anomalous,
    and about log-normal on good parts, so the radius rules apply as they are.
    Input: the ``both`` features (pooled stages, then the embedding).
    """

    log_median: torch.Tensor
    log_scale: torch.Tensor

    def __init__(self, cfg: ScoreConfig, stage_dim: int, rep_dim: int, bank_size: int = 0) -> None:
        super().__init__()
        self.cfg, self.stage_dim = cfg, stage_dim
        self.kinds = [member_config(cfg, m).feature_kind for m in cfg.members]
        dims = feature_dims(stage_dim, rep_dim)
        self.members = nn.ModuleList(ScoreHead(member_config(cfg, m), dims[kind], bank_size)
                                     for m, kind in zip(cfg.members, self.kinds, strict=True))
        self.register_buffer("log_median", torch.zeros(len(cfg.members), dtype=torch.float64))
        self.register_buffer("log_scale", torch.ones(len(cfg.members), dtype=torch.float64))

    @property
    def bank(self) -> torch.Tensor:
        """The k-NN bank of the first k-NN member (its size is what a saved model records)."""
        banks = [m.bank for m in self.members if isinstance(m, ScoreHead) and len(m.bank)]
        return banks[0] if banks else torch.empty(0)

    def member_statistics(self, z: torch.Tensor, exclude_self: bool = False) -> list[torch.Tensor]:
        """Each member's own statistic of the ``both`` features ``z``."""
        return [head(z[:, feature_slice(kind, self.stage_dim)], exclude_self)
                for head, kind in zip(self.members, self.kinds, strict=True)]

    def standardise(self, held_out: list[torch.Tensor]) -> None:
        """Set each member's median and spread of log statistics from the held-out golden images' statistics."""
        for i, stats in enumerate(held_out):
            logs = torch.log(stats.double().clamp_min(1e-12))
            median = logs.median()
            spread = 1.4826 * (logs - median).abs().median()
            self.log_median[i] = median
            self.log_scale[i] = spread.clamp_min(1e-3)

    def forward(self, z: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """Fused statistic per row of the ``both`` features ``z``."""
        logs = torch.stack([torch.log(s.double().clamp_min(1e-12)) for s in self.member_statistics(z, exclude_self)], 1)
        mean_z = ((logs - self.log_median) / self.log_scale).mean(dim=1)
        return torch.exp((mean_z * self.log_scale.mean()).clamp(-80, 80)).float()  # within float32


def make_head(cfg: ScoreConfig, stage_dim: int, rep_dim: int, bank_size: int = 0) -> nn.Module:
    """An empty head of the configured rule (its buffers sized to be loaded into)."""
    if cfg.rule == "fusion":
        return FusionHead(cfg, stage_dim, rep_dim, bank_size)
    if cfg.rule == "ocnn":
        from inspect_svdd.model.ocnn import OCNNHead

        return OCNNHead(rep_dim)
    return ScoreHead(cfg, feature_dims(stage_dim, rep_dim)[cfg.feature_kind], bank_size)
