"""Frozen settings for preprocessing, network and training.

Defaults live here and only here; CLI options map onto these fields one to one,
and the full configuration is saved inside every model so that a reader never
has to guess how an image was preprocessed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from inspect_svdd.errors import ConfigError, first_line

Resize = Literal["area", "linear", "nearest"]
Aspect = Literal["auto", "stretch", "keep"]
ASPECT_SPREAD = 1.1  # aspect auto keeps the ratio when the golden images' widest ratio exceeds the narrowest by more
Decode = Literal["full", "reduced"]
Align = Literal["auto", "on", "off"]
Objective = Literal["one-class", "soft-boundary", "ocnn"]
AeKind = Literal["plain", "rcae"]
OcnnTraining = Literal["joint", "codes"]
Architecture = Literal["strided", "pooled", "resnet18"]
RESNET18_WIDTHS = (64, 128, 256, 512)  # its four residual stages
ARCHITECTURE_WIDTHS = {"strided": (16, 32, 64, 128, 256), "pooled": (32, 64, 128, 256, 256), "resnet18": RESNET18_WIDTHS}
InputNorm = Literal["mean-std", "gcn-l1-minmax"]
DecoderKind = Literal["mirror", "upsample"]
InitKind = Literal["default", "xavier", "xavier-all"]
FirstFilters = Literal["random", "dictionary"]
AeLoss = Literal["pixel-mean", "image-sum"]
ScoreRule = Literal["auto", "center", "mahalanobis", "knn", "fusion", "ocnn"]
FeatureKind = Literal["auto", "embedding", "stages", "both"]
RadiusRule = Literal["quantile", "lognormal", "tail"]
ModelKind = Literal["auto", "global", "local", "both"]
LocalInput = Literal["golden", "image"]
MapCalibration = Literal["none", "position", "image"]
MapReference = Literal["auto", "centre", "position"]
LocalLoss = Literal["auto", "sad", "fcdd"]
LOCAL_DEFECTS = ("blend", "spots", "line", "shade")  # the local model's synthetic defect families (masked_defects.py)
SCORE_RULES: tuple[ScoreRule, ...] = ("center", "mahalanobis", "knn")  # the single rules fit can choose among
# synthetic-defect presets of inspect_svdd.model.synthetic: one family each, two of them, or every family
DEFECT_PRESETS = ("cutpaste", "scar", "perlin", "smudge", "cutout", "dent", "spots", "cutpaste-scar", "mixed")


@dataclass(frozen=True)
class PreprocessConfig:
    """How a decoded image becomes the network's uint8 input.

    Attributes:
        image_size: side of the square network input, in pixels (its width
            when image_height is set).
        image_height: rows of a non-square network input (the local model
            only; a multiple of 4), for frames far from square such as
            500 x 1,250 line-scan images, so that a thin defect is not squeezed
            along one axis. None: a square image_size input.
        channels: 1 (grayscale) or 3 (RGB, in that order).
        roi: optional crop box ``(x, y, width, height)`` in source pixels,
            applied before the resize.
        resize: OpenCV interpolation used for the resize.
        aspect: stretch (each image, or its region of interest, resized to
            the input whatever its shape), keep (resized to fit inside the
            input with its aspect ratio kept, the rest of the input filled by
            mirroring it, so a texture keeps one scale on parts of varied
            shapes) or auto (fit decides: keep when the golden images' width
            to height ratios differ by more than 10 %, else stretch; a model
            saved before the setting stretches).
        frame_size: tiling: the image is resized to a ``frame_size`` square
            frame, cut into ``image_size`` tiles that the network embeds one
            by one, and the worst tile's statistic is the image's (small
            defects in large frames). ``None``: one ``image_size`` input.
        decode: ``full``, or ``reduced``: a JPEG at least 2, 4 or 8 times the
            input size on its shorter side is decoded at 1/2, 1/4 or 1/8
            scale by the JPEG decoder itself (faster on camera frames), then
            resized as usual. Not with an ROI (the crop needs full pixels).
    """

    image_size: int = 128
    image_height: int | None = None
    channels: int = 1
    roi: tuple[int, int, int, int] | None = None
    resize: Resize = "area"
    aspect: Aspect = "auto"
    frame_size: int | None = None
    decode: Decode = "full"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}")
        if self.image_size < 8 or self.image_size % 4:
            raise ConfigError(f"image size must be a multiple of 4 and >= 8, got {self.image_size}")
        if self.image_height is not None and (self.image_height < 8 or self.image_height % 4):
            raise ConfigError(f"image height must be a multiple of 4 and >= 8, got {self.image_height}")
        if self.image_height is not None and self.frame_size is not None:
            raise ConfigError("a non-square input (image height) cannot be cut into square tiles (frame size)")
        if self.roi is not None:
            if len(self.roi) != 4 or min(self.roi[2:]) <= 0 or min(self.roi[:2]) < 0:
                raise ConfigError(f"region of interest must be x,y,width,height with width,height > 0, got {self.roi}")
            object.__setattr__(self, "roi", tuple(int(v) for v in self.roi))
        if self.decode not in ("full", "reduced"):
            raise ConfigError(f"decode must be full or reduced, got {self.decode!r}")
        if self.aspect not in ("auto", "stretch", "keep"):
            raise ConfigError(f"aspect must be auto, stretch or keep, got {self.aspect!r}")
        if self.resize not in ("area", "linear", "nearest"):
            raise ConfigError(f"resize must be area, linear or nearest, got {self.resize!r}")
        if self.frame_size is not None and (self.frame_size < self.image_size or self.frame_size % self.image_size):
            raise ConfigError(f"{self.image_size}-pixel tiles do not fit a {self.frame_size}-pixel frame: "
                              f"the frame size must be a multiple of the tile (image) size")

    @property
    def input_size(self) -> int:
        """Width of the uint8 image that :func:`inspect_svdd.io.preprocess.preprocess` returns (its side when square)."""
        return self.frame_size or self.image_size

    @property
    def input_shape(self) -> tuple[int, int]:
        """(rows, columns) of the uint8 image that :func:`inspect_svdd.io.preprocess.preprocess` returns."""
        return (self.image_height or self.input_size), self.input_size

    @property
    def square(self) -> bool:
        """True unless image_height makes the input non-square."""
        return self.image_height is None or self.image_height == self.image_size

    @property
    def tiles(self) -> int:
        """Tiles per image (1 without tiling)."""
        return (self.input_size // self.image_size) ** 2


@dataclass(frozen=True)
class NetConfig:
    """Encoder/decoder shape.

    Attributes:
        architecture: ``strided`` (3x3 stride-2 convolutions, cheap),
            ``pooled`` (5x5 convolutions + max-pooling, as in the paper's nets)
            or ``resnet18`` (torchvision's ResNet-18 from scratch, made
            bias-free with BatchNorm without affine parameters; a 3x3 stem
            without max-pooling below 64 pixels; needs torchvision).
        widths: channels of the successive convolution stages (empty: the
            architecture's own, 16-256 strided, 32-256 pooled, 64-512 resnet18).
        rep_dim: size of the embedding (the hypersphere's space).
        leaky_slope: negative slope of the leaky ReLU.
        input_norm: how the network normalises its uint8 input: ``mean-std``
            (per-channel mean and std of the training images) or
            ``gcn-l1-minmax`` (the paper's global contrast normalisation with
            the l1 norm, then min-max scaling by the training images' extremes).
            The statistics are computed in ``fit`` and stored as buffers.
        decoder: the pretraining decoder (discarded after pretraining, but it
            shapes what the encoder learns): ``mirror`` (a linear layer to the
            encoder's last grid, then stride-2 transposed convolutions) or
            ``upsample`` (Ruff et al.'s: the code reshaped to ``rep_dim/16 x
            4 x 4``, then nearest upsampling and 5x5 transposed convolutions
            back through the encoder's grid sizes, sigmoid output; needs ``gcn-l1-minmax``,
            whose targets lie in [0, 1]).
        code_norm: batch-normalise the code (no affine) before the
            ``upsample`` decoder, as Ruff et al.'s CIFAR-10 autoencoder does;
            it belongs to the decoder, so the encoder is unchanged.
        init: ``default`` (PyTorch's), ``xavier`` (Xavier-uniform with the
            leaky-ReLU gain on the autoencoder's convolutions, as in Ruff et
            al.'s PyTorch CIFAR-10 autoencoder) or ``xavier-all`` (the same,
            plus Xavier-uniform with gain 1 on the linear layers: the Lasagne
            defaults of the authors' original Theano code, which produced the
            paper's tables).
        first_filters: ``random`` (from ``init``) or ``dictionary``: the first
            convolution's filters start as the atoms of a sparse dictionary
            learned on patches of the normalised training images, as the
            original Theano code initialised its autoencoders.
        svdd_rules: the paper's rules for the encoder: no bias terms and
            BatchNorm without affine parameters. ``False`` gives every
            convolution and the last linear layer a bias and every BatchNorm
            its affine parameters; it exists to measure what the rules buy
            (a bias lets the network map everything onto c).
    """

    architecture: Architecture = "strided"
    widths: tuple[int, ...] = ()
    rep_dim: int = 512
    leaky_slope: float = 0.1
    input_norm: InputNorm = "mean-std"
    decoder: DecoderKind = "mirror"
    code_norm: bool = False
    init: InitKind = "default"
    first_filters: FirstFilters = "random"
    svdd_rules: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths or ARCHITECTURE_WIDTHS.get(self.architecture, ())))
        if self.architecture not in ("strided", "pooled", "resnet18"):
            raise ConfigError(f"architecture must be strided, pooled or resnet18, got {self.architecture!r}")
        if self.architecture == "resnet18" and (self.widths != RESNET18_WIDTHS or self.first_filters != "random"):
            raise ConfigError(f"resnet18 has stage widths {RESNET18_WIDTHS} and random first filters")
        if self.input_norm not in ("mean-std", "gcn-l1-minmax"):
            raise ConfigError(f"input normalisation must be mean-std or gcn-l1-minmax, got {self.input_norm!r}")
        if not self.widths or min(self.widths) <= 0 or self.rep_dim <= 0:
            raise ConfigError("network widths and rep_dim must be positive")
        if self.decoder not in ("mirror", "upsample"):
            raise ConfigError(f"decoder must be mirror or upsample, got {self.decoder!r}")
        if self.init not in ("default", "xavier", "xavier-all"):
            raise ConfigError(f"init must be default, xavier or xavier-all, got {self.init!r}")
        if self.first_filters not in ("random", "dictionary"):
            raise ConfigError(f"first_filters must be random or dictionary, got {self.first_filters!r}")
        if self.code_norm and self.decoder != "upsample":
            raise ConfigError("code_norm needs the upsample decoder")
        if self.decoder == "upsample" and (self.rep_dim % 16 or self.input_norm != "gcn-l1-minmax"):
            raise ConfigError(
                f"the upsample decoder needs rep_dim divisible by 16 and input_norm gcn-l1-minmax, "
                f"got rep_dim {self.rep_dim} and {self.input_norm}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for both stages.

    Attributes:
        ae_epochs: autoencoder pretraining epochs (0 skips pretraining).
        epochs: Deep SVDD epochs.
        ae_min_steps, min_steps: the fewest optimisation steps (mini-batches)
            of pretraining and of the Deep SVDD stage: with few golden images
            an epoch is a few steps, so the epochs (and milestones) are raised
            until the stage runs at least this many; the model records what ran.
        batch_size: mini-batch size of both stages.
        ae_lr, lr: Adam learning rates.
        ae_weight_decay, weight_decay: Adam weight decay (L2 on the weights).
        lr_milestones: Deep SVDD epochs at which the learning rate is divided by 10.
        ae_lr_milestones: the same for pretraining.
        ae_loss: reconstruction error averaged over pixels (``pixel-mean``) or
            summed over each image's pixels and averaged over the batch
            (``image-sum``, the paper's; it weighs the error against weight decay).
        ae_kind: ``plain`` autoencoder pretraining, or ``rcae``: a robust
            convolutional autoencoder (Chalapathy et al. 2017): each training
            view is split into a clean part the autoencoder reconstructs and a
            sparse, L1-penalised noise part that absorbs what it cannot (a
            defect copied into the golden folder), optimised alternately; the
            views are drawn once (``augment_factor`` per image) so that each
            keeps its own noise part. Not checkpointed: ``--resume`` repeats it.
        ae_lambda: RCAE's weight of the noise part's L1 norm, in the units of
            the normalised input: residuals smaller than half of it stay in
            the clean part (larger: a sparser noise part).
        objective: ``one-class`` or ``soft-boundary`` (Deep SVDD), or
            ``ocnn``: One-Class Neural Network (Chalapathy, Menon and Chawla,
            2018), a hyperplane score ``f(z) = w . sigmoid(V z)`` on the
            embedding with the threshold r kept at the ``nu`` quantile of the
            training scores; the anomaly statistic is ``exp(r - f(z))`` and the
            radius is OCNN's own boundary (statistic 1).
        nu: soft-boundary and OCNN trade-off (fraction of outliers allowed).
        ocnn_training: OCNN trains the hyperplane on fixed codes of the
            pretrained encoder (``codes``) or together with the encoder
            (``joint``, the encoder at ``encoder_lr``). Not checkpointed:
            ``--resume`` repeats this stage.
        encoder_lr: the encoder's learning rate in joint OCNN training (lower
            than ``lr``, the hyperplane's).
        eps: centre coordinates closer than this to zero are pushed to +-eps.
        target_frr: false-reject rate the radius is set for on held-out images.
        holdout: fraction of golden images held out to set the radius; 0 sets
            it on the training images themselves (optimistic; for benchmarks
            that train on every normal image, as the paper does).
        min_holdout: the fewest held-out images accepted.
        radius_rule: how the radius is set from the held-out scores:
            ``quantile`` (their empirical ``1 - target_frr`` quantile: with a
            few dozen held-out images that is simply their maximum) or
            ``lognormal`` (a log-normal fitted to them, and its quantile, never
            below the empirical one: the stated rate holds with a small set)
            or ``tail`` (an exponential tail fitted to the logs above their
            median: heavier than the log-normal's, for good parts whose
            largest statistics stand out).
        radius_confidence: for ``lognormal`` and ``tail``: the radius is the upper
            tolerance bound of the ``1 - target_frr`` quantile at this
            confidence, so the stated rate holds on new good parts although
            it is estimated from a few dozen held-out images (0.5: the
            estimate itself).
        radius_views: augmented views of each held-out image scored besides
            the image itself when setting the radius (0: the images only).
        align: register every input onto the golden reference before it is
            scored (phase correlation), so that where a part sits is not
            what the model learns. ``on``, ``off``, or ``auto``: on when the
            golden images register well (their median phase-correlation
            peak at least 0.2 and 99 in 100 offset by at most 5 % of the
            input side: a part held in place, not a texture, nor a part that
            turns). A part further off than 1.5 times the golden images'
            range is scored unmoved, so a misplaced part still fails.
        align_gain: with alignment, register exposure too: each input is
            scaled to the reference's mean brightness (within 1.5 times the
            golden images' own range, at least 15 %), as the ``jitter``
            augmentation already calls such changes normal. Off when an
            overall brightness change is itself a defect.
        augment: augmentation preset name or path of an albumentations file.
        augment_factor: augmented copies of each golden image per epoch.
        anomalies: synthetic defects made from the golden images during the
            Deep SVDD stage (Deep SAD: pushed away from the centre), a
            synthetic-defect preset or ``none``.
        anomaly_ratio: share of the training views turned into synthetic
            defects (when ``anomalies`` is not ``none``).
        eta: Deep SAD weight of the anomaly term ``(d^2 + 1e-6)^-1``.
        recon_weight: hybrid objective: the Deep SVDD stage keeps the
            decoder and adds this weight times the pixel-mean reconstruction
            error of the normal views to the loss (0: the paper's objective).
        rotation_weight: self-supervised auxiliary task: the Deep SVDD stage
            also shows the network each normal view turned by 90, 180 and 270
            degrees and adds this weight times the cross-entropy of telling
            the four turns apart from the embedding (a bias-free linear head,
            dropped after training; the Deep SVDD term sees the upright views
            only). Scoring is unchanged (0: the paper's objective).
        screen_z: golden-set screening: after training, each golden image is
            scored against the others (a training image with itself left out
            of the k-NN bank; a held-out image as it is) and flagged as a
            suspect when its statistic lies more than this many robust
            standard deviations (1.4826 x MAD, on the logs) above the median;
            the suspects are listed on stderr, in model.json and by ``info``.
            0 turns screening off. 2.5 (measured on casting with 2 and 5 %
            of real defects planted: about 4 in 5 of them flagged, 3 to 4 %
            of the good images listed with them; 4 flags under a third).
        screen_folds: 0 screens on the fitted model (cheap: one pass; the
            encoder pulled its own training images in, a defect among them
            included); 2 or more cross-fits: the golden images are split
            into this many folds, each fold is scored by a model fitted on
            the other folds from scratch (a fit on a share of the images per
            fold; 2 folds cost about one more fit), and judged against the
            rest of its fold.
        drop_suspects: refit once without the suspects the screening flags
            (a defective part copied into the golden folder would otherwise
            be pulled into the sphere, and a held-out one would widen R).
        seed: seed of every random generator.
    """

    ae_epochs: int = 10
    epochs: int = 50
    ae_min_steps: int = 100
    min_steps: int = 500
    batch_size: int = 32
    ae_lr: float = 1e-3
    lr: float = 1e-3
    ae_weight_decay: float = 5e-6
    weight_decay: float = 5e-6
    lr_milestones: tuple[int, ...] = (40,)
    ae_lr_milestones: tuple[int, ...] = ()
    ae_loss: AeLoss = "pixel-mean"
    ae_kind: AeKind = "plain"
    ae_lambda: float = 1.0
    objective: Objective = "one-class"
    nu: float = 0.05
    ocnn_training: OcnnTraining = "joint"
    encoder_lr: float = 1e-4
    eps: float = 0.1
    target_frr: float = 0.01
    holdout: float = 0.2
    min_holdout: int = 5
    radius_rule: RadiusRule = "lognormal"
    radius_confidence: float = 0.9
    radius_views: int = 0
    align: Align = "auto"
    align_gain: bool = True
    augment: str = "jitter"
    augment_factor: int = 2
    anomalies: str = "none"
    anomaly_ratio: float = 0.5
    eta: float = 1.0
    recon_weight: float = 0.0
    rotation_weight: float = 0.0
    screen_z: float = 2.5
    screen_folds: int = 0
    drop_suspects: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_milestones", tuple(int(m) for m in self.lr_milestones))
        if self.screen_z < 0 or (self.drop_suspects and self.screen_z == 0):
            raise ConfigError(f"screen z must be >= 0, and > 0 to drop suspects, got {self.screen_z}")
        if self.screen_folds == 1 or self.screen_folds < 0:
            raise ConfigError(f"screen folds must be 0 (screen on the fitted model) or at least 2, got {self.screen_folds}")
        object.__setattr__(self, "ae_lr_milestones", tuple(int(m) for m in self.ae_lr_milestones))
        if self.ae_loss not in ("pixel-mean", "image-sum"):
            raise ConfigError(f"autoencoder loss must be pixel-mean or image-sum, got {self.ae_loss!r}")
        if self.objective not in ("one-class", "soft-boundary", "ocnn"):
            raise ConfigError(f"objective must be one-class, soft-boundary or ocnn, got {self.objective!r}")
        if self.ae_kind not in ("plain", "rcae") or self.ae_lambda <= 0:
            raise ConfigError(f"pretraining must be plain or rcae with a lambda > 0, got {self.ae_kind!r}, {self.ae_lambda}")
        if self.objective == "ocnn" and (self.anomalies != "none" or self.recon_weight or self.rotation_weight):
            raise ConfigError("OCNN trains on golden images alone: drop --anomalies, --recon-weight and --rotation-weight")
        if self.ocnn_training not in ("joint", "codes") or self.encoder_lr <= 0:
            raise ConfigError(f"OCNN training must be joint or codes with an encoder lr > 0, got {self.ocnn_training!r}, "
                              f"{self.encoder_lr}")
        if not 0 < self.nu <= 1:
            raise ConfigError(f"nu must be in (0, 1], got {self.nu}")
        if not 0 <= self.target_frr < 1:
            raise ConfigError(f"target false-reject rate must be in [0, 1), got {self.target_frr}")
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout fraction must be in [0, 1), got {self.holdout}")
        if self.epochs < 1 or self.ae_epochs < 0 or self.batch_size < 1 or self.augment_factor < 1:
            raise ConfigError("epochs, batch size and augment factor must be positive")
        if min(self.lr, self.ae_lr) <= 0 or min(self.weight_decay, self.ae_weight_decay) < 0:
            raise ConfigError(f"learning rates must be > 0 and weight decays >= 0, got lr {self.ae_lr}, {self.lr}, "
                              f"weight decay {self.ae_weight_decay}, {self.weight_decay}")
        if self.min_steps < 0 or self.ae_min_steps < 0:
            raise ConfigError(f"minimum step counts must be >= 0, got {self.ae_min_steps}, {self.min_steps}")
        if self.align not in ("auto", "on", "off"):
            raise ConfigError(f"align must be auto, on or off, got {self.align!r}")
        if self.radius_rule not in ("quantile", "lognormal", "tail") or self.radius_views < 0:
            raise ConfigError(f"radius rule must be quantile, lognormal or tail with views >= 0, got {self.radius_rule!r}, "
                              f"{self.radius_views}")
        if not 0.5 <= self.radius_confidence < 1:
            raise ConfigError(f"radius confidence must be in [0.5, 1), got {self.radius_confidence}")
        if self.augment in DEFECT_PRESETS:
            raise ConfigError(f"augmentation {self.augment!r} makes defects, not good parts; use it as --anomalies")
        if self.anomalies not in ("none", *DEFECT_PRESETS):
            raise ConfigError(f"anomalies must be none or one of {', '.join(DEFECT_PRESETS)}, got {self.anomalies!r}")
        if self.recon_weight < 0:
            raise ConfigError(f"reconstruction weight must be >= 0, got {self.recon_weight}")
        if self.rotation_weight < 0:
            raise ConfigError(f"rotation weight must be >= 0, got {self.rotation_weight}")
        if not 0 < self.anomaly_ratio < 1 or self.eta <= 0:
            raise ConfigError(f"anomaly ratio must be in (0, 1) and eta > 0, got {self.anomaly_ratio}, {self.eta}")


@dataclass(frozen=True)
class ScoreConfig:
    """How an embedding becomes the number that is compared with R^2.

    Attributes:
        rule: ``auto`` (the default: ``fit`` trains the encoder, then judges
            every candidate scorer on held-out golden images plus synthetic
            defects made from them, and keeps the best one or a fusion of the
            best; see :mod:`inspect_svdd.model.selection`), ``center`` (squared
            distance to the hypersphere centre c, the paper's),
            ``mahalanobis`` (squared Mahalanobis distance to the golden
            embeddings' mean, with a Ledoit-Wolf shrunk covariance), ``knn``
            (mean squared distance to the ``k`` nearest golden embeddings) or
            ``fusion`` (several of those, each standardised on the held-out
            golden images, combined; ``members`` names them) or ``ocnn`` (the
            hyperplane that ``--objective ocnn`` trains; set by it). All run inside
            the ONNX graph. A fitted model records the rule it ended with.
        k: neighbours for ``knn``.
        features: what ``mahalanobis`` and ``knn`` compare: ``embedding``
            (the ``rep_dim`` output, the hypersphere's space) or ``stages``
            (every convolution stage's output pooled over positions, mean and
            max, standardised on the golden images: local detail that the
            final embedding averages away, but blind to where things are) or
            ``both`` side by side (local detail and position). ``center``
            always uses the embedding. ``auto``: chosen by ``fit`` with the
            rule; an explicit feature kind with rule ``auto`` means ``knn`` on
            it, and ``auto`` with an explicit rule means ``embedding``.
        bank_views: augmented views (the training augmentation) of each
            training image added to the golden embeddings the rule is fitted
            on (the k-NN bank, the Mahalanobis mean and covariance), so the
            variation the encoder was trained to accept counts as good.
        members: for ``fusion``: the fused scorers as ``rule/features``
            (e.g. ``knn/stages``).
        validation_defects: synthetic defects made from the held-out golden
            images to judge the candidates (at least this many, one family
            after another; more with many held-out images).
    """

    rule: ScoreRule = "auto"
    k: int = 5
    features: FeatureKind = "auto"
    bank_views: int = 0
    members: tuple[str, ...] = ()
    validation_defects: int = 120

    @property
    def feature_kind(self) -> FeatureKind:
        """The features this rule compares (the distance to c always uses the embedding; fusion slices 'both')."""
        if self.rule == "fusion":
            return "both"
        return "embedding" if self.rule in ("center", "auto") else self.features

    @property
    def selects(self) -> bool:
        """Whether ``fit`` chooses the scorer (rule and features both left to it)."""
        return self.rule == "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(str(m) for m in self.members))
        if self.rule not in (*SCORE_RULES, "auto", "fusion", "ocnn"):
            raise ConfigError(f"score rule must be auto, fusion, ocnn or one of {', '.join(SCORE_RULES)}, got {self.rule!r}")
        if self.features not in ("auto", "embedding", "stages", "both"):
            raise ConfigError(f"features must be auto, embedding, stages or both, got {self.features!r}")
        if self.rule == "auto" and self.features != "auto":  # an explicit feature kind switches selection off
            object.__setattr__(self, "rule", "knn")
        elif self.rule not in ("auto", "fusion") and self.features == "auto":
            object.__setattr__(self, "features", "embedding")
        if self.k < 1 or self.bank_views < 0 or self.validation_defects < 1:
            raise ConfigError(f"k and validation defects must be at least 1 and bank views at least 0, got {self.k}, "
                              f"{self.validation_defects}, {self.bank_views}")
        for member in self.members:
            rule, _, kind = member.partition("/")
            if rule not in SCORE_RULES or kind not in ("embedding", "stages", "both"):
                raise ConfigError(f"fusion member must be rule/features (e.g. knn/stages), got {member!r}")
        if (self.rule == "fusion") != bool(self.members) or (self.rule == "fusion" and len(self.members) < 2):
            raise ConfigError("fusion needs at least two members, and members are for fusion only")


@dataclass(frozen=True)
class LocalConfig:
    """Which model kind, and the settings of the local one (a dense anomaly map for small and thin defects).

    Attributes:
        model_kind: ``auto`` (fit decides from the golden images' layout
            before training: ``local`` when they do not register onto each
            other, i.e. a texture with no part placed in the frame, median
            phase-correlation peak below 0.2; else ``global``; ``global`` too
            when an option is for the global model only: ``--score``,
            ``--features``, ``--pretrained``, ``--defects``, tiling,
            ``--objective ocnn``), ``global`` (Deep SVDD: one embedding per image, a hypersphere
            around the golden ones) or ``local`` (a bias-free fully
            convolutional network maps every 4x4-pixel cell of the
            ``image_size`` input to a feature vector; the map of squared
            distances to a centre c is the anomaly map, and its largest cell
            is the image's statistic. Trained from the golden images alone:
            their cells are pulled to c, the cells of synthetic defects drawn
            on them with their masks are pushed out, after FCDD and DRAEM.
            Use a larger ``image_size`` (256) so that small defects stay visible);
            or ``both`` (fit both at the one input size and keep the one that
            lets fewer validation defects pass at its radius: real ones with
            ``--validate``, else synthetic ones of the families the local model
            never trains on; about the two fits' time).
        local_width: channels of the local network's first stage (x2, then x4 deeper).
        local_dim: size of each cell's feature vector (the hypersphere's space).
        local_steps: optimisation steps of the local training (the rate drops
            tenfold after two thirds).
        local_batch: images per step; every second one carries a synthetic defect.
        local_lr: Adam's learning rate for the local network.
        map_smoothing: side (cells) of the box filter over the map before its maximum is taken.
        map_calibration: how the map is made comparable across positions and
            images before the maximum: ``none``; ``position`` (each cell
            divided by the golden training images' mean at that cell, or by the
            median cell's mean where that is larger, so a cell that is busy on
            every good part, an edge or the rim, does not dominate);
            or ``image`` (each map divided by its own mean: a local peak,
            not a globally busier texture, makes a part fail).
        local_input: how the local network normalises its input: ``image``
            (each image by its own mean and std, so a part photographed darker
            or with less contrast does not light up the whole map; samples
            99.5 against 92.4, magnetic tiles a tie in AUROC with fewer
            escapes at the radius) or ``golden`` (the golden images' mean and
            std per channel, the only input before).
        local_defects: the synthetic defect families the local network learns
            to push out, drawn with equal chance: ``blend`` (a blob-shaped blend
            of another golden image or a flat tone), ``spots`` (small dark or
            bright discs), ``line`` (a thin crack or scratch), ``shade`` (a wide,
            soft-edged region made darker or brighter: uneven surfaces; magnetic
            tiles 84.0 against 82.6 over two seeds, but the hottest region lands
            on small defects less often, so not in the default).
        map_reference: what each cell of the map is compared with once the
            network is trained: ``centre`` (its squared distance to c, the same
            for every position: a plain patch is normal anywhere), ``position``
            (its distance to the golden training cells at the same place, each
            feature divided by their variance there: a diagonal Gaussian per
            cell, so a print missing from its place, or one in the wrong place,
            stands out; only meaningful when the parts are registered) or
            ``auto`` (``position`` when fit registers the parts, else
            ``centre``; the model records the choice).
        local_context: dilated 3x3 blocks after the network's last stage
            (dilation 2, 4, ...): each cell's feature then sees a wider
            neighbourhood (about 75 pixels across with two, against 27), for
            defects that are wide, low-contrast regions rather than specks;
            0 is the network before (models saved before the setting load
            with it). Unset (auto): 2 where the map is to the centre c
            (textures, unregistered parts: magnetic tiles 84.7 and 84.4 against
            82.2 and 82.5, seeds 0-1, for about twice the fit), 0 where it is
            per place (registered parts: on the samples two blocks rejected 3
            of 16 good parts against none, one seed); also 0 where the input is
            too small for them. The model records the number.
        local_scales: how many inputs the map is made from: 1 (the input as
            it is) or 2 (also the input halved, 2x2 means, through a second
            network of the same shape trained on its own with four times the
            images per step; the finer one takes ``local_batch / 4``; the two
            maps, each divided by its golden median, are averaged on the finer
            grid). Use with ``--image-size 256``: the halved input then sees a
            texture like the 128-px default, the full one keeps thin cracks:
            magnetic tiles, seeds 0-2, cracks 78.6, 71.8 and 77.6 against 68.8
            and 69.2, overall 84.3 on average against 84.7 and 84.4; docs/local.md).
            About the two fits' time.
        local_loss: how training pulls golden cells in and pushes the
            synthetic defects' cells out, on each cell's squared distance d² to
            c: ``sad`` (Deep SAD: golden cells add d², defective cells 1 / d²)
            or ``fcdd`` (FCDD's hypersphere classifier, Liznerski et al., ICLR
            2021: on h = sqrt(d² + 1) - 1, golden cells add h, defective cells
            -log(1 - exp(-h)); a busy golden cell weighs linearly, not
            squared, and the push does not fade as fast) or ``auto`` (``fcdd``
            where the map is to c, textures: magnetic tiles 85.2 to 87.7 over
            seeds 0-5 against 85.4 for ``sad`` on seed 0 on the same machine;
            ``sad`` where it is per place, registered parts: on the samples
            ``fcdd`` rejected 1 of 16 good parts and put the hottest region on
            20 of 24 defects against none and 22, one seed). The map is d² either
            way. The model records the choice; models saved before the setting
            were trained with ``sad``.
        map_pixels: with the per-place reference, also compare each cell's
            own appearance (its mean standardised pixel per channel) with the
            golden cells' at that place, as more features of the same diagonal
            Gaussian. Training pulls every golden cell towards c, so a plain
            patch where a print belongs can look normal in the learned
            features; its pixels do not (samples, seeds 0-5: the hottest
            region on 24 of 24 defects on each, against 20 to 24 without).
            Unset (auto): on wherever the map is per place; setting it needs
            ``map_reference`` ``position`` (or ``auto`` on registered parts).
            Models saved before the setting load without it.
        local_regions: the share of the synthetic defects (0 to 1) that are
            instead a large region, 8 % to 35 % of the input, of another golden
            image showing through at 70 % to 100 % (flipped or turned half a
            turn, so a texture's grain keeps its direction): another grain or
            brightness over a wide area, as the magnetic tiles' uneven surfaces
            are (magnetic tiles, 0.5, seeds 0-2: pixel AUROC 87.3 to 88.7
            against 80.3 for 0, the uneven tiles 88.0 to 92.3 against 79.5,
            but regions take half the synthetic defects from the small and
            thin ones the local model is for: the cracks fall, 66.2 to 76.0
            against 76.8). Castings with the local model, seeds 0-2: 96.3 to
            99.2 against 85.8 to 89.7. 0 draws none. Unset (auto): where the
            map is to the centre c, fit trains the map both with 0 and with
            0.5 (twice the training time) and keeps 0.5 only when its AUROC
            on the held-out golden images against synthetic defects of
            families neither trains on is higher by more than two standard
            errors (Hanley and McNeil); per place (registered parts), 0. The
            model records the share and the comparison.
    """

    model_kind: ModelKind = "auto"
    local_width: int = 32
    local_dim: int = 32
    local_steps: int = 1500
    local_batch: int = 16
    local_lr: float = 1e-3
    map_smoothing: int = 3
    map_calibration: MapCalibration = "position"
    local_input: LocalInput = "image"
    local_defects: tuple[str, ...] = LOCAL_DEFECTS[:3]
    map_reference: MapReference = "auto"
    local_context: int | None = None
    local_scales: int = 1
    local_loss: LocalLoss = "auto"
    map_pixels: bool | None = None
    local_regions: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "local_defects", tuple(self.local_defects))
        unknown = sorted(set(self.local_defects) - set(LOCAL_DEFECTS))
        if unknown or not self.local_defects or len(set(self.local_defects)) < len(self.local_defects):
            raise ConfigError(f"local defects must be distinct families out of {', '.join(LOCAL_DEFECTS)}, got "
                              f"{','.join(self.local_defects) or 'none'}")
        if self.model_kind not in ("auto", "global", "local", "both"):
            raise ConfigError(f"model kind must be auto, global, local or both, got {self.model_kind!r}")
        if self.local_input not in ("golden", "image"):
            raise ConfigError(f"local input must be golden or image, got {self.local_input!r}")
        if self.local_context is not None and not 0 <= self.local_context <= 4:
            raise ConfigError(f"local context must be 0 to 4 dilated blocks, got {self.local_context}")
        if self.local_regions is not None and not 0.0 <= self.local_regions <= 1.0:
            raise ConfigError(f"local regions is the share of synthetic defects that are large regions, 0 to 1, got "
                              f"{self.local_regions}")
        if not 1 <= self.local_scales <= 2:
            raise ConfigError(f"local scales must be 1 or 2 (the input, and the input halved), got {self.local_scales}")
        if self.local_loss not in ("auto", "sad", "fcdd"):
            raise ConfigError(f"local loss must be auto, sad or fcdd, got {self.local_loss!r}")
        if self.map_reference not in ("auto", "centre", "position"):
            raise ConfigError(f"map reference must be auto, centre or position, got {self.map_reference!r}")
        if self.map_calibration not in ("none", "position", "image"):
            raise ConfigError(f"map calibration must be none, position or image, got {self.map_calibration!r}")
        if min(self.local_width, self.local_dim, self.local_steps, self.local_batch) < 1 or self.local_lr <= 0:
            raise ConfigError("local width, dim, steps and batch must be >= 1 and the learning rate > 0, got "
                              f"{self.local_width}, {self.local_dim}, {self.local_steps}, {self.local_batch}, {self.local_lr}")
        if self.local_batch < 2:
            raise ConfigError(f"local batch must be at least 2 (a golden and a defective image), got {self.local_batch}")
        if self.map_smoothing < 1 or self.map_smoothing % 2 == 0:
            raise ConfigError(f"map smoothing must be an odd number of cells >= 1, got {self.map_smoothing}")


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a model: preprocessing, network, training and scoring."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    local: LocalConfig = field(default_factory=LocalConfig)

    def __post_init__(self) -> None:
        size, stages = self.preprocess.image_size, len(self.net.widths)
        self._check_ocnn()
        kind = self.local.model_kind  # auto: checked for the kind fit decides on (of_kind)
        if kind in ("local", "both"):
            self._check_local()
        if kind in ("global", "both"):
            if not self.preprocess.square:
                raise ConfigError("a non-square input (--image-height) is for the local model (--model-kind local): the "
                                  "global encoder's embedding layer is sized for a square grid")
            if size % 2**stages:
                raise ConfigError(f"image size {size} must be a multiple of {2**stages} for {stages} network stages")
        bank_rule = self.score.rule in ("knn", "mahalanobis", "fusion")  # auto without held-out images turns views off
        if self.score.bank_views and self.train.holdout == 0 and bank_rule:  # a training image would meet its own views
            raise ConfigError("bank views need held-out golden images to set the radius (holdout > 0)")

    def _check_ocnn(self) -> None:
        """OCNN's hyperplane is its score: ``--objective ocnn`` sets the rule ``ocnn``, and only it does."""
        ocnn = self.train.objective == "ocnn"
        if ocnn and self.score.rule == "auto" and self.score.features == "auto":
            object.__setattr__(self, "score", dataclasses.replace(self.score, rule="ocnn"))
        if ocnn != (self.score.rule == "ocnn"):
            raise ConfigError("OCNN scores with the hyperplane it trains: --objective ocnn goes without --score and "
                              "--features, and --score ocnn needs --objective ocnn")
        if self.local.model_kind in ("local", "both") and (ocnn or self.train.ae_kind != "plain"):
            raise ConfigError("the local model has its own training: --objective ocnn and --pretrain rcae are for the "
                              "global model")

    def _check_local(self) -> None:
        p = self.preprocess
        halvings = self.local.local_scales - 1
        if halvings and any(n % (4 << halvings) for n in p.input_shape):
            raise ConfigError(f"image size {p.input_shape[1]}x{p.input_shape[0]} does not halve into whole map cells: "
                              f"with {self.local.local_scales} local scales each side must be a multiple of "
                              f"{4 << halvings} pixels")
        side = min(p.input_shape) >> halvings  # the coarsest level's input
        if p.frame_size is not None:
            raise ConfigError("the local model scores every position of one input: use a larger --image-size, not "
                              "--frame-size tiling")
        halved = f" (with {self.local.local_scales} local scales: the halved input)" if halvings else ""
        if side // 4 < self.local.map_smoothing or side < 16:
            raise ConfigError(f"image size {p.input_shape[1]}x{p.input_shape[0]} is too small for the local model: "
                              f"each side{halved} needs at least 16 pixels and {self.local.map_smoothing} map cells of 4 "
                              "pixels (map smoothing)")
        context = self.local.local_context
        if context is not None and side // 4 <= 2**context:  # the widest dilation pads by 2**context cells (reflection)
            raise ConfigError(f"image size {p.input_shape[1]}x{p.input_shape[0]} is too small for "
                              f"{context} dilated context blocks: each side{halved} needs more than "
                              f"{4 * 2**context} pixels (fewer --local-context blocks take it)")
        if self.score.rule != "auto" or self.score.features != "auto":
            raise ConfigError("the local model scores its map's largest cell: --score and --features are for the "
                              "global model")

    @property
    def is_local(self) -> bool:
        """True for the local (dense map) model kind."""
        return self.local.model_kind == "local"

    @property
    def chooses_kind(self) -> bool:
        """True when ``fit`` trains both model kinds and keeps the better (``--model-kind both``)."""
        return self.local.model_kind == "both"

    def of_kind(self, kind: str) -> FitConfig:
        """This config with the model kind set (``global`` or ``local``): what an ``auto`` or ``both`` fit's model records."""
        return dataclasses.replace(self, local=dataclasses.replace(self.local, model_kind=kind))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are a ConfigError."""
        return cls(
            preprocess=_build(PreprocessConfig, data.get("preprocess", {})),
            net=_build(NetConfig, data.get("net", {})),
            train=_build(TrainConfig, data.get("train", {})),
            score=_build(ScoreConfig, data.get("score", {})),
            local=_build(LocalConfig, data.get("local", {})),
        )


SECTIONS: dict[str, type] = {"preprocess": PreprocessConfig, "net": NetConfig, "train": TrainConfig, "score": ScoreConfig,
                             "local": LocalConfig}
PRETRAIN_SHARED = ("batch_size", "holdout", "min_holdout", "augment", "augment_factor", "align", "align_gain", "seed")


def level_batch(local_batch: int, local_scales: int, level: int) -> int:
    """Images per training step at a local model's level (0: the full input).

    ``local_batch`` at the coarsest level, a quarter per halving finer (at
    least 2), so every level sees about the same number of cells per step.
    """
    return max(2, local_batch // 4 ** (local_scales - 1 - level))


def input_label(preprocess: dict[str, Any]) -> str:
    """A model record's network input size as people read it: ``128``, or width x height (``128x32``) when not square."""
    height = preprocess.get("image_height")
    return f"{preprocess.get('image_size')}x{height}" if height else str(preprocess.get("image_size"))


def used_by_pretraining(train_field: str) -> bool:
    """Whether ``pretrain`` uses this TrainConfig field: the ``ae_`` ones, the split, the augmentation, the seed."""
    return train_field.startswith("ae_") or train_field in PRETRAIN_SHARED


T = TypeVar("T")


def _build(kind: type[T], values: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} settings: {', '.join(sorted(unknown))}")
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file (a recipe, a fit config); errors name the file in one line.

    Raises:
        ConfigError: the file cannot be read or is not valid YAML.
    """
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({first_line(exc)})") from None
