"""The local model's networks: a bias-free fully convolutional hypersphere map and the head that reads it.

:class:`LocalNet` maps a uint8 NHWC image to one feature vector per 4x4-pixel
cell and returns each cell's squared distance to the centre c (FCDD,
Liznerski et al., ICLR 2021, in Deep SVDD's form). The paper's rules hold as
for the global encoder: no bias anywhere, BatchNorm without affine
parameters, leaky ReLU, c pushed away from zero. Convolutions pad by
reflection, so the border of the image does not look like a dark frame.

With ``map_reference`` ``position`` (registered parts), the trained network's
cells are compared with the golden cells at the same place instead of with c:
each feature's squared deviation from their mean there, divided by their
variance there, summed (a diagonal Gaussian per cell, as PaDiM does with
pretrained features; here the features are the model's own). With
``map_pixels`` the cell's own appearance (its mean standardised pixel per
channel) joins the learned features there: training pulls every golden cell
towards c, so a plain patch where a print belongs can look normal in the
learned features, not in its pixels. Training always pulls to c
(:meth:`LocalNet.centre_map`); :meth:`LocalNet.fit_position` sets the
per-cell statistics afterwards.

:class:`MapHead` smooths the map, calibrates it (per position or per image)
and takes its largest cell as the image's statistic. Both are plain modules,
so the ONNX graph computes exactly what PyTorch does, map included.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from inspect_svdd.config import LocalConfig
from inspect_svdd.model.nets import ImageStandardiser, InputAdapter

CELL = 4  # pixels per map cell along each side (two stride-2 convolutions)


def _block(cin: int, cout: int, stride: int, slope: float, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, dilation, dilation, bias=False, padding_mode="reflect"),
            nn.BatchNorm2d(cout, affine=False), nn.LeakyReLU(slope)]


class LocalNet(nn.Module):
    """uint8 NHWC images -> per-cell squared distances to the centre, flattened (N x cells)."""

    center: torch.Tensor
    position_mean: torch.Tensor
    position_weight: torch.Tensor
    pixel_mean: torch.Tensor
    pixel_weight: torch.Tensor

    def __init__(self, cfg: LocalConfig, channels: int, shape: tuple[int, int], leaky_slope: float = 0.1,
                 scales: int | None = None) -> None:
        super().__init__()
        w = cfg.local_width
        self.adapter = ImageStandardiser(channels) if cfg.local_input == "image" else InputAdapter(channels)
        self.body = nn.Sequential(*_block(channels, w, 2, leaky_slope), *_block(w, w, 1, leaky_slope),
                                  *_block(w, 2 * w, 2, leaky_slope), *_block(2 * w, 2 * w, 1, leaky_slope),
                                  *_block(2 * w, 4 * w, 1, leaky_slope),
                                  *[m for i in range(cfg.local_context or 0)  # dilation 2, 4, ...: a wider view per cell
                                    for m in _block(4 * w, 4 * w, 1, leaky_slope, 2 ** (i + 1))],
                                  nn.Conv2d(4 * w, cfg.local_dim, 1, bias=False))
        self.grid = (shape[0] // CELL, shape[1] // CELL)  # map rows and columns
        self.register_buffer("center", torch.full((cfg.local_dim,), 0.1))
        self.positional = cfg.map_reference == "position"  # auto is resolved by fit before the network is built
        if self.positional:  # the golden cells' mean and inverse variance at every place (fit_position)
            self.register_buffer("position_mean", torch.zeros(1, cfg.local_dim, *self.grid))
            self.register_buffer("position_weight", torch.ones(1, cfg.local_dim, *self.grid))
        self.pixels = self.positional and bool(cfg.map_pixels)  # auto (None) is resolved by fit, like the reference
        if self.pixels:  # the golden cells' mean standardised pixel per channel, and its inverse variance, at every place
            self.register_buffer("pixel_mean", torch.zeros(1, channels, *self.grid))
            self.register_buffer("pixel_weight", torch.ones(1, channels, *self.grid))
        levels = cfg.local_scales if scales is None else scales
        # the same network once more on the input halved (2x2 means): a wider view per cell, cracks and breaks alike
        self.coarse = LocalNet(cfg, channels, (shape[0] // 2, shape[1] // 2), leaky_slope, levels - 1) if levels > 1 else None

    def levels(self) -> list[LocalNet]:
        """This network and its coarser ones, finest first (one per ``local_scales``)."""
        return [self] + (self.coarse.levels() if self.coarse is not None else [])

    @property
    def grids(self) -> list[tuple[int, int]]:
        """Each level's map rows and columns, finest first."""
        return [level.grid for level in self.levels()]

    def cell_features(self, x: torch.Tensor) -> torch.Tensor:
        """One ``local_dim`` vector per cell: N x dim x rows x columns of the grid."""
        return self.body(self.adapter(x))

    def centre_map(self, x: torch.Tensor) -> torch.Tensor:
        """Each cell's squared distance to c (what training pulls in and pushes out): N x rows x columns."""
        return ((self.cell_features(x) - self.center.view(1, -1, 1, 1)) ** 2).sum(dim=1)

    def place_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What each place's golden statistics are of: the cells' features, and their mean input pixels (``map_pixels``)."""
        inputs = self.adapter(x)
        return self.body(inputs), F.avg_pool2d(inputs, CELL) if self.pixels else None

    def distance_map(self, x: torch.Tensor) -> torch.Tensor:
        """The map scoring reads: :meth:`centre_map`, or each cell's variance-weighted distance to its place's golden mean."""
        if not self.positional:
            return self.centre_map(x)
        features, pixels = self.place_features(x)
        distance = ((features - self.position_mean) ** 2 * self.position_weight).sum(dim=1)
        if pixels is not None:
            distance = distance + ((pixels - self.pixel_mean) ** 2 * self.pixel_weight).sum(dim=1)
        return distance

    def fit_position(self, batches: Iterable[torch.Tensor], floor: float = 0.01) -> LocalNet:
        """Set each place's golden mean and inverse variance from batches of golden uint8 NHWC images.

        The sums are accumulated in float64 batch by batch, so a large golden
        set at a large input never holds all its features at once. A variance
        is floored at ``floor`` times the mean variance (of the features, and
        apart of the pixels), so a feature that is constant at one place on
        every golden part cannot blow up.
        """
        sums: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # per statistic: count, sum, sum of squares
        with torch.no_grad():
            for batch in batches:
                parts = [f.double() for f in self.place_features(batch) if f is not None]
                zero = torch.zeros((), dtype=torch.float64)
                sums = [(n + len(f), total + f.sum(0, keepdim=True), squares + (f**2).sum(0, keepdim=True))
                        for (n, total, squares), f in zip(sums or [(0, zero, zero)] * len(parts), parts, strict=True)]
            if not sums:
                raise ValueError("fit_position needs at least one golden image")
            buffers = [(self.position_mean, self.position_weight)] + (
                [(self.pixel_mean, self.pixel_weight)] if self.pixels else [])
            for (mean_buffer, weight_buffer), (n, total, squares) in zip(buffers, sums, strict=True):
                mean = total / n
                var = (squares / n - mean**2).clamp_min(0.0) * (n / max(n - 1, 1))
                mean_buffer.copy_(mean.float())
                weight_buffer.copy_((1.0 / (var + floor * float(var.mean()) + 1e-12)).float())
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The distance map, flattened: N x cells; with coarser levels, theirs after it (N x the cells of all levels)."""
        flat = self.distance_map(x).flatten(1)
        if self.coarse is None:
            return flat
        return torch.cat([flat, self.coarse(halve(x))], dim=1)

    def features_of(self, x: torch.Tensor, kind: str = "map") -> torch.Tensor:
        """What the head reads (the global encoder's feature kinds do not apply: always the flattened map)."""
        return self(x)

    def feature_dim(self, kind: str = "map") -> int:
        """Cells per image, over all levels."""
        return sum(rows * cols for rows, cols in self.grids)


def halve(x: torch.Tensor) -> torch.Tensor:
    """An NHWC batch (uint8 or float) at half its rows and columns, each pixel the mean of 2x2: float NHWC."""
    return F.avg_pool2d(x.permute(0, 3, 1, 2).to(torch.float32), 2).permute(0, 2, 3, 1)


class MapHead(nn.Module):
    """Flattened distance maps -> smoothed, calibrated maps, and their largest cell as the statistic.

    With several levels (``grids``, finest first, as :class:`LocalNet` with
    ``local_scales`` > 1 gives them), each level's map is smoothed and
    calibrated on its own grid, divided by its golden images' median
    statistic (so the levels weigh alike), brought to the finest grid
    (bilinear) and the levels averaged: one map, whose largest cell is the statistic.
    """

    scale: torch.Tensor
    norm: torch.Tensor

    def __init__(self, grid: tuple[int, int] | list[tuple[int, int]], smoothing: int, calibration: str) -> None:
        super().__init__()
        self.grids = list(grid) if isinstance(grid, list) else [grid]
        self.grid, self.smoothing, self.calibration = self.grids[0], smoothing, calibration
        self.register_buffer("scale", torch.ones(1, *self.grid))  # per-cell divisor (calibration "position")
        for level, extra in enumerate(self.grids[1:], 1):  # the coarser levels' divisors
            self.register_buffer(f"scale_{level}", torch.ones(1, *extra))
        if len(self.grids) > 1:
            self.register_buffer("norm", torch.ones(len(self.grids)))  # each level's golden median statistic

    def _scales(self) -> list[torch.Tensor]:
        return [self.scale] + [getattr(self, f"scale_{level}") for level in range(1, len(self.grids))]

    def level_maps(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Each level's smoothed, calibrated map on its own grid (N x rows x columns), finest first."""
        maps, start = [], 0
        for (rows, cols), scale in zip(self.grids, self._scales(), strict=True):
            m = flat[:, start : start + rows * cols].reshape(-1, 1, rows, cols)
            start += rows * cols
            if self.smoothing > 1:
                m = F.avg_pool2d(m, self.smoothing, 1, self.smoothing // 2, count_include_pad=False)
            m = m[:, 0]
            maps.append(m / m.mean(dim=(1, 2), keepdim=True).clamp_min(1e-12) if self.calibration == "image" else m / scale)
        return maps

    def on_finest_grid(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Each level's map divided by its golden median and brought to the finest grid (bilinear), finest first."""
        maps = self.level_maps(flat)
        return [maps[0] / self.norm[0]] + [
            F.interpolate(m[:, None] / self.norm[level], size=self.grid, mode="bilinear", align_corners=False)[:, 0]
            for level, m in enumerate(maps[1:], 1)]

    def map(self, flat: torch.Tensor) -> torch.Tensor:
        """The anomaly map: N x rows x columns of the (finest) grid, higher = more anomalous."""
        if len(self.grids) == 1:
            return self.level_maps(flat)[0]
        return torch.stack(self.on_finest_grid(flat)).mean(dim=0)

    def forward(self, flat: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """The image statistic: the map's largest cell (``exclude_self`` is for the k-NN rule; no effect here)."""
        return self.map(flat).flatten(1).amax(dim=1)

    def fit(self, golden_flat: torch.Tensor) -> MapHead:
        """Set the per-cell divisors (calibration ``position``) and the levels' weights from the golden training maps.

        A cell's divisor is its mean over the golden maps, but never below the
        median cell's: cells that are busy on every good part (edges, the rim)
        are damped, quiet ones are not blown up.
        """
        if not len(golden_flat):
            return self
        with torch.no_grad():
            if self.calibration == "position":
                for scale in self._scales():
                    scale.fill_(1.0)
                for scale, m in zip(self._scales(), self.level_maps(golden_flat), strict=True):
                    mean = m.mean(dim=0, keepdim=True)
                    scale.copy_(mean.clamp_min(float(mean.median()) + 1e-12))  # damp busy cells, never amplify quiet ones
            if len(self.grids) > 1:
                self.norm.copy_(torch.stack([m.flatten(1).amax(dim=1).median() for m in self.level_maps(golden_flat)])
                                .clamp_min(1e-12))
        return self
