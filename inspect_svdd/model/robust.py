"""Robust convolutional autoencoder pretraining (RCAE; Chalapathy, Menon and Chawla, 2017).

A golden folder is never quite clean. RCAE splits each training view ``x``
(in the network's normalised input space) into a clean part ``x - N`` that the
autoencoder reconstructs and a sparse noise part ``N`` that absorbs what it
cannot reconstruct::

    min_{AE, N}  mean ||(x - N) - AE(x - N)||^2 + lambda * mean |N|

optimised alternately: one epoch of the autoencoder on the clean parts with
``N`` fixed, then ``N`` set in closed form, the soft-thresholding (the proximal
step of the L1 norm) of the residual, ``N = shrink(x - AE(x - N), lambda / 2)``.
A defective part's defect ends up in ``N`` instead of in the features the
encoder learns. Each view keeps its own ``N``, so the views are drawn once.
``N`` stays zero for the first third of the epochs: an untrained autoencoder
reconstructs nothing, and a noise part set from its residual would hold the
whole image (a fixed point the alternation leaves only slowly).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

from inspect_svdd.config import TrainConfig
from inspect_svdd.model.augment import with_views
from inspect_svdd.model.nets import AutoEncoder
from inspect_svdd.model.train import History, make_optimizer, reconstruction_error


def shrink(residual: torch.Tensor, threshold: float) -> torch.Tensor:
    """Soft-thresholding: ``sign(r) * max(|r| - threshold, 0)`` (the proximal step of ``2 * threshold * |.|``)."""
    return torch.sign(residual) * torch.clamp(residual.abs() - threshold, min=0)


def rcae_views(images: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """The fixed training views: the images, and ``augment_factor - 1`` augmented copies of each (seeded)."""
    return with_views(images, cfg.augment, cfg.seed, cfg.augment_factor - 1)


@torch.no_grad()
def _normalised(ae: AutoEncoder, views: np.ndarray, batch_size: int) -> torch.Tensor:
    return torch.cat([ae.encoder.adapter(torch.from_numpy(views[i : i + batch_size]))
                      for i in range(0, len(views), batch_size)])


@torch.no_grad()
def update_noise(ae: AutoEncoder, inputs: torch.Tensor, noise: torch.Tensor, lam: float, batch_size: int) -> torch.Tensor:
    """The noise part's closed-form step: the soft-thresholded residual of each view's clean part (eval mode)."""
    ae.eval()
    out = torch.empty_like(noise)
    for i in range(0, len(inputs), batch_size):
        x, n = inputs[i : i + batch_size], noise[i : i + batch_size]
        out[i : i + batch_size] = shrink(x - ae.reconstruct_normalised(x - n), lam / 2)
    ae.train()
    return out


def pretrain_rcae(ae: AutoEncoder, images: np.ndarray, cfg: TrainConfig, generator: torch.Generator,
                  progress: bool = True) -> tuple[History, torch.Tensor]:
    """Train ``ae`` as a robust autoencoder on the training ``images``; return the history and the noise part N.

    ``N`` (views x C x H x W, normalised units) is what the autoencoder was
    not asked to reconstruct: large where a view holds something the rest do
    not. Its first ``len(images)`` rows belong to the images themselves.
    """
    views = rcae_views(images, cfg)
    inputs = _normalised(ae, views, 256)
    noise = torch.zeros_like(inputs)
    opt, sched = make_optimizer(ae.parameters(), cfg.ae_lr, cfg.ae_weight_decay, cfg.ae_lr_milestones)
    history: History = []
    ae.train()
    drop_last = len(views) % cfg.batch_size == 1  # BatchNorm needs two
    warm_up = cfg.ae_epochs // 3
    for epoch in tqdm(range(cfg.ae_epochs), desc="pretrain (rcae)", disable=None if progress else True, unit="epoch"):
        began, total, count = time.perf_counter(), 0.0, 0
        order = torch.randperm(len(views), generator=generator)
        for i in range(0, len(order) - int(drop_last), cfg.batch_size):
            pick = order[i : i + cfg.batch_size]
            clean = inputs[pick] - noise[pick]
            loss = reconstruction_error(ae.reconstruct_normalised(clean), clean, cfg.ae_loss)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(pick)
            count += len(pick)
        sched.step()
        if epoch + 1 >= warm_up:
            noise = update_noise(ae, inputs, noise, cfg.ae_lambda, 256)
        history.append({"stage": "pretrain", "epoch": epoch + 1, "loss": total / max(count, 1),
                        "noise_share": float((noise != 0).float().mean()), "noise_l1": float(noise.abs().mean()),
                        "seconds": round(time.perf_counter() - began, 3)})
    ae.eval()
    return history, noise
