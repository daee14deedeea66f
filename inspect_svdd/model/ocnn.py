"""One-Class Neural Network objective (OC-NN; Chalapathy, Menon and Chawla, 2018).

Instead of a hypersphere, OC-NN learns a hyperplane score on the embedding,
``f(z) = w . g(V z)`` with ``g`` the sigmoid, and a threshold ``r``::

    min_{w, V, r}  ||w||^2 / 2 + ||V||^2 / 2 + mean(max(0, r - f(z))) / nu - r

``r`` is not learned by gradient: after each epoch it is set to the ``nu``
quantile of the epoch's training scores (the closed-form minimiser), and after
training to the ``nu`` quantile of the training images' scores. A part is
anomalous when ``f(z) < r``. So that the rest of the toolkit (radius rules,
screening, the ONNX graph) sees a positive statistic where higher means more
anomalous, :class:`OCNNHead` returns ``exp(r - f(z))``: 1 on OC-NN's own
boundary. The hyperplane trains on fixed codes of the pretrained encoder, or
jointly with it at a lower learning rate.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from inspect_svdd.config import TrainConfig
from inspect_svdd.model.nets import Encoder
from inspect_svdd.model.train import History, make_optimizer


class OCNNHead(nn.Module):
    """Embedding batch (N x D) -> ``exp(r - f(z))`` (N,), higher = more anomalous; bias-free, one hidden layer of D units."""

    r: torch.Tensor

    def __init__(self, rep_dim: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(rep_dim, rep_dim, bias=False)  # V
        self.out = nn.Linear(rep_dim, 1, bias=False)  # w
        self.register_buffer("r", torch.zeros((), dtype=torch.float64))

    def hyperplane(self, z: torch.Tensor) -> torch.Tensor:
        """OC-NN's score ``f(z) = w . sigmoid(V z)`` per row (higher = more normal)."""
        return self.out(torch.sigmoid(self.hidden(z))).squeeze(1)

    def forward(self, z: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """The statistic ``exp(r - f(z))`` per row (``exclude_self`` is for the k-NN rule; unused)."""
        gap = self.r - self.hyperplane(z).double()
        return torch.exp(gap.clamp(-80, 80)).float()  # within float32

    def regulariser(self) -> torch.Tensor:
        """``||w||^2 / 2 + ||V||^2 / 2``."""
        return 0.5 * (self.out.weight.square().sum() + self.hidden.weight.square().sum())

    def set_threshold(self, scores: torch.Tensor, nu: float) -> float:
        """Set ``r`` to the ``nu`` quantile of the hyperplane ``scores`` of the training data; return it."""
        r = float(np.quantile(scores.detach().double().numpy(), nu))
        self.r.fill_(r)
        return r


def ocnn_loss(scores: torch.Tensor, r: float, nu: float, head: OCNNHead) -> torch.Tensor:
    """OC-NN's objective on a batch of hyperplane scores, with the threshold ``r`` held fixed."""
    return head.regulariser() + torch.clamp(r - scores, min=0).mean() / nu - r


def train_ocnn(encoder: Encoder, head: OCNNHead, loader: DataLoader, cfg: TrainConfig,
               progress: bool = True) -> History:
    """Train the hyperplane (and, for ``joint``, the encoder at ``encoder_lr``) on the loader's golden views.

    ``r`` follows the ``nu`` quantile of each epoch's scores; the caller sets
    the final ``r`` on the training images (:meth:`OCNNHead.set_threshold`).
    """
    joint = cfg.ocnn_training == "joint"
    opt, sched = make_optimizer([{"params": head.parameters(), "lr": cfg.lr},
                                 *([{"params": encoder.parameters(), "lr": cfg.encoder_lr}] if joint else [])],
                                cfg.lr, cfg.weight_decay, cfg.lr_milestones)
    encoder.train(joint)
    head.train()
    history: History = []
    for epoch in tqdm(range(cfg.epochs), desc="ocnn", disable=None if progress else True, unit="epoch"):
        began, total, count, seen = time.perf_counter(), 0.0, 0, []
        r = float(head.r)
        for batch, _ in loader:
            with torch.set_grad_enabled(joint):
                codes = encoder(batch)
            scores = head.hyperplane(codes)
            loss = ocnn_loss(scores, r, cfg.nu, head)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen.append(scores.detach())
            total += loss.item() * len(batch)
            count += len(batch)
        sched.step()
        r = head.set_threshold(torch.cat(seen), cfg.nu)
        history.append({"stage": "ocnn", "epoch": epoch + 1, "loss": total / max(count, 1), "r": r,
                        "seconds": round(time.perf_counter() - began, 3)})
    encoder.eval()
    head.eval()
    return history
