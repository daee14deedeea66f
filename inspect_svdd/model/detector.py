"""The core object: a scikit-learn-like Deep SVDD detector.

``DeepSVDD(config).fit(images)`` learns the hypersphere from golden images;
:meth:`DeepSVDD.score` returns ``squared distance - R**2`` where **higher means
more anomalous** and > 0 means outside the sphere (note: scikit-learn's
``score_samples`` and PyOD use other sign conventions). Images are uint8 NHWC
arrays as :func:`inspect_svdd.io.preprocess.preprocess` makes them.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch

from inspect_svdd.config import FitConfig, ScoreConfig, TrainConfig
from inspect_svdd.errors import ConfigError, DatasetError
from inspect_svdd.io.align import Aligner, fit_aligner
from inspect_svdd.model.augment import build_pipeline, expand, with_views
from inspect_svdd.model.checkpoint import Checkpoint
from inspect_svdd.model.heads import ScoreHead, check_golden_count
from inspect_svdd.model.hypersphere import fit_radius, init_center
from inspect_svdd.model.nets import AutoEncoder, Encoder, to_tiles, worst_tile
from inspect_svdd.model.train import (
    History,
    embed,
    lengthened,
    make_loader,
    pretrain_autoencoder,
    rotation_head,
    seed_everything,
    train_svdd,
    turn_losses,
)

MIN_TRAIN_IMAGES = 5
MIN_EXPANDED = 60


def split_holdout(n_images: int, fraction: float, minimum: int, seed: int,
                  min_train: int = MIN_TRAIN_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) index split of ``n_images``.

    A ``fraction`` of 0 holds nothing out (the radius is then set on the
    training images).

    Raises:
        DatasetError: too few images to hold some out and still train.
    """
    if fraction == 0:
        return np.arange(n_images), np.arange(0)
    n_hold = max(minimum, round(fraction * n_images))
    if n_images - n_hold < min_train:
        need = n_hold + min_train
        raise DatasetError(
            f"too few golden images for a held-out split: found {n_images}, need at least {need} "
            f"({min_train} to train and {n_hold} held out to set the radius); "
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
        center_: hypersphere centre c, a ``rep_dim`` tensor (the training target).
        head_: the fitted scoring rule (distance to c, Mahalanobis or k-NN).
        radius_: decision radius R: an image fails where its statistic exceeds R**2.
        history_: one dict per training epoch, both stages.
        holdout_: facts about the held-out golden images (count, distances, FRR).
    """

    KIND = "global"  # the model kind this class is; a config of kind auto or both records it

    def __init__(self, config: FitConfig | None = None) -> None:
        config = config or FitConfig()
        self.config = config if config.local.model_kind == self.KIND else config.of_kind(self.KIND)
        self._requested_score = self.config.score  # fit may choose another scorer; every fit starts from this
        self.autoencoder_: AutoEncoder | None = None
        self.encoder_: Encoder | None = None
        self.center_: torch.Tensor | None = None
        self.head_: torch.nn.Module | None = None  # ScoreHead or FusionHead
        self.radius_: float | None = None
        self.history_: History = []
        self.holdout_: dict[str, Any] = {}
        self.expanded_from_: int | None = None
        self.selection_: dict[str, Any] = {}  # the candidate scorers fit judged and the one it kept
        self.schedule_: dict[str, Any] = {}  # epochs and steps each stage ran (min_steps may raise them)
        self.screening_: dict[str, Any] = {}  # golden images far outside the rest (indices into fit's images)
        self.split_: tuple[np.ndarray, np.ndarray] | None = None  # (training, held-out) indices of the last split
        self.reference_: np.ndarray | None = None  # the golden images' mean input: a nominal part for heat maps
        self.aligner_: Aligner | None = None  # registers each input onto reference_ before the network (None: off)
        self.alignment_: dict[str, Any] = {}  # how fit decided on registration, and its offset limit
        self.rotation_head_: torch.nn.Module | None = None  # the auxiliary task's head (benchmarks; not saved)
        self.noise_: torch.Tensor | None = None  # RCAE's noise part of each training view (not saved)
        self._ae_from_fit = False  # True when fit pretrained the autoencoder itself: a refit pretrains again

    # ----------------------------------------------------------------- training
    def _check_images(self, images: np.ndarray) -> None:
        p = self.config.preprocess
        expected = (*p.input_shape, p.channels)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise ConfigError(f"images must be uint8 N x {expected}, got {images.dtype} {images.shape}")

    def _split(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Train/held-out split; a too-small set is first grown with augmented copies.

        With fewer than ``min_holdout`` + the training minimum golden images (down to
        one) and augmentation on, augmented copies fill the set up to
        ``MIN_EXPANDED`` images, so the radius is set on augmented views.
        """
        t = self.config.train
        score = self.config.score
        min_train = max(MIN_TRAIN_IMAGES, score.k + 1)  # k-NN needs k other golden images (any rule: one split)
        grow = len(images) < t.min_holdout + min_train and t.augment != "none"
        self.expanded_from_ = len(images) if grow else None  # reset on every split, so a refit never reports stale growth
        if grow:  # the copies registered as scoring would register such a part (the originals already are)
            grown = expand(images, build_pipeline(t.augment, t.seed), MIN_EXPANDED, t.seed)
            images = np.concatenate([images, self._inputs(grown[len(images):])])
        train_idx, hold_idx = split_holdout(len(images), t.holdout, t.min_holdout, t.seed, min_train)
        self.split_ = None if grow else (train_idx, hold_idx)
        return images[train_idx], images[hold_idx]

    def _fit_alignment(self, images: np.ndarray) -> np.ndarray:
        """Decide on registration from the golden ``images`` (``align``); return them registered."""
        self.aligner_, self.alignment_ = fit_aligner(images, self.config.train.align, self.config.train.align_gain)
        return self._inputs(images)

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        """uint8 NHWC images as the network sees them: registered onto the reference when alignment is on."""
        return images if self.aligner_ is None else self.aligner_(images)

    def _optional_inputs(self, images: np.ndarray | None) -> np.ndarray | None:
        return None if images is None else self._inputs(images)

    def _nominal(self, train_images: np.ndarray) -> np.ndarray:
        """The reference image: the aligner's, or the training images' mean input."""
        if self.aligner_ is not None:
            return self.aligner_.reference
        return train_images.mean(axis=0, dtype=np.float64).round().astype(np.uint8)

    def _tiles(self, images: np.ndarray) -> np.ndarray:
        """The network inputs of uint8 NHWC images: the images themselves, or their tiles for a tiled model."""
        p = self.config.preprocess
        return images if p.tiles == 1 else to_tiles(torch.from_numpy(images), p.image_size).numpy()

    def pretrain(self, images: np.ndarray, progress: bool = True) -> DeepSVDD:
        """Pretrain the autoencoder on the training split of ``images``."""
        self._check_images(images)
        images = self._fit_alignment(images)
        self._pretrain(self._tiles(self._split(images)[0]), progress)
        self._ae_from_fit = False  # given by the caller: every fit starts from it
        return self

    def _new_autoencoder(self, train_images: np.ndarray) -> tuple[AutoEncoder, torch.Generator]:
        """A seeded, freshly initialised autoencoder with its input (and first filters) fitted to ``train_images``."""
        cfg = self.config
        generator = seed_everything(cfg.train.seed)
        ae = AutoEncoder(cfg.net, cfg.preprocess.channels, cfg.preprocess.image_size)
        ae.fit_input(train_images, cfg.train.seed)
        return ae, generator

    def _pretrain(self, train_images: np.ndarray, progress: bool, checkpoint: Checkpoint | None = None) -> DeepSVDD:
        cfg = self.config
        ae, generator = self._new_autoencoder(train_images)
        pipeline = build_pipeline(cfg.train.augment, cfg.train.seed)
        loader = make_loader(train_images, pipeline, cfg.train, generator)
        train = lengthened(cfg.train, "pretrain", len(loader))
        self.schedule_["pretrain"] = {"epochs": train.ae_epochs, "steps": train.ae_epochs * len(loader),
                                      "lr_milestones": list(train.ae_lr_milestones), "kind": train.ae_kind}
        if train.ae_kind == "rcae":  # its noise parts belong to fixed views: no checkpoint to resume from
            from inspect_svdd.model.robust import pretrain_rcae

            history, self.noise_ = pretrain_rcae(ae, train_images, train, generator, progress)
        else:
            history = pretrain_autoencoder(ae, loader, train, progress, checkpoint)
        self.autoencoder_ = ae
        self.history_ = history
        return self

    def fit(self, images: np.ndarray, progress: bool = True, defects: np.ndarray | None = None,
            checkpoint: Checkpoint | None = None, validation: np.ndarray | None = None) -> DeepSVDD:
        """Learn centre, scoring rule and radius from golden images (uint8 NHWC); screen them, maybe refit.

        After the fit (:meth:`fit_once`) every golden image is screened
        (:mod:`inspect_svdd.model.screening`; ``screening_``, in the indices of
        ``images``). With ``drop_suspects`` and suspects found, the model is
        fitted once more without them, from scratch.
        """
        self.fit_once(images, progress, defects, checkpoint, validation)
        if self.config.train.screen_folds > 1 and self.config.train.screen_z > 0 and self.split_ is not None:
            self.screening_ = self._cross_screen(images, progress)
        suspects = self.screening_.get("suspects", [])
        if self.config.train.drop_suspects and suspects:
            from inspect_svdd.model.screening import remapped

            first = self.screening_
            kept = np.setdiff1d(np.arange(len(images)), suspects)
            self.fit_once(images[kept], progress, defects, None, validation)
            self.screening_ = remapped(self.screening_, kept, len(images)) | {"dropped": suspects, "before_drop": first}
        return self

    def _cross_screen(self, images: np.ndarray, progress: bool) -> dict[str, Any]:
        """Cross-fitted screening: each fold of ``images`` scored by every cheap scorer of a model fitted without it.

        A defect among the training images is pulled in by the encoder that
        trained on it; a model that never saw it scores it as a stranger,
        like a held-out image. Each fold is judged against the rest of itself.
        """
        from inspect_svdd.model.screening import golden_statistics, screen_any
        from inspect_svdd.model.selection import CANDIDATES

        t = self.config.train
        folds = np.array_split(np.random.default_rng(t.seed + 7).permutation(len(images)), t.screen_folds)
        sub_config = dataclasses.replace(self.config, score=self._requested_score,
                                         train=dataclasses.replace(t, screen_z=0, screen_folds=0, drop_suspects=False))
        tables: dict[str, np.ndarray] = {}
        groups = np.zeros(len(images), int)
        for number, fold in enumerate(folds):
            sub = DeepSVDD(sub_config)
            if not self._ae_from_fit:  # a given pretrained autoencoder is every fit's start
                sub.autoencoder_ = self.autoencoder_
            rest = np.setdiff1d(np.arange(len(images)), fold)
            sub.fit_once(images[rest], progress)
            encoder, center = sub._fitted()[0], sub.center_
            assert center is not None  # set by the fit
            trained = images[rest] if sub.split_ is None else images[rest][sub.split_[0]]  # None: grown from a few
            bank = embed(encoder, sub._tiles(sub._inputs(trained)), kind="both")
            unseen = embed(encoder, sub._tiles(sub._inputs(images[fold])), kind="both")
            for name, (_, other) in golden_statistics(self.config.score, CANDIDATES, center, bank, unseen,
                                                      encoder.feature_dim("stages"), self.config.preprocess.tiles).items():
                tables.setdefault(name, np.empty(len(images)))[fold] = other
            groups[fold] = number
        record = screen_any(tables, t.screen_z, groups)
        return record | {"rule": f"cross-fitted, {t.screen_folds} folds (each scored by a model fitted without it): "
                                 f"{record['rule']}", "folds": t.screen_folds}

    def _screen(self, train_images: np.ndarray, hold_images: np.ndarray) -> None:
        """Screen the golden images of this fit with every cheap scorer (:mod:`inspect_svdd.model.screening`)."""
        from inspect_svdd.model.screening import golden_statistics, screen_any
        from inspect_svdd.model.selection import CANDIDATES

        if self.config.train.screen_z == 0:
            self.screening_ = {"rule": "off (screen_z 0)", "suspects": []}
            return
        if self.split_ is None:  # grown from a few images: the copies would only flag each other
            self.screening_ = {"rule": "off (golden set grown from a few images)", "suspects": []}
            return
        train_idx, hold_idx = self.split_
        encoder, center = self._fitted()[0], self.center_
        assert center is not None  # set with the encoder
        train = embed(encoder, self._tiles(train_images), kind="both")
        held = embed(encoder, self._tiles(hold_images), kind="both")
        tables = {}
        for name, (own, other) in golden_statistics(self.config.score, CANDIDATES, center, train, held,
                                                    encoder.feature_dim("stages"), self.config.preprocess.tiles).items():
            stats = np.empty(len(train_idx) + len(hold_idx))
            stats[train_idx], stats[hold_idx] = own, other
            tables[name] = stats
        groups = np.zeros(len(train_idx) + len(hold_idx), int)
        groups[hold_idx] = 1
        self.screening_ = screen_any(tables, self.config.train.screen_z, groups if len(hold_idx) else None)

    def fit_once(self, images: np.ndarray, progress: bool = True, defects: np.ndarray | None = None,
                 checkpoint: Checkpoint | None = None, validation: np.ndarray | None = None) -> DeepSVDD:
        """Learn centre, scoring rule and radius from golden images (uint8 NHWC), and screen them.

        Uses the autoencoder from :meth:`pretrain` (or a loaded one) when
        present, otherwise pretrains first (unless ``ae_epochs`` is 0). Every
        call starts fresh: training works on a copy of a given autoencoder,
        and one that an earlier ``fit`` pretrained is pretrained again, so a
        refit never continues from the encoder the last fit trained.
        ``defects`` (real defective parts, same shape) and the configured
        synthetic defects are pushed away from the centre (Deep SAD).
        ``checkpoint`` saves the training state every few epochs and, when it
        holds a saved state of this very fit, continues from it: the result is
        the model a straight fit gives. With the scoring rule ``auto`` the
        scorer is chosen after training (:mod:`inspect_svdd.model.selection`),
        judged on the held-out golden images and ``validation`` (real defective
        parts, same shape) or, without them, synthetic defects made from the
        held-out images; ``config`` then holds the chosen scorer and
        ``selection_`` the table.
        """
        self._check_images(images)
        self.config = dataclasses.replace(self.config, score=self._requested_score)
        if defects is not None and len(defects):
            self._check_images(defects)
            if self.config.preprocess.tiles > 1:
                raise ConfigError("real defects cannot train a tiled model: most tiles of a defective part are good")
            if self.config.train.objective == "ocnn":
                raise ConfigError("OCNN trains on golden images alone: --defects is for the Deep SVDD objectives")
        images = self._fit_alignment(images)
        defects, validation = self._optional_inputs(defects), self._optional_inputs(validation)
        t = self.config.train
        train_images, hold_images = self._split(images)
        train_tiles = self._tiles(train_images)
        check_golden_count(self.config.score, len(train_tiles))
        resumed = checkpoint.saved if checkpoint is not None and checkpoint.stage() == "svdd" else None
        if self.autoencoder_ is None or self._ae_from_fit:
            if resumed is not None:  # pretraining finished before the interruption: its weights are in the checkpoint
                self.autoencoder_, _ = self._new_autoencoder(train_tiles)
                self.history_ = list(resumed["extra"]["pretrain_history"])
            elif t.ae_epochs > 0:
                self._pretrain(train_tiles, progress, checkpoint)
            else:
                self.autoencoder_, _ = self._new_autoencoder(train_tiles)
                self.history_ = []
            self._ae_from_fit = True
        assert self.autoencoder_ is not None  # set just above; for the type checker
        pretrain_history = [h for h in self.history_ if h.get("stage") == "pretrain"]
        autoencoder = copy.deepcopy(self.autoencoder_)  # the pretrained weights stay as they are
        generator = seed_everything(t.seed + 1)
        encoder = autoencoder.encoder
        center = resumed["extra"]["center"] if resumed is not None else init_center(embed(encoder, train_tiles), t.eps)
        pipeline = build_pipeline(t.augment, t.seed + 1)
        synthetic = None if t.anomalies == "none" else build_pipeline(t.anomalies, t.seed + 2)
        loader = make_loader(train_tiles, pipeline, t, generator, defects, synthetic)
        t = lengthened(t, "svdd", len(loader))
        self.schedule_["svdd"] = {"epochs": t.epochs, "steps": t.epochs * len(loader), "lr_milestones": list(t.lr_milestones)}
        decoder = autoencoder.decoder if t.recon_weight > 0 else None
        turns = rotation_head(encoder, t.seed + 5) if t.rotation_weight > 0 else None
        if t.objective == "ocnn":  # the hyperplane is the head; no checkpoint to resume from
            history, head = self._train_ocnn(encoder, loader, train_tiles, progress)
            learned_r = 0.0
        else:
            history, learned_r = train_svdd(encoder, loader, center, t, progress, decoder, checkpoint,
                                            {"center": center, "pretrain_history": pretrain_history}, turns)
            head = self._fit_head(encoder, center, train_tiles, hold_images, validation)
        self.encoder_, self.center_, self.head_, self.rotation_head_ = encoder, center, head, turns
        self.history_ = pretrain_history + history
        self._set_radius(train_images, hold_images, learned_r)
        self.holdout_["defects"] = 0 if defects is None else len(defects)
        self.reference_ = self._nominal(train_images)
        self._screen(train_images, hold_images)
        return self

    def _train_ocnn(self, encoder: Encoder, loader: Any, train_tiles: np.ndarray,
                    progress: bool) -> tuple[History, torch.nn.Module]:
        """Train OC-NN's hyperplane (:mod:`inspect_svdd.model.ocnn`); r ends as the nu quantile on the training images."""
        from inspect_svdd.model.ocnn import OCNNHead, train_ocnn

        t = self.config.train
        head = OCNNHead(encoder.cfg.rep_dim)
        history = train_ocnn(encoder, head, loader, t, progress)
        with torch.no_grad():
            head.set_threshold(head.hyperplane(embed(encoder, train_tiles)), t.nu)
        return history, head

    def _fit_head(self, encoder: Encoder, center: torch.Tensor, train_tiles: np.ndarray, hold_images: np.ndarray,
                  validation: np.ndarray | None = None) -> torch.nn.Module:
        """Fit the configured scoring rule, or choose one (rule ``auto``) and set ``config`` to the choice."""
        from inspect_svdd.model.selection import defect_count, fusion_head, select_scorer, synthetic_defects

        score, p = self.config.score, self.config.preprocess
        self.selection_ = {}
        if score.selects and len(hold_images) == 0:  # nothing held out to judge on: the former default
            score = dataclasses.replace(score, rule="knn", features="embedding", bank_views=0)
            self.selection_ = {"chosen": "knn/embedding", "note": "no held-out golden images (holdout 0): not judged"}
        if not score.selects and score.rule != "fusion":
            self.config = dataclasses.replace(self.config, score=score)
            kind = score.feature_kind
            return ScoreHead.fit(score, embed(encoder, self._bank(train_tiles), kind=kind), center)
        bank = embed(encoder, self._bank(train_tiles), kind="both")
        good = embed(encoder, self._tiles(self._radius_views(hold_images)), kind="both")  # as the radius will be set
        stage_dim = encoder.feature_dim("stages")
        if score.rule == "fusion":
            return fusion_head(score, bank, good, center, stage_dim, p.tiles)
        if validation is not None and len(validation):
            bad_images, families = validation, ["real"] * len(validation)
        else:
            n = defect_count(score, len(hold_images))
            bad_images, families = synthetic_defects(hold_images, n, self.config.train.seed + 6)
        bad = embed(encoder, self._tiles(bad_images), kind="both")
        chosen, head, self.selection_ = select_scorer(score, self.config.train, bank, good, bad, center, stage_dim,
                                                      p.tiles, families, len(hold_images))
        self.config = dataclasses.replace(self.config, score=chosen)
        return head

    def _bank(self, train_tiles: np.ndarray) -> np.ndarray:
        """The images the scoring rule is fitted on: the training images and ``bank_views`` augmented views of each."""
        t = self.config.train
        return self._registered_views(train_tiles, t.seed + 4, self.config.score.bank_views)

    def _radius_views(self, images: np.ndarray) -> np.ndarray:
        """The held-out images plus ``radius_views`` augmented views of each (seeded)."""
        t = self.config.train
        return self._registered_views(images, t.seed + 3, t.radius_views)

    def _registered_views(self, images: np.ndarray, seed: int, count: int) -> np.ndarray:
        """``images`` (as they are) and ``count`` augmented views of each, the views registered as scoring would.

        Tiles of a tiled model are cut after registration: their views stay as drawn.
        """
        out = with_views(images, self.config.train.augment, seed, count)
        if self.aligner_ is None or len(out) == len(images) or self.config.preprocess.tiles > 1:
            return out
        return np.concatenate([images, self.aligner_(out[len(images):])])

    def _set_radius(self, train_images: np.ndarray, hold_images: np.ndarray, learned_r: float) -> None:
        """Set R from the held-out statistics (or the soft-boundary R for the paper's rule) and record how."""
        t = self.config.train
        on_train = len(hold_images) == 0  # holdout 0: the radius comes from the training images (optimistic)
        views = train_images if on_train else self._radius_views(hold_images)
        encoder, head = self.encoder_, self.head_
        if encoder is None or head is None:
            raise ConfigError("the radius is set after training")
        with torch.no_grad():  # a training image is its own nearest neighbour: knn leaves it out
            features = embed(encoder, self._tiles(views), kind=self.config.score.feature_kind)
            tile_stats = head(features, exclude_self=on_train)
            stats = worst_tile(tile_stats, self.config.preprocess.tiles).numpy().astype(np.float64)
        radius, facts = fit_radius(stats, t.target_frr, t.radius_rule, t.radius_confidence)
        if t.objective == "soft-boundary" and self.config.score.rule == "center":
            radius, facts = learned_r, {"rule": "soft-boundary", "nu": t.nu}
        elif self.config.score.rule == "ocnn":  # OC-NN's own boundary: f(z) = r, where exp(r - f(z)) is 1
            radius, facts = 1.0, {"rule": "ocnn", "nu": t.nu, "r": float(getattr(head, "r", 0.0))}
        self.radius_ = radius
        n_images = len(train_images if on_train else hold_images)
        self.holdout_ = {
            "count": len(hold_images),
            "train_count": len(train_images),
            "views": len(views),
            "distances": [float(f"{d:.7g}") for d in stats[:n_images]],  # significant digits: R^2 may be 1e-4
            "false_reject_rate": float(np.mean(stats[:n_images] > radius**2)),
            "views_false_reject_rate": float(np.mean(stats > radius**2)),
            "radius": facts,
            "expanded_from": self.expanded_from_,
        }

    def with_rule(self, score: ScoreConfig, images: np.ndarray, train: TrainConfig | None = None,
                  validation: np.ndarray | None = None) -> DeepSVDD:
        """A detector sharing this trained encoder, scored by another rule, its radius set the same way.

        ``images`` are the golden images this detector was fitted on (the same
        deterministic split gives the same training and held-out images), so
        training levers can be judged with every scoring rule on one encoder.
        ``score`` may be ``auto`` (choose again, on ``validation`` defects when
        given); ``train`` changes the radius settings (target, rule, views).
        """
        encoder = self._fitted()[0]
        if self.center_ is None:
            raise ConfigError("this detector has no centre")
        train = train or self.config.train
        if train.objective == "ocnn" and score.rule != "ocnn":  # OC-NN's encoder under another rule (nothing trains)
            train = dataclasses.replace(train, objective="one-class")
        if score.rule == "ocnn":
            raise ConfigError("the OC-NN hyperplane is trained with the encoder; with_rule cannot fit it")
        other = DeepSVDD(dataclasses.replace(self.config, score=score, train=train))
        other.aligner_, other.alignment_, other.reference_ = self.aligner_, self.alignment_, self.reference_
        images = self._inputs(images)
        validation = self._optional_inputs(validation)
        train_images, hold_images = other._split(images)
        other.encoder_, other.center_, other.history_ = encoder, self.center_, self.history_
        other.head_ = other._fit_head(encoder, self.center_, other._tiles(train_images), hold_images, validation)
        other._set_radius(train_images, hold_images, self.radius_ or 0.0)
        return other

    # ------------------------------------------------------------------ scoring
    def _fitted(self) -> tuple[Encoder, torch.nn.Module, float]:
        if self.encoder_ is None or self.head_ is None or self.radius_ is None:
            raise ConfigError("this detector is not fitted yet; call fit() or load a model")
        return self.encoder_, self.head_, self.radius_

    def embeddings(self, images: np.ndarray, batch_size: int = 64, kind: str | None = None) -> torch.Tensor:
        """The features the scoring rule compares, per image (per tile, in order, for a tiled model).

        ``kind``: ``embedding`` (the encoder's ``rep_dim`` output) or ``stages``
        (pooled stage outputs); default: what this detector's rule uses.
        """
        self._check_images(images)
        return embed(self._fitted()[0], self._tiles(self._inputs(images)), batch_size,
                     kind or self.config.score.feature_kind)

    def turn_losses(self, images: np.ndarray) -> np.ndarray:
        """The rotation task's loss of each image over its four turns (a benchmark score; the head is not saved)."""
        encoder, _, _ = self._fitted()
        if self.rotation_head_ is None or self.config.preprocess.tiles > 1:
            raise ConfigError("no rotation task in this fit (an untiled fit with rotation_weight > 0 has one)")
        return turn_losses(encoder, self.rotation_head_, images)

    def distances(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The scoring rule's statistic per image (for ``center``: squared distance to c); compared with R**2."""
        return self.statistics(self.embeddings(images, batch_size))

    def statistics(self, embeddings: torch.Tensor) -> np.ndarray:
        """The scoring rule's statistic of precomputed embeddings (N x rep_dim; the worst tile's for a tiled model)."""
        with torch.no_grad():
            return worst_tile(self._fitted()[1](embeddings), self.config.preprocess.tiles).numpy()

    def score_embeddings(self, embeddings: torch.Tensor, radius: float | None = None) -> np.ndarray:
        """:meth:`score` of precomputed embeddings (N x rep_dim), so several rules can share one forward pass."""
        r = self._fitted()[2] if radius is None else radius
        return self.statistics(embeddings).astype(np.float64) - r**2  # float64, as batch scoring and the runtime

    def score(self, images: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Anomaly score ``d^2 - R^2`` per image, d^2 the rule's statistic: higher = more anomalous, > 0 = fail."""
        return self.score_embeddings(self.embeddings(images), radius)

    def predict(self, images: np.ndarray, radius: float | None = None) -> np.ndarray:
        """Boolean array, True where an image fails (lies outside the sphere)."""
        return self.score(images, radius) > 0

