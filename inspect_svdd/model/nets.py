"""Bias-free networks following Ruff et al. (2018).

The paper's rules, kept under test: no bias terms anywhere (a bias lets the
encoder map everything to the centre), BatchNorm without affine parameters, and
no bounded activations in the encoder (leaky ReLU only). The first module of
every network, :class:`InputAdapter`, takes the uint8 NHWC batch that the shared
loader produces, so normalisation lives in the network and in its ONNX graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from inspect_svdd.config import NetConfig
from inspect_svdd.errors import ConfigError


class InputAdapter(nn.Module):
    """uint8 NHWC batch -> float NCHW, ``(x / 255 - mean) / std`` per channel."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25))

    def set_stats(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Store per-channel mean and std of the [0, 1]-scaled training images."""
        self.mean.copy_(torch.tensor(mean, dtype=torch.float32).view_as(self.mean))
        self.std.copy_(torch.tensor(std, dtype=torch.float32).clamp_min(1e-3).view_as(self.std))

    def fit_stats(self, images: np.ndarray) -> None:
        """Set the statistics from uint8 NHWC training images."""
        scaled = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        self.set_stats(scaled.mean(axis=0).tolist(), scaled.std(axis=0).tolist())

    def describe(self) -> dict[str, Any]:
        """The normalisation as stored in model.json and the ONNX metadata."""
        return {"kind": "mean-std", "scale": 1 / 255, "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convert and normalise; accepts uint8 or float input in 0-255."""
        x = x.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        return (x - self.mean) / self.std


IMAGE_STD_FLOOR = 0.02  # about 5 grey levels: a nearly flat image is not blown up to noise


class ImageStandardiser(InputAdapter):
    """uint8 NHWC batch -> float NCHW, each image and channel standardised by its own mean and std.

    The map of a texture photographed under changing light is then comparable
    across images: a darker or lower-contrast tile is not a busier one. The
    golden statistics stay in the state dict (the same buffers as
    :class:`InputAdapter`) but are not applied.
    """

    def describe(self) -> dict[str, Any]:
        """The normalisation as stored in model.json and the ONNX metadata."""
        return {"kind": "per-image", "scale": 1 / 255, "eps": IMAGE_STD_FLOOR}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each image's channels to zero mean and unit std (floored, so a flat image stays finite)."""
        x = x.permute(0, 3, 1, 2)
        # the statistics in float64 (sums of uint8 values are exact there): float32 sums over a whole image differ
        # between PyTorch and ONNX Runtime by ~1e-5, which the network then amplifies (samples, local model: 1.2e-3)
        wide = x.to(torch.float64) / 255.0
        mean = wide.mean(dim=(2, 3), keepdim=True)
        std = (wide.square().mean(dim=(2, 3), keepdim=True) - mean.square()).clamp_min(0.0).sqrt()
        return (x.to(torch.float32) / 255.0 - mean.to(torch.float32)) / std.clamp_min(IMAGE_STD_FLOOR).to(torch.float32)


class GcnAdapter(nn.Module):
    """The paper's preprocessing inside the network: l1 global contrast normalisation, then min-max.

    Each image has its mean subtracted and is divided by its mean absolute value
    (GCN with the l1 norm); the result is scaled to [0, 1] by the smallest and
    largest GCN value over the *training* images (Ruff et al. compute these per
    normal class), which :meth:`fit_stats` stores as buffers, so they travel
    with the weights and into the ONNX graph.
    """

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("low", torch.tensor(-1.0))
        self.register_buffer("high", torch.tensor(1.0))

    @staticmethod
    def gcn(x: torch.Tensor) -> torch.Tensor:
        """Global contrast normalisation (l1) of each image of an NCHW float batch."""
        x = x - x.mean(dim=(1, 2, 3), keepdim=True)
        return x / x.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)

    def fit_stats(self, images: np.ndarray, batch_size: int = 1024) -> None:
        """Set ``low``/``high`` to the extremes of the GCN of uint8 NHWC training images."""
        lows, highs = [], []
        for i in range(0, len(images), batch_size):
            x = self.gcn(torch.from_numpy(images[i : i + batch_size]).permute(0, 3, 1, 2).to(torch.float32))
            lows.append(float(x.min()))
            highs.append(float(x.max()))
        self.low.fill_(min(lows))
        self.high.fill_(max(max(highs), min(lows) + 1e-3))

    def describe(self) -> dict[str, Any]:
        """The normalisation as stored in model.json and the ONNX metadata."""
        return {"kind": "gcn-l1-minmax", "low": float(self.low), "high": float(self.high)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convert, normalise the contrast of each image and scale by the training extremes."""
        x = self.gcn(x.permute(0, 3, 1, 2).to(torch.float32))
        return (x - self.low) / (self.high - self.low)


def _stage(cfg: NetConfig, cin: int, cout: int) -> list[nn.Module]:
    free = not cfg.svdd_rules  # bias and affine BatchNorm only where the rules are switched off, to measure them
    if cfg.architecture == "strided":
        conv: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=free)]
    else:
        conv = [nn.Conv2d(cin, cout, 5, padding=2, bias=free)]
    layers = [*conv, nn.BatchNorm2d(cout, eps=1e-4, affine=free), nn.LeakyReLU(cfg.leaky_slope)]
    if cfg.architecture == "pooled":
        layers.append(nn.MaxPool2d(2))
    return layers


def _up_stage(cfg: NetConfig, cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout, eps=1e-4, affine=False),
        nn.LeakyReLU(cfg.leaky_slope),
    ]


def _resnet18(channels: int, image_size: int, rules: bool = True) -> tuple[nn.Sequential, list[int]]:
    """The ResNet-18 of torchvision (no weights) as Deep SVDD needs it: its stages, average-pooled, and where each stage ends.

    Its convolutions have no bias; every BatchNorm is replaced by one without
    affine parameters (Ruff et al.: a bias lets the network map everything to
    c). Below 64 pixels the stem is a 3x3 stride-1 convolution without
    max-pooling, as is usual for CIFAR-sized inputs. ``rules`` False keeps
    torchvision's affine BatchNorms (to measure what the rules buy).
    """
    try:
        from torchvision.models import resnet18
    except ModuleNotFoundError:
        raise ConfigError("the resnet18 encoder needs torchvision: pip install 'inspect-svdd[bench]'") from None
    net = resnet18(weights=None)
    if image_size < 64:
        net.conv1, net.maxpool = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False), nn.Identity()
    else:
        net.conv1 = nn.Conv2d(channels, 64, 7, stride=2, padding=3, bias=False)
    for parent in list(net.modules()) if rules else []:
        for name, child in parent.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, nn.BatchNorm2d(child.num_features, eps=child.eps, affine=False))
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    return nn.Sequential(stem, net.layer1, net.layer2, net.layer3, net.layer4, nn.AdaptiveAvgPool2d(1)), [1, 2, 3, 4]


class Encoder(nn.Module):
    """uint8 NHWC image batch -> ``rep_dim`` embedding (the hypersphere's space)."""

    def __init__(self, cfg: NetConfig, channels: int, image_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.adapter: InputAdapter | GcnAdapter = InputAdapter(channels) if cfg.input_norm == "mean-std" else GcnAdapter(channels)
        if cfg.architecture == "resnet18":
            self.features, self.stage_ends = _resnet18(channels, image_size, cfg.svdd_rules)
            self.grid, cin = 1, cfg.widths[-1]
        else:
            layers: list[nn.Module] = []
            cin = channels
            for width in cfg.widths:
                layers += _stage(cfg, cin, width)
                cin = width
            self.features = nn.Sequential(*layers)
            per_stage = len(layers) // len(cfg.widths)
            self.stage_ends = [per_stage * (i + 1) - 1 for i in range(len(cfg.widths))]
            self.grid = image_size // 2 ** len(cfg.widths)
        if self.grid < 1:
            raise ValueError(f"image size {image_size} too small for {len(cfg.widths)} stages")
        self.fc = nn.Linear(cin * self.grid * self.grid, cfg.rep_dim, bias=not cfg.svdd_rules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch."""
        return self.embed_normalised(self.adapter(x))

    def embed_normalised(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch that the input adapter has already normalised (NCHW floats)."""
        return self.fc(self.features(x).flatten(1))

    def stage_features(self, x: torch.Tensor) -> torch.Tensor:
        """Each convolution stage's output pooled over positions, mean then max: N x 2*sum(widths).

        Local detail (a pinhole, a scratch) moves a stage's maximum while the
        final embedding averages it away; the scoring rules can compare these
        instead of the embedding (``ScoreConfig.features``).
        """
        return self._pass(x)[0]

    def _pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass: (pooled stage outputs, the last grid)."""
        pooled = []
        x = self.adapter(x)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.stage_ends:
                pooled += [x.mean(dim=(2, 3)), x.amax(dim=(2, 3))]
        return torch.cat(pooled, dim=1), x

    def features_of(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """The features a scoring rule compares: the embedding, the pooled stage outputs, or both side by side."""
        if kind == "stages":
            return self.stage_features(x)
        if kind == "both":  # one pass gives both
            stages, grid = self._pass(x)
            return torch.cat([stages, self.fc(grid.flatten(1))], dim=1)
        return self(x)

    def feature_dim(self, kind: str) -> int:
        """Size of :meth:`features_of`'s rows."""
        stages = 2 * sum(self.cfg.widths)
        return {"stages": stages, "both": stages + self.cfg.rep_dim}.get(kind, self.cfg.rep_dim)


class Decoder(nn.Module):
    """Embedding -> normalised image (NCHW), mirror of the encoder."""

    def __init__(self, cfg: NetConfig, channels: int, image_size: int) -> None:
        super().__init__()
        widths = list(reversed(cfg.widths))
        self.grid = image_size // 2 ** len(widths)
        self.first = widths[0]
        self.fc = nn.Linear(cfg.rep_dim, widths[0] * self.grid * self.grid, bias=False)
        self.bn = nn.BatchNorm2d(widths[0], eps=1e-4, affine=False)
        self.act = nn.LeakyReLU(cfg.leaky_slope)
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, [*widths[1:], widths[-1]], strict=True):
            layers += _up_stage(cfg, cin, cout)
        layers.append(nn.Conv2d(widths[-1], channels, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruct a normalised image from an embedding."""
        x = self.fc(z).view(-1, self.first, self.grid, self.grid)
        return self.body(self.act(self.bn(x)))


class UpsampleDecoder(nn.Module):
    """Ruff et al.'s decoder: nearest upsampling and 5x5 bias-free transposed convolutions.

    The embedding (batch-normalised first with ``code_norm``, no affine) is
    reshaped to ``rep_dim/16 x 4 x 4``; each stage applies leaky ReLU (after
    BatchNorm from the second stage on), doubles the grid by nearest
    upsampling when it is smaller than the stage's target (the encoder's grid
    sizes, smallest first, ending at the input size) and applies a stride-1
    5x5 transposed convolution, which keeps the size (padding 2) or crops it
    to the target by 2 or 4 pixels (padding 3 or 4). Channels run
    ``rep_dim/16 -> widths reversed -> channels``; a sigmoid bounds the output
    to the [0, 1] range of the min-max scaled input. This reproduces the
    authors' decoders: MNIST 4 -> 8 -> 16, cropped to 14 -> 28; CIFAR-10
    4 -> 4 -> 8 -> 16 -> 32. Input sizes where that rule does not land on the
    input size resize to each target instead.
    """

    def __init__(self, cfg: NetConfig, channels: int, image_size: int) -> None:
        super().__init__()
        self.first = cfg.rep_dim // 16
        self.code_norm = nn.BatchNorm1d(cfg.rep_dim, eps=1e-4, affine=False) if cfg.code_norm else nn.Identity()
        n = len(cfg.widths)
        self.plan = self._plan([image_size // 2**k for k in range(n, -1, -1)])
        ins = [self.first, *reversed(cfg.widths)]
        outs = [*reversed(cfg.widths), channels]
        self.convs = nn.ModuleList(
            nn.ConvTranspose2d(i, o, 5, padding=pad, bias=False) for i, o, (_, pad) in zip(ins, outs, self.plan, strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(i, eps=1e-4, affine=False) for i in ins[1:])
        self.act = nn.LeakyReLU(cfg.leaky_slope)

    @staticmethod
    def _plan(targets: list[int]) -> list[tuple[int | None, int]]:
        """Per stage: the size to upsample to (None: keep) and the transposed conv's padding."""
        plan: list[tuple[int | None, int]] = []
        size = 4
        for target in targets:
            resize = size * 2 if size < target else None
            size = resize or size
            crop = size - target if size - target in (2, 4) else 0
            plan.append((resize, 2 + crop // 2))
            size -= crop
        if size == targets[-1]:
            return plan
        return [(target, 2) for target in targets]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruct a [0, 1]-scaled image from an embedding."""
        x = self.code_norm(z).view(-1, self.first, 4, 4)
        for i, (conv, (resize, _)) in enumerate(zip(self.convs, self.plan, strict=True)):
            x = self.act(x if i == 0 else self.norms[i - 1](x))
            if resize is not None and x.shape[-1] != resize:
                x = nn.functional.interpolate(x, size=(resize, resize), mode="nearest")
            x = conv(x)
        return torch.sigmoid(x)


class AutoEncoder(nn.Module):
    """Encoder + decoder; pretrained on golden images to initialise the encoder."""

    def __init__(self, cfg: NetConfig, channels: int, image_size: int) -> None:
        super().__init__()
        self.encoder = Encoder(cfg, channels, image_size)
        decoder = Decoder if cfg.decoder == "mirror" else UpsampleDecoder
        self.decoder = decoder(cfg, channels, image_size)
        if cfg.init != "default":
            gain = nn.init.calculate_gain("leaky_relu", cfg.leaky_slope)
            for module in self.modules():
                if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                    nn.init.xavier_uniform_(module.weight, gain=gain)
                elif isinstance(module, nn.Linear) and cfg.init == "xavier-all":
                    nn.init.xavier_uniform_(module.weight)

    def fit_input(self, images: np.ndarray, seed: int) -> None:
        """Fit the input normalisation to uint8 NHWC training images (and the first filters, if so configured)."""
        self.encoder.adapter.fit_stats(images)
        if self.encoder.cfg.first_filters == "dictionary":
            dictionary_init(self.encoder, images, seed)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, normalised input)``, both NCHW floats."""
        target = self.encoder.adapter(x)
        return self.reconstruct_normalised(target), target

    def reconstruct_normalised(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct a batch already in the normalised input space (NCHW floats), e.g. RCAE's clean part."""
        return self.decoder(self.encoder.embed_normalised(x))


def count_macs(model: nn.Module, channels: int, image_size: int) -> int:
    """Multiply-accumulates of one forward pass of one image (convs and linears)."""
    total = 0

    def hook(module: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += out[0].numel() * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, image_size, image_size, channels, dtype=torch.uint8))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def dictionary_init(encoder: Encoder, images: np.ndarray, seed: int, n_images: int = 500, n_patches: int = 10_000) -> None:
    """Set the first convolution's filters to sparse-dictionary atoms of training patches.

    As in Ruff et al.'s original code: ``n_patches`` patches of the first
    filter's size, drawn from all positions of ``n_images`` normalised
    training images (only the drawn ones are copied), standardised per pixel, and a
    mini-batch dictionary (alpha 1, batches of 10, one pass over ``n_patches``
    patches) with one atom per filter; the atoms have unit norm.
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning

    conv = next(m for m in encoder.features if isinstance(m, nn.Conv2d))
    out_ch, in_ch, k, _ = conv.weight.shape
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(n_images, len(images)), replace=False)
    with torch.no_grad():
        x = encoder.adapter(torch.from_numpy(images[np.sort(pick)])).numpy()  # N x C x H x W
    # every k x k window as a view (N x C x rows x cols x k x k); only the sampled ones are copied
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    n, _, rows, cols = windows.shape[:4]
    chosen = rng.choice(n * rows * cols, size=min(n_patches, n * rows * cols), replace=False)
    img, pos = np.divmod(chosen, rows * cols)
    patches = windows[img, :, pos // cols, pos % cols].transpose(0, 2, 3, 1).reshape(len(chosen), -1).astype(np.float64)
    patches = (patches - patches.mean(axis=0)) / patches.std(axis=0).clip(min=1e-6)
    learner = MiniBatchDictionaryLearning(n_components=out_ch, alpha=1.0, batch_size=10, max_iter=1, tol=0.0,
                                          max_no_improvement=None, random_state=seed)
    atoms = learner.fit(patches).components_.reshape(out_ch, k, k, in_ch)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(atoms).permute(0, 3, 1, 2).to(conv.weight.dtype))


def to_tiles(images: torch.Tensor, tile: int) -> torch.Tensor:
    """Cut NHWC frames into ``tile``-sized squares: (N, F, F, C) -> (N * (F/tile)**2, tile, tile, C).

    Row-major tile order; the one tiling definition, used for training, torch
    scoring and inside the ONNX graph. A frame of ``tile`` pixels is returned as it is.
    """
    grid = images.shape[1] // tile
    if grid == 1:
        return images
    channels = images.shape[3]
    parts = images.reshape(-1, grid, tile, grid, tile, channels).permute(0, 1, 3, 2, 4, 5)
    return parts.reshape(-1, tile, tile, channels)


def worst_tile(stats: torch.Tensor, tiles: int) -> torch.Tensor:
    """Per-frame statistic from per-tile ones: the largest (most anomalous) tile of each frame."""
    return stats if tiles == 1 else stats.reshape(-1, tiles).amax(dim=1)
