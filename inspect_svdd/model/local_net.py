"""The local model's networks: a bias-free fully convolutional hypersphere map and the head that reads it.

:class:`LocalNet` maps a uint8 NHWC image to one feature vector per 4x4-pixel
cell and returns each cell's squared distance to the centre c (FCDD,
Liznerski et al., ICLR 2021, in Deep SVDD's form). The paper's rules hold as
for the global encoder: no bias anywhere, BatchNorm without affine
parameters, leaky ReLU, c pushed away from zero. Convolutions pad by
reflection, so the border of the image does not look like a dark frame.

:class:`MapHead` smooths the map, calibrates it (per position or per image)
and takes its largest cell as the image's statistic. Both are plain modules,
so the ONNX graph computes exactly what PyTorch does, map included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inspect_svdd.config import LocalConfig
from inspect_svdd.model.nets import ImageStandardiser, InputAdapter

CELL = 4  # pixels per map cell along each side (two stride-2 convolutions)


def _block(cin: int, cout: int, stride: int, slope: float) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False, padding_mode="reflect"),
            nn.BatchNorm2d(cout, affine=False), nn.LeakyReLU(slope)]


class LocalNet(nn.Module):
    """uint8 NHWC images -> per-cell squared distances to the centre, flattened (N x cells)."""

    center: torch.Tensor

    def __init__(self, cfg: LocalConfig, channels: int, shape: tuple[int, int], leaky_slope: float = 0.1) -> None:
        super().__init__()
        w = cfg.local_width
        self.adapter = ImageStandardiser(channels) if cfg.local_input == "image" else InputAdapter(channels)
        self.body = nn.Sequential(*_block(channels, w, 2, leaky_slope), *_block(w, w, 1, leaky_slope),
                                  *_block(w, 2 * w, 2, leaky_slope), *_block(2 * w, 2 * w, 1, leaky_slope),
                                  *_block(2 * w, 4 * w, 1, leaky_slope), nn.Conv2d(4 * w, cfg.local_dim, 1, bias=False))
        self.grid = (shape[0] // CELL, shape[1] // CELL)  # map rows and columns
        self.register_buffer("center", torch.full((cfg.local_dim,), 0.1))

    def cell_features(self, x: torch.Tensor) -> torch.Tensor:
        """One ``local_dim`` vector per cell: N x dim x rows x columns of the grid."""
        return self.body(self.adapter(x))

    def distance_map(self, x: torch.Tensor) -> torch.Tensor:
        """Each cell's squared distance to c: N x rows x columns of the grid."""
        return ((self.cell_features(x) - self.center.view(1, -1, 1, 1)) ** 2).sum(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The distance map, flattened: N x cells."""
        return self.distance_map(x).flatten(1)

    def features_of(self, x: torch.Tensor, kind: str = "map") -> torch.Tensor:
        """What the head reads (the global encoder's feature kinds do not apply: always the flattened map)."""
        return self(x)

    def feature_dim(self, kind: str = "map") -> int:
        """Cells per image."""
        return self.grid[0] * self.grid[1]


class MapHead(nn.Module):
    """Flattened distance maps -> smoothed, calibrated maps, and their largest cell as the statistic."""

    scale: torch.Tensor

    def __init__(self, grid: tuple[int, int], smoothing: int, calibration: str) -> None:
        super().__init__()
        self.grid, self.smoothing, self.calibration = grid, smoothing, calibration
        self.register_buffer("scale", torch.ones(1, *grid))  # per-cell divisor (calibration "position")

    def map(self, flat: torch.Tensor) -> torch.Tensor:
        """The anomaly map: N x rows x columns of the grid, higher = more anomalous."""
        m = flat.reshape(-1, 1, *self.grid)
        if self.smoothing > 1:
            m = F.avg_pool2d(m, self.smoothing, 1, self.smoothing // 2, count_include_pad=False)
        m = m[:, 0]
        if self.calibration == "image":
            return m / m.mean(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        return m / self.scale

    def forward(self, flat: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
        """The image statistic: the map's largest cell (``exclude_self`` is for the k-NN rule; no effect here)."""
        return self.map(flat).flatten(1).amax(dim=1)

    def fit(self, golden_flat: torch.Tensor) -> MapHead:
        """Set the per-cell divisor from the golden training images' maps (calibration ``position``).

        The divisor is a cell's mean over the golden maps, but never below the
        median cell's: cells that are busy on every good part (edges, the rim)
        are damped, quiet ones are not blown up.
        """
        if self.calibration == "position" and len(golden_flat):
            with torch.no_grad():
                self.scale.fill_(1.0)
                mean = self.map(golden_flat).mean(dim=0, keepdim=True)
                self.scale.copy_(mean.clamp_min(float(mean.median()) + 1e-12))  # damp busy cells, never amplify quiet ones
        return self
