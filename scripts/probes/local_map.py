"""Issue 23 probe: a fully convolutional hypersphere map trained on golden images plus synthetic defects with masks.

Each position of a small fully convolutional network's output is a feature vector; the map is its
squared distance to a centre c (FCDD-style). Positions of golden images are pulled to c; positions
inside a synthetic defect (Perlin-shaped blends of another golden image, darkened blobs, thin dark
lines: DRAEM-style pseudo-anomalies with their masks) are pushed out with the Deep SAD term. The
image score is the maximum of the smoothed map; the map is measured against the ground-truth masks.

    python scripts/probes/local_map.py DATASET_ROOT [SIZE] [STEPS] [SEED] [THREADS] [DECAY] [PADDING] > out.txt

DECAY 1 divides the learning rate by 10 after two thirds of the steps (0: a constant rate, the first run).
PADDING: the convolutions' padding mode, zeros (the first runs) or reflect (no dark frame at the border).
"""

import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from inspect_svdd.evaluate.heatmaps import mask_for
from inspect_svdd.io.images import list_images

root = Path(sys.argv[1])
size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
decay = bool(int(sys.argv[6])) if len(sys.argv) > 6 else False
padding = sys.argv[7] if len(sys.argv) > 7 else "zeros"
rng = np.random.default_rng(seed)
torch.manual_seed(seed)


def load(path: Path, nearest: bool = False) -> np.ndarray:
    """A grayscale image (or mask) resized to the probe's square size."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


golden = np.stack([load(p) for p in list_images(root / "train" / "good")]).astype(np.float32) / 255
tests, labels, groups, masks = [], [], [], []
for folder in sorted((root / "test").iterdir()):
    for path in list_images(folder):
        tests.append(load(path))
        labels.append(folder.name != "good")
        groups.append(folder.name)
        found = mask_for(path, root / "test") if folder.name != "good" else None
        masks.append((load(found, nearest=True) > 127) if found is not None else np.zeros((size, size), bool))
test = np.stack(tests).astype(np.float32) / 255
mean, std = float(golden.mean()), float(golden.std())


def perlin(shape: tuple[int, int], res: int) -> np.ndarray:
    """2-D Perlin noise (gradient noise on a res x res lattice), values about in [-0.7, 0.7]."""
    h, w = shape
    angles = rng.uniform(0, 2 * np.pi, (res + 1, res + 1))
    grads = np.stack([np.cos(angles), np.sin(angles)], -1)
    ys, xs = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None] * res
    yi, xi = ys.astype(int), xs.astype(int)
    yf, xf = ys - yi, xs - xi

    def dot(dy: int, dx: int) -> np.ndarray:
        g = grads[yi + dy, xi + dx]
        return g[..., 0] * (yf - dy) + g[..., 1] * (xf - dx)

    fade = lambda t: 6 * t**5 - 15 * t**4 + 10 * t**3  # noqa: E731
    u, v = fade(xf), fade(yf)
    top = dot(0, 0) * (1 - u) + dot(0, 1) * u
    bottom = dot(1, 0) * (1 - u) + dot(1, 1) * u
    return top * (1 - v) + bottom * v


def defect(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic defect on ``image`` and its mask."""
    kind = rng.integers(0, 3)
    out, mask = image.copy(), np.zeros_like(image, dtype=bool)
    if kind == 0:  # Perlin-shaped blend of another golden image (or a brightness change)
        noise = perlin(image.shape, int(2 ** rng.integers(1, 5)))
        mask = noise > rng.uniform(0.25, 0.5)
        source = golden[rng.integers(len(golden))]
        source = np.rot90(source, rng.integers(4)).copy() if rng.random() < 0.7 else np.full_like(image, rng.uniform(0, 1))
        beta = rng.uniform(0.2, 0.8)
        out = np.where(mask, beta * image + (1 - beta) * source, image)
    elif kind == 1:  # dark or bright blobs (holes, spots)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.integers(8, size - 8, 2)
            r = rng.uniform(2, size / 24)
            yy, xx = np.ogrid[:size, :size]
            blob = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            mask |= blob
        delta = rng.choice([-1, 1]) * rng.uniform(0.15, 0.5)
        out = np.where(mask, np.clip(image + delta, 0, 1), image)
    else:  # thin lines (cracks)
        layer = np.zeros_like(image)
        points = rng.integers(0, size, (rng.integers(2, 5), 2))
        for a, b in itertools.pairwise(points):
            cv2.line(layer, tuple(int(v) for v in a), tuple(int(v) for v in b), 1.0, int(rng.integers(1, 3)))
        mask = layer > 0
        out = np.where(mask, np.clip(image - rng.uniform(0.15, 0.5), 0, 1), image)
    return out.astype(np.float32), mask


class LocalNet(nn.Module):
    """Bias-free fully convolutional network: a feature vector per position at 1/4 of the input size."""

    def __init__(self, width: int = 32, dim: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False, padding_mode=padding), nn.BatchNorm2d(cout, affine=False),
                    nn.LeakyReLU(0.1)]

        self.body = nn.Sequential(*block(1, width, 2), *block(width, width, 1), *block(width, 2 * width, 2),
                                  *block(2 * width, 2 * width, 1), *block(2 * width, 4 * width, 1),
                                  nn.Conv2d(4 * width, dim, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map of a float batch in [0, 1], N x 1 x H x W."""
        return self.body((x - mean) / std)


net = LocalNet()
with torch.no_grad():
    center = net.eval()(torch.from_numpy(golden[:64, None])).mean(dim=(0, 2, 3))
    center[(center.abs() < 0.1) & (center < 0)] = -0.1
    center[(center.abs() < 0.1) & (center >= 0)] = 0.1
net.train()
opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-6)
schedule = torch.optim.lr_scheduler.MultiStepLR(opt, [2 * steps // 3] if decay else [], 0.1)
start = time.perf_counter()
for step in range(steps):
    idx = rng.integers(len(golden), size=16)
    images, targets = [], []
    for j, i in enumerate(idx):
        image = golden[i]
        if rng.random() < 0.5:
            image = np.flip(image, axis=int(rng.integers(2))).copy()
        if j % 2:
            image, mask = defect(image)
        else:
            mask = np.zeros_like(image, dtype=bool)
        images.append(image)
        targets.append(mask)
    x = torch.from_numpy(np.stack(images)[:, None])
    m = torch.from_numpy(np.stack(targets)[:, None].astype(np.float32))
    feats = net(x)
    dist = ((feats - center[None, :, None, None]) ** 2).sum(1, keepdim=True)
    low = F.adaptive_max_pool2d(m, dist.shape[-2:])  # a position is anomalous if any of its pixels is
    normal = dist[low == 0].mean()
    anomalous = (1.0 / (dist[low > 0] + 1e-6)).mean() if (low > 0).any() else dist.new_zeros(())
    loss = normal + anomalous
    opt.zero_grad()
    loss.backward()
    opt.step()
    schedule.step()
    if step % 250 == 0 or step == steps - 1:
        print(f"step {step} loss {loss.item():.4f} normal {normal.item():.4f} anomalous {anomalous.item():.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

net.eval()
maps = []
with torch.no_grad():
    for i in range(0, len(test), 32):
        feats = net(torch.from_numpy(test[i : i + 32, None]))
        dist = ((feats - center[None, :, None, None]) ** 2).sum(1, keepdim=True)
        dist = F.avg_pool2d(dist, 3, 1, 1)
        maps.append(F.interpolate(dist, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy())
heat = np.concatenate(maps)
scores = heat.reshape(len(heat), -1).max(axis=1)
labels_a = np.array(labels)
print(f"image AUROC {100 * roc_auc_score(labels_a, scores):.1f}")
bad = labels_a & np.array([m.any() for m in masks])
good = ~labels_a
pix_idx = np.flatnonzero(bad | good)
pixel = roc_auc_score(np.concatenate([masks[i][::4, ::4].ravel() for i in pix_idx]),
                      np.concatenate([heat[i][::4, ::4].ravel() for i in pix_idx]))
print(f"pixel AUROC {100 * pixel:.1f} (every 4th pixel, test/good and defects with masks)")
within = [roc_auc_score(masks[i][::4, ::4].ravel(), heat[i][::4, ::4].ravel()) for i in np.flatnonzero(bad)
          if 0 < masks[i][::4, ::4].sum() < masks[i][::4, ::4].size]
print(f"pixel AUROC within each defective image, mean {100 * float(np.mean(within)):.1f} over {len(within)} images")
edge = size // 16  # the outer 16th of each side
rim = np.zeros((size, size), bool)
rim[:edge], rim[-edge:], rim[:, :edge], rim[:, -edge:] = True, True, True, True
hottest = [np.unravel_index(np.argmax(h), h.shape) for h in heat]
print(f"hottest pixel on the rim (outer {edge} px): {100 * np.mean([rim[y, x] for y, x in hottest]):.0f} % of images "
      f"(the rim is {100 * rim.mean():.0f} % of the image)")
for group in sorted(set(groups) - {"good"}):
    keep = np.array([g in (group, "good") for g in groups])
    print(f"  {group}: image AUROC {100 * roc_auc_score(labels_a[keep], scores[keep]):.1f}")
print(f"size {size}, steps {steps}, seed {seed}, decay {decay}, padding {padding}, training {time.perf_counter() - start:.0f} s")
