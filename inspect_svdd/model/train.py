"""Training loops: autoencoder pretraining and Deep SVDD.

The loops know nothing about files or the CLI: they take uint8 NHWC image
arrays, an augmentation pipeline and a :class:`TrainConfig`, and return a
history (one dict per epoch) that is stored in the model.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from inspect_svdd.config import TrainConfig
from inspect_svdd.model.augment import apply
from inspect_svdd.model.checkpoint import Checkpoint, Randomness
from inspect_svdd.model.hypersphere import quantile_radius, squared_distances, svdd_loss
from inspect_svdd.model.nets import AutoEncoder, Encoder

History = list[dict[str, Any]]


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a generator for data loaders."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class AugmentedImages(Dataset[tuple[torch.Tensor, bool]]):
    """``factor`` augmented views of each image per epoch, as ``(uint8 HWC tensor, anomalous)`` pairs.

    Args:
        images: golden images (normal).
        pipeline: augmentation applied to every view.
        factor: views of each image per epoch.
        defects: real defective images (anomalous), augmented like the rest.
        anomalies: synthetic-defect pipeline; each golden view becomes a
            synthetic defect with probability ``ratio`` (drawn from ``seed``).
    """

    def __init__(self, images: np.ndarray, pipeline: Any, factor: int = 1, defects: np.ndarray | None = None,
                 anomalies: Any = None, ratio: float = 0.0, seed: int = 0) -> None:
        self.images = images
        self.defects = defects if defects is not None else images[:0]
        self.pipeline, self.factor = pipeline, factor
        self.anomalies, self.ratio = anomalies, ratio
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return (len(self.images) + len(self.defects)) * self.factor

    def __getitem__(self, index: int) -> tuple[torch.Tensor, bool]:
        index %= len(self.images) + len(self.defects)
        anomalous = index >= len(self.images)
        image = self.defects[index - len(self.images)] if anomalous else self.images[index]
        if self.pipeline is not None:
            image = apply(self.pipeline, image)
        if not anomalous and self.anomalies is not None and self.rng.random() < self.ratio:
            image, anomalous = apply(self.anomalies, image), True
        return torch.from_numpy(image), anomalous


def make_loader(images: np.ndarray, pipeline: Any, cfg: TrainConfig, generator: torch.Generator,
                defects: np.ndarray | None = None, anomalies: Any = None) -> DataLoader:
    """Shuffled loader over augmented views; drops a last batch of one (BatchNorm needs two).

    ``defects`` and ``anomalies`` (see :class:`AugmentedImages`) make it a
    Deep SAD loader; without them every view is normal.
    """
    ratio = cfg.anomaly_ratio if anomalies is not None else 0.0
    dataset = AugmentedImages(images, pipeline, cfg.augment_factor, defects, anomalies, ratio, cfg.seed)
    drop_last = len(dataset) % cfg.batch_size == 1
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, generator=generator, drop_last=drop_last)


def _optimizer(params: Any, lr: float, wd: float, milestones: tuple[int, ...]) -> tuple[torch.optim.Optimizer, Any]:
    opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=0.1)
    return opt, sched


def pretrain_autoencoder(ae: AutoEncoder, loader: DataLoader, cfg: TrainConfig, progress: bool = True,
                         checkpoint: Checkpoint | None = None) -> History:
    """Train ``ae`` to reconstruct its (normalised) input; return the history.

    With a ``checkpoint`` the state is saved every few epochs, and a saved
    pretraining state is continued from.
    """
    opt, sched = _optimizer(ae.parameters(), cfg.ae_lr, cfg.ae_weight_decay, cfg.ae_lr_milestones)
    randomness = Randomness.of(loader)
    start, history, _ = checkpoint.restore("pretrain", {"ae": ae}, opt, sched, randomness) if checkpoint else (0, [], {})
    ae.train()
    for epoch in tqdm(range(start, cfg.ae_epochs), desc="pretrain", disable=None if progress else True, unit="epoch",
                      initial=start, total=cfg.ae_epochs):
        began, total, count = time.perf_counter(), 0.0, 0
        for batch, _ in loader:
            recon, target = ae(batch)
            sq_err = (recon - target) ** 2
            loss = sq_err.flatten(1).sum(dim=1).mean() if cfg.ae_loss == "image-sum" else sq_err.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
            count += len(batch)
        sched.step()
        history.append({"stage": "pretrain", "epoch": epoch + 1, "loss": total / max(count, 1),
                        "seconds": round(time.perf_counter() - began, 3)})
        if checkpoint:
            checkpoint.save("pretrain", epoch + 1, cfg.ae_epochs, {"ae": ae}, opt, sched, randomness, history, {})
    ae.eval()
    return history


def train_svdd(
    encoder: Encoder, loader: DataLoader, center: torch.Tensor, cfg: TrainConfig, progress: bool = True,
    decoder: torch.nn.Module | None = None, checkpoint: Checkpoint | None = None, carry: dict[str, Any] | None = None,
) -> tuple[History, float]:
    """Minimise the Deep SVDD objective (Deep SAD where the loader marks anomalies); return the history and R.

    For ``soft-boundary`` R is updated after each epoch past a warm-up, to the
    (1 - nu) quantile of the epoch's distances (Ruff et al.); for ``one-class``
    the returned R is 0 and the caller sets it from held-out images. With a
    ``decoder`` (hybrid objective) ``cfg.recon_weight`` times the normal
    views' reconstruction error is added, and the decoder trains too. With a
    ``checkpoint`` the state (and ``carry``, facts the caller needs to resume)
    is saved every few epochs, and a saved Deep SVDD state is continued from.
    """
    params = [*encoder.parameters(), *(decoder.parameters() if decoder is not None else [])]
    opt, sched = _optimizer(params, cfg.lr, cfg.weight_decay, cfg.lr_milestones)
    warm_up = min(10, cfg.epochs // 4)
    modules: dict[str, torch.nn.Module] = {"encoder": encoder, **({"decoder": decoder} if decoder is not None else {})}
    randomness = Randomness.of(loader)
    start, history, extra = checkpoint.restore("svdd", modules, opt, sched, randomness) if checkpoint else (0, [], {})
    radius = float(extra.get("radius", 0.0))
    encoder.train()
    if decoder is not None:
        decoder.train()
    for epoch in tqdm(range(start, cfg.epochs), desc="svdd", disable=None if progress else True, unit="epoch",
                      initial=start, total=cfg.epochs):
        began, total, count, recon_total = time.perf_counter(), 0.0, 0, 0.0
        epoch_dist: list[torch.Tensor] = []
        for batch, anomalous in loader:
            code = encoder(batch)
            dist = squared_distances(code, center)
            loss = svdd_loss(dist, radius, cfg.objective, cfg.nu, anomalous, cfg.eta)
            if decoder is not None:
                normal = ~anomalous
                recon_err = ((decoder(code[normal]) - encoder.adapter(batch[normal])) ** 2).mean()
                loss = loss + cfg.recon_weight * recon_err
                recon_total += recon_err.item() * len(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_dist.append(dist.detach()[~anomalous])
            total += loss.item() * len(batch)
            count += len(batch)
        sched.step()
        if cfg.objective == "soft-boundary" and epoch >= warm_up:
            radius = quantile_radius(torch.cat(epoch_dist), 1 - cfg.nu)
        history.append({"stage": "svdd", "epoch": epoch + 1, "loss": total / max(count, 1), "radius": radius,
                        "seconds": round(time.perf_counter() - began, 3)})
        if decoder is not None:
            history[-1]["recon_loss"] = recon_total / max(count, 1)
        if checkpoint:
            checkpoint.save("svdd", epoch + 1, cfg.epochs, modules, opt, sched, randomness, history,
                            {**(carry or {}), "radius": radius})
    encoder.eval()
    if decoder is not None:
        decoder.eval()
    return history, radius


@torch.no_grad()
def embed(encoder: Encoder, images: np.ndarray, batch_size: int = 64, kind: str = "embedding") -> torch.Tensor:
    """Embeddings (or, ``kind`` ``stages``, pooled stage features) of uint8 NHWC images in eval mode."""
    encoder.eval()
    parts = [encoder.features_of(torch.from_numpy(images[i : i + batch_size]), kind)
             for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, encoder.feature_dim(kind))
