"""Training loops: autoencoder pretraining and Deep SVDD.

The loops know nothing about files or the CLI: they take uint8 NHWC image
arrays, an augmentation pipeline and a :class:`TrainConfig`, and return a
history (one dict per epoch) that is stored in the model.
"""

from __future__ import annotations

import dataclasses
import random
import time
from typing import Any, Protocol

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


def lengthened(cfg: TrainConfig, stage: str, steps_per_epoch: int) -> TrainConfig:
    """``cfg`` with the stage's epochs raised so it runs at least its minimum number of optimisation steps.

    One golden image grown to a few dozen views gives a handful of steps per
    epoch, thousands of golden images give hundreds: epochs alone would train
    the first far less. The learning-rate milestones stretch by the same factor.
    ``stage`` is ``pretrain`` or ``svdd``.
    """
    pre = stage == "pretrain"
    epochs, minimum = (cfg.ae_epochs, cfg.ae_min_steps) if pre else (cfg.epochs, cfg.min_steps)
    if epochs == 0 or epochs * steps_per_epoch >= minimum:
        return cfg
    longer = -(-minimum // max(steps_per_epoch, 1))
    milestones = tuple(round(m * longer / epochs) for m in (cfg.ae_lr_milestones if pre else cfg.lr_milestones))
    if pre:
        return dataclasses.replace(cfg, ae_epochs=longer, ae_lr_milestones=milestones)
    return dataclasses.replace(cfg, epochs=longer, lr_milestones=milestones)


def make_optimizer(params: Any, lr: float, wd: float, milestones: tuple[int, ...]) -> tuple[torch.optim.Optimizer, Any]:
    """Adam over ``params`` and a step schedule dividing the learning rate by 10 at each milestone epoch."""
    opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=0.1)
    return opt, sched


def reconstruction_error(recon: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Squared error averaged over pixels (``pixel-mean``) or summed per image and averaged (``image-sum``)."""
    sq_err = (recon - target) ** 2
    return sq_err.flatten(1).sum(dim=1).mean() if kind == "image-sum" else sq_err.mean()


def pretrain_autoencoder(ae: AutoEncoder, loader: DataLoader, cfg: TrainConfig, progress: bool = True,
                         checkpoint: Checkpoint | None = None) -> History:
    """Train ``ae`` to reconstruct its (normalised) input; return the history.

    With a ``checkpoint`` the state is saved every few epochs, and a saved
    pretraining state is continued from.
    """
    opt, sched = make_optimizer(ae.parameters(), cfg.ae_lr, cfg.ae_weight_decay, cfg.ae_lr_milestones)
    randomness = Randomness.of(loader)
    start, history, _ = checkpoint.restore("pretrain", {"ae": ae}, opt, sched, randomness) if checkpoint else (0, [], {})
    ae.train()
    for epoch in tqdm(range(start, cfg.ae_epochs), desc="pretrain", disable=None if progress else True, unit="epoch",
                      initial=start, total=cfg.ae_epochs):
        began, total, count = time.perf_counter(), 0.0, 0
        for batch, _ in loader:
            recon, target = ae(batch)
            loss = reconstruction_error(recon, target, cfg.ae_loss)
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


TURNS = 4  # the rotation task's classes: 0, 90, 180 and 270 degrees


def turned(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` (NHWC, square) and its turns by 90, 180 and 270 degrees, stacked, with each row's turn index."""
    views = torch.cat([torch.rot90(batch, k, dims=(1, 2)) for k in range(TURNS)])
    return views, torch.arange(TURNS).repeat_interleave(len(batch))


def rotation_head(encoder: Encoder, seed: int) -> torch.nn.Linear:
    """The auxiliary task's bias-free linear classifier over the embedding, seeded (resumes and refits match)."""
    dim = encoder.cfg.rep_dim
    head = torch.nn.Linear(dim, TURNS, bias=False)
    with torch.no_grad():
        bound = 1 / dim**0.5
        head.weight.copy_(torch.empty_like(head.weight).uniform_(-bound, bound, generator=torch.Generator().manual_seed(seed)))
    return head


@torch.no_grad()
def turn_losses(encoder: Encoder, turns: torch.nn.Module, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Each image's rotation-task loss summed over its four turns (higher: the network reads this image less well)."""
    encoder.eval()
    turns.eval()
    out = []
    for i in range(0, len(images), batch_size):
        views, which = turned(torch.from_numpy(images[i : i + batch_size]))
        loss = torch.nn.functional.cross_entropy(turns(encoder(views)), which, reduction="none")
        out.append(loss.reshape(TURNS, -1).sum(dim=0))
    return torch.cat(out).numpy() if out else np.zeros(0)


def _codes(encoder: Encoder, batch: torch.Tensor, anomalous: torch.Tensor,
           with_turns: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Codes of ``batch``; with turns also the normal views' codes in all four turns and each one's turn index.

    One forward pass (the upright batch, then the turned normal views) so
    BatchNorm sees one batch, as it does at scoring time with running stats.
    """
    if not with_turns:
        return encoder(batch), None, None
    views, which = turned(batch[~anomalous])
    codes = encoder(torch.cat([batch, views[int((~anomalous).sum()):]]))
    upright = codes[: len(batch)]
    return upright, torch.cat([upright[~anomalous], codes[len(batch):]]), which


def train_svdd(
    encoder: Encoder, loader: DataLoader, center: torch.Tensor, cfg: TrainConfig, progress: bool = True,
    decoder: torch.nn.Module | None = None, checkpoint: Checkpoint | None = None, carry: dict[str, Any] | None = None,
    turns: torch.nn.Module | None = None,
) -> tuple[History, float]:
    """Minimise the Deep SVDD objective (Deep SAD where the loader marks anomalies); return the history and R.

    For ``soft-boundary`` R is updated after each epoch past a warm-up, to the
    (1 - nu) quantile of the epoch's distances (Ruff et al.); for ``one-class``
    the returned R is 0 and the caller sets it from held-out images. With a
    ``decoder`` (hybrid objective) ``cfg.recon_weight`` times the normal
    views' reconstruction error is added, and the decoder trains too. With a
    ``turns`` head (:func:`rotation_head`) ``cfg.rotation_weight`` times the
    rotation task's cross-entropy is added (see :class:`TrainConfig`): upright
    and turned views go through the network in one batch. With a
    ``checkpoint`` the state (and ``carry``, facts the caller needs to resume)
    is saved every few epochs, and a saved Deep SVDD state is continued from.
    """
    modules: dict[str, torch.nn.Module] = {"encoder": encoder, **({"decoder": decoder} if decoder is not None else {}),
                                           **({"rotation": turns} if turns is not None else {})}
    params = [p for m in modules.values() for p in m.parameters()]
    opt, sched = make_optimizer(params, cfg.lr, cfg.weight_decay, cfg.lr_milestones)
    warm_up = min(10, cfg.epochs // 4)
    randomness = Randomness.of(loader)
    start, history, extra = checkpoint.restore("svdd", modules, opt, sched, randomness) if checkpoint else (0, [], {})
    radius = float(extra.get("radius", 0.0))
    encoder.train()
    if decoder is not None:
        decoder.train()
    for epoch in tqdm(range(start, cfg.epochs), desc="svdd", disable=None if progress else True, unit="epoch",
                      initial=start, total=cfg.epochs):
        began, total, count, recon_total = time.perf_counter(), 0.0, 0, 0.0
        turn_total, turn_right, turn_count = 0.0, 0, 0
        epoch_dist: list[torch.Tensor] = []
        for batch, anomalous in loader:
            code, code_turned, which = _codes(encoder, batch, anomalous, turns is not None)
            dist = squared_distances(code, center)
            loss = svdd_loss(dist, radius, cfg.objective, cfg.nu, anomalous, cfg.eta)
            if decoder is not None:
                normal = ~anomalous
                recon_err = ((decoder(code[normal]) - encoder.adapter(batch[normal])) ** 2).mean()
                loss = loss + cfg.recon_weight * recon_err
                recon_total += recon_err.item() * len(batch)
            if turns is not None and code_turned is not None and which is not None:
                logits = turns(code_turned)
                turn_err = torch.nn.functional.cross_entropy(logits, which)
                loss = loss + cfg.rotation_weight * turn_err
                turn_total += turn_err.item() * len(batch)
                turn_right += int((logits.argmax(dim=1) == which).sum())
                turn_count += len(which)
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
        if turns is not None:
            history[-1]["rotation_loss"] = turn_total / max(count, 1)
            history[-1]["rotation_accuracy"] = turn_right / max(turn_count, 1)
        if checkpoint:
            checkpoint.save("svdd", epoch + 1, cfg.epochs, modules, opt, sched, randomness, history,
                            {**(carry or {}), "radius": radius})
    for module in modules.values():
        module.eval()
    return history, radius


class FeatureNet(Protocol):
    """What :func:`embed` needs of a network: the global :class:`Encoder` or the local model's map network."""

    def eval(self) -> Any:  # noqa: D102 (nn.Module's)
        ...

    def features_of(self, x: torch.Tensor, kind: str) -> torch.Tensor:  # noqa: D102
        ...

    def feature_dim(self, kind: str) -> int:  # noqa: D102
        ...


@torch.no_grad()
def embed(encoder: FeatureNet, images: np.ndarray, batch_size: int = 64, kind: str = "embedding") -> torch.Tensor:
    """Embeddings (or, ``kind`` ``stages``, pooled stage features) of uint8 NHWC images in eval mode."""
    encoder.eval()
    parts = [encoder.features_of(torch.from_numpy(images[i : i + batch_size]), kind)
             for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, encoder.feature_dim(kind))
