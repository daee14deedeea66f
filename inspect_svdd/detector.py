"""The core object: a scikit-learn-like Deep SVDD detector.

``DeepSVDD(config).fit(images)`` learns the hypersphere from golden images;
:meth:`DeepSVDD.score` returns ``squared distance - R**2`` where **higher means
more anomalous** and > 0 means outside the sphere (note: scikit-learn's
``score_samples`` and PyOD use other sign conventions). Images are uint8 NHWC
arrays as :func:`inspect_svdd.preprocess.preprocess` makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from inspect_svdd.augment import build_pipeline, expand
from inspect_svdd.config import FitConfig
from inspect_svdd.errors import ConfigError, DatasetError
from inspect_svdd.hypersphere import init_center, quantile_radius, squared_distances
from inspect_svdd.nets import AutoEncoder, Encoder
from inspect_svdd.train import History, embed, make_loader, pretrain_autoencoder, seed_everything, train_svdd

MIN_TRAIN_IMAGES = 5
MIN_EXPANDED = 60


def split_holdout(n_images: int, fraction: float, minimum: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split of ``n_images``.

    A ``fraction`` of 0 holds nothing out (the radius is then set on the
    training images).

    Raises:
        DatasetError: too few images to hold some out and still train.
    """
    if fraction == 0:
        return np.arange(n_images), np.arange(0)
    n_hold = max(minimum, round(fraction * n_images))
    if n_images - n_hold < MIN_TRAIN_IMAGES:
        need = n_hold + MIN_TRAIN_IMAGES
        raise DatasetError(
            f"too few golden images for a held-out split: found {n_images}, need at least {need} "
            f"({MIN_TRAIN_IMAGES} to train and {n_hold} held out to set the radius); "
            "add images, or keep augmentation on so that fit can make copies"
        )
    order = np.random.default_rng(seed).permutation(n_images)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


class DeepSVDD:
    """Deep SVDD detector (Ruff et al., ICML 2018).

    Args:
        config: preprocessing, network and training settings. ``__init__``
            only stores them; :meth:`fit` sets the attributes ending in ``_``.

    Attributes:
        encoder_: the trained bias-free encoder (eval mode).
        center_: hypersphere centre, a ``rep_dim`` tensor.
        radius_: hypersphere radius R.
        history_: one dict per training epoch, both stages.
        holdout_: facts about the held-out golden images (count, distances, FRR).
    """

    def __init__(self, config: FitConfig | None = None) -> None:
        self.config = config or FitConfig()
        self.autoencoder_: AutoEncoder | None = None
        self.encoder_: Encoder | None = None
        self.center_: torch.Tensor | None = None
        self.radius_: float | None = None
        self.history_: History = []
        self.holdout_: dict[str, Any] = {}
        self.expanded_from_: int | None = None

    # ----------------------------------------------------------------- training
    def _check_images(self, images: np.ndarray) -> None:
        p = self.config.preprocess
        expected = (p.image_size, p.image_size, p.channels)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise ConfigError(f"images must be uint8 N x {expected}, got {images.dtype} {images.shape}")

    def _split(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Train/held-out split; a too-small set is first grown with augmented copies.

        With fewer than ``min_holdout + MIN_TRAIN_IMAGES`` golden images (down to
        one) and augmentation on, augmented copies fill the set up to
        ``MIN_EXPANDED`` images, so the radius is set on augmented views.
        """
        t = self.config.train
        grow = len(images) < t.min_holdout + MIN_TRAIN_IMAGES and t.augment != "none"
        self.expanded_from_ = len(images) if grow else None  # reset on every split, so a refit never reports stale growth
        if grow:
            images = expand(images, build_pipeline(t.augment, t.seed), MIN_EXPANDED, t.seed)
        train_idx, hold_idx = split_holdout(len(images), t.holdout, t.min_holdout, t.seed)
        return images[train_idx], images[hold_idx]

    def pretrain(self, images: np.ndarray, progress: bool = True) -> DeepSVDD:
        """Pretrain the autoencoder on the training split of ``images``."""
        self._check_images(images)
        return self._pretrain(self._split(images)[0], progress)

    def _new_autoencoder(self, train_images: np.ndarray) -> tuple[AutoEncoder, torch.Generator]:
        """A seeded, freshly initialised autoencoder with its input (and first filters) fitted to ``train_images``."""
        cfg = self.config
        generator = seed_everything(cfg.train.seed)
        ae = AutoEncoder(cfg.net, cfg.preprocess.channels, cfg.preprocess.image_size)
        ae.fit_input(train_images, cfg.train.seed)
        return ae, generator

    def _pretrain(self, train_images: np.ndarray, progress: bool) -> DeepSVDD:
        cfg = self.config
        ae, generator = self._new_autoencoder(train_images)
        pipeline = build_pipeline(cfg.train.augment, cfg.train.seed)
        history = pretrain_autoencoder(ae, make_loader(train_images, pipeline, cfg.train, generator), cfg.train, progress)
        self.autoencoder_ = ae
        self.history_ = history
        return self

    def fit(self, images: np.ndarray, progress: bool = True) -> DeepSVDD:
        """Learn centre and radius from golden images (uint8 NHWC).

        Uses the autoencoder from :meth:`pretrain` (or a loaded one) when
        present, otherwise pretrains first (unless ``ae_epochs`` is 0).
        """
        self._check_images(images)
        t = self.config.train
        train_images, hold_images = self._split(images)
        if self.autoencoder_ is None:
            if t.ae_epochs > 0:
                self._pretrain(train_images, progress)
            else:
                self.autoencoder_, _ = self._new_autoencoder(train_images)
                self.history_ = []
        assert self.autoencoder_ is not None  # set just above; for the type checker
        generator = seed_everything(t.seed + 1)
        encoder = self.autoencoder_.encoder
        center = init_center(embed(encoder, train_images), t.eps)
        pipeline = build_pipeline(t.augment, t.seed + 1)
        history, learned_r = train_svdd(encoder, make_loader(train_images, pipeline, t, generator), center, t, progress)
        if len(hold_images) == 0:  # holdout 0: the radius comes from the training images (optimistic)
            hold_images = train_images
        hold_dist = squared_distances(embed(encoder, hold_images), center).numpy()
        radius = learned_r if t.objective == "soft-boundary" else quantile_radius(hold_dist, 1 - t.target_frr)
        self.encoder_, self.center_, self.radius_ = encoder, center, radius
        self.history_ = self.history_ + history
        self.holdout_ = {
            "count": len(hold_images),
            "train_count": len(train_images),
            "distances": [round(float(d), 6) for d in hold_dist],
            "false_reject_rate": float(np.mean(hold_dist > radius**2)),
            "expanded_from": self.expanded_from_,
        }
        return self

    # ------------------------------------------------------------------ scoring
    def _fitted(self) -> tuple[Encoder, torch.Tensor, float]:
        if self.encoder_ is None or self.center_ is None or self.radius_ is None:
            raise ConfigError("this detector is not fitted yet; call fit() or load a model")
        return self.encoder_, self.center_, self.radius_

    def distances(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Squared distance of each image's embedding to the centre."""
        encoder, center, _ = self._fitted()
        self._check_images(images)
        return squared_distances(embed(encoder, images, batch_size), center).numpy()

    def score(self, images: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Anomaly score ``d^2 - R^2`` per image: higher = more anomalous, > 0 = fail."""
        r = self._fitted()[2] if radius is None else radius
        return self.distances(images) - r**2

    def predict(self, images: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Boolean array, True where an image fails (lies outside the sphere)."""
        return self.score(images, radius) > 0


class TorchBackend:
    """Scoring backend running a saved model in PyTorch (see :mod:`inspect_svdd.scoring`)."""

    name = "torch"
    provider = "PyTorch CPU"

    def __init__(self, det: DeepSVDD) -> None:
        self.det = det
        self.preprocess = det.config.preprocess
        self.radius = det._fitted()[2]

    @classmethod
    def load(cls, directory: str | Path) -> TorchBackend:
        """Open a model directory."""
        from inspect_svdd.artifact import load_model

        return cls(load_model(directory)[0])

    def distances(self, batch: np.ndarray) -> np.ndarray:
        """Squared distances of a uint8 NHWC batch."""
        return self.det.distances(batch, batch_size=len(batch)).astype(np.float64)
